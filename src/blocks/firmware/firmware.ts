import { asJson } from '../../json.js';
import type { FirmwareStatusNotificationRequest, FirmwareStatusNotificationResponse, UpdateFirmwareRequest, UpdateFirmwareResponse } from '../../ocpp/v201/types.js';
import type { BlockModule, HandlerContext, StationHandle, StationServices } from '../../station/types.js';

/**
 * Firmware management (L01): an accepted UpdateFirmware becomes the station's firmware status until the
 * station reports more; every FirmwareStatusNotification is a record and the new current status.
 */

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

async function trackFirmwareRequest(station: StationHandle, request: UpdateFirmwareRequest, response: UpdateFirmwareResponse, services: StationServices): Promise<void> {
  await services.store.recordFirmwareStatus(station.stationId, {
    requestId: request.requestId,
    status: response.status === 'Accepted' || response.status === 'AcceptedCanceled' ? 'Requested' : `Request${response.status}`,
    requestStatus: response.status,
    location: request.firmware.location,
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- the request is the JSON an operator sent: keep a missing date out of the record rather than storing undefined
    ...(request.firmware.retrieveDateTime !== undefined ? { retrieveDateTime: request.firmware.retrieveDateTime } : {}),
    ...(request.firmware.installDateTime !== undefined ? { installDateTime: request.firmware.installDateTime } : {}),
    updatedAt: new Date(services.clock.now()).toISOString(),
  });
}

export const firmware: BlockModule = {
  name: 'firmware',
  handlers: {
    FirmwareStatusNotification: firmwareStatusNotification,
  },
  resultHooks: {
    UpdateFirmware: trackFirmwareRequest,
  },
};
