import { createActor, fromPromise, type Actor } from 'xstate';
import { localListSyncMachine, type PushOutcome } from '../../../machines/local-list-sync.machine.js';
import type { Clock } from '../../clock.js';
import type { JsonObject } from '../../json.js';
import type { Logger } from '../../log.js';
import type { StationHandle } from '../../station/types.js';
import type { BillingStore } from '../../store/billing-store.js';
import type { Store } from '../../store/store.js';
import { normalizeIdToken } from '../authorization/authorizer.js';
import type { LocalListRecord, LocalListStore, ResolvedEntry } from './local-list-store.js';
import {
  EntryTooLargeError,
  applyPart,
  diffLists,
  limitsFromDeviceModel,
  planParts,
  registerInfo,
  resolveEntries,
  sameInfo,
  sendLocalListRequest,
  type ListLimits,
  type OcppListVersion,
} from './plan.js';

export interface LocalListSyncDeps {
  lists: LocalListStore;
  store: Pick<Store & BillingStore, 'getIdToken' | 'getVariables'>;
  /** The live connection of a station on this node, if it is here. */
  session(stationId: string): StationHandle | undefined;
  clock: Clock;
  log: Logger;
}

/** A push that keeps finding changes made meanwhile stops after this many rounds (the next change kicks it again). */
const MAX_PUSH_ROUNDS = 5;

type SyncActor = Actor<typeof localListSyncMachine>;

/**
 * Runs the local-list sync machine (machines/local-list-sync.machine.ts) for each station connected to this
 * node that has a managed list: the machine decides when, this host does the calls and the store writes. In a
 * cluster only the node holding the connection runs it; others reach it through the decision channel.
 */
export class LocalListSync {
  private readonly actors = new Map<string, { session: StationHandle; actor: SyncActor }>();
  /** SendLocalList payloads this sync sent: a result hook tells them from the raw commands path by identity. */
  private readonly ownRequests = new WeakSet<object>();
  private readonly machine;

  constructor(private readonly deps: LocalListSyncDeps) {
    this.machine = localListSyncMachine.provide({
      actors: {
        checkVersion: fromPromise<number, { stationId: string }>(({ input }) => this.checkVersion(input.stationId)),
        push: fromPromise<PushOutcome, { stationId: string }>(({ input, signal }) => this.push(input.stationId, signal)),
      },
      actions: {
        recordFailure: ({ context }, { error }) => {
          this.deps.log.warn({ stationId: context.stationId, error, failures: context.failures }, 'local list sync failed; retrying later');
          this.deps.lists.setStatus(context.stationId, 'Failed', { message: error, at: new Date(this.deps.clock.now()).toISOString() }).catch((err: unknown) => {
            this.deps.log.error({ stationId: context.stationId, err }, 'could not record the local list failure');
          });
        },
      },
    });
  }

  isOwnRequest(request: object): boolean {
    return this.ownRequests.has(request);
  }

  /** The station connected here already Accepted, or answered an Accepted boot: bring its list in step. */
  async connected(stationId: string): Promise<void> {
    const record = await this.deps.lists.get(stationId);
    if (record?.entries === undefined) return;
    this.actorFor(stationId)?.send({ type: 'CONNECTED' });
  }

  disconnected(stationId: string): void {
    const held = this.actors.get(stationId);
    if (held === undefined) return;
    this.actors.delete(stationId);
    held.actor.stop();
  }

  /** The desired list changed (committed already): push it if the station is connected here. */
  changed(stationId: string): void {
    this.actorFor(stationId)?.send({ type: 'CHANGED' });
  }

  /**
   * A register entry changed (CONTRACT §8.1): every list that follows it gets a new version when what the
   * station holds for the token is no longer right. Every node runs this; the version moves once (a
   * conditional update on the version it read), and the node holding the station pushes.
   */
  async tokenChanged(type: string, idToken: string): Promise<void> {
    const token = { type, idToken: normalizeIdToken(type, idToken) };
    for (const stationId of await this.deps.lists.listsFollowing(token.type, token.idToken)) {
      const record = await this.deps.lists.get(stationId);
      if (record?.entries === undefined || record.version === undefined) continue;
      if (record.version === record.acceptedVersion) {
        const info = registerInfo(await this.deps.store.getIdToken(token.type, token.idToken), this.deps.clock.now());
        const held = record.installed?.find((e) => e.idToken.type === token.type && e.idToken.idToken === token.idToken);
        if (sameInfo(held?.idTokenInfo, info)) continue;
        await this.deps.lists.bumpVersion(stationId, record.version, 1);
      }
      this.changed(stationId);
    }
  }

  /**
   * Announcements may have been missed (Redis was away): every station here whose list is not in sync is pushed,
   * as if its list had just changed.
   */
  async resync(stationIds: readonly string[]): Promise<void> {
    for (const stationId of await this.deps.lists.notInSync(stationIds)) this.changed(stationId);
  }

  stop(): void {
    for (const stationId of [...this.actors.keys()]) this.disconnected(stationId);
  }

  private actorFor(stationId: string): SyncActor | undefined {
    const session = this.deps.session(stationId);
    if (session === undefined || session.context().bootStatus !== 'Accepted') return undefined;
    const held = this.actors.get(stationId);
    // A newer connection of the same station gets a fresh actor: the old one's calls died with its socket.
    if (held !== undefined && held.session === session) return held.actor;
    held?.actor.stop();
    const actor = createActor(this.machine, { input: { stationId } });
    this.actors.set(stationId, { session, actor });
    actor.start();
    return actor;
  }

  private liveSession(stationId: string): StationHandle {
    const session = this.deps.session(stationId);
    if (session === undefined) throw new Error(`station ${stationId} is not connected here`);
    return session;
  }

  /** D02: what the station holds; the GetLocalListVersion result hook records the answer. */
  private async checkVersion(stationId: string): Promise<number> {
    const session = this.liveSession(stationId);
    const request = {};
    this.ownRequests.add(request);
    const answer = (await session.call('GetLocalListVersion', request)) as { versionNumber?: number; listVersion?: number };
    return answer.versionNumber ?? answer.listVersion ?? 0;
  }

  private async resolve(record: LocalListRecord): Promise<ResolvedEntry[]> {
    const now = this.deps.clock.now();
    const register = new Map<string, JsonObject | undefined>();
    for (const entry of record.entries ?? []) {
      if (entry.idTokenInfo !== undefined) continue;
      const key = `${entry.idToken.type}\u0000${entry.idToken.idToken}`;
      register.set(key, registerInfo(await this.deps.store.getIdToken(entry.idToken.type, entry.idToken.idToken), now));
    }
    return resolveEntries(record.entries ?? [], (token) => register.get(`${token.type}\u0000${token.idToken}`));
  }

  private async push(stationId: string, signal: AbortSignal): Promise<PushOutcome> {
    for (let round = 0; round < MAX_PUSH_ROUNDS; round++) {
      const outcome = await this.pushOnce(stationId, signal);
      if (outcome !== 'again') return outcome;
    }
    return { kind: 'inSync' };
  }

  /** One pass: the parts that bring the station from what it holds to the desired list, sent in order. */
  private async pushOnce(stationId: string, signal: AbortSignal): Promise<PushOutcome | 'again'> {
    const { lists } = this.deps;
    const session = this.liveSession(stationId);
    const ocppVersion: OcppListVersion = session.protocol.version === '1.6' ? '1.6' : '2.0.1';
    let record = await lists.get(stationId);
    if (record?.entries === undefined || record.version === undefined) return { kind: 'inSync' };
    if (record.stationVersion === undefined) {
      // TC_D_02 recommendation: with no version confirmed by this station yet, ask before sending anything.
      await this.checkVersion(stationId);
      record = await lists.get(stationId);
      if (record?.entries === undefined || record.version === undefined) return { kind: 'inSync' };
    }
    const desired = await this.resolve(record);
    // D02 / DRV-LAL-04: nothing known, a station version that is not the one it last accepted (0 = no list), or a
    // VersionMismatch: the whole list again.
    // An empty list is cleared the way TC_D_04 expects: a Full without entries, rather than one removal per token.
    const full =
      record.forceFull ||
      record.installed === undefined ||
      record.acceptedVersion === undefined ||
      record.stationVersion !== record.acceptedVersion ||
      (desired.length === 0 && record.installed.length > 0);
    let change: Parameters<typeof planParts>[0];
    if (full) {
      change = { kind: 'full', entries: desired };
    } else {
      const diff = diffLists(record.installed ?? [], desired);
      if (diff.upsert.length === 0 && diff.remove.length === 0 && record.version === record.acceptedVersion) {
        await lists.setStatus(stationId, 'InSync', undefined);
        return { kind: 'inSync' };
      }
      change = { kind: 'differential', ...diff };
    }
    let parts;
    try {
      parts = planParts(change, await this.limits(session, ocppVersion), ocppVersion);
    } catch (err) {
      if (err instanceof EntryTooLargeError) return { kind: 'failed', error: err.message };
      throw err;
    }
    // Each part takes a version of its own, never one sent before; the last part's is the list's version.
    let version = record.version;
    if (version - record.lastSentVersion < parts.length || version <= (record.acceptedVersion ?? 0)) {
      version = Math.max(record.lastSentVersion, record.acceptedVersion ?? 0) + parts.length;
      await lists.reversion(stationId, version);
    }
    let installed = full ? [] : (record.installed ?? []);
    for (const [index, part] of parts.entries()) {
      if (signal.aborted) throw new Error('local list push cancelled');
      const versionNumber = version - parts.length + 1 + index;
      await lists.recordSent(stationId, versionNumber);
      const request = sendLocalListRequest(ocppVersion, part, versionNumber);
      this.ownRequests.add(request);
      const response = (await session.call('SendLocalList', request)) as { status?: string; statusInfo?: JsonObject };
      if (response.status === 'Accepted') {
        installed = applyPart(installed, part);
        await lists.recordAccepted(stationId, versionNumber, installed);
        continue;
      }
      if (response.status === 'VersionMismatch') {
        await lists.setForceFull(stationId);
        return { kind: 'versionMismatch' };
      }
      const reason = response.statusInfo === undefined ? '' : ` (${JSON.stringify(response.statusInfo)})`;
      return { kind: 'failed', error: `the station answered ${String(response.status)} to SendLocalList version ${versionNumber}${reason}` };
    }
    const after = await lists.get(stationId);
    if (after?.version !== version) return 'again';
    // A register entry that changed while the parts were out is picked up now rather than at its own event.
    const stillDesired = await this.resolve(after);
    const drift = diffLists(installed, stillDesired);
    if (drift.upsert.length > 0 || drift.remove.length > 0) {
      await lists.bumpVersion(stationId, version, 1);
      return 'again';
    }
    await lists.setStatus(stationId, 'InSync', undefined);
    this.deps.log.info({ stationId, version, parts: parts.length, full }, 'local list in sync');
    return { kind: 'inSync' };
  }

  /** The split limits: from the device model, or asked with GetVariables (1.6: GetConfiguration) when unknown. */
  private async limits(session: StationHandle, ocppVersion: OcppListVersion): Promise<ListLimits> {
    const known = limitsFromDeviceModel(await this.deps.store.getVariables(session.stationId), ocppVersion);
    if (known.known) return known;
    if (ocppVersion === '1.6') {
      const answer = (await session.call('GetConfiguration', { key: ['SendLocalListMaxLength'] })) as { configurationKey?: { key: string; value?: string }[] };
      const value = Number(answer.configurationKey?.find((k) => k.key === 'SendLocalListMaxLength')?.value);
      return { items: Number.isInteger(value) && value > 0 ? value : undefined, bytes: undefined };
    }
    const answer = (await session.call('GetVariables', {
      getVariableData: [
        { component: { name: 'LocalAuthListCtrlr' }, variable: { name: 'ItemsPerMessage' } },
        { component: { name: 'LocalAuthListCtrlr' }, variable: { name: 'BytesPerMessage' } },
      ],
    })) as { getVariableResult?: { attributeStatus: string; attributeValue?: string; variable: { name: string } }[] };
    const read = (name: string): number | undefined => {
      const result = answer.getVariableResult?.find((r) => r.variable.name === name && r.attributeStatus === 'Accepted');
      const n = Number(result?.attributeValue);
      return Number.isInteger(n) && n > 0 ? n : undefined;
    };
    return { items: read('ItemsPerMessage'), bytes: read('BytesPerMessage') };
  }
}
