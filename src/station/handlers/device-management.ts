import type {
  ComponentType,
  GetLogRequest,
  GetLogResponse,
  GetVariablesRequest,
  GetVariablesResponse,
  ResetRequest,
  ResetResponse,
  SetVariablesRequest,
  SetVariablesResponse,
  UpdateFirmwareRequest,
  UpdateFirmwareResponse,
  VariableType,
} from '../../ocpp/generated/ocpp-types.js';
import { hashPassword } from '../../security/passwords.js';
import type { DeviceVariable } from '../../store/store.js';
import type { HandlerModule, StationHandle, StationServices } from '../types.js';
import { asJson } from './json.js';

/**
 * What the CSMS learns from the answers to its own device-management calls (B05–B12, L01, N01): values
 * read or set become the stored device model, an accepted BasicAuthPassword becomes the station's new
 * credential, and firmware / log requests become the station's current status until it reports more.
 */

function sameItem(a: { component: ComponentType; variable: VariableType; attributeType?: string }, b: typeof a): boolean {
  return (
    a.component.name === b.component.name &&
    (a.component.instance ?? '') === (b.component.instance ?? '') &&
    (a.component.evse?.id ?? -1) === (b.component.evse?.id ?? -1) &&
    (a.component.evse?.connectorId ?? -1) === (b.component.evse?.connectorId ?? -1) &&
    a.variable.name === b.variable.name &&
    (a.variable.instance ?? '') === (b.variable.instance ?? '') &&
    (a.attributeType ?? 'Actual') === (b.attributeType ?? 'Actual')
  );
}

export function isBasicAuthPassword(item: { component: ComponentType; variable: VariableType }): boolean {
  return item.component.name === 'SecurityCtrlr' && item.variable.name === 'BasicAuthPassword';
}

function variable(component: ComponentType, variableType: VariableType, type: string, value: string): DeviceVariable {
  return { component: asJson(component), variable: asJson(variableType), attributes: [{ type, value }] };
}

async function learnFromGetVariables(station: StationHandle, _request: GetVariablesRequest, response: GetVariablesResponse, services: StationServices): Promise<void> {
  const known = response.getVariableResult
    .filter((result) => result.attributeStatus === 'Accepted' && result.attributeValue !== undefined && !isBasicAuthPassword(result))
    .map((result) => variable(result.component, result.variable, result.attributeType ?? 'Actual', result.attributeValue as string));
  if (known.length > 0) await services.store.recordVariables(station.stationId, known);
}

async function learnFromSetVariables(station: StationHandle, request: SetVariablesRequest, response: SetVariablesResponse, services: StationServices): Promise<void> {
  const accepted = response.setVariableResult.filter((result) => result.attributeStatus === 'Accepted' || result.attributeStatus === 'RebootRequired');
  const values: DeviceVariable[] = [];
  for (const result of accepted) {
    const sent = request.setVariableData.find((item) => sameItem(item, result));
    if (sent === undefined) continue;
    if (isBasicAuthPassword(sent)) {
      // A01.FR.03: from now on only the new password opens a connection; A01.FR.04: a rejected
      // change (not in this list) leaves the old one valid. The password itself is never stored in clear.
      await services.store.upsertStation(station.stationId, { passwordHash: await hashPassword(sent.attributeValue) });
      station.log.info('BasicAuthPassword changed by the station; the previous password no longer opens a connection');
      continue;
    }
    values.push(variable(sent.component, sent.variable, sent.attributeType ?? 'Actual', sent.attributeValue));
  }
  if (values.length > 0) await services.store.recordVariables(station.stationId, values);
}

function noteReset(station: StationHandle, request: ResetRequest, response: ResetResponse): void {
  // B11/B12: Accepted reboots now, Scheduled after the running transactions end; either way the next
  // BootNotification (reason RemoteReset / ScheduledReset) closes the loop, and EVSE resets do not reboot.
  station.log.info({ type: request.type, evseId: request.evseId, status: response.status }, 'reset requested');
}

async function trackFirmwareRequest(station: StationHandle, request: UpdateFirmwareRequest, response: UpdateFirmwareResponse, services: StationServices): Promise<void> {
  await services.store.recordFirmwareStatus(station.stationId, {
    requestId: request.requestId,
    status: response.status === 'Accepted' || response.status === 'AcceptedCanceled' ? 'Requested' : `Request${response.status}`,
    requestStatus: response.status,
    location: request.firmware.location,
    ...(request.firmware.retrieveDateTime !== undefined ? { retrieveDateTime: request.firmware.retrieveDateTime } : {}),
    ...(request.firmware.installDateTime !== undefined ? { installDateTime: request.firmware.installDateTime } : {}),
    updatedAt: new Date(services.clock.now()).toISOString(),
  });
}

async function trackLogRequest(station: StationHandle, request: GetLogRequest, response: GetLogResponse, services: StationServices): Promise<void> {
  await services.store.recordLogStatus(station.stationId, {
    requestId: request.requestId,
    logType: request.logType,
    status: response.status === 'Rejected' ? 'RequestRejected' : 'Requested',
    requestStatus: response.status,
    ...(response.filename !== undefined ? { filename: response.filename } : {}),
    updatedAt: new Date(services.clock.now()).toISOString(),
  });
}

export const deviceManagement: HandlerModule = {
  handlers: {},
  resultHooks: {
    GetVariables: learnFromGetVariables,
    SetVariables: learnFromSetVariables,
    Reset: noteReset,
    UpdateFirmware: trackFirmwareRequest,
    GetLog: trackLogRequest,
  },
};
