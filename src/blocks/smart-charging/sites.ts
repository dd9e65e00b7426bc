import { Counter, Gauge, type Registry } from 'prom-client';
import { createActor, fromPromise, type Actor } from 'xstate';
import { profilePushMachine, type AttemptOutcome, type PushRequest } from '../../../machines/profile-push.machine.js';
import type { Clock } from '../../clock.js';
import type { CommandService } from '../../commands/service.js';
import type { JsonObject } from '../../json.js';
import type { Logger } from '../../log.js';
import type { TransactionEventRequest } from '../../ocpp/v201/types.js';
import { CommandRefusal } from '../../station/types.js';
import type { BillingStore } from '../../store/billing-store.js';
import { allocate, exposureSum, floorTenth, fromAmps, nextPushes, toAmps, type EvseLimitState } from './allocator.js';
import { chargingCapabilities } from './k01.js';
import type { SmartChargingListener } from './smart-charging.js';
import type { SiteDefinition, SmartChargingStore } from './store.js';

/**
 * Site load management (CONTRACT §8.3): the host of the pure allocator (allocator.ts) and of one push machine
 * (machines/profile-push.machine.ts) per EVSE being told a new limit. It follows the sessions of the site's
 * stations (TransactionEvent Started / Updated SuspendedEV / Ended), re-allocates on every change, and sends
 * lowers before raises, a raise only when the site stays within its limit whatever the answers in flight.
 *
 * The limits stations accepted are stored (site_limits) before anything else is raised on their account, so a
 * restart counts what the stations still hold. The live part (pushes in flight) is this node's: see README.
 */

export interface SiteManager {
  put(siteId: string, definition: SiteDefinition): Promise<boolean>;
  siteHolding(stationId: string, except: string): Promise<string | undefined>;
  view(siteId: string): Promise<JsonObject | undefined>;
  remove(siteId: string): Promise<boolean>;
}

/** What a session without any profile of ours counts (CONTRACT §8.3: the EVSE's maximum, else 32 A). */
export const DEFAULT_EVSE_MAX_AMPS = 32;
/** The stack level and ids of the profiles the site manager sets (fixed, so a new push replaces the last: K01.FR.05). */
export const SITE_STACK_LEVEL = 0;
export const SITE_PROFILE_ID_BASE = 900_000;

interface PushState {
  actor: Actor<typeof profilePushMachine>;
  amps: number;
}

interface EvseSession {
  stationId: string;
  evseId: number;
  transactionId: string;
  sessionStart: number;
  /** SuspendedEV frees its share. */
  suspended: boolean;
  /** The limit its station accepted for this transaction (its TxProfile), when one is in force. */
  acceptedAmps: number | undefined;
  /** The highest limit sent without a known answer (in flight, timed out, superseded in flight). */
  unknownAmps: number | undefined;
  push: PushState | undefined;
  lastAnswer: 'Accepted' | 'Pending' | 'Rejected' | undefined;
}

interface SiteState {
  id: string;
  definition: SiteDefinition;
  sessions: Map<string, EvseSession>;
  /** Stations that accepted our TxDefaultProfile (limit 0): a new session there counts 0 until its share arrives. */
  txDefaultAccepted: Set<string>;
  txDefaultPushes: Map<string, Actor<typeof profilePushMachine>>;
  /**
   * The most each EVSE may take besides its hardware: external limits (NotifyChargingLimit, DRV-SC-09) and the
   * EV's own maximum current (NotifyEVChargingNeeds), by `${stationId}/${evseId}`; evseId 0 caps every EVSE.
   */
  caps: Map<string, number>;
}

export interface SiteManagerDeps {
  smart: SmartChargingStore;
  store: Pick<BillingStore, 'listTransactions'> & { getVariables(stationId: string): Promise<import('../../store/store.js').DeviceVariable[]> };
  commands: CommandService;
  locate(stationId: string): Promise<{ connected: boolean }>;
  clock: Clock;
  log: Logger;
  attemptTimeoutMs?: number;
  /** Where the per-site metrics go (sites are few, so a `site` label is fine); none when absent. */
  registry?: Registry;
}

const keyOf = (stationId: string, evseId: number): string => `${stationId}/${evseId}`;

export class Sites implements SiteManager, SmartChargingListener {
  private readonly sites = new Map<string, SiteState>();
  private loaded: Promise<void> | undefined;
  private readonly pushOutcomes: Counter | undefined;

  constructor(private readonly deps: SiteManagerDeps) {
    const registers = deps.registry === undefined ? undefined : [deps.registry];
    if (registers === undefined) return;
    // Read from the live state at scrape time: what the invariant bounds, the limit, what is under way.
    const perSite = (name: string, help: string, value: (site: SiteState) => number): Gauge =>
      new Gauge({
        name,
        help,
        labelNames: ['site'],
        registers,
        collect: function (this: Gauge) {
          this.reset();
          for (const site of sites.values()) this.labels(site.id).set(value(site));
        },
      });
    const sites = this.sites;
    perSite('csms_site_limit_amperes', 'The site limit, in A per phase', (site) => toAmps(site.definition.limit, site.definition));
    perSite('csms_site_counted_amperes', 'The sum the site invariant bounds: each EVSE at what its station accepted (or may have), in A per phase', (site) =>
      exposureSum(this.limitStates(site)),
    );
    perSite('csms_site_sessions', 'Sessions on the site’s EVSEs', (site) => site.sessions.size);
    perSite(
      'csms_site_pending_pushes',
      'Charging-profile pushes of the site in flight or waiting to retry',
      (site) => [...site.sessions.values()].filter((x) => x.push !== undefined).length + site.txDefaultPushes.size,
    );
    this.pushOutcomes = new Counter({
      name: 'csms_site_pushes_total',
      help: 'Answers to the site manager’s charging-profile pushes: accepted, refused, unanswered',
      labelNames: ['site', 'outcome'],
      registers,
    });
  }

  /** Loads the sites and the limits their stations accepted; re-allocates each (after a restart). */
  load(): Promise<void> {
    return (this.loaded ??= (async () => {
      for (const { id, definition } of await this.deps.smart.listSites()) {
        const site = await this.restore(id, definition);
        // What was under way when the CSMS stopped goes on: the TxDefaults not yet accepted, the shares not yet sent.
        for (const stationId of definition.stations) if (!site.txDefaultAccepted.has(stationId)) this.pushTxDefault(site, stationId);
        this.reallocate(site);
      }
    })());
  }

  private async restore(id: string, definition: SiteDefinition): Promise<SiteState> {
    const site: SiteState = { id, definition, sessions: new Map(), txDefaultAccepted: new Set(), txDefaultPushes: new Map(), caps: new Map() };
    this.sites.set(id, site);
    for (const stationId of definition.stations) await this.loadCaps(site, stationId);
    const limits = await this.deps.smart.siteLimits(id);
    for (const stationId of definition.stations) {
      if (limits.some((l) => l.stationId === stationId && l.evseId === 0)) site.txDefaultAccepted.add(stationId);
      for (const tx of await this.deps.store.listTransactions(stationId, { active: true })) {
        if (tx.evseId === undefined) continue;
        const accepted = limits.find((l) => l.stationId === stationId && l.evseId === tx.evseId && l.transactionId === tx.transactionId);
        site.sessions.set(keyOf(stationId, tx.evseId), {
          stationId,
          evseId: tx.evseId,
          transactionId: tx.transactionId,
          sessionStart: tx.startedAt?.getTime() ?? 0,
          suspended: tx.chargingState === 'SuspendedEV',
          acceptedAmps: accepted?.acceptedAmps,
          unknownAmps: undefined,
          push: undefined,
          lastAnswer: accepted === undefined ? undefined : 'Accepted',
        });
      }
    }
    return site;
  }

  /** The site that manages the station, other than `except`: a station belongs to one site at most. */
  async siteHolding(stationId: string, except: string): Promise<string | undefined> {
    await this.load();
    for (const site of this.sites.values()) if (site.id !== except && site.definition.stations.includes(stationId)) return site.id;
    return undefined;
  }

  private siteOf(stationId: string): SiteState | undefined {
    for (const site of this.sites.values()) if (site.definition.stations.includes(stationId)) return site;
    return undefined;
  }

  async put(siteId: string, definition: SiteDefinition): Promise<boolean> {
    await this.load();
    const created = await this.deps.smart.putSite(siteId, definition);
    const existing = this.sites.get(siteId);
    if (existing !== undefined) {
      existing.definition = definition;
      // A station taken out of the site is no longer managed: its pushes stop, its sessions leave the count.
      for (const [key, session] of existing.sessions) {
        if (definition.stations.includes(session.stationId)) continue;
        session.push?.actor.send({ type: 'SUPERSEDED' });
        existing.sessions.delete(key);
      }
      for (const [stationId, actor] of existing.txDefaultPushes) {
        if (definition.stations.includes(stationId)) continue;
        actor.send({ type: 'SUPERSEDED' });
        existing.txDefaultPushes.delete(stationId);
      }
    } else {
      await this.restore(siteId, definition);
    }
    const site = this.sites.get(siteId) as SiteState;
    for (const stationId of definition.stations) if (!site.txDefaultAccepted.has(stationId)) this.pushTxDefault(site, stationId);
    this.reallocate(site);
    return created;
  }

  async remove(siteId: string): Promise<boolean> {
    await this.load();
    const site = this.sites.get(siteId);
    if (site === undefined) return false;
    this.sites.delete(siteId);
    for (const session of site.sessions.values()) session.push?.actor.send({ type: 'SUPERSEDED' });
    for (const actor of site.txDefaultPushes.values()) actor.send({ type: 'SUPERSEDED' });
    // What the CSMS set for the site goes: the TxDefault of each station and the TxProfiles it sent.
    for (const stationId of site.definition.stations) {
      const ids = [SITE_PROFILE_ID_BASE, ...[...site.sessions.values()].filter((s) => s.stationId === stationId).map((s) => SITE_PROFILE_ID_BASE + s.evseId)];
      for (const chargingProfileId of ids) {
        await this.deps.commands.run(stationId, 'ClearChargingProfile', { chargingProfileId }).catch((err: unknown) => {
          this.deps.log.warn({ err, siteId, stationId, chargingProfileId }, 'site removed: clearing its profile failed');
        });
      }
    }
    await this.deps.smart.deleteSite(siteId);
    return true;
  }

  async view(siteId: string): Promise<JsonObject | undefined> {
    await this.load();
    const site = this.sites.get(siteId);
    if (site === undefined) return undefined;
    const { definition } = site;
    const unit = definition.limit.unit;
    const connected = new Map<string, boolean>();
    for (const stationId of definition.stations) connected.set(stationId, (await this.deps.locate(stationId)).connected);
    const states = this.limitStates(site);
    const allocation = [...site.sessions.values()].map((session) => {
      const state = states.find((s) => s.key === keyOf(session.stationId, session.evseId));
      const shown = session.push !== undefined ? session.push.amps : (state?.counted ?? 0);
      return {
        stationId: session.stationId,
        evseId: session.evseId,
        transactionId: session.transactionId,
        limit: { value: fromAmps(shown, unit, definition), unit },
        counted: { value: fromAmps(state?.counted ?? 0, unit, definition), unit },
        state:
          connected.get(session.stationId) === false
            ? 'Offline'
            : session.lastAnswer === 'Rejected'
              ? 'Rejected'
              : session.push !== undefined
                ? 'Pending'
                : (session.lastAnswer ?? 'Pending'),
      };
    });
    const used = exposureSum(states);
    return {
      id: site.id,
      limit: definition.limit,
      phases: definition.phases,
      voltage: definition.voltage,
      stations: definition.stations,
      minPerEvse: definition.minPerEvse ?? null,
      allocation,
      headroom: { value: fromAmps(toAmps(definition.limit, definition) - used, unit, definition), unit },
      pendingPushes: [...site.sessions.values()].filter((s) => s.push !== undefined).length + site.txDefaultPushes.size,
    };
  }

  // Station events (SmartChargingListener)

  transactionEvent(stationId: string, request: TransactionEventRequest): void {
    void this.load().then(() => {
      const site = this.siteOf(stationId);
      if (site === undefined) return;
      const tx = request.transactionInfo;
      let session = [...site.sessions.values()].find((s) => s.stationId === stationId && s.transactionId === tx.transactionId);
      if (request.eventType === 'Ended') {
        if (session === undefined) return;
        site.sessions.delete(keyOf(session.stationId, session.evseId));
        // Its TxProfile left the station with the transaction; a push for it is dropped, never sent.
        session.push?.actor.send({ type: 'TRANSACTION_ENDED' });
        void this.deps.smart.deleteSiteLimit(site.id, stationId, session.evseId).catch((err: unknown) => this.deps.log.warn({ err }, 'site limit: delete failed'));
      } else {
        const evseId = request.evse?.id ?? session?.evseId;
        if (evseId === undefined) return;
        if (session === undefined) {
          session = {
            stationId,
            evseId,
            transactionId: tx.transactionId,
            sessionStart: this.deps.clock.now(),
            suspended: false,
            acceptedAmps: undefined,
            unknownAmps: undefined,
            push: undefined,
            lastAnswer: undefined,
          };
          site.sessions.set(keyOf(stationId, evseId), session);
        }
        if (tx.chargingState !== undefined) session.suspended = tx.chargingState === 'SuspendedEV';
      }
      this.reallocate(site);
    });
  }

  /**
   * DRV-SC-10: a station that (re)connects may have rebooted and lost its TxProfiles (K01.FR.27 does not promise
   * them): what it accepted is sent again (the same ids replace, so a station that kept them changes nothing). Sent
   * before its boot is answered, a push is refused and retried after its backoff.
   */
  stationConnected(stationId: string): void {
    void this.load()
      .then(() => {
        const site = this.siteOf(stationId);
        if (site === undefined) return;
        if (site.txDefaultAccepted.has(stationId)) this.pushTxDefault(site, stationId);
        for (const session of site.sessions.values()) {
          if (session.stationId === stationId && session.push === undefined && session.acceptedAmps !== undefined)
            this.pushTxProfile(site, session, session.acceptedAmps);
        }
      })
      .catch((err: unknown) => this.deps.log.warn({ err, stationId }, 'site: resending limits after a reconnect failed'));
  }

  externalLimitChanged(stationId: string): void {
    void this.load()
      .then(async () => {
        const site = this.siteOf(stationId);
        if (site === undefined) return;
        await this.loadCaps(site, stationId);
        this.reallocate(site);
      })
      .catch((err: unknown) => this.deps.log.warn({ err, stationId }, 'site: reading external limits failed'));
  }

  /**
   * ISO 15118 needs (TC_K_53/K_57/K_59): the EV's maximum caps the EVSE; with a transaction, its share is sent
   * now even when it did not move (the EV waits for a schedule: K15.FR.03, K16.FR.12). False when no site manages it.
   */
  async evChargingNeeds(stationId: string, evseId: number, transactionId: string | undefined): Promise<boolean> {
    await this.load();
    const site = this.siteOf(stationId);
    if (site === undefined) return false;
    await this.loadCaps(site, stationId);
    this.reallocate(site);
    const session = site.sessions.get(keyOf(stationId, evseId));
    if (transactionId !== undefined && session !== undefined && session.transactionId === transactionId && session.push === undefined) {
      // Not moved, so not pushed by reallocate: what it holds (or counts) goes again, under the same id.
      const state = this.limitStates(site).find((s) => s.key === keyOf(stationId, evseId));
      this.pushTxProfile(site, session, session.acceptedAmps ?? state?.counted ?? 0);
    }
    return true;
  }

  /** The station's external limits and EV maxima, in A per phase (the first period of each schedule: in force now). */
  private async loadCaps(site: SiteState, stationId: string): Promise<void> {
    for (const key of [...site.caps.keys()]) if (key.startsWith(`${stationId}/`)) site.caps.delete(key);
    const lower = (key: string, amps: number): void => void site.caps.set(key, Math.min(site.caps.get(key) ?? Infinity, amps));
    for (const limit of await this.deps.smart.listExternalLimits(stationId)) {
      for (const schedule of limit.chargingSchedule) {
        const first = schedule.chargingSchedulePeriod[0];
        const phases = first.numberPhases ?? site.definition.phases;
        lower(keyOf(stationId, limit.evseId), schedule.chargingRateUnit === 'A' ? first.limit : first.limit / (site.definition.voltage * phases));
      }
    }
    for (const needs of await this.deps.smart.getChargingNeeds(stationId)) {
      const ac = needs.chargingNeeds?.acChargingParameters;
      const evMaxCurrent = typeof ac === 'object' && ac !== null && !Array.isArray(ac) ? ac.evMaxCurrent : undefined;
      if (typeof evMaxCurrent === 'number') lower(keyOf(stationId, needs.evseId), evMaxCurrent);
    }
  }

  private maxAmps(site: SiteState, stationId: string, evseId: number): number {
    return Math.min(DEFAULT_EVSE_MAX_AMPS, site.caps.get(keyOf(stationId, evseId)) ?? Infinity, site.caps.get(keyOf(stationId, 0)) ?? Infinity);
  }

  // Allocation

  /** Each session's counted limit (CONTRACT §8.3 "Counting"), in session-start order. */
  private limitStates(site: SiteState, targets?: Map<string, number>): EvseLimitState[] {
    return [...site.sessions.values()]
      .sort((a, b) => a.sessionStart - b.sessionStart)
      .map((session) => {
        const key = keyOf(session.stationId, session.evseId);
        const counted = session.acceptedAmps ?? (site.txDefaultAccepted.has(session.stationId) ? 0 : DEFAULT_EVSE_MAX_AMPS);
        const pushed = session.push?.amps;
        const uncertain = pushed === undefined ? session.unknownAmps : Math.max(pushed, session.unknownAmps ?? 0);
        return { key, counted, uncertain, busy: session.push !== undefined, target: targets?.get(key) ?? counted };
      });
  }

  private reallocate(site: SiteState): void {
    const { definition } = site;
    const limitAmps = toAmps(definition.limit, definition);
    const minAmps = definition.minPerEvse === undefined ? 0 : toAmps(definition.minPerEvse, definition);
    const demands = [...site.sessions.values()].map((s) => ({
      key: keyOf(s.stationId, s.evseId),
      charging: !s.suspended,
      sessionStart: s.sessionStart,
      maxAmps: this.maxAmps(site, s.stationId, s.evseId),
    }));
    const targets = allocate(limitAmps, minAmps, demands);
    // A push whose target moved is superseded; what it may have set stays counted until an answer settles it.
    for (const session of site.sessions.values()) {
      const target = targets.get(keyOf(session.stationId, session.evseId));
      if (session.push !== undefined && target !== undefined && target !== session.push.amps) {
        session.unknownAmps = Math.max(session.unknownAmps ?? 0, session.push.amps);
        session.push.actor.send({ type: 'SUPERSEDED' });
        session.push = undefined;
      }
    }
    const states = this.limitStates(site, targets);
    for (const step of nextPushes(limitAmps, states)) {
      const session = site.sessions.get(step.key);
      if (session !== undefined) this.pushTxProfile(site, session, step.amps);
    }
  }

  private pushTxProfile(site: SiteState, session: EvseSession, amps: number): void {
    const request: PushRequest = { stationId: session.stationId, evseId: session.evseId, amps, transactionId: session.transactionId };
    const actor = this.startPush(site, request, {
      accepted: async () => {
        // Stored before it counts: a restart must find what the station holds. Until then the push stays in
        // flight (its limit counted as uncertain), so nothing is raised on its account and the site is not idle.
        await this.deps.smart.putSiteLimit(site.id, {
          stationId: session.stationId,
          evseId: session.evseId,
          acceptedAmps: amps,
          profileId: SITE_PROFILE_ID_BASE + session.evseId,
          transactionId: session.transactionId,
        });
        // In force now. The station answers its CALLs in order, so whatever was sent before this one is settled;
        // a newer push still in flight keeps counting as uncertain.
        session.acceptedAmps = amps;
        if (session.push === undefined || session.push.actor === actor) {
          session.push = undefined;
          session.unknownAmps = undefined;
          session.lastAnswer = 'Accepted';
        }
        if (this.sites.get(site.id) === site && site.sessions.get(keyOf(session.stationId, session.evseId)) === session) this.reallocate(site);
      },
      refused: () => {
        session.lastAnswer = 'Rejected';
      },
      unanswered: () => {
        session.unknownAmps = Math.max(session.unknownAmps ?? 0, amps);
      },
    });
    session.push = { actor, amps };
    session.lastAnswer = 'Pending';
  }

  /** The station-wide TxDefaultProfile (limit 0) that holds a new session inside the limit until its share arrives. */
  private pushTxDefault(site: SiteState, stationId: string): void {
    if (site.txDefaultPushes.has(stationId)) return;
    const actor = this.startPush(
      site,
      { stationId, evseId: 0, amps: 0, transactionId: undefined },
      {
        accepted: async () => {
          await this.deps.smart.putSiteLimit(site.id, { stationId, evseId: 0, acceptedAmps: 0, profileId: SITE_PROFILE_ID_BASE, transactionId: undefined });
          site.txDefaultAccepted.add(stationId);
          if (site.txDefaultPushes.get(stationId) === actor) site.txDefaultPushes.delete(stationId);
          if (this.sites.get(site.id) === site) this.reallocate(site);
        },
        refused: () => undefined,
        unanswered: () => undefined,
      },
    );
    site.txDefaultPushes.set(stationId, actor);
  }

  private startPush(
    site: SiteState,
    request: PushRequest,
    on: { accepted: () => Promise<void>; refused: () => void; unanswered: () => void },
  ): Actor<typeof profilePushMachine> {
    const log = this.deps.log;
    const counted = (outcome: string): void => {
      this.pushOutcomes?.labels(site.id, outcome).inc();
    };
    const machine = profilePushMachine.provide({
      actors: { send: fromPromise<AttemptOutcome, PushRequest>(({ input }) => this.send(site, input)) },
      actions: {
        accepted: () => {
          counted('accepted');
          void on.accepted().catch((err: unknown) => log.error({ err, siteId: site.id, ...request }, 'site: recording an accepted limit failed'));
        },
        refused: (_, params) => {
          counted('refused');
          log.info({ siteId: site.id, ...request, status: params.status }, 'site: station refused a limit; retrying with backoff');
          on.refused();
        },
        unanswered: (_, params) => {
          counted('unanswered');
          log.info({ siteId: site.id, ...request, reason: params.reason }, 'site: no answer to a limit; retrying with backoff');
          on.unanswered();
        },
      },
    });
    const actor = createActor(machine, { input: { request, ...(this.deps.attemptTimeoutMs !== undefined ? { attemptTimeoutMs: this.deps.attemptTimeoutMs } : {}) } });
    actor.start();
    return actor;
  }

  /** One SetChargingProfile through the one command path (K01-checked, recorded as a CSMS profile). */
  private async send(site: SiteState, request: PushRequest): Promise<AttemptOutcome> {
    const { definition } = site;
    const caps = chargingCapabilities(await this.deps.store.getVariables(request.stationId));
    // A in the station's terms when it takes A; else W for the site's voltage and phases (K01.FR.50).
    const unit = caps.rateUnits === undefined || caps.rateUnits.includes('A') ? 'A' : 'W';
    const limit = unit === 'A' ? floorTenth(request.amps) : Math.floor(fromAmps(request.amps, 'W', definition));
    const txProfile = request.transactionId !== undefined;
    const chargingProfile: JsonObject = {
      id: SITE_PROFILE_ID_BASE + request.evseId,
      stackLevel: SITE_STACK_LEVEL,
      chargingProfilePurpose: txProfile ? 'TxProfile' : 'TxDefaultProfile',
      chargingProfileKind: 'Relative',
      ...(txProfile ? { transactionId: request.transactionId ?? '' } : {}),
      chargingSchedule: [
        {
          id: 1,
          chargingRateUnit: unit,
          chargingSchedulePeriod: [{ startPeriod: 0, limit, ...(definition.phases === 1 ? { numberPhases: 1 } : {}) }],
        },
      ],
    };
    try {
      const report = await this.deps.commands.run(request.stationId, 'SetChargingProfile', { evseId: request.evseId, chargingProfile });
      const outcome = report.outcome;
      if (outcome.kind === 'result') return { kind: 'answered', status: typeof outcome.response.status === 'string' ? outcome.response.status : 'Rejected' };
      return { kind: 'failed', reason: outcome.kind };
    } catch (err) {
      if (err instanceof CommandRefusal) return { kind: 'failed', reason: `${err.code}: ${err.message}` };
      throw err;
    }
  }
}
