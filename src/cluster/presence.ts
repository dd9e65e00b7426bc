import { randomBytes } from 'node:crypto';
import type { Result } from 'ioredis';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { StationSession } from '../station/station-session.js';
import type { RedisClient } from './redis-connection.js';

/**
 * Where each station is connected, kept in Redis: `<prefix>{presence}:<stationId>` → `<openedAt>|<token>`, with a
 * TTL. `token` = `<nodeId>#<incarnation>.<seq>` names one session of one process; `openedAt` (epoch ms) orders
 * sessions, so the newest connection of an identity wins wherever it landed.
 *
 * One Lua script claims, refreshes and re-registers keys, many at a time (all presence keys share the
 * `{presence}` hash tag, so this holds in Redis Cluster too). For each key it answers:
 *   ''        the key holds this session now (set, or TTL refreshed);
 *   'T<old>'  this session is newer than the one that held the key: the key is ours, `old` lost it (takeover);
 *   'L<cur>'  a newer session holds the key: this one lost and must close.
 * A closing session deletes its key only while the key still names it (compare-and-delete).
 *
 * A node that dies cannot release its keys. Each node therefore also keeps a liveness key
 * (`<prefix>{presence}:node:<nodeId>`, a short TTL refreshed by the node); a station key names its node in its
 * token, and counts only while that node's liveness key exists. A killed node's stations all read as gone
 * together, within the liveness TTL (6 s by default; CONTRACT §6 promises 10 s), whatever the station keys' TTL.
 * Station ids never contain ':' (Part 4 §3.1.1), so no station key can be mistaken for a liveness key.
 */

const CLAIM_SCRIPT = `
local ttl = ARGV[1]
local out = {}
for i = 1, #KEYS do
  local mine = ARGV[i + 1]
  local cur = redis.call('GET', KEYS[i])
  if cur == mine then
    redis.call('PEXPIRE', KEYS[i], ttl)
    out[i] = ''
  elseif not cur then
    redis.call('SET', KEYS[i], mine, 'PX', ttl)
    out[i] = ''
  else
    local curAt = tonumber(string.match(cur, '^(%d+)|')) or 0
    local myAt = tonumber(string.match(mine, '^(%d+)|')) or 0
    if curAt > myAt or (curAt == myAt and cur > mine) then
      out[i] = 'L' .. cur
    else
      redis.call('SET', KEYS[i], mine, 'PX', ttl)
      out[i] = 'T' .. cur
    end
  end
end
return out
`;

const RELEASE_SCRIPT = `
local deleted = 0
for i = 1, #KEYS do
  local cur = redis.call('GET', KEYS[i])
  if cur then
    local bar = string.find(cur, '|', 1, true)
    if bar and string.sub(cur, bar + 1) == ARGV[i] then
      deleted = deleted + redis.call('DEL', KEYS[i])
    end
  end
end
return deleted
`;

/** KEYS[1] the station key; ARGV[1] the liveness key prefix. The value, or nil when its node is not alive. */
const LOOKUP_SCRIPT = `
local cur = redis.call('GET', KEYS[1])
if not cur then return false end
local bar = string.find(cur, '|', 1, true)
if not bar then return false end
local token = string.sub(cur, bar + 1)
local node = string.match(token, '^(.*)#[^#]*$')
if not node then return false end
if redis.call('EXISTS', ARGV[1] .. node) == 0 then return false end
return cur
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    stroomPresenceClaim(numKeys: number, ...keysTtlAndValues: (string | number)[]): Result<string[], Context>;
    stroomPresenceRelease(numKeys: number, ...keysAndTokens: string[]): Result<number, Context>;
    stroomPresenceLookup(numKeys: number, key: string, livenessPrefix: string): Result<string | null, Context>;
  }
}

export function definePresenceScripts(redis: RedisClient): void {
  redis.defineCommand('stroomPresenceClaim', { lua: CLAIM_SCRIPT });
  redis.defineCommand('stroomPresenceRelease', { lua: RELEASE_SCRIPT });
  redis.defineCommand('stroomPresenceLookup', { lua: LOOKUP_SCRIPT });
}

/** Key and channel names under one prefix (`CSMS_REDIS_PREFIX`, default `stroom:`). */
export class RedisKeys {
  constructor(readonly prefix: string) {
    if (!/^[A-Za-z0-9:_.-]*$/.test(prefix)) throw new Error(`CSMS_REDIS_PREFIX: "${prefix}" may only contain letters, digits and : _ . -`);
  }

  presence(stationId: string): string {
    return `${this.prefix}{presence}:${stationId}`;
  }

  /** Prefix of the node liveness keys; same hash tag as the station keys, so one script reads both. */
  get livenessPrefix(): string {
    return `${this.prefix}{presence}:node:`;
  }

  liveness(nodeId: string): string {
    return this.livenessPrefix + nodeId;
  }

  /** Each node listens on its own channel; the node id is the hash tag, so channels spread over shards. */
  nodeChannel(nodeId: string): string {
    return `${this.prefix}node:{${nodeId}}`;
  }

  /** Operator decisions, heard by every node. */
  decisionsChannel(): string {
    return `${this.prefix}decisions`;
  }

  isNodeChannel(channel: string): boolean {
    return channel.startsWith(`${this.prefix}node:{`) && channel.endsWith('}');
  }
}

export interface PresenceValue {
  openedAt: number;
  token: string;
  nodeId: string;
}

export function parsePresenceValue(value: string): PresenceValue | undefined {
  const bar = value.indexOf('|');
  if (bar <= 0) return undefined;
  const openedAt = Number(value.slice(0, bar));
  const token = value.slice(bar + 1);
  const hash = token.lastIndexOf('#');
  if (!Number.isFinite(openedAt) || hash <= 0) return undefined;
  return { openedAt, token, nodeId: token.slice(0, hash) };
}

/** One local session as presence knows it. */
export interface PresenceEntry {
  stationId: string;
  session: StationSession;
  token: string;
  openedAt: number;
  /** `<openedAt>|<token>`: what the key holds while this session owns it. */
  value: string;
}

export interface PresenceEvents {
  /** This node's newer session took the key from `previous` (possibly on another node). */
  tookOver(entry: PresenceEntry, previous: PresenceValue): void;
  /** A newer session elsewhere holds the key: `entry` lost and must close. */
  lost(entry: PresenceEntry, holder: PresenceValue): void;
}

export interface PresenceOptions {
  redis: RedisClient;
  keys: RedisKeys;
  nodeId: string;
  clock: Clock;
  log: Logger;
  ttlMs: number;
  /** TTL of this node's liveness key, refreshed every third of it (default 6 s). */
  livenessTtlMs?: number;
  events: PresenceEvents;
  isUp: () => boolean;
}

export const DEFAULT_LIVENESS_TTL_MS = 6_000;

/** Keys per script call: bounded work per EVALSHA, one slot anyway. */
const CHUNK = 500;

/**
 * This node's side of presence: claims a key when a local session opens, refreshes all of them with one
 * pipeline per interval (ttl / 3), releases a key on close (only if still its own), and re-registers every
 * local session when Redis comes back.
 */
export class Presence {
  private readonly entries = new Map<string, PresenceEntry>();
  /** Opened sessions whose claim has not been sent yet (flushed together on the next turn of the loop). */
  private readonly unsent = new Map<string, PresenceEntry>();
  private readonly incarnation = randomBytes(4).toString('hex');
  private seq = 0;
  private flushScheduled = false;
  private refreshing: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();
  private timer: NodeJS.Timeout | undefined;
  private livenessTimer: NodeJS.Timeout | undefined;
  private readonly livenessTtlMs: number;

  constructor(private readonly options: PresenceOptions) {
    this.livenessTtlMs = options.livenessTtlMs ?? DEFAULT_LIVENESS_TTL_MS;
  }

  get size(): number {
    return this.entries.size;
  }

  entry(stationId: string): PresenceEntry | undefined {
    return this.entries.get(stationId);
  }

  start(): void {
    const interval = Math.max(100, Math.floor(this.options.ttlMs / 3));
    this.timer = setInterval(() => void this.refreshAll(), interval);
    this.timer.unref();
    this.livenessTimer = setInterval(() => void this.beat(), Math.max(100, Math.floor(this.livenessTtlMs / 3)));
    this.livenessTimer.unref();
    void this.beat();
  }

  /** Refreshes this node's liveness key. Also on 'ready', so stations read as present at once after Redis returns. */
  beat(): Promise<void> {
    if (!this.options.isUp()) return Promise.resolve();
    const { redis, keys, nodeId, log } = this.options;
    return redis.set(keys.liveness(nodeId), String(this.options.clock.now()), 'PX', this.livenessTtlMs).then(
      () => undefined,
      (err: unknown) => log.debug({ err }, 'liveness refresh failed; retried on the next beat'),
    );
  }

  /** A local session opened: claim its key (newest wins). */
  track(stationId: string, session: StationSession): PresenceEntry {
    const openedAt = this.options.clock.now();
    this.seq += 1;
    const token = `${this.options.nodeId}#${this.incarnation}.${this.seq}`;
    const entry: PresenceEntry = { stationId, session, token, openedAt, value: `${openedAt}|${token}` };
    this.entries.set(stationId, entry);
    this.unsent.set(stationId, entry);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    return entry;
  }

  /** The local session of `stationId` went away: release its key if it still names this session. */
  untrack(stationId: string): void {
    const entry = this.entries.get(stationId);
    if (entry === undefined) return;
    this.entries.delete(stationId);
    // Never sent: nothing to release (and a release sent now would overtake the claim).
    if (this.unsent.get(stationId) === entry) {
      this.unsent.delete(stationId);
      return;
    }
    if (!this.options.isUp()) return; // the key expires by itself; a newer session overwrites it anyway
    // Not awaited: a session ends without waiting for Redis. track$ keeps it for shutdown; the catch below handles a rejection.
    void this.track$(
      this.options.redis.stroomPresenceRelease(1, this.options.keys.presence(stationId), entry.token).catch((err: unknown) => {
        this.options.log.debug({ err, stationId }, 'presence release failed; the key expires by itself');
      }),
    );
  }

  /** Who holds `stationId` on a node that is alive, per Redis. Throws when Redis cannot answer. */
  async lookup(stationId: string): Promise<PresenceValue | undefined> {
    const { redis, keys } = this.options;
    const value = await redis.stroomPresenceLookup(1, keys.presence(stationId), keys.livenessPrefix);
    return value === null ? undefined : parsePresenceValue(value);
  }

  /** Refresh (and where needed re-register) every local session: one pipeline. Runs on the timer and on 'ready'. */
  refreshAll(): Promise<void> {
    if (this.refreshing !== undefined) return this.refreshing;
    if (!this.options.isUp() || this.entries.size === 0) return Promise.resolve();
    // Everything is sent now, including claims not flushed yet.
    this.unsent.clear();
    this.refreshing = this.claim([...this.entries.values()]).finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  /** Waits (at most `ms`) for claims and releases still on the wire. Shutdown. */
  async settle(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inFlight]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, ms);
      }),
    ]);
    clearTimeout(timer);
  }

  stop(): void {
    clearInterval(this.timer);
    clearInterval(this.livenessTimer);
  }

  /** Shutdown: this node's stations read as gone at once (their sessions were closed just before). */
  async retire(): Promise<void> {
    if (!this.options.isUp()) return;
    await this.options.redis.del(this.options.keys.liveness(this.options.nodeId)).catch(() => undefined);
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = [...this.unsent.values()];
    this.unsent.clear();
    if (batch.length === 0 || !this.options.isUp()) return; // re-registered on 'ready' / the next refresh
    void this.claim(batch);
  }

  private track$<T>(promise: Promise<T>): Promise<T> {
    this.inFlight.add(promise);
    void promise.finally(() => this.inFlight.delete(promise));
    return promise;
  }

  private async claim(batch: PresenceEntry[]): Promise<void> {
    const { redis, keys, ttlMs, log } = this.options;
    const pipeline = redis.pipeline();
    const chunks: PresenceEntry[][] = [];
    for (let i = 0; i < batch.length; i += CHUNK) {
      const chunk = batch.slice(i, i + CHUNK);
      chunks.push(chunk);
      pipeline.stroomPresenceClaim(chunk.length, ...chunk.map((e) => keys.presence(e.stationId)), ttlMs, ...chunk.map((e) => e.value));
    }
    let results: [Error | null, unknown][] | null;
    try {
      results = await this.track$(pipeline.exec());
    } catch (err) {
      log.warn({ err, stations: batch.length }, 'presence claim failed; retried on the next refresh');
      return;
    }
    chunks.forEach((chunk, index) => {
      const [err, answers] = results?.[index] ?? [new Error('no answer'), undefined];
      if (err !== null || !Array.isArray(answers)) {
        log.warn({ err, stations: chunk.length }, 'presence claim failed; retried on the next refresh');
        return;
      }
      chunk.forEach((entry, i) => this.settleClaim(entry, answers[i]));
    });
  }

  private settleClaim(entry: PresenceEntry, answer: unknown): void {
    if (typeof answer !== 'string' || answer === '') return;
    const other = parsePresenceValue(answer.slice(1));
    if (other === undefined) return;
    // The session may have gone meanwhile; only the current one matters.
    if (this.entries.get(entry.stationId) !== entry) return;
    if (answer.startsWith('T')) this.options.events.tookOver(entry, other);
    else if (answer.startsWith('L')) this.options.events.lost(entry, other);
  }
}
