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
export function recordAvailability(ctx: HandlerContext, evseId: number, connectorId: number, status: string, updatedAt: Date): Promise<void> {
  const { store } = ctx.services;
  if (evseId === 0) return store.recordStationStatus(ctx.station.stationId, { status, updatedAt });
  return store.recordConnectorStatus(ctx.station.stationId, { evseId, connectorId, status, updatedAt });
}

export const availability: BlockModule = {
  name: 'availability',
  handlers: {
    StatusNotification: statusNotification,
  },
};
