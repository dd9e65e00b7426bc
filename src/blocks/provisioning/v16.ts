import type { JsonObject } from '../../json.js';
import type {
  BootNotificationRequest,
  BootNotificationResponse,
  ChangeConfigurationRequest,
  ChangeConfigurationResponse,
  GetConfigurationResponse,
  ResetRequest,
  ResetResponse,
} from '../../ocpp/v16/types.js';
import { passwordLengthProblem } from '../../security/passwords.js';
import { CommandRefusal, type BlockSide16, type CommandPlan, type HandlerContext, type StationHandle, type StationServices } from '../../station/types.js';
import { singleRequest } from '../plans.js';
import type { DeviceVariable } from '../../store/store.js';
import { answerBoot, heartbeat } from './boot.js';

/**
 * The provisioning block's OCPP 1.6 side: BootNotification and Heartbeat through the same boot policy as 2.0.1,
 * and the configuration keys (GetConfiguration, ChangeConfiguration) as variables of an `OCPP16` component in
 * the one device-model view (CONTRACT §3.1).
 */

/** The component every 1.6 configuration key is shown under. */
export const OCPP16_COMPONENT = 'OCPP16';

/**
 * Security Extension §1.3: the Basic-auth password of profiles 1 and 2. Never stored as a variable; an accepted
 * change is the station's new credential, as SetVariables BasicAuthPassword is on 2.0.1 (A01.FR.03).
 */
const AUTHORIZATION_KEY = 'AuthorizationKey';

/**
 * The 2.0.1 shape of what a 1.6 station says about itself, so one station view serves both; the fields 1.6
 * has and 2.0.1 has not are kept under their 1.6 names.
 */
function chargingStationOf(request: BootNotificationRequest): JsonObject {
  const modem = { ...(request.iccid !== undefined ? { iccid: request.iccid } : {}), ...(request.imsi !== undefined ? { imsi: request.imsi } : {}) };
  return {
    model: request.chargePointModel,
    vendorName: request.chargePointVendor,
    ...(request.chargePointSerialNumber !== undefined ? { serialNumber: request.chargePointSerialNumber } : {}),
    ...(request.firmwareVersion !== undefined ? { firmwareVersion: request.firmwareVersion } : {}),
    ...(Object.keys(modem).length > 0 ? { modem } : {}),
    ...(request.chargeBoxSerialNumber !== undefined ? { chargeBoxSerialNumber: request.chargeBoxSerialNumber } : {}),
    ...(request.meterType !== undefined ? { meterType: request.meterType } : {}),
    ...(request.meterSerialNumber !== undefined ? { meterSerialNumber: request.meterSerialNumber } : {}),
  };
}

async function bootNotification(ctx: HandlerContext, request: BootNotificationRequest): Promise<BootNotificationResponse> {
  // 1.6 gives no boot reason: the view shows null, never a guess.
  return answerBoot(ctx, chargingStationOf(request), request.chargePointSerialNumber, undefined);
}

function configurationVariable(key: string, value: string | undefined, readonly: boolean | undefined): DeviceVariable {
  return {
    component: { name: OCPP16_COMPONENT },
    variable: { name: key },
    attributes: [{ type: 'Actual', ...(value !== undefined ? { value } : {}), ...(readonly !== undefined ? { readonly } : {}) }],
  };
}

/** 1.6 §5.8: every key the station reported (the onboarding read asks for all of them). */
async function learnFromGetConfiguration(station: StationHandle, _request: unknown, response: GetConfigurationResponse, services: StationServices): Promise<void> {
  const keys = (response.configurationKey ?? []).filter((entry) => entry.key !== AUTHORIZATION_KEY);
  if (keys.length === 0) return;
  await services.store.recordVariables(
    station.stationId,
    keys.map((entry) => configurationVariable(entry.key, entry.value, entry.readonly)),
  );
}

/** 1.6 §5.3: an Accepted (or RebootRequired) change is the key's new value. */
async function learnFromChangeConfiguration(
  station: StationHandle,
  request: ChangeConfigurationRequest,
  response: ChangeConfigurationResponse,
  services: StationServices,
): Promise<void> {
  if (response.status !== 'Accepted' && response.status !== 'RebootRequired') return;
  if (request.key === AUTHORIZATION_KEY) {
    await services.store.upsertStation(station.stationId, await services.passwords.create(station.stationId, request.value));
    station.log.info('AuthorizationKey changed by the station; the previous password no longer opens a connection');
    return;
  }
  await services.store.recordVariables(station.stationId, [configurationVariable(request.key, request.value, undefined)]);
}

/** CONTRACT §3.2 "Passwords": a new AuthorizationKey obeys the same 16–64 characters as BasicAuthPassword. */
function planChangeConfiguration(payload: ChangeConfigurationRequest): CommandPlan {
  if (payload.key === AUTHORIZATION_KEY) {
    const problem = passwordLengthProblem(payload.value);
    if (problem !== undefined) throw new CommandRefusal(400, 'invalid_payload', `AuthorizationKey: ${problem}`, { rule: 'AuthorizationKey length 16-64' });
  }
  return singleRequest(payload);
}

function noteReset(station: StationHandle, request: ResetRequest, response: ResetResponse): void {
  station.log.info({ type: request.type, status: response.status }, 'reset requested');
}

export const provisioning16: BlockSide16 = {
  handlers: {
    BootNotification: bootNotification,
    Heartbeat: heartbeat,
  },
  resultHooks: {
    GetConfiguration: learnFromGetConfiguration,
    ChangeConfiguration: learnFromChangeConfiguration,
    Reset: noteReset,
  },
  plans: {
    ChangeConfiguration: planChangeConfiguration,
  },
};
