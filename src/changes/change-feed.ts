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
] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

/** What a change says: always the station and when (`at`, ISO 8601), plus what the kind carries. */
export type ChangeData = JsonObject & { stationId: string; at: string };

/** One change as the stream sends it: `id` increases, `json` is `data` serialized once for every subscriber. */
export interface FeedEvent {
  id: number;
  kind: ChangeKind;
  data: ChangeData;
  json: string;
  /** When this process published it (epoch ms): what retention counts from, whatever `at` says. */
  publishedAt: number;
}

export interface FeedSubscription {
  /** Only this station's changes; undefined = all. */
  stationId: string | undefined;
  /** Called with the events published since the last call, in id order (already filtered). */
  deliver(events: readonly FeedEvent[]): void;
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

/**
 * The changes of this process, kept for resumption and fanned out to subscribers in batches: publishing only
 * appends (O(1) on the station's hot path); delivery happens once per event-loop turn for everything published
 * in it, so a burst costs one write per subscriber, not one per change.
 *
 * Ids are a counter started at the boot time in microseconds: they increase across restarts of a node (unless it
 * published more than 1000 changes per millisecond of its previous life), so an id from before a restart is
 * older than every new one and its client gets `reset`, never someone else's events.
 */
export class ChangeFeed {
  private readonly retainMs: number;
  private readonly maxRetained: number;
  private readonly clock: Clock;
  /** Retained events, oldest first; `first` skips the ones already expired (compacted now and then). */
  private retained: FeedEvent[] = [];
  private first = 0;
  private lastId: number;
  private readonly subscribers = new Set<FeedSubscription>();
  private pending: FeedEvent[] = [];
  private flushScheduled = false;
  private readonly listeners: ((event: FeedEvent) => void)[] = [];

  constructor(options: ChangeFeedOptions) {
    this.clock = options.clock;
    this.retainMs = options.retainMs ?? DEFAULT_RETAIN_MS;
    this.maxRetained = options.maxRetained ?? DEFAULT_MAX_RETAINED;
    this.lastId = Math.floor(options.clock.now()) * 1000;
  }

  /** Records a change and schedules its delivery. `at` defaults to now. */
  publish(kind: ChangeKind, data: Omit<ChangeData, 'at'> & { at?: string }): FeedEvent {
    const now = this.clock.now();
    const full = { ...data, at: data.at ?? new Date(now).toISOString() } as ChangeData;
    const event: FeedEvent = { id: ++this.lastId, kind, data: full, json: JSON.stringify(full), publishedAt: now };
    this.retained.push(event);
    this.expire();
    // In-process projections (the fleet index) see every change at once, in order.
    for (const listener of this.listeners) listener(event);
    if (this.subscribers.size > 0) {
      this.pending.push(event);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    }
    return event;
  }

  /** A projection that must see every change synchronously, in order (never dropped). */
  onChange(listener: (event: FeedEvent) => void): void {
    this.listeners.push(listener);
  }

  subscribe(subscription: FeedSubscription): () => void {
    this.subscribers.add(subscription);
    return () => this.subscribers.delete(subscription);
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** The id of the newest event (or the starting point when none was published yet). */
  get latestId(): number {
    return this.lastId;
  }

  /**
   * Events after `lastEventId` for a resuming client, or undefined when some of them are no longer retained (the
   * client must start over: `event: reset`). An id from the future (another node's, a wrong header) is a reset too.
   */
  since(lastEventId: number, stationId: string | undefined): FeedEvent[] | undefined {
    if (lastEventId > this.lastId) return undefined;
    const oldest = this.retained[this.first];
    const firstRetainedId = oldest?.id ?? this.lastId + 1;
    // Retained ids are consecutive: nothing is missing when the next one the client needs is still here.
    if (lastEventId + 1 < firstRetainedId) return undefined;
    const start = this.first + (lastEventId + 1 - firstRetainedId);
    const out: FeedEvent[] = [];
    for (let i = Math.max(start, this.first); i < this.retained.length; i++) {
      const event = this.retained[i] as FeedEvent;
      if (stationId === undefined || event.data.stationId === stationId) out.push(event);
    }
    return out;
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = [];
    for (const subscription of [...this.subscribers]) {
      const events = subscription.stationId === undefined ? batch : batch.filter((e) => e.data.stationId === subscription.stationId);
      if (events.length > 0) subscription.deliver(events);
    }
  }

  private expire(): void {
    const cutoff = this.clock.now() - this.retainMs;
    while (this.first < this.retained.length) {
      const oldest = this.retained[this.first] as FeedEvent;
      const over = this.retained.length - this.first > this.maxRetained;
      if (!over && oldest.publishedAt >= cutoff) break;
      this.first++;
    }
    // Compact once the expired prefix is large, so the array does not grow for ever (amortized O(1)).
    if (this.first > 4096 && this.first * 2 > this.retained.length) {
      this.retained = this.retained.slice(this.first);
      this.first = 0;
    }
  }
}
