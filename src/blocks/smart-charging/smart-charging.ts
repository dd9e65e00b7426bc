import { asJson } from '../../json.js';
import type {
  ChargingProfileType,
  ClearChargingProfileRequest,
  ClearedChargingLimitRequest,
  ClearedChargingLimitResponse,
  GetChargingProfilesRequest,
  GetCompositeScheduleRequest,
  NotifyChargingLimitRequest,
  NotifyChargingLimitResponse,
  NotifyEVChargingNeedsRequest,
  NotifyEVChargingNeedsResponse,
  NotifyEVChargingScheduleRequest,
  NotifyEVChargingScheduleResponse,
  ReportChargingProfilesRequest,
  ReportChargingProfilesResponse,
  RequestStartTransactionRequest,
  SetChargingProfileRequest,
  TransactionEventRequest,
} from '../../ocpp/v201/types.js';
import { CommandRefusal, type BlockModule, type CommandPlan, type HandlerContext, type PlanContext, type PlanOutcome } from '../../station/types.js';
import type { BillingStore } from '../../store/billing-store.js';
import { singleRequest } from '../plans.js';
import type { Iso15118 } from './iso15118.js';
import { chargingCapabilities, checkChargingProfile, type ChargingCapabilities, type InstalledProfile, type K01Violation } from './k01.js';
import type { SmartChargingStore, StoredProfile } from './store.js';
import { smartCharging16 } from './v16.js';

/**
 * Smart Charging (OCPP 2.0.1 K01–K13, K15–K17): the CSMS sets, reads, clears and composes charging profiles
 * and learns external limits and EV charging needs. Every profile the CSMS sends — through the profile
 * resource, the raw commands endpoint or inside a RequestStartTransaction — passes the K01 validator first
 * (k01.ts), and is recorded (Pending) before it leaves, so what the CSMS set is one list whatever path sent it.
 */

/** What the site load manager hears from this block (sites.ts). */
export interface SmartChargingListener {
  transactionEvent?(stationId: string, request: TransactionEventRequest): void;
  /** An external limit came or went, or an EV told its needs: what the station's EVSEs may take changed. */
  externalLimitChanged?(stationId: string): void;
}

export interface SmartChargingDeps {
  smart: SmartChargingStore;
  store: Pick<BillingStore, 'listTransactions'>;
  listener?: SmartChargingListener | undefined;
  /** ISO 15118 charging from the car (iso15118.ts): it sends through the command service, so it is wired in app.ts. */
  iso15118?: Iso15118 | undefined;
}

/** A profile is in force (for K01.FR.06/39 and the installed count) unless the station refused or cleared it. */
export function installedProfiles(profiles: readonly StoredProfile[]): InstalledProfile[] {
  return profiles.filter((p) => p.status === 'Accepted' || p.status === 'Pending').map((p) => ({ evseId: p.evseId ?? 0, chargingProfile: p.chargingProfile }));
}

function refuse(violations: readonly K01Violation[]): never {
  const first = violations[0] as K01Violation;
  throw new CommandRefusal(400, 'invalid_charging_profile', `${first.rule}: ${first.message}`, { rule: first.rule, message: first.message, violations });
}

/**
 * Every K01 rule against the station's device model, installed profiles and running transactions; `applies`
 * leaves out the rules of 2.0.1 that a 1.6 station does not have. Returns the CSMS profile of the same id, if any.
 */
export async function checkAgainstStation(
  deps: SmartChargingDeps,
  ctx: PlanContext,
  evseId: number | undefined,
  profile: ChargingProfileType,
  remoteStart: boolean,
  version: { capabilities?: ChargingCapabilities; applies?: (violation: K01Violation) => boolean } = {},
): Promise<StoredProfile | undefined> {
  const stationId = ctx.station.id;
  const [variables, profiles, running, needs] = await Promise.all([
    ctx.deviceModel(),
    deps.smart.listProfiles(stationId),
    deps.store.listTransactions(stationId, { active: true }),
    deps.smart.getChargingNeeds(stationId),
  ]);
  const violations = checkChargingProfile(profile, {
    evseId,
    capabilities: version.capabilities ?? chargingCapabilities(variables),
    installed: installedProfiles(profiles.filter((p) => p.source === 'CSMS')),
    activeTransactions: running.map((tx) => ({ transactionId: tx.transactionId, evseId: tx.evseId })),
    evChargingNeeds: needs.some((n) => n.evseId === evseId && n.chargingNeeds !== null),
    remoteStart,
  }).filter(version.applies ?? (() => true));
  if (violations.length > 0) refuse(violations);
  return profiles.find((p) => p.source === 'CSMS' && p.chargingProfile.id === profile.id);
}

/**
 * Records the profile Pending before its SetChargingProfile leaves, and settles it with the answer: Accepted or
 * Rejected; a CALLERROR or no answer (TC_K_15) leaves the CSMS's list as it was before.
 */
export async function recordSetProfile(
  deps: SmartChargingDeps,
  stationId: string,
  evseId: number,
  profile: ChargingProfileType,
  previous: StoredProfile | undefined,
): Promise<(outcome: PlanOutcome) => Promise<void>> {
  const row = {
    stationId,
    source: 'CSMS' as const,
    evseId,
    chargingProfile: profile,
    limitSource: 'CSO',
    transactionId: profile.transactionId,
    remoteStartId: undefined,
  };
  await deps.smart.putProfile({ ...row, status: 'Pending', response: undefined });
  return async (outcome: PlanOutcome) => {
    if (outcome.kind === 'result' && (outcome.response.status === 'Accepted' || previous === undefined)) {
      await deps.smart.putProfile({ ...row, status: outcome.response.status === 'Accepted' ? 'Accepted' : 'Rejected', response: outcome.response });
      return;
    }
    // The station kept what it had (K01.FR.05 replaces only on Accepted): so does the CSMS's list.
    if (previous !== undefined) await deps.smart.putProfile(previous);
    else await deps.smart.deleteProfile(stationId, 'CSMS', profile.id);
  };
}

/** SetChargingProfile (K01): validated, recorded Pending before it leaves, then Accepted / Rejected by the station's answer. */
function planSetChargingProfile(deps: SmartChargingDeps) {
  return async (payload: SetChargingProfileRequest, ctx: PlanContext): Promise<CommandPlan> => {
    const previous = await checkAgainstStation(deps, ctx, payload.evseId, payload.chargingProfile, false);
    const settle = await recordSetProfile(deps, ctx.station.id, payload.evseId, payload.chargingProfile, previous);
    return { ...singleRequest(payload), settle };
  };
}

/** K10.FR.02: by id, or by at least one criterion; an accepted (or Unknown: nothing there) clear leaves the list. */
function planClearChargingProfile(deps: SmartChargingDeps) {
  return (payload: ClearChargingProfileRequest, ctx: PlanContext): CommandPlan => {
    const criteria = payload.chargingProfileCriteria;
    const hasCriterion = criteria !== undefined && (criteria.evseId !== undefined || criteria.chargingProfilePurpose !== undefined || criteria.stackLevel !== undefined);
    if (payload.chargingProfileId === undefined && !hasCriterion) {
      throw new CommandRefusal(400, 'invalid_charging_profile_criteria', 'K10.FR.02: name a chargingProfileId or at least one criterion', {
        rule: 'K10.FR.02',
        message: 'name a chargingProfileId or at least one of evseId, chargingProfilePurpose, stackLevel',
      });
    }
    if (criteria?.chargingProfilePurpose === 'ChargingStationExternalConstraints') {
      throw new CommandRefusal(400, 'invalid_charging_profile_criteria', 'K10.FR.04: external constraints are cleared by their source, not by the CSMS', {
        rule: 'K10.FR.04',
        message: 'ChargingStationExternalConstraints profiles are not cleared by the CSMS',
      });
    }
    const stationId = ctx.station.id;
    return {
      ...singleRequest(payload),
      settle: async (outcome) => {
        if (outcome.kind !== 'result') return;
        // Unknown (TC_K_08): the station holds nothing that matches, so neither may our model.
        if (payload.chargingProfileId !== undefined) {
          await deps.smart.deleteProfile(stationId, 'CSMS', payload.chargingProfileId);
          await deps.smart.deleteProfile(stationId, 'station', payload.chargingProfileId);
        } else if (criteria !== undefined) {
          await deps.smart.clearProfiles(stationId, { evseId: criteria.evseId, purpose: criteria.chargingProfilePurpose, stackLevel: criteria.stackLevel });
        }
      },
    };
  };
}

/** K09.FR.03: the criterion names profile ids, or at least one of stackLevel, chargingLimitSource, purpose. */
function planGetChargingProfiles(deps: SmartChargingDeps) {
  return (payload: GetChargingProfilesRequest, ctx: PlanContext): CommandPlan => {
    const c = payload.chargingProfile;
    const byIds = c.chargingProfileId !== undefined && c.chargingProfileId.length > 0;
    const byFields = c.stackLevel !== undefined || c.chargingProfilePurpose !== undefined || (c.chargingLimitSource !== undefined && c.chargingLimitSource.length > 0);
    if (!byIds && !byFields) {
      throw new CommandRefusal(
        400,
        'invalid_charging_profile_criteria',
        'K09.FR.03: name chargingProfileIds or at least one of stackLevel, chargingLimitSource, purpose',
        {
          rule: 'K09.FR.03',
          message: 'name chargingProfileIds or at least one of stackLevel, chargingLimitSource, chargingProfilePurpose',
        },
      );
    }
    return {
      ...singleRequest(payload),
      settle: async (outcome) => {
        // From the moment the station accepted, the report exists (complete:false until its last part).
        if (outcome.kind === 'result' && typeof outcome.response.status === 'string')
          await deps.smart.startReport(ctx.station.id, payload.requestId, outcome.response.status);
      },
    };
  };
}

/** K08: the station's composite schedule is kept per EVSE to be shown. */
function planGetCompositeSchedule(deps: SmartChargingDeps) {
  return (payload: GetCompositeScheduleRequest, ctx: PlanContext): CommandPlan => ({
    ...singleRequest(payload),
    settle: async (outcome) => {
      if (outcome.kind !== 'result' || outcome.response.status !== 'Accepted') return;
      const schedule = outcome.response.schedule;
      if (typeof schedule === 'object' && schedule !== null && !Array.isArray(schedule)) await deps.smart.putCompositeSchedule(ctx.station.id, payload.evseId, schedule);
    },
  });
}

/**
 * K05 / TC_K_37: the TxProfile inside a RequestStartTransaction is checked like any other (F01.FR.08/11 on top)
 * and recorded under its remoteStartId; the TransactionEvent that carries the remoteStartId binds it to its
 * transaction (DRV-SC-06). Returns how to settle it with the request's outcome.
 */
export function remoteStartProfiles(deps: SmartChargingDeps) {
  return async (payload: RequestStartTransactionRequest, ctx: PlanContext): Promise<((outcome: PlanOutcome) => Promise<void>) | undefined> => {
    const profile = payload.chargingProfile;
    if (profile === undefined) return undefined;
    await checkAgainstStation(deps, ctx, payload.evseId, profile, true);
    const stationId = ctx.station.id;
    await deps.smart.putProfile({
      stationId,
      source: 'CSMS',
      evseId: payload.evseId,
      chargingProfile: profile,
      status: 'Pending',
      response: undefined,
      limitSource: 'CSO',
      transactionId: undefined,
      remoteStartId: payload.remoteStartId,
    });
    return async (outcome) => {
      if (outcome.kind === 'result' && outcome.response.status === 'Accepted') {
        await deps.smart.putProfile({
          stationId,
          source: 'CSMS',
          evseId: payload.evseId,
          chargingProfile: profile,
          status: 'Accepted',
          response: outcome.response,
          limitSource: 'CSO',
          transactionId: typeof outcome.response.transactionId === 'string' ? outcome.response.transactionId : undefined,
          remoteStartId: payload.remoteStartId,
        });
      } else {
        await deps.smart.deleteProfile(stationId, 'CSMS', profile.id);
      }
    };
  };
}

/** After the TransactionEvent is stored: a remote start's profile binds to its transaction; an ended one's profiles go. */
export function transactionProfiles(deps: SmartChargingDeps) {
  return async (ctx: HandlerContext, request: TransactionEventRequest): Promise<void> => {
    const stationId = ctx.station.stationId;
    const tx = request.transactionInfo;
    if (request.eventType === 'Ended') {
      await deps.smart.endTransactionProfiles(stationId, tx.transactionId);
      deps.iso15118?.transactionEnded(stationId, tx.transactionId);
    } else if (tx.remoteStartId !== undefined) await deps.smart.bindRemoteStartProfile(stationId, tx.remoteStartId, tx.transactionId);
    const listener = deps.listener;
    if (listener?.transactionEvent !== undefined) ctx.afterReply(() => listener.transactionEvent?.(stationId, request));
  };
}

async function reportChargingProfiles(deps: SmartChargingDeps, ctx: HandlerContext, request: ReportChargingProfilesRequest): Promise<ReportChargingProfilesResponse> {
  await deps.smart.recordReportPart(ctx.station.stationId, {
    requestId: request.requestId,
    evseId: request.evseId,
    chargingLimitSource: request.chargingLimitSource,
    chargingProfile: request.chargingProfile,
    tbc: request.tbc ?? false,
  });
  return {};
}

async function notifyChargingLimit(deps: SmartChargingDeps, ctx: HandlerContext, request: NotifyChargingLimitRequest): Promise<NotifyChargingLimitResponse> {
  await deps.smart.putExternalLimit(ctx.station.stationId, {
    evseId: request.evseId ?? 0,
    chargingLimitSource: request.chargingLimit.chargingLimitSource,
    isGridCritical: request.chargingLimit.isGridCritical,
    chargingSchedule: request.chargingSchedule ?? [],
  });
  const listener = deps.listener;
  if (listener?.externalLimitChanged !== undefined) ctx.afterReply(() => listener.externalLimitChanged?.(ctx.station.stationId));
  return {};
}

async function clearedChargingLimit(deps: SmartChargingDeps, ctx: HandlerContext, request: ClearedChargingLimitRequest): Promise<ClearedChargingLimitResponse> {
  await deps.smart.clearExternalLimit(ctx.station.stationId, request.chargingLimitSource, request.evseId);
  const listener = deps.listener;
  if (listener?.externalLimitChanged !== undefined) ctx.afterReply(() => listener.externalLimitChanged?.(ctx.station.stationId));
  return {};
}

/**
 * K15/K17 (TC_K_53, K_57, K_59): the EV's needs are stored, then answered Accepted, and only then (afterReply) the
 * CSMS sets the transaction's TxProfile for them: the site's share when a site manages the EVSE, else the EV's own
 * maximum (iso15118.ts). Needs outside a transaction only cap what a managed site will give the EVSE.
 */
async function notifyEvChargingNeeds(deps: SmartChargingDeps, ctx: HandlerContext, request: NotifyEVChargingNeedsRequest): Promise<NotifyEVChargingNeedsResponse> {
  const stationId = ctx.station.stationId;
  await deps.smart.putChargingNeeds(stationId, request.evseId, asJson(request.chargingNeeds), request.maxScheduleTuples);
  const iso = deps.iso15118;
  const listener = deps.listener;
  ctx.afterReply(() => {
    // The site manager hears the EV's maximum current either way; with a transaction, iso15118 also makes it push.
    if (iso !== undefined) void iso.chargingNeeds(stationId, request.evseId);
    else listener?.externalLimitChanged?.(stationId);
  });
  return { status: 'Accepted' };
}

/**
 * K15.FR.12/13, K17.FR.12/13 (TC_K_55): the EV's schedule is kept, and Accepted unless it asks more than the
 * TxProfile the CSMS last set for the transaction; a Rejected one is renegotiated once, after the answer is out.
 */
async function notifyEvChargingSchedule(
  deps: SmartChargingDeps,
  ctx: HandlerContext,
  request: NotifyEVChargingScheduleRequest,
): Promise<NotifyEVChargingScheduleResponse> {
  const stationId = ctx.station.stationId;
  await deps.smart.putEvSchedule(stationId, request.evseId, asJson(request.chargingSchedule), request.timeBase);
  const iso = deps.iso15118;
  if (iso === undefined) return { status: 'Accepted' };
  const status = await iso.verdict(stationId, request);
  if (status === 'Rejected') ctx.afterReply(() => void iso.renegotiate(stationId, request.evseId));
  return { status };
}

export function createSmartChargingBlock(deps: SmartChargingDeps): BlockModule {
  return {
    name: 'smart-charging',
    handlers: {
      ReportChargingProfiles: (ctx, request) => reportChargingProfiles(deps, ctx, request),
      NotifyChargingLimit: (ctx, request) => notifyChargingLimit(deps, ctx, request),
      ClearedChargingLimit: (ctx, request) => clearedChargingLimit(deps, ctx, request),
      NotifyEVChargingNeeds: (ctx, request) => notifyEvChargingNeeds(deps, ctx, request),
      NotifyEVChargingSchedule: (ctx, request) => notifyEvChargingSchedule(deps, ctx, request),
    },
    plans: {
      SetChargingProfile: planSetChargingProfile(deps),
      ClearChargingProfile: planClearChargingProfile(deps),
      GetChargingProfiles: planGetChargingProfiles(deps),
      GetCompositeSchedule: planGetCompositeSchedule(deps),
    },
    v16: smartCharging16(deps),
  };
}
