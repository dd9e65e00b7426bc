import { ocppDateTime } from '../../clock.js';
import type {
  BootNotificationRequest,
  BootNotificationResponse,
  HeartbeatResponse,
  NotifyEventRequest,
  NotifyEventResponse,
  NotifyReportRequest,
  NotifyReportResponse,
  ReportDataType,
  StatusNotificationRequest,
  StatusNotificationResponse,
} from '../../ocpp/generated/ocpp-types.js';
import type { DeviceVariable, Json } from '../../store/store.js';
import type { HandlerContext, HandlerModule } from '../types.js';
import { isBasicAuthPassword } from './device-management.js';
import { enforceBootSerialNumber } from './certificates.js';
import { asJson } from './json.js';

/**
 * Provisioning (B01–B07) and the connector-status channels (G01 StatusNotification, and NotifyEvent on
 * Connector.AvailabilityState, which the CSMS must accept just the same).
 */

async function bootNotification(ctx: HandlerContext, request: BootNotificationRequest): Promise<BootNotificationResponse> {
  // B01.FR.11/12 (DRV-A00-04): on profile 3 a serialNumber that contradicts the client certificate closes the connection.
  enforceBootSerialNumber(ctx, request.chargingStation, ctx.station.clientCertificate);
  const { store, config, clock, metrics } = ctx.services;
  const stationId = ctx.station.stationId;
  // The policy is read fresh: the operator may have accepted the station since it connected (TC_B_02).
  const station = await store.getStation(stationId);
  const status = station?.bootPolicy ?? 'Rejected';
  const now = clock.now();
  await store.recordBoot(stationId, { bootStatus: status, chargingStation: asJson(request.chargingStation), reason: request.reason, at: new Date(now) });
  // The actor changes state only once the answer is on the wire: entering Pending sends GetBaseReport,
  // which must not overtake the BootNotificationResponse.
  ctx.afterReply(() => ctx.station.bootAnswered(status));
  metrics.bootsTotal.labels(status).inc();
  ctx.station.log.info({ messageId: ctx.messageId, status, reason: request.reason }, 'boot answered');
  return {
    currentTime: ocppDateTime(now),
    interval: status === 'Accepted' ? config.heartbeatIntervalSeconds : config.bootRetryIntervalSeconds,
    status,
  };
}

function heartbeat(ctx: HandlerContext): HeartbeatResponse {
  return { currentTime: ocppDateTime(ctx.services.clock.now()) };
}

async function statusNotification(ctx: HandlerContext, request: StatusNotificationRequest): Promise<StatusNotificationResponse> {
  await ctx.services.store.recordConnectorStatus(ctx.station.stationId, {
    evseId: request.evseId,
    connectorId: request.connectorId,
    status: request.connectorStatus,
    updatedAt: new Date(Date.parse(request.timestamp) || ctx.services.clock.now()),
  });
  return {};
}

async function notifyEvent(ctx: HandlerContext, request: NotifyEventRequest): Promise<NotifyEventResponse> {
  const { store, clock } = ctx.services;
  const stationId = ctx.station.stationId;
  const writes: Promise<void>[] = [store.recordEvent(stationId, 'NotifyEvent', asJson(request), new Date(clock.now()))];
  for (const event of request.eventData) {
    const evse = event.component.evse;
    if (event.component.name === 'Connector' && event.variable.name === 'AvailabilityState' && evse?.connectorId !== undefined) {
      writes.push(
        store.recordConnectorStatus(stationId, {
          evseId: evse.id,
          connectorId: evse.connectorId,
          status: event.actualValue,
          updatedAt: new Date(Date.parse(event.timestamp) || clock.now()),
        }),
      );
    }
  }
  await Promise.all(writes);
  return {};
}

/** A report row becomes device-model knowledge: the attributes it carries, merged by attribute type. */
export function deviceVariableFromReport(row: ReportDataType): DeviceVariable {
  return {
    component: asJson(row.component),
    variable: asJson(row.variable),
    attributes: row.variableAttribute.map((attribute) => ({
      type: attribute.type ?? 'Actual',
      ...(attribute.value !== undefined ? { value: attribute.value } : {}),
      ...(attribute.mutability !== undefined ? { mutability: attribute.mutability } : {}),
      ...(attribute.persistent !== undefined ? { persistent: attribute.persistent } : {}),
      ...(attribute.constant !== undefined ? { constant: attribute.constant } : {}),
    })),
    ...(row.variableCharacteristics !== undefined ? { characteristics: asJson(row.variableCharacteristics) } : {}),
  };
}

/**
 * A station should never report a secret, but some do (BasicAuthPassword as Actual). Such values are
 * dropped before anything is stored: the report and the device model never hold a credential.
 */
function withoutSecrets(row: ReportDataType): ReportDataType {
  const secret = isBasicAuthPassword(row) || row.variableAttribute.some((a) => a.mutability === 'WriteOnly');
  if (!secret) return row;
  const variableAttribute = row.variableAttribute.map(({ value: _secret, ...attribute }) => attribute) as ReportDataType['variableAttribute'];
  return { ...row, variableAttribute };
}

async function notifyReport(ctx: HandlerContext, request: NotifyReportRequest): Promise<NotifyReportResponse> {
  const { store } = ctx.services;
  const stationId = ctx.station.stationId;
  const rows = (request.reportData ?? []).map(withoutSecrets);
  await Promise.all([
    store.recordReportPart(stationId, {
      requestId: request.requestId,
      seqNo: request.seqNo,
      tbc: request.tbc ?? false,
      generatedAt: request.generatedAt,
      reportData: rows as unknown as Json[],
    }),
    rows.length > 0 ? store.recordVariables(stationId, rows.map(deviceVariableFromReport)) : Promise.resolve(),
  ]);
  return {};
}

export const provisioning: HandlerModule = {
  handlers: {
    BootNotification: bootNotification,
    Heartbeat: heartbeat,
    StatusNotification: statusNotification,
    NotifyEvent: notifyEvent,
    NotifyReport: notifyReport,
  },
};
