/**
 * The K01 validator, rule by rule (DRV-SC-01, DRV-SC-02, DRV-SC-03): each case breaks exactly one rule of a
 * profile that is otherwise valid, and the validator must name that rule.
 */
import { describe, expect, it } from 'vitest';
import { chargingCapabilities, checkChargingProfile, validityOverlaps, type ProfileCheckContext } from '../../src/blocks/smart-charging/k01.js';
import type { ChargingProfileType } from '../../src/ocpp/v201/types.js';
import type { DeviceVariable } from '../../src/store/store.js';

const NOW = '2026-12-07T12:00:00.000Z';

function txDefault(overrides: Partial<ChargingProfileType> = {}): ChargingProfileType {
  return {
    id: 1,
    stackLevel: 1,
    chargingProfilePurpose: 'TxDefaultProfile',
    chargingProfileKind: 'Absolute',
    chargingSchedule: [{ id: 1, startSchedule: NOW, chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 6 }] }],
    ...overrides,
  };
}

function context(overrides: Partial<ProfileCheckContext> = {}): ProfileCheckContext {
  return { evseId: 1, capabilities: {}, installed: [], activeTransactions: [{ transactionId: 'T1', evseId: 1 }], ...overrides };
}

function rules(profile: ChargingProfileType, ctx: ProfileCheckContext = context()): string[] {
  return checkChargingProfile(profile, ctx).map((v) => v.rule);
}

describe('K01 validator', () => {
  it('TC_K_01 / TC_K_10 / TC_K_03 / TC_K_19 / TC_K_60: the profiles of the certification cases pass', () => {
    expect(rules(txDefault({ validFrom: NOW, validTo: '2026-12-07T13:00:00.000Z' }))).toEqual([]);
    expect(rules(txDefault(), context({ evseId: 0 }))).toEqual([]);
    expect(rules(txDefault({ chargingProfilePurpose: 'ChargingStationMaxProfile' }), context({ evseId: 0 }))).toEqual([]);
    expect(rules(txDefault({ chargingProfileKind: 'Recurring', recurrencyKind: 'Daily' }))).toEqual([]);
    expect(rules(txDefault({ chargingProfileKind: 'Recurring', recurrencyKind: 'Weekly' }))).toEqual([]);
    const relative = txDefault({ chargingProfilePurpose: 'TxProfile', chargingProfileKind: 'Relative', transactionId: 'T1' });
    relative.chargingSchedule[0].startSchedule = undefined;
    expect(rules(relative)).toEqual([]);
  });

  it('K01.FR.22: never ChargingStationExternalConstraints', () => {
    expect(rules(txDefault({ chargingProfilePurpose: 'ChargingStationExternalConstraints' }))).toEqual(['K01.FR.22']);
  });

  it('K01.FR.03: a TxProfile carries its transactionId, and only a TxProfile does (DRV-SC-03)', () => {
    expect(rules(txDefault({ chargingProfilePurpose: 'TxProfile' }))).toEqual(['K01.FR.03']);
    expect(rules(txDefault({ transactionId: 'T1' }))).toEqual(['K01.FR.03']);
  });

  it('K01.FR.16: a TxProfile never goes to evseId 0 (DRV-SC-03)', () => {
    expect(rules(txDefault({ chargingProfilePurpose: 'TxProfile', transactionId: 'T1' }), context({ evseId: 0 }))).toContain('K01.FR.16');
  });

  it('K01.FR.09: a TxProfile names a transaction running on that EVSE', () => {
    expect(rules(txDefault({ chargingProfilePurpose: 'TxProfile', transactionId: 'gone' }))).toEqual(['K01.FR.09']);
    expect(rules(txDefault({ chargingProfilePurpose: 'TxProfile', transactionId: 'T1' }), context({ evseId: 2 }))).toEqual(['K01.FR.09']);
  });

  it('K01.FR.38: a ChargingStationMaxProfile is station-wide and never Relative', () => {
    expect(rules(txDefault({ chargingProfilePurpose: 'ChargingStationMaxProfile' }), context({ evseId: 1 }))).toEqual(['K01.FR.38']);
    const relative = txDefault({ chargingProfilePurpose: 'ChargingStationMaxProfile', chargingProfileKind: 'Relative' });
    relative.chargingSchedule[0].startSchedule = undefined;
    expect(rules(relative, context({ evseId: 0 }))).toEqual(['K01.FR.38']);
  });

  it('K01.FR.31: the first period starts at 0', () => {
    const profile = txDefault();
    profile.chargingSchedule[0].chargingSchedulePeriod = [{ startPeriod: 60, limit: 6 }];
    expect(rules(profile)).toEqual(['K01.FR.31']);
  });

  it('K01.FR.35: periods ascend by startPeriod', () => {
    const profile = txDefault();
    profile.chargingSchedule[0].chargingSchedulePeriod = [
      { startPeriod: 0, limit: 6 },
      { startPeriod: 600, limit: 8 },
      { startPeriod: 300, limit: 10 },
    ];
    expect(rules(profile)).toEqual(['K01.FR.35']);
  });

  it('K01.FR.34: one schedule unless the EV sent its charging needs', () => {
    const schedule = txDefault().chargingSchedule[0];
    const profile = txDefault({ chargingSchedule: [schedule, { ...schedule, id: 2 }] });
    expect(rules(profile)).toEqual(['K01.FR.34']);
    expect(rules(profile, context({ evChargingNeeds: true }))).toEqual([]);
  });

  it('K01.FR.40 / K01.FR.41: Absolute and Recurring need a startSchedule, Relative has none; recurrencyKind only when Recurring', () => {
    const absolute = txDefault();
    absolute.chargingSchedule[0].startSchedule = undefined;
    expect(rules(absolute)).toEqual(['K01.FR.40']);
    expect(rules(txDefault({ chargingProfileKind: 'Relative' }))).toEqual(['K01.FR.41']);
    expect(rules(txDefault({ recurrencyKind: 'Daily' }))).toEqual(['K01.FR.40']);
    expect(rules(txDefault({ chargingProfileKind: 'Recurring' }))).toEqual(['K01.FR.40']);
  });

  it('K01.FR.19 / K01.FR.20: phaseToUse only with numberPhases 1, on a station that switches phases', () => {
    const three = txDefault();
    three.chargingSchedule[0].chargingSchedulePeriod = [{ startPeriod: 0, limit: 6, numberPhases: 3, phaseToUse: 1 }];
    expect(rules(three, context({ capabilities: { acPhaseSwitching: true } }))).toEqual(['K01.FR.19']);
    const one = txDefault();
    one.chargingSchedule[0].chargingSchedulePeriod = [{ startPeriod: 0, limit: 6, numberPhases: 1, phaseToUse: 1 }];
    expect(rules(one, context({ capabilities: { acPhaseSwitching: false } }))).toEqual(['K01.FR.20']);
    expect(rules(one, context({ capabilities: { acPhaseSwitching: true } }))).toEqual([]);
  });

  it('K01.FR.26: the rate unit is one the station takes (SmartChargingCtrlr.RateUnit)', () => {
    expect(rules(txDefault(), context({ capabilities: { rateUnits: ['W'] } }))).toEqual(['K01.FR.26']);
    expect(rules(txDefault(), context({ capabilities: { rateUnits: ['A', 'W'] } }))).toEqual([]);
  });

  it('K01.FR.36: validFrom before validTo', () => {
    expect(rules(txDefault({ validFrom: NOW, validTo: NOW }))).toEqual(['K01.FR.36']);
  });

  it('SmartChargingCtrlr limits: ProfileStackLevel, PeriodsPerSchedule, Entries', () => {
    expect(rules(txDefault({ stackLevel: 5 }), context({ capabilities: { maxStackLevel: 3 } }))).toEqual(['SmartChargingCtrlr.ProfileStackLevel']);
    const profile = txDefault();
    profile.chargingSchedule[0].chargingSchedulePeriod = [
      { startPeriod: 0, limit: 6 },
      { startPeriod: 60, limit: 7 },
    ];
    expect(rules(profile, context({ capabilities: { periodsPerSchedule: 1 } }))).toEqual(['SmartChargingCtrlr.PeriodsPerSchedule']);
    const installed = [{ evseId: 2, chargingProfile: txDefault({ id: 7 }) }];
    expect(rules(txDefault(), context({ capabilities: { maxProfiles: 1 }, installed }))).toEqual(['SmartChargingCtrlr.Entries']);
  });

  it('limits: never negative, at most 6 decimals', () => {
    const negative = txDefault();
    negative.chargingSchedule[0].chargingSchedulePeriod = [{ startPeriod: 0, limit: -1 }];
    expect(rules(negative)).toEqual(['K01.FR.31']);
    const precise = txDefault();
    precise.chargingSchedule[0].chargingSchedulePeriod = [{ startPeriod: 0, limit: 6.1234567 }];
    expect(rules(precise)).toEqual(['OCPP-J.decimals']);
  });

  it('K01.FR.06: no second id on the same (stackLevel, purpose, evseId) with overlapping validity (DRV-SC-02); the same id replaces', () => {
    const installed = [{ evseId: 1, chargingProfile: txDefault({ id: 1 }) }];
    expect(rules(txDefault({ id: 2 }), context({ installed }))).toEqual(['K01.FR.06']);
    expect(rules(txDefault({ id: 1 }), context({ installed }))).toEqual([]);
    expect(rules(txDefault({ id: 2, stackLevel: 2 }), context({ installed }))).toEqual([]);
    expect(rules(txDefault({ id: 2 }), context({ installed, evseId: 2 }))).toEqual([]);
    const morning = [{ evseId: 1, chargingProfile: txDefault({ id: 1, validFrom: '2026-12-07T06:00:00Z', validTo: '2026-12-07T12:00:00Z' }) }];
    expect(rules(txDefault({ id: 2, validFrom: '2026-12-07T12:00:00Z' }), context({ installed: morning }))).toEqual([]);
  });

  it('K01.FR.39: no two TxProfiles with the same (stackLevel, transactionId) and different ids', () => {
    const tx = (id: number): ChargingProfileType => txDefault({ id, chargingProfilePurpose: 'TxProfile', transactionId: 'T1' });
    expect(rules(tx(2), context({ installed: [{ evseId: 1, chargingProfile: tx(1) }] }))).toEqual(['K01.FR.39']);
  });

  it('TC_K_37 (F01.FR.08 / F01.FR.11): the profile of a remote start is a TxProfile without transactionId', () => {
    const remote = (overrides: Partial<ChargingProfileType>): string[] =>
      rules(txDefault({ chargingProfilePurpose: 'TxProfile', ...overrides }), context({ remoteStart: true }));
    expect(remote({})).toEqual([]);
    expect(remote({ transactionId: 'T1' })).toEqual(['F01.FR.11']);
    expect(remote({ chargingProfilePurpose: 'TxDefaultProfile' })).toEqual(['F01.FR.08']);
  });

  it('open validity windows overlap everything', () => {
    expect(validityOverlaps(txDefault(), txDefault({ validFrom: NOW }))).toBe(true);
    expect(validityOverlaps(txDefault({ validTo: NOW }), txDefault({ validFrom: NOW }))).toBe(false);
  });

  it('reads the SmartChargingCtrlr capabilities from the device model (DRV-SC-05)', () => {
    const variable = (name: string, value: string, extra: Partial<DeviceVariable> = {}): DeviceVariable => ({
      component: { name: 'SmartChargingCtrlr' },
      variable: { name },
      attributes: [{ type: 'Actual', value }],
      ...extra,
    });
    const caps = chargingCapabilities([
      variable('RateUnit', 'A,W'),
      variable('ProfileStackLevel', '4'),
      variable('PeriodsPerSchedule', '24'),
      variable('ACPhaseSwitchingSupported', 'true'),
      variable('Entries', '2', {
        variable: { name: 'Entries', instance: 'ChargingProfiles' },
        characteristics: { dataType: 'integer', maxLimit: 10, supportsMonitoring: false },
      }),
    ]);
    expect(caps).toEqual({ rateUnits: ['A', 'W'], maxStackLevel: 4, periodsPerSchedule: 24, acPhaseSwitching: true, maxProfiles: 10 });
    expect(chargingCapabilities([])).toEqual({});
  });
});
