import type { ChargingProfileType, ChargingRateUnitEnumType } from '../../ocpp/v201/types.js';

/**
 * The K01 rules a CSMS must honour before a charging profile leaves it (OCPP 2.0.1 Part 2 K01, and the
 * conformance catalogue's validator list, ocpp-conformance-profiles.md §5.3–5.4). Pure: the caller gives what
 * the station can take (its SmartChargingCtrlr device model) and what is installed there already. Each failure
 * names the rule it breaks, so the API can answer 400 with `details.rule` and a compliant station never has a
 * reason to reject a profile of ours.
 */

export interface K01Violation {
  rule: string;
  message: string;
}

/** What the station's device model says it takes (SmartChargingCtrlr); a missing value is not checked. */
export interface ChargingCapabilities {
  /** SmartChargingCtrlr.RateUnit (the spec's ChargingScheduleChargingRateUnit): "A", "W" or "A,W". */
  rateUnits?: readonly ChargingRateUnitEnumType[] | undefined;
  /** SmartChargingCtrlr.ProfileStackLevel: the highest stackLevel. */
  maxStackLevel?: number | undefined;
  /** SmartChargingCtrlr.PeriodsPerSchedule. */
  periodsPerSchedule?: number | undefined;
  /** SmartChargingCtrlr.Entries[ChargingProfiles] maxLimit: how many profiles the station holds. */
  maxProfiles?: number | undefined;
  /** SmartChargingCtrlr.ACPhaseSwitchingSupported (K01.FR.20). */
  acPhaseSwitching?: boolean | undefined;
}

/** A profile the CSMS believes is installed (or being installed) on the station. */
export interface InstalledProfile {
  evseId: number;
  chargingProfile: ChargingProfileType;
}

export interface ProfileCheckContext {
  /** The evseId the profile is sent for; undefined inside a RequestStartTransaction without evseId. */
  evseId: number | undefined;
  capabilities: ChargingCapabilities;
  /** Profiles installed on the station (what the CSMS set and the station accepted or has not answered yet). */
  installed: readonly InstalledProfile[];
  /**
   * The station's running transactions by EVSE; when given, a TxProfile must name one of them on its EVSE
   * (K01.FR.09 is the station's rule; checking it here means the station never needs to apply it).
   */
  activeTransactions?: readonly { transactionId: string; evseId: number | undefined }[] | undefined;
  /** NotifyEVChargingNeeds was received for this EVSE (ISO 15118): more than one schedule is allowed (K01.FR.34). */
  evChargingNeeds?: boolean | undefined;
  /** The profile rides in a RequestStartTransaction (K05): a TxProfile whose transaction does not exist yet. */
  remoteStart?: boolean | undefined;
}

/** Limits go to the station with at most 6 decimals (OCPP Part 2 decimal rule). */
function tooManyDecimals(value: number): boolean {
  return Math.abs(Math.round(value * 1e6) / 1e6 - value) > 1e-9 * Math.max(1, Math.abs(value));
}

function time(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Whether two validity windows [validFrom, validTo) overlap; an absent bound is open (K01.FR.10). */
export function validityOverlaps(a: ChargingProfileType, b: ChargingProfileType): boolean {
  const aFrom = time(a.validFrom) ?? -Infinity;
  const aTo = time(a.validTo) ?? Infinity;
  const bFrom = time(b.validFrom) ?? -Infinity;
  const bTo = time(b.validTo) ?? Infinity;
  return aFrom < bTo && bFrom < aTo;
}

/** Every rule the profile breaks, in the order the spec lists them; empty when it may be sent. */
export function checkChargingProfile(profile: ChargingProfileType, ctx: ProfileCheckContext): K01Violation[] {
  const violations: K01Violation[] = [];
  const fail = (rule: string, message: string): void => void violations.push({ rule, message });
  const purpose = profile.chargingProfilePurpose;
  const { evseId, capabilities } = ctx;

  if (purpose === 'ChargingStationExternalConstraints')
    fail('K01.FR.22', 'ChargingStationExternalConstraints profiles are set by the station side only, never by the CSMS');

  if (ctx.remoteStart === true) {
    if (purpose !== 'TxProfile') fail('F01.FR.08', 'the charging profile of a RequestStartTransaction must have purpose TxProfile');
    if (profile.transactionId !== undefined) fail('F01.FR.11', 'the TxProfile of a RequestStartTransaction carries no transactionId: the transaction does not exist yet');
  } else if (purpose === 'TxProfile') {
    if (evseId !== undefined && evseId <= 0) fail('K01.FR.16', 'a TxProfile is only sent for a specific EVSE (evseId > 0)');
    if (profile.transactionId === undefined) fail('K01.FR.03', 'a TxProfile must carry the transactionId of the transaction it limits');
    else if (ctx.activeTransactions !== undefined) {
      const running = ctx.activeTransactions.find((tx) => tx.transactionId === profile.transactionId);
      if (running === undefined) fail('K01.FR.09', `transaction ${profile.transactionId} is not running at this station`);
      else if (evseId !== undefined && running.evseId !== undefined && running.evseId !== evseId)
        fail('K01.FR.09', `transaction ${profile.transactionId} runs on EVSE ${running.evseId}, not EVSE ${evseId}`);
    }
  } else if (profile.transactionId !== undefined) {
    fail('K01.FR.03', 'only a TxProfile carries a transactionId');
  }
  // SetChargingProfileRequest.evseId: 0 means the station as a whole, which is what a station maximum is.
  if (purpose === 'ChargingStationMaxProfile' && evseId !== undefined && evseId !== 0)
    fail('K01.FR.38', 'a ChargingStationMaxProfile limits the whole station: evseId must be 0');
  if (purpose === 'ChargingStationMaxProfile' && profile.chargingProfileKind === 'Relative') fail('K01.FR.38', 'a ChargingStationMaxProfile is never Relative');

  const schedules = profile.chargingSchedule;
  if (schedules.length > 1 && ctx.evChargingNeeds !== true)
    fail('K01.FR.34', 'exactly one chargingSchedule, unless the EV sent its charging needs (ISO 15118) for this EVSE');

  if (profile.chargingProfileKind === 'Recurring' && profile.recurrencyKind === undefined) fail('K01.FR.40', 'a Recurring profile needs a recurrencyKind');
  if (profile.chargingProfileKind !== 'Recurring' && profile.recurrencyKind !== undefined)
    fail('K01.FR.40', `recurrencyKind belongs to Recurring profiles only, not ${profile.chargingProfileKind}`);

  const validFrom = time(profile.validFrom);
  const validTo = time(profile.validTo);
  if (validFrom !== undefined && validTo !== undefined && validFrom >= validTo) fail('K01.FR.36', 'validFrom must be before validTo');

  if (capabilities.maxStackLevel !== undefined && profile.stackLevel > capabilities.maxStackLevel)
    fail('SmartChargingCtrlr.ProfileStackLevel', `stackLevel ${profile.stackLevel} is above the station's ProfileStackLevel ${capabilities.maxStackLevel}`);

  for (const [index, schedule] of schedules.entries()) {
    const where = `chargingSchedule[${index}]`;
    if (profile.chargingProfileKind === 'Relative' && schedule.startSchedule !== undefined) fail('K01.FR.41', `${where}: a Relative profile has no startSchedule`);
    if (profile.chargingProfileKind !== 'Relative' && schedule.startSchedule === undefined)
      fail('K01.FR.40', `${where}: an ${profile.chargingProfileKind} profile needs a startSchedule`);
    if (schedule.duration !== undefined && schedule.duration <= 0) fail('K01.FR.31', `${where}: duration must be positive when given`);
    if (capabilities.rateUnits !== undefined && !capabilities.rateUnits.includes(schedule.chargingRateUnit))
      fail('K01.FR.26', `${where}: the station takes ${capabilities.rateUnits.join('/')} only, not ${schedule.chargingRateUnit}`);
    const periods = schedule.chargingSchedulePeriod;
    if (capabilities.periodsPerSchedule !== undefined && periods.length > capabilities.periodsPerSchedule)
      fail('SmartChargingCtrlr.PeriodsPerSchedule', `${where}: ${periods.length} periods, the station takes ${capabilities.periodsPerSchedule}`);
    if (periods[0].startPeriod !== 0) fail('K01.FR.31', `${where}: the first period starts at ${periods[0].startPeriod}, not 0`);
    for (let i = 1; i < periods.length; i++) {
      const previous = periods[i - 1];
      const period = periods[i];
      if (previous !== undefined && period !== undefined && period.startPeriod <= previous.startPeriod) {
        fail('K01.FR.35', `${where}: periods must be in increasing startPeriod order (period ${i} starts at ${period.startPeriod})`);
        break;
      }
    }
    for (const [i, period] of periods.entries()) {
      if (period.limit < 0) fail('K01.FR.31', `${where}.chargingSchedulePeriod[${i}]: limit must not be negative`);
      if (tooManyDecimals(period.limit)) fail('OCPP-J.decimals', `${where}.chargingSchedulePeriod[${i}]: limit has more than 6 decimals`);
      if (period.phaseToUse !== undefined) {
        if (period.numberPhases !== 1) fail('K01.FR.19', `${where}.chargingSchedulePeriod[${i}]: phaseToUse only with numberPhases 1`);
        if (capabilities.acPhaseSwitching !== true) fail('K01.FR.20', `${where}.chargingSchedulePeriod[${i}]: phaseToUse needs ACPhaseSwitchingSupported on the station`);
      }
    }
  }

  // Uniqueness against what is installed; the same id replaces (K01.FR.05), so it never conflicts with itself.
  const others = ctx.installed.filter((other) => other.chargingProfile.id !== profile.id);
  if (purpose === 'TxProfile') {
    const twin = others.find(
      (other) =>
        other.chargingProfile.chargingProfilePurpose === 'TxProfile' &&
        other.chargingProfile.stackLevel === profile.stackLevel &&
        other.chargingProfile.transactionId !== undefined &&
        other.chargingProfile.transactionId === profile.transactionId,
    );
    if (twin !== undefined)
      fail('K01.FR.39', `profile ${twin.chargingProfile.id} already limits transaction ${profile.transactionId ?? ''} at stackLevel ${profile.stackLevel}`);
  } else if (evseId !== undefined) {
    const twin = others.find(
      (other) =>
        other.evseId === evseId &&
        other.chargingProfile.chargingProfilePurpose === purpose &&
        other.chargingProfile.stackLevel === profile.stackLevel &&
        validityOverlaps(other.chargingProfile, profile),
    );
    if (twin !== undefined)
      fail(
        'K01.FR.06',
        `profile ${twin.chargingProfile.id} has the same purpose, stackLevel and evseId with an overlapping validity; resend it with id ${twin.chargingProfile.id} to replace it`,
      );
  }
  if (
    capabilities.maxProfiles !== undefined &&
    !ctx.installed.some((other) => other.chargingProfile.id === profile.id) &&
    ctx.installed.length >= capabilities.maxProfiles
  )
    fail('SmartChargingCtrlr.Entries', `the station holds at most ${capabilities.maxProfiles} charging profiles`);
  return violations;
}

/** Reads the SmartChargingCtrlr variables a validator needs from the device model as stored. */
export function chargingCapabilities(
  variables: readonly {
    component: { name?: unknown };
    variable: { name?: unknown };
    attributes: readonly { type?: string; value?: unknown }[];
    characteristics?: unknown;
  }[],
): ChargingCapabilities {
  const actual = (name: string): string | undefined => {
    const found = variables.find((v) => v.component.name === 'SmartChargingCtrlr' && v.variable.name === name);
    const value = found?.attributes.find((a) => (a.type ?? 'Actual') === 'Actual')?.value;
    return typeof value === 'string' ? value : undefined;
  };
  const integer = (name: string): number | undefined => {
    const text = actual(name);
    const value = text === undefined ? NaN : Number(text);
    return Number.isInteger(value) ? value : undefined;
  };
  const caps: ChargingCapabilities = {};
  const rateUnit = actual('RateUnit');
  if (rateUnit !== undefined) {
    const units = rateUnit
      .split(',')
      .map((unit) => unit.trim())
      .filter((unit): unit is ChargingRateUnitEnumType => unit === 'A' || unit === 'W');
    if (units.length > 0) caps.rateUnits = units;
  }
  const stack = integer('ProfileStackLevel');
  if (stack !== undefined) caps.maxStackLevel = stack;
  const periods = integer('PeriodsPerSchedule');
  if (periods !== undefined) caps.periodsPerSchedule = periods;
  const phaseSwitching = actual('ACPhaseSwitchingSupported');
  if (phaseSwitching !== undefined) caps.acPhaseSwitching = phaseSwitching.toLowerCase() === 'true';
  const entries = variables.find((v) => v.component.name === 'SmartChargingCtrlr' && v.variable.name === 'Entries');
  const maxLimit = (entries?.characteristics as { maxLimit?: unknown } | undefined)?.maxLimit;
  if (typeof maxLimit === 'number' && Number.isInteger(maxLimit)) caps.maxProfiles = maxLimit;
  return caps;
}
