import type { StatusNotificationRequest, StatusNotificationResponse } from '../../ocpp/v201/types.js';
import type { BlockModule, HandlerContext } from '../../station/types.js';

/**
 * Availability (G): what each connector is doing, as the station reports it (G01 StatusNotification; the
 * diagnostics block feeds NotifyEvent on Connector.AvailabilityState here too). Current state, re-reported
 * by the station on every reconnect.
 */

async function statusNotification(ctx: HandlerContext, request: StatusNotificationRequest): Promise<StatusNotificationResponse> {
  await ctx.services.store.recordConnectorStatus(ctx.station.stationId, {
    evseId: request.evseId,
    connectorId: request.connectorId,
    status: request.connectorStatus,
    updatedAt: new Date(Date.parse(request.timestamp) || ctx.services.clock.now()),
  });
  return {};
}

export const availability: BlockModule = {
  name: 'availability',
  handlers: {
    StatusNotification: statusNotification,
  },
};
