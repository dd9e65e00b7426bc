import { compareEventIds, parseEventId, type ChangeFeed, type FeedEvent } from '../../changes/change-feed.js';
import type { Clock } from '../../clock.js';
import { ApiError, type ApiRequest, type ResponseStream } from '../http.js';
import type { RouteSpec } from '../route-spec.js';

export interface StreamRouteDeps {
  feed: ChangeFeed;
  clock: Clock;
  /** What may wait for one slow subscriber before it is dropped (it resumes with Last-Event-ID). */
  maxBufferedBytes?: number;
  /** A comment line this often keeps proxies from closing an idle stream and finds dead clients. */
  keepAliveMs?: number;
}

const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024;
const DEFAULT_KEEP_ALIVE_MS = 15_000;
/** EventSource (and our console's reader) waits this long before reconnecting. */
const RETRY_MS = 2000;

function formatEvent(event: FeedEvent): string {
  return `id: ${event.id}\nevent: ${event.kind}\ndata: ${event.json}\n\n`;
}

function lastEventId(request: ApiRequest): string | undefined {
  const raw = request.headers['last-event-id'];
  if (raw === undefined || raw === '') return undefined;
  if (parseEventId(raw) === undefined) throw new ApiError(400, 'invalid_last_event_id', 'Last-Event-ID must be the id of an event this stream sent');
  return raw;
}

/** Events per slice of a replay: a resuming client gets its backlog a slice at a time, as it reads. */
const REPLAY_SLICE = 500;

/**
 * One subscriber. Live: while uWS still holds earlier output for it, new events wait in `backlog`; past
 * `maxBufferedBytes` the subscriber is dropped (its connection closed): a client that cannot keep up costs bounded
 * memory and loses nothing, since it resumes from its Last-Event-ID. Resuming: the missed events are read from the
 * feed a slice at a time, the next slice only once the previous one has left, and live events are not queued
 * meanwhile (they are in the feed too, and the replay reaches them), so a long absence costs no more memory here.
 */
class Subscriber {
  private backlog: string[] = [];
  private backlogBytes = 0;
  private blocked = false;
  private replaying = false;
  private lastSentId: string;
  private readonly unsubscribe: () => void;
  private readonly keepAlive: NodeJS.Timeout;

  constructor(
    private readonly out: ResponseStream,
    private readonly feed: ChangeFeed,
    private readonly stationId: string | undefined,
    resumeFrom: string | undefined,
    private readonly maxBufferedBytes: number,
    keepAliveMs: number,
    private readonly now: string,
  ) {
    this.lastSentId = feed.latestId;
    this.unsubscribe = feed.subscribe({ stationId, deliver: (events) => this.send(events) });
    out.onClose(() => this.stop());
    out.onWritable(() => this.drain());
    this.keepAlive = setInterval(() => {
      if (!this.replaying) this.push(': keep-alive\n\n');
    }, keepAliveMs);
    this.keepAlive.unref();

    this.push(`retry: ${RETRY_MS}\n\n`);
    if (resumeFrom !== undefined) {
      this.lastSentId = resumeFrom;
      this.replaying = true;
      this.replay();
    }
  }

  /** Sends what the feed holds after lastSentId, a slice at a time, until it is caught up (then live again). */
  private replay(): void {
    while (this.replaying && !this.blocked && !this.out.closed) {
      const missed = this.feed.since(this.lastSentId, this.stationId, REPLAY_SLICE);
      if (missed === undefined) {
        // Too old to resume without a gap (or the feed moved past a slow replay): reload, then follow from here.
        this.replaying = false;
        this.lastSentId = this.feed.latestId;
        this.push(`id: ${this.lastSentId}\nevent: reset\ndata: ${JSON.stringify({ at: this.now, reason: 'Last-Event-ID is older than the events kept' })}\n\n`);
        return;
      }
      if (missed.length === 0) {
        this.replaying = false;
        return;
      }
      const last = missed[missed.length - 1] as FeedEvent;
      this.lastSentId = last.id;
      if (!this.out.write(missed.map(formatEvent).join(''))) this.blocked = true;
      // A slice shorter than asked for reached the feed's newest event: anything newer is delivered live.
      if (missed.length < REPLAY_SLICE && compareEventIds(last.id, this.feed.latestId) >= 0) this.replaying = false;
    }
  }

  private send(events: readonly FeedEvent[]): void {
    if (this.replaying) return;
    let chunk = '';
    for (const event of events) {
      if (compareEventIds(event.id, this.lastSentId) <= 0) continue;
      this.lastSentId = event.id;
      chunk += formatEvent(event);
    }
    if (chunk !== '') this.push(chunk);
  }

  private push(chunk: string): void {
    if (this.out.closed) return;
    if (this.blocked) {
      this.backlog.push(chunk);
      this.backlogBytes += Buffer.byteLength(chunk);
      if (this.backlogBytes > this.maxBufferedBytes) this.drop();
      return;
    }
    if (!this.out.write(chunk)) this.blocked = true;
  }

  private drain(): void {
    this.blocked = false;
    const chunk = this.backlog.join('');
    this.backlog = [];
    this.backlogBytes = 0;
    if (chunk !== '') this.push(chunk);
    if (this.replaying) this.replay();
  }

  private drop(): void {
    this.backlog = [];
    this.backlogBytes = 0;
    this.stop();
    // Closed, not ended: ending would leave the connection open with the unread output still queued on it.
    this.out.destroy();
  }

  private stop(): void {
    clearInterval(this.keepAlive);
    this.unsubscribe();
  }
}

/** CONTRACT §4 `GET /api/v1/stream`: Server-Sent Events of what changes, resumable with Last-Event-ID. */
export function streamRoutes(deps: StreamRouteDeps): RouteSpec[] {
  const maxBufferedBytes = deps.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  const keepAliveMs = deps.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS;
  return [
    {
      method: 'get',
      path: '/api/v1/stream',
      role: 'viewer',
      summary:
        'Server-Sent Events of changes (station.connected/disconnected/boot/status/registered/deleted, connector.status, ' +
        'transaction.started/updated/ended, command.result, station.event, reservation.updated, local-list.updated, display-messages.updated); each with id, event and one JSON data line holding stationId and at. ' +
        'Last-Event-ID resumes with nothing lost or repeated for at least 5 minutes (older: an "reset" event first). A client that ' +
        'does not read is dropped once 1 MiB waits for it, and resumes.',
      tag: 'Stream',
      produces: 'text/event-stream',
      query: { stationId: { type: 'string', description: "only this station's changes" } },
      responses: { 200: 'text/event-stream', 400: 'Invalid Last-Event-ID' },
      handler: (request) => {
        const stationId = request.query.get('stationId') ?? undefined;
        const resumeFrom = lastEventId(request);
        return {
          status: 200,
          headers: { 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' },
          stream: {
            contentType: 'text/event-stream; charset=utf-8',
            start: (out) => {
              new Subscriber(out, deps.feed, stationId, resumeFrom, maxBufferedBytes, keepAliveMs, new Date(deps.clock.now()).toISOString());
            },
          },
        };
      },
    },
  ];
}
