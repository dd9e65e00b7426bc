import type { JsonObject } from '../../json.js';
import type { StatusNotificationRequest as StatusNotificationRequest16, StatusNotificationResponse as StatusNotificationResponse16 } from '../../ocpp/v16/types.js';
import type { StatusNotificationRequest, StatusNotificationResponse } from '../../ocpp/v201/types.js';
import type { BlockModule, HandlerContext } from '../../station/types.js';

/**
 * Availability (G): what each connector is doing, as the station reports it (G01 StatusNotification; the
 * diagnostics block feeds NotifyEvent on Connector.AvailabilityState here too), and what the station as a
 * whole is doing (evseId 0). Current state, re-reported by the station on every reconnect.
 */

async function statusNotification(ctx: HandlerContext, request: StatusNotificationRequest): Promise<StatusNotificationResponse> {
  const updatedAt = new Date(Date.parse(request.timestamp) || ctx.services.clock.now());
  await recordAvailability(ctx, request.evseId, request.connectorId, request.connectorStatus, updatedAt);
  return {};
}

/**
 * One reported availability, wherever it came from (StatusNotification or a NotifyEvent AvailabilityState).
 * EVSE 0 is the station itself (CONTRACT §3.2 "Station-wide status"): its status is the station's, never an
 * EVSE of its own, and the EVSEs keep theirs.
 */
export function recordAvailability(ctx: HandlerContext, evseId: number, connectorId: number, status: string, updatedAt: Date, error?: JsonObject): Promise<void> {
  const { store } = ctx.services;
  const detail = error !== undefined ? { error } : {};
  if (evseId === 0) return store.recordStationStatus(ctx.station.stationId, { status, updatedAt, ...detail });
  return store.recordConnectorStatus(ctx.station.stationId, { evseId, connectorId, status, updatedAt, ...detail });
}

/**
 * OCPP 1.6 §4.9 (CONTRACT §3.1): connectorId 0 is the station itself, connector N is EVSE N connector 1; the
 * status is kept as sent, with its errorCode, info and vendor codes.
 */
async function statusNotification16(ctx: HandlerContext, request: StatusNotificationRequest16): Promise<StatusNotificationResponse16> {
  const updatedAt = new Date((request.timestamp !== undefined ? Date.parse(request.timestamp) : NaN) || ctx.services.clock.now());
  const error: JsonObject = {
    errorCode: request.errorCode,
    ...(request.info !== undefined ? { info: request.info } : {}),
    ...(request.vendorId !== undefined ? { vendorId: request.vendorId } : {}),
    ...(request.vendorErrorCode !== undefined ? { vendorErrorCode: request.vendorErrorCode } : {}),
  };
  await recordAvailability(ctx, request.connectorId, request.connectorId === 0 ? 0 : 1, request.status, updatedAt, error);
  return {};
}

export const availability: BlockModule = {
  name: 'availability',
  handlers: {
    StatusNotification: statusNotification,
  },
  v16: {
    handlers: {
      StatusNotification: statusNotification16,
    },
  },
};
