import type { OcppPayloads as OcppPayloads16 } from '../../ocpp/v16/types.js';
import type { ChargingProfileType } from '../../ocpp/v201/types.js';
import type { BlockSide16, CommandPlan, PlanContext } from '../../station/types.js';
import type { DeviceVariable, JsonObject } from '../../store/store.js';
import { singleRequest } from '../plans.js';
import type { ChargingCapabilities, K01Violation } from './k01.js';
import { checkAgainstStation, recordSetProfile, type SmartChargingDeps } from './smart-charging.js';

/**
 * The 1.6 side of Smart Charging (OCPP 1.6 §3.13, §5.16 SetChargingProfile, ClearChargingProfile,
 * GetCompositeSchedule): a 1.6 station maps onto the same charging-profile resource (CONTRACT §3.1). A 1.6
 * profile (`csChargingProfiles`, one schedule, connectorId = EVSE) is read as its 2.0.1 counterpart, checked by the
 * same validator (without the rules 1.6 does not have) and listed like a 2.0.1 profile.
 */

type SetChargingProfile16 = OcppPayloads16['SetChargingProfile']['request'];
type Profile16 = SetChargingProfile16['csChargingProfiles'];

/** 2.0.1 rules a 1.6 station does not have: 1.6 makes startSchedule optional, and a TxProfile may omit its transactionId. */
const NOT_IN_16: ReadonlySet<string> = new Set(['K01.FR.40', 'K01.FR.41', 'K01.FR.34']);

export function profileFrom16(profile: Profile16): ChargingProfileType {
  const schedule = profile.chargingSchedule;
  return {
    id: profile.chargingProfileId,
    stackLevel: profile.stackLevel,
    chargingProfilePurpose: profile.chargingProfilePurpose === 'ChargePointMaxProfile' ? 'ChargingStationMaxProfile' : profile.chargingProfilePurpose,
    chargingProfileKind: profile.chargingProfileKind,
    ...(profile.recurrencyKind !== undefined ? { recurrencyKind: profile.recurrencyKind } : {}),
    ...(profile.validFrom !== undefined ? { validFrom: profile.validFrom } : {}),
    ...(profile.validTo !== undefined ? { validTo: profile.validTo } : {}),
    ...(profile.transactionId !== undefined ? { transactionId: String(profile.transactionId) } : {}),
    chargingSchedule: [
      {
        id: 1,
        ...(schedule.startSchedule !== undefined ? { startSchedule: schedule.startSchedule } : {}),
        ...(schedule.duration !== undefined ? { duration: schedule.duration } : {}),
        chargingRateUnit: schedule.chargingRateUnit,
        ...(schedule.minChargingRate !== undefined ? { minChargingRate: schedule.minChargingRate } : {}),
        chargingSchedulePeriod: schedule.chargingSchedulePeriod.map((p) => ({
          startPeriod: p.startPeriod,
          limit: p.limit,
          ...(p.numberPhases !== undefined ? { numberPhases: p.numberPhases } : {}),
        })) as ChargingProfileType['chargingSchedule'][0]['chargingSchedulePeriod'],
      },
    ],
  };
}

/** The 1.6 SetChargingProfile for a profile of the resource (2.0.1 shape): its first schedule, connectorId = evseId. */
export function setChargingProfile16(evseId: number, profile: JsonObject): JsonObject {
  const schedules = Array.isArray(profile.chargingSchedule) ? profile.chargingSchedule : [];
  const first = schedules[0];
  const schedule: JsonObject = typeof first === 'object' && first !== null && !Array.isArray(first) ? { ...first } : {};
  delete schedule.id;
  const purpose = profile.chargingProfilePurpose === 'ChargingStationMaxProfile' ? 'ChargePointMaxProfile' : (profile.chargingProfilePurpose ?? null);
  const transactionId = typeof profile.transactionId === 'string' && /^-?\d+$/.test(profile.transactionId) ? Number(profile.transactionId) : profile.transactionId;
  const cs: JsonObject = {
    chargingProfileId: profile.id ?? null,
    stackLevel: profile.stackLevel ?? null,
    chargingProfilePurpose: purpose,
    chargingProfileKind: profile.chargingProfileKind ?? null,
    chargingSchedule: schedule,
  };
  for (const key of ['recurrencyKind', 'validFrom', 'validTo'] as const) if (profile[key] !== undefined) cs[key] = profile[key];
  if (transactionId !== undefined) cs.transactionId = transactionId;
  return { connectorId: evseId, csChargingProfiles: cs };
}

/** 1.6 configuration keys (CONTRACT §3.1: component OCPP16) that bound what a 1.6 station takes. */
export function chargingCapabilities16(variables: readonly DeviceVariable[]): ChargingCapabilities {
  const value = (name: string): string | undefined => {
    const found = variables.find((v) => v.component.name === 'OCPP16' && v.variable.name === name);
    return found?.attributes.find((a) => a.type === 'Actual')?.value;
  };
  const integer = (name: string): number | undefined => {
    const n = Number(value(name));
    return Number.isInteger(n) && value(name) !== undefined ? n : undefined;
  };
  const caps: ChargingCapabilities = {};
  const units = value('ChargingScheduleAllowedChargingRateUnit');
  if (units !== undefined) {
    const list = units.split(',').map((u) => u.trim());
    caps.rateUnits = [...(list.includes('Current') ? (['A'] as const) : []), ...(list.includes('Power') ? (['W'] as const) : [])];
  }
  const stack = integer('ChargeProfileMaxStackLevel');
  if (stack !== undefined) caps.maxStackLevel = stack;
  const periods = integer('ChargingScheduleMaxPeriods');
  if (periods !== undefined) caps.periodsPerSchedule = periods;
  const installed = integer('MaxChargingProfilesInstalled');
  if (installed !== undefined) caps.maxProfiles = installed;
  return caps;
}

function planSetChargingProfile16(deps: SmartChargingDeps) {
  return async (payload: SetChargingProfile16, ctx: PlanContext): Promise<CommandPlan> => {
    const profile = profileFrom16(payload.csChargingProfiles);
    const applies = (v: K01Violation): boolean => !NOT_IN_16.has(v.rule) && !(v.rule === 'K01.FR.03' && profile.chargingProfilePurpose === 'TxProfile');
    const previous = await checkAgainstStation(deps, ctx, payload.connectorId, profile, false, {
      capabilities: chargingCapabilities16(await ctx.deviceModel()),
      applies,
    });
    const settle = await recordSetProfile(deps, ctx.station.id, payload.connectorId, profile, previous);
    return { ...singleRequest(payload), settle };
  };
}

export function smartCharging16(deps: SmartChargingDeps): BlockSide16 {
  return {
    handlers: {},
    plans: {
      SetChargingProfile: planSetChargingProfile16(deps),
      ClearChargingProfile: (payload, ctx) => ({
        ...singleRequest(payload),
        settle: async (outcome) => {
          if (outcome.kind !== 'result') return;
          if (payload.id !== undefined) {
            await deps.smart.deleteProfile(ctx.station.id, 'CSMS', payload.id);
            return;
          }
          const purpose = payload.chargingProfilePurpose === 'ChargePointMaxProfile' ? 'ChargingStationMaxProfile' : payload.chargingProfilePurpose;
          // 1.6 allows a clear without any criterion: it clears every profile the station holds.
          await deps.smart.clearProfiles(ctx.station.id, { evseId: payload.connectorId, purpose, stackLevel: payload.stackLevel });
        },
      }),
      GetCompositeSchedule: (payload, ctx) => ({
        ...singleRequest(payload),
        settle: async (outcome) => {
          if (outcome.kind !== 'result' || outcome.response.status !== 'Accepted') return;
          const { connectorId, scheduleStart, chargingSchedule } = outcome.response;
          await deps.smart.putCompositeSchedule(ctx.station.id, payload.connectorId, {
            evseId: connectorId ?? payload.connectorId,
            scheduleStart: scheduleStart ?? null,
            chargingSchedule: chargingSchedule ?? null,
          });
        },
      }),
    },
  };
}
