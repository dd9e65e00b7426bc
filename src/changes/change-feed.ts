import type { Clock } from '../clock.js';
import type { JsonObject } from '../json.js';

/**
 * CONTRACT §4 `GET /api/v1/stream`: the kinds of change an operator (or the console) follows live. The
 * `station.registered` / `station.deleted` kinds are extra: they keep every node's fleet index in step with
 * operator decisions.
 */
export const CHANGE_KINDS = [
  'station.connected',
  'station.disconnected',
  'station.boot',
  'station.status',
  'station.registered',
  'station.deleted',
  'connector.status',
  'transaction.started',
  'transaction.updated',
  'transaction.ended',
  'command.result',
  'station.event',
  'reservation.updated',
  'local-list.updated',
  'display-messages.updated',
] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

/** What a change says: always the station and when (`at`, ISO 8601), plus what the kind carries. */
export type ChangeData = JsonObject & { stationId: string; at: string };

/**
 * One change as the stream sends it. `id` is `<ms>-<seq>` (Redis stream ids have this form, so ids are the same
 * on every node of a cluster); ids compare by (ms, seq). `json` is the change's data serialized once for every
 * subscriber. The data object itself is not kept: every node retains minutes of the whole fleet's changes, and
 * the string alone is what a resuming client needs (projections get the object as the change is taken in).
 */
export interface FeedEvent {
  id: string;
  kind: ChangeKind;
  stationId: string;
  json: string;
  /** When this process took it in (epoch ms): what retention counts from, whatever `at` says. */
  receivedAt: number;
}

export interface FeedSubscription {
  /** Only this station's changes; undefined = all. */
  stationId: string | undefined;
  /** Called with the events taken in since the last call, in id order (already filtered). */
  deliver(events: readonly FeedEvent[]): void;
}

/**
 * Where a cluster node sends its changes so that every node (itself included) takes them in, in one order
 * (src/changes/redis-changes.ts). Rejects when the change could not be handed over.
 */
export interface ChangeRelay {
  publish(kind: ChangeKind, data: ChangeData): Promise<void>;
}

export interface ChangeFeedOptions {
  clock: Clock;
  /** How long events stay replayable for `Last-Event-ID` (CONTRACT: at least 5 minutes). */
  retainMs?: number;
  /** A hard bound on what is kept, whatever the rate, so memory stays bounded. */
  maxRetained?: number;
}

const DEFAULT_RETAIN_MS = 10 * 60_000;
const DEFAULT_MAX_RETAINED = 500_000;

/** `<ms>-<seq>` → [ms, seq]; undefined when it is not an id. */
export function parseEventId(id: string): [number, number] | undefined {
  const match = /^(\d{1,15})-(\d{1,15})$/.exec(id);
  return match === null ? undefined : [Number(match[1]), Number(match[2])];
}

/** Orders event ids: negative when `a` is older than `b`. */
export function compareEventIds(a: string, b: string): number {
  const [am, as] = parseEventId(a) ?? [0, 0];
  const [bm, bs] = parseEventId(b) ?? [0, 0];
  return am !== bm ? am - bm : as - bs;
}

/**
 * The changes this process sees, kept for resumption and fanned out to subscribers in batches. Publishing only
 * appends (O(1) on the station's hot path); delivery happens once per event-loop turn for everything taken in
 * during it, so a burst costs one write per subscriber, not one per change.
 *
 * Alone, a node numbers its own changes (`<ms>-<seq>`, increasing across restarts because they start at the
 * clock). In a cluster, a `relay` sends each change to Redis and every node takes the changes in from there, with
 * Redis's ids: one order and one numbering on every node, so a client resumes on any node.
 */
export class ChangeFeed {
  private readonly retainMs: number;
  private readonly maxRetained: number;
  private readonly clock: Clock;
  /** Retained events, oldest first; `first` skips the ones already expired (compacted now and then). */
  private retained: FeedEvent[] = [];
  private first = 0;
  /** Every event up to this id is known to this feed or expired: a client resuming from here on misses nothing. */
  private horizon: string;
  private lastId: string;
  private readonly subscribers = new Set<FeedSubscription>();
  private pending: FeedEvent[] = [];
  private flushScheduled = false;
  private readonly listeners: ((event: FeedEvent, data: ChangeData) => void)[] = [];
  private readonly publishListeners: ((kind: ChangeKind, data: ChangeData) => void)[] = [];
  private relay: ChangeRelay | undefined;

  constructor(options: ChangeFeedOptions) {
    this.clock = options.clock;
    this.retainMs = options.retainMs ?? DEFAULT_RETAIN_MS;
    this.maxRetained = options.maxRetained ?? DEFAULT_MAX_RETAINED;
    this.lastId = `${Math.floor(options.clock.now())}-0`;
    this.horizon = this.lastId;
  }

  /**
   * Cluster mode: changes go through `relay` and come back through `ingest`. `startId` is where this node began
   * reading: nothing older can be resumed here.
   */
  useRelay(relay: ChangeRelay, startId: string): void {
    this.relay = relay;
    this.lastId = startId;
    this.horizon = startId;
  }

  /** Records a change (`at` defaults to now). Through the relay when there is one; locally when it fails. */
  publish(kind: ChangeKind, data: Omit<ChangeData, 'at'> & { at?: string }): void {
    const full = { ...data, at: data.at ?? new Date(this.clock.now()).toISOString() } as ChangeData;
    for (const listener of this.publishListeners) listener(kind, full);
    if (this.relay === undefined) {
      this.ingest(this.nextLocalId(), kind, full);
      return;
    }
    // Redis unreachable: this node's own clients and index still see the change (other nodes do not).
    this.relay.publish(kind, full).catch(() => this.ingest(this.nextLocalId(), kind, full));
  }

  /** Takes in one change with its id (in id order): retained, applied to projections, queued for subscribers. */
  ingest(id: string, kind: ChangeKind, data: ChangeData): void {
    if (compareEventIds(id, this.lastId) <= 0) return;
    this.lastId = id;
    const event: FeedEvent = { id, kind, stationId: data.stationId, json: JSON.stringify(data), receivedAt: this.clock.now() };
    this.retained.push(event);
    this.expire();
    // In-process projections (the fleet index) see every change at once, in order.
    for (const listener of this.listeners) listener(event, data);
    if (this.subscribers.size > 0) {
      this.pending.push(event);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    }
  }

  /**
   * Changes this process makes, as they are published (in a cluster, not the ones other nodes relay here): what
   * must happen once per change, not once per node (the webhook outbox).
   */
  onPublish(listener: (kind: ChangeKind, data: ChangeData) => void): void {
    this.publishListeners.push(listener);
  }

  /** A projection that must see every change synchronously, in order (never dropped). */
  onChange(listener: (event: FeedEvent, data: ChangeData) => void): void {
    this.listeners.push(listener);
  }

  subscribe(subscription: FeedSubscription): () => void {
    this.subscribers.add(subscription);
    return () => this.subscribers.delete(subscription);
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** The id of the newest event (or the starting point when none was taken in yet). */
  get latestId(): string {
    return this.lastId;
  }

  /**
   * Events after `lastEventId` for a resuming client, or undefined when some of them may be missing here (expired,
   * or from before this node started reading): the client must start over (`event: reset`). An id from the future
   * (a wrong header) is a reset too.
   */
  since(lastEventId: string, stationId: string | undefined, limit = Number.POSITIVE_INFINITY): FeedEvent[] | undefined {
    if (compareEventIds(lastEventId, this.lastId) > 0 || compareEventIds(lastEventId, this.horizon) < 0) return undefined;
    // Binary search for the first retained event after lastEventId.
    let lo = this.first;
    let hi = this.retained.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareEventIds((this.retained[mid] as FeedEvent).id, lastEventId) <= 0) lo = mid + 1;
      else hi = mid;
    }
    const out: FeedEvent[] = [];
    for (let i = lo; i < this.retained.length && out.length < limit; i++) {
      const event = this.retained[i] as FeedEvent;
      if (stationId === undefined || event.stationId === stationId) out.push(event);
    }
    return out;
  }

  private nextLocalId(): string {
    const [lastMs, lastSeq] = parseEventId(this.lastId) ?? [0, 0];
    const now = Math.floor(this.clock.now());
    return now > lastMs ? `${now}-0` : `${lastMs}-${lastSeq + 1}`;
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = [];
    for (const subscription of [...this.subscribers]) {
      const events = subscription.stationId === undefined ? batch : batch.filter((e) => e.stationId === subscription.stationId);
      if (events.length > 0) subscription.deliver(events);
    }
  }

  private expire(): void {
    const cutoff = this.clock.now() - this.retainMs;
    while (this.first < this.retained.length) {
      const oldest = this.retained[this.first] as FeedEvent;
      const over = this.retained.length - this.first > this.maxRetained;
      if (!over && oldest.receivedAt >= cutoff) break;
      this.horizon = oldest.id;
      this.first++;
    }
    // Compact once the expired prefix is large, so the array does not grow for ever (amortized O(1)).
    if (this.first > 4096 && this.first * 2 > this.retained.length) {
      this.retained = this.retained.slice(this.first);
      this.first = 0;
    }
  }
}
