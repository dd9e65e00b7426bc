import type { SetNetworkProfileRequest } from '../../ocpp/v201/types.js';
import type { SecurityProfile } from '../../store/store.js';
import { CommandRefusal, type CommandPlan, type PlanContext } from '../../station/types.js';
import { singleRequest } from '../plans.js';

/**
 * DRV-A05-01 (A00.FR.005): the CSMS never lowers a station's security profile over OCPP. Answers why a
 * SetNetworkProfile command must not be sent (the API answers 409 with it), or undefined when it may.
 * (Whether the target endpoint serves that profile is not checked: ocppCsmsUrl may name another endpoint.)
 */
export function checkNetworkProfileCommand(
  station: { id: string; securityProfile: SecurityProfile },
  payload: { connectionData: { securityProfile: number } },
): string | undefined {
  const target = payload.connectionData.securityProfile;
  if (!Number.isInteger(target) || target < 1 || target > 3) return `securityProfile ${target} does not exist; OCPP 2.0.1 knows profiles 1, 2 and 3`;
  if (target < station.securityProfile) {
    return `station ${station.id} is registered for security profile ${station.securityProfile}; the CSMS never lowers a station's security profile (A00.FR.005), so SetNetworkProfile with securityProfile ${target} is refused`;
  }
  return undefined;
}

export function planSetNetworkProfile(payload: SetNetworkProfileRequest, ctx: PlanContext): CommandPlan {
  const refusal = checkNetworkProfileCommand(ctx.station, payload);
  if (refusal !== undefined) throw new CommandRefusal(409, 'security_profile_refused', refusal);
  return singleRequest(payload);
}
