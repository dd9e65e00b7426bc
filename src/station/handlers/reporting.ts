import type {
  FirmwareStatusNotificationRequest,
  FirmwareStatusNotificationResponse,
  LogStatusNotificationRequest,
  LogStatusNotificationResponse,
  NotifyCustomerInformationRequest,
  NotifyCustomerInformationResponse,
  SecurityEventNotificationRequest,
  SecurityEventNotificationResponse,
} from '../../ocpp/generated/ocpp-types.js';
import type { HandlerContext, HandlerModule } from '../types.js';
import { asJson } from './json.js';

/**
 * What stations report on their own initiative about security (A04), firmware (L01), logs (N01) and
 * customer data (N09/N10): each is a record, kept before it is acknowledged, and visible through the API.
 */

async function securityEventNotification(ctx: HandlerContext, request: SecurityEventNotificationRequest): Promise<SecurityEventNotificationResponse> {
  const { store, clock } = ctx.services;
  await store.recordEvent(ctx.station.stationId, 'SecurityEventNotification', asJson(request), new Date(clock.now()));
  ctx.station.log.info({ messageId: ctx.messageId, securityEvent: request.type }, 'security event reported');
  return {};
}

async function firmwareStatusNotification(ctx: HandlerContext, request: FirmwareStatusNotificationRequest): Promise<FirmwareStatusNotificationResponse> {
  const { store, clock } = ctx.services;
  const at = new Date(clock.now());
  const status = { ...asJson(request), updatedAt: at.toISOString() };
  await Promise.all([
    store.recordEvent(ctx.station.stationId, 'FirmwareStatusNotification', asJson(request), at),
    store.recordFirmwareStatus(ctx.station.stationId, status),
  ]);
  return {};
}

async function logStatusNotification(ctx: HandlerContext, request: LogStatusNotificationRequest): Promise<LogStatusNotificationResponse> {
  const { store, clock } = ctx.services;
  const at = new Date(clock.now());
  const status = { ...asJson(request), updatedAt: at.toISOString() };
  await Promise.all([
    store.recordEvent(ctx.station.stationId, 'LogStatusNotification', asJson(request), at),
    store.recordLogStatus(ctx.station.stationId, status),
  ]);
  return {};
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

export const reporting: HandlerModule = {
  handlers: {
    SecurityEventNotification: securityEventNotification,
    FirmwareStatusNotification: firmwareStatusNotification,
    LogStatusNotification: logStatusNotification,
    NotifyCustomerInformation: notifyCustomerInformation,
  },
};
