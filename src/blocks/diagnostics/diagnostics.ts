import { asJson, type JsonObject } from '../../json.js';
import type { GetDiagnosticsRequest, GetDiagnosticsResponse } from '../../ocpp/v16/types.js';
import type {
  CustomerInformationRequest,
  GetLogRequest,
  GetLogResponse,
  LogStatusNotificationRequest,
  LogStatusNotificationResponse,
  NotifyCustomerInformationRequest,
  NotifyCustomerInformationResponse,
} from '../../ocpp/v201/types.js';
import { CommandRefusal, type BlockModule, type CommandPlan, type HandlerContext, type StationHandle, type StationServices } from '../../station/types.js';
import { singleRequest } from '../plans.js';

/**
 * Diagnostics (N): logs (N01 GetLog, LogStatusNotification) and customer information (N09/N10). Each is a
 * record, kept before it is acknowledged and visible through the API. NotifyEvent (N07/N08) belongs to the
 * monitoring block (src/blocks/monitoring), which turns monitor events into alerts.
 */

async function logStatusNotification(ctx: HandlerContext, request: LogStatusNotificationRequest): Promise<LogStatusNotificationResponse> {
  await recordLogStatus(ctx, 'LogStatusNotification', asJson(request));
  return {};
}

/** Every log (1.6: diagnostics) upload status is a record and the station's current log status. */
async function recordLogStatus(ctx: HandlerContext, kind: 'LogStatusNotification' | 'DiagnosticsStatusNotification', request: JsonObject): Promise<void> {
  const { store, clock } = ctx.services;
  const at = new Date(clock.now());
  const status = { ...request, updatedAt: at.toISOString() };
  await Promise.all([store.recordEvent(ctx.station.stationId, kind, request, at), store.recordLogStatus(ctx.station.stationId, status)]);
}

/** 1.6 §5.9: GetDiagnostics answers the file name it will upload, or nothing when it has none. */
async function trackDiagnosticsRequest(
  station: StationHandle,
  request: GetDiagnosticsRequest,
  response: GetDiagnosticsResponse,
  services: StationServices,
): Promise<void> {
  await services.store.recordLogStatus(station.stationId, {
    logType: 'Diagnostics',
    status: response.fileName !== undefined ? 'Requested' : 'NoDiagnosticsAvailable',
    location: request.location,
    ...(response.fileName !== undefined ? { filename: response.fileName } : {}),
    updatedAt: new Date(services.clock.now()).toISOString(),
  });
}

async function notifyCustomerInformation(ctx: HandlerContext, request: NotifyCustomerInformationRequest): Promise<NotifyCustomerInformationResponse> {
  await ctx.services.store.recordCustomerInformation(ctx.station.stationId, {
    requestId: request.requestId,
    seqNo: request.seqNo,
    tbc: request.tbc ?? false,
    generatedAt: request.generatedAt,
    data: request.data,
  });
  return {};
}

async function trackLogRequest(
  station: StationHandle,
  request: Pick<GetLogRequest, 'requestId' | 'logType'>,
  response: Pick<GetLogResponse, 'status' | 'filename'>,
  services: StationServices,
): Promise<void> {
  await services.store.recordLogStatus(station.stationId, {
    requestId: request.requestId,
    logType: request.logType,
    status: response.status === 'Rejected' ? 'RequestRejected' : 'Requested',
    requestStatus: response.status,
    ...(response.filename !== undefined ? { filename: response.filename } : {}),
    updatedAt: new Date(services.clock.now()).toISOString(),
  });
}

/** N09.FR.04 / N10.FR.08: a CustomerInformation request names exactly one customer reference. */
const CUSTOMER_REFERENCES = ['idToken', 'customerCertificate', 'customerIdentifier'] as const;

function planCustomerInformation(payload: CustomerInformationRequest): CommandPlan {
  const given = CUSTOMER_REFERENCES.filter((key) => payload[key] !== undefined);
  if (given.length !== 1) {
    throw new CommandRefusal(400, 'invalid_payload', `CustomerInformation needs exactly one of ${CUSTOMER_REFERENCES.join(', ')} (got ${given.length})`, {
      references: given,
    });
  }
  return singleRequest(payload);
}

export const diagnostics: BlockModule = {
  name: 'diagnostics',
  handlers: {
    LogStatusNotification: logStatusNotification,
    NotifyCustomerInformation: notifyCustomerInformation,
  },
  resultHooks: {
    GetLog: trackLogRequest,
  },
  plans: {
    CustomerInformation: planCustomerInformation,
  },
  v16: {
    handlers: {
      LogStatusNotification: (ctx, request) => recordLogStatus(ctx, 'LogStatusNotification', asJson(request)).then(() => ({})),
      DiagnosticsStatusNotification: (ctx, request) => recordLogStatus(ctx, 'DiagnosticsStatusNotification', asJson(request)).then(() => ({})),
    },
    resultHooks: {
      GetLog: trackLogRequest,
      GetDiagnostics: trackDiagnosticsRequest,
    },
  },
};
