import { asJson, type JsonObject } from '../../json.js';
import type { SignedUpdateFirmwareRequest, SignedUpdateFirmwareResponse, UpdateFirmwareRequest as UpdateFirmwareRequest16 } from '../../ocpp/v16/types.js';
import type { FirmwareStatusNotificationRequest, FirmwareStatusNotificationResponse, UpdateFirmwareRequest, UpdateFirmwareResponse } from '../../ocpp/v201/types.js';
import type { BlockModule, HandlerContext, StationHandle, StationServices } from '../../station/types.js';

/**
 * Firmware management (L01; OCPP 1.6 §4.5/§5.20 and the Security Extension's signed firmware): an accepted
 * UpdateFirmware becomes the station's firmware status until the station reports more; every
 * FirmwareStatusNotification is a record and the new current status.
 */

async function firmwareStatusNotification(ctx: HandlerContext, request: FirmwareStatusNotificationRequest): Promise<FirmwareStatusNotificationResponse> {
  await recordFirmwareStatus(ctx, 'FirmwareStatusNotification', asJson(request));
  return {};
}

/** Every firmware status, of either version, is a record and the station's current firmware status. */
async function recordFirmwareStatus(ctx: HandlerContext, kind: 'FirmwareStatusNotification' | 'SignedFirmwareStatusNotification', request: JsonObject): Promise<void> {
  const { store, clock } = ctx.services;
  const at = new Date(clock.now());
  const status = { ...request, updatedAt: at.toISOString() };
  await Promise.all([store.recordEvent(ctx.station.stationId, kind, request, at), store.recordFirmwareStatus(ctx.station.stationId, status)]);
}

/** What an accepted firmware request makes the station's firmware status, until the station reports more. */
function requestedFirmware(services: StationServices, requestStatus: string, accepted: boolean, details: JsonObject): JsonObject {
  return { ...details, status: accepted ? 'Requested' : `Request${requestStatus}`, requestStatus, updatedAt: new Date(services.clock.now()).toISOString() };
}

/** 1.6 §5.20: UpdateFirmware has no answer but `{}`: the station took the request. */
async function trackFirmwareRequest16(station: StationHandle, request: UpdateFirmwareRequest16, _response: unknown, services: StationServices): Promise<void> {
  await services.store.recordFirmwareStatus(
    station.stationId,
    requestedFirmware(services, 'Accepted', true, { location: request.location, retrieveDateTime: request.retrieveDate }),
  );
}

/** Security Extension §3.3: SignedUpdateFirmware, answered like the 2.0.1 UpdateFirmware. */
async function trackSignedFirmwareRequest(
  station: StationHandle,
  request: SignedUpdateFirmwareRequest,
  response: SignedUpdateFirmwareResponse,
  services: StationServices,
): Promise<void> {
  await services.store.recordFirmwareStatus(
    station.stationId,
    requestedFirmware(services, response.status, response.status === 'Accepted' || response.status === 'AcceptedCanceled', {
      requestId: request.requestId,
      location: request.firmware.location,
      retrieveDateTime: request.firmware.retrieveDateTime,
      ...(request.firmware.installDateTime !== undefined ? { installDateTime: request.firmware.installDateTime } : {}),
    }),
  );
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
  v16: {
    handlers: {
      FirmwareStatusNotification: (ctx, request) => recordFirmwareStatus(ctx, 'FirmwareStatusNotification', asJson(request)).then(() => ({})),
      SignedFirmwareStatusNotification: (ctx, request) => recordFirmwareStatus(ctx, 'SignedFirmwareStatusNotification', asJson(request)).then(() => ({})),
    },
    resultHooks: {
      UpdateFirmware: trackFirmwareRequest16,
      SignedUpdateFirmware: trackSignedFirmwareRequest,
    },
  },
};
