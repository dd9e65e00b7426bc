import type { CommandService } from '../../commands/service.js';
import type { JsonObject } from '../../json.js';
import type { Logger } from '../../log.js';
import type { ChargingProfileType, ChargingScheduleType, NotifyEVChargingScheduleRequest } from '../../ocpp/v201/types.js';
import { CommandRefusal } from '../../station/types.js';
import type { BillingStore } from '../../store/billing-store.js';
import type { DeviceVariable } from '../../store/store.js';
import { chargingCapabilities } from './k01.js';
import { DEFAULT_EVSE_MAX_AMPS } from './sites.js';
import type { SmartChargingStore, StoredProfile } from './store.js';

/**
 * ISO 15118 smart charging from the car (K15–K17; TC_K_53/55/57/58/59). The EV tells its needs; the CSMS answers
 * and then sets the TxProfile of the running transaction (a managed site's share through the site manager, else
 * the EV's own maximum in the station's rate unit). The EV's schedule is checked against the last TxProfile the
 * CSMS set for that transaction; one that exceeds it is Rejected and the profile is sent once more (K_55 step 9),
 * never twice for the same profile (errata 2025-06: no renegotiation without cause).
 */

/** The TxProfile id the CSMS uses for an EVSE outside a managed site (the site manager uses 900 000 + evseId). */
export const ISO_PROFILE_ID_BASE = 910_000;
/** Volts per phase when a current must become a power (AC) and the needs do not say; three phases unless a period says. */
export const NOMINAL_VOLTAGE = 230;
const DEFAULT_PHASES = 3;

/** What the site manager does for an EV whose needs arrived (sites.ts); false when it does not manage the EVSE. */
export interface SiteNeeds {
  evChargingNeeds(stationId: string, evseId: number, transactionId: string | undefined): Promise<boolean>;
}

export interface Iso15118Deps {
  smart: SmartChargingStore;
  store: Pick<BillingStore, 'listTransactions'> & { getVariables(stationId: string): Promise<DeviceVariable[]> };
  commands: Pick<CommandService, 'run'>;
  sites: SiteNeeds;
  log: Logger;
}

type Unit = 'A' | 'W';

function objectField(value: unknown, key: string): Record<string, unknown> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const inner = (value as Record<string, unknown>)[key];
  return typeof inner === 'object' && inner !== null && !Array.isArray(inner) ? (inner as Record<string, unknown>) : undefined;
}

const num = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);

/**
 * The most the EV takes, in `unit`: AC evMaxCurrent (as W: × 230 V × 3 phases); DC evMaxCurrent, or evMaxPower
 * (else evMaxCurrent × evMaxVoltage) as W. Needs that state no maximum leave the EVSE default (32 A).
 */
export function evMaximum(chargingNeeds: unknown, unit: Unit): number {
  const ac = objectField(chargingNeeds, 'acChargingParameters');
  const dc = objectField(chargingNeeds, 'dcChargingParameters');
  if (dc !== undefined) {
    const current = num(dc.evMaxCurrent);
    const voltage = num(dc.evMaxVoltage);
    if (unit === 'A') return current ?? DEFAULT_EVSE_MAX_AMPS;
    return num(dc.evMaxPower) ?? (current !== undefined && voltage !== undefined ? current * voltage : DEFAULT_EVSE_MAX_AMPS * NOMINAL_VOLTAGE * DEFAULT_PHASES);
  }
  const amps = num(ac?.evMaxCurrent) ?? DEFAULT_EVSE_MAX_AMPS;
  return unit === 'A' ? amps : amps * NOMINAL_VOLTAGE * DEFAULT_PHASES;
}

interface Segment {
  from: number;
  to: number;
  limit: number;
  unit: Unit;
  phases: number | undefined;
}

function segments(schedule: ChargingScheduleType, start: number): Segment[] {
  const periods = [...schedule.chargingSchedulePeriod].sort((a, b) => a.startPeriod - b.startPeriod);
  const end = schedule.duration === undefined ? Infinity : start + schedule.duration * 1000;
  return periods.map((p, i) => ({
    from: start + p.startPeriod * 1000,
    to: Math.min(end, i + 1 < periods.length ? start + (periods[i + 1]?.startPeriod ?? 0) * 1000 : Infinity),
    limit: p.limit,
    unit: schedule.chargingRateUnit,
    phases: p.numberPhases,
  }));
}

function convert(limit: number, from: Unit, to: Unit, phases: number): number {
  if (from === to) return limit;
  return from === 'A' ? limit * NOMINAL_VOLTAGE * phases : limit / (NOMINAL_VOLTAGE * phases);
}

/**
 * The first instant the EV's schedule asks more than the CSMS's allows, or undefined. Both become absolute times
 * (the EV's from its timeBase; an Absolute/Recurring CSMS schedule from its startSchedule, a Relative one from the
 * same timeBase: the EV plans from the moment it was told); A and W compare at 230 V per phase.
 */
export function firstExcess(ev: ChargingScheduleType, timeBase: string, csms: ChargingScheduleType): { at: string; ev: number; csms: number; unit: Unit } | undefined {
  const base = Date.parse(timeBase);
  const evStart = Number.isNaN(base) ? 0 : base;
  const csmsStart = csms.startSchedule !== undefined && !Number.isNaN(Date.parse(csms.startSchedule)) ? Date.parse(csms.startSchedule) : evStart;
  for (const e of segments(ev, evStart)) {
    for (const c of segments(csms, csmsStart)) {
      if (e.to <= c.from || c.to <= e.from) continue;
      const phases = e.phases ?? c.phases ?? DEFAULT_PHASES;
      const asked = convert(e.limit, e.unit, c.unit, phases);
      // A hundredth of a unit of slack: the EV rounds what it was told.
      if (asked > c.limit + 0.01) return { at: new Date(Math.max(e.from, c.from)).toISOString(), ev: asked, csms: c.limit, unit: c.unit };
    }
  }
  return undefined;
}

export class Iso15118 {
  /**
   * Transactions whose TxProfile was already sent again after a Rejected schedule, by station/evse/transaction:
   * the updatedAt of the profile that resend left. A later Rejected against that same profile is answered but not
   * renegotiated again. Node-local on purpose (README): the station talks to this node for the whole exchange.
   */
  private readonly renegotiated = new Map<string, number>();

  constructor(private readonly deps: Iso15118Deps) {}

  private async runningTransaction(stationId: string, evseId: number): Promise<string | undefined> {
    const running = await this.deps.store.listTransactions(stationId, { active: true });
    return running.find((tx) => tx.evseId === evseId)?.transactionId;
  }

  /** The TxProfile the CSMS last set for the transaction on the EVSE (in force or on its way). */
  private async lastTxProfile(stationId: string, evseId: number, transactionId: string): Promise<StoredProfile | undefined> {
    const profiles = (await this.deps.smart.listProfiles(stationId)).filter(
      (p) =>
        p.source === 'CSMS' &&
        (p.evseId ?? 0) === evseId &&
        p.chargingProfile.chargingProfilePurpose === 'TxProfile' &&
        (p.transactionId ?? p.chargingProfile.transactionId) === transactionId &&
        (p.status === 'Accepted' || p.status === 'Pending'),
    );
    return profiles.sort((a, b) => b.updatedAt.getTime() - a.updatedAt.getTime())[0];
  }

  /** After NotifyEVChargingNeeds was answered (K15.FR.03/K17.FR.03, K16.FR.12): the TxProfile for those needs. */
  async chargingNeeds(stationId: string, evseId: number): Promise<void> {
    try {
      const transactionId = await this.runningTransaction(stationId, evseId);
      // A managed site hears the EV's maximum in any case (it caps the EVSE's share) and pushes the share.
      if (await this.deps.sites.evChargingNeeds(stationId, evseId, transactionId)) return;
      if (transactionId === undefined) return;
      this.renegotiated.delete(`${stationId}/${evseId}/${transactionId}`);
      const needs = (await this.deps.smart.getChargingNeeds(stationId)).find((n) => n.evseId === evseId)?.chargingNeeds;
      const caps = chargingCapabilities(await this.deps.store.getVariables(stationId));
      const unit: Unit = caps.rateUnits === undefined || caps.rateUnits.includes('A') ? 'A' : 'W';
      const previous = await this.lastTxProfile(stationId, evseId, transactionId);
      // Our own profile follows the new needs (they may raise the maximum); an operator's keeps its limits under the EV's.
      const ours = previous === undefined || previous.chargingProfile.id === ISO_PROFILE_ID_BASE + evseId;
      const profile = ours ? this.fromNeeds(evseId, transactionId, needs, unit) : this.capped(previous.chargingProfile, transactionId, needs);
      await this.send(stationId, evseId, profile, 'charging needs');
    } catch (err) {
      this.deps.log.error({ err, stationId, evseId }, 'iso15118: setting the profile for the EV charging needs failed');
    }
  }

  private fromNeeds(evseId: number, transactionId: string, needs: unknown, unit: Unit): JsonObject {
    const max = evMaximum(needs, unit);
    return {
      id: ISO_PROFILE_ID_BASE + evseId,
      stackLevel: 0,
      chargingProfilePurpose: 'TxProfile',
      chargingProfileKind: 'Relative',
      transactionId,
      chargingSchedule: [
        { id: 1, chargingRateUnit: unit, chargingSchedulePeriod: [{ startPeriod: 0, limit: unit === 'A' ? Math.floor(max * 10) / 10 : Math.floor(max) }] },
      ],
    };
  }

  /** The profile already in force for the transaction (an operator's, K_59), with no period above the EV's maximum. */
  private capped(profile: ChargingProfileType, transactionId: string, needs: unknown): JsonObject {
    const schedules = profile.chargingSchedule.map((s) => {
      const max = evMaximum(needs, s.chargingRateUnit);
      return { ...s, chargingSchedulePeriod: s.chargingSchedulePeriod.map((p) => ({ ...p, limit: Math.min(p.limit, max) })) };
    });
    // A remote start's profile was sent without transactionId (K05); sent now, it names the transaction (K01.FR.03).
    return { ...(profile as unknown as JsonObject), transactionId, chargingSchedule: schedules as unknown as JsonObject[] };
  }

  /** Accepted, or Rejected when the EV's schedule exceeds the TxProfile the CSMS last set (K15.FR.12, K17.FR.12). */
  async verdict(stationId: string, request: NotifyEVChargingScheduleRequest): Promise<'Accepted' | 'Rejected'> {
    const transactionId = await this.runningTransaction(stationId, request.evseId);
    if (transactionId === undefined) return 'Accepted';
    const last = await this.lastTxProfile(stationId, request.evseId, transactionId);
    if (last === undefined) return 'Accepted';
    for (const schedule of last.chargingProfile.chargingSchedule) {
      const excess = firstExcess(request.chargingSchedule, request.timeBase, schedule);
      if (excess !== undefined) {
        this.deps.log.info(
          { stationId, evseId: request.evseId, transactionId, profileId: last.chargingProfile.id, ...excess },
          'iso15118: EV schedule exceeds the CSMS limit',
        );
        return 'Rejected';
      }
    }
    return 'Accepted';
  }

  /** After a Rejected schedule (K15.FR.13, K_55 step 9): the last TxProfile once more; once per profile. */
  async renegotiate(stationId: string, evseId: number): Promise<void> {
    try {
      const transactionId = await this.runningTransaction(stationId, evseId);
      if (transactionId === undefined) return;
      const key = `${stationId}/${evseId}/${transactionId}`;
      const last = await this.lastTxProfile(stationId, evseId, transactionId);
      if (last === undefined) return;
      if (this.renegotiated.get(key) === last.updatedAt.getTime()) {
        this.deps.log.info({ stationId, evseId, transactionId }, 'iso15118: EV schedule rejected again; not renegotiating twice for one profile');
        return;
      }
      await this.send(stationId, evseId, { ...(last.chargingProfile as unknown as JsonObject), transactionId }, 'renegotiation');
      const sent = await this.lastTxProfile(stationId, evseId, transactionId);
      if (sent !== undefined) this.renegotiated.set(key, sent.updatedAt.getTime());
    } catch (err) {
      this.deps.log.error({ err, stationId, evseId }, 'iso15118: renegotiation failed');
    }
  }

  /** Ends the loop guard with the transaction. */
  transactionEnded(stationId: string, transactionId: string): void {
    for (const key of this.renegotiated.keys()) if (key.startsWith(`${stationId}/`) && key.endsWith(`/${transactionId}`)) this.renegotiated.delete(key);
  }

  private async send(stationId: string, evseId: number, chargingProfile: JsonObject, why: string): Promise<void> {
    try {
      const report = await this.deps.commands.run(stationId, 'SetChargingProfile', { evseId, chargingProfile });
      this.deps.log.info({ stationId, evseId, why, outcome: report.outcome.kind }, 'iso15118: TxProfile sent');
    } catch (err) {
      if (err instanceof CommandRefusal) {
        this.deps.log.warn({ stationId, evseId, why, code: err.code, message: err.message }, 'iso15118: TxProfile refused before sending');
        return;
      }
      throw err;
    }
  }
}
