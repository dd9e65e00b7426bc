import type { Logger } from '../log.js';
import { createRedisCommandClient, parseRedisEndpoint, type RedisClient } from '../cluster/redis-connection.js';
import { CHANGE_KINDS, type ChangeData, type ChangeFeed, type ChangeKind, type ChangeRelay } from './change-feed.js';

export interface RedisChangesOptions {
  redisUrl: string;
  /** CSMS_REDIS_CLUSTER */
  cluster: boolean;
  /** CSMS_REDIS_PREFIX */
  prefix: string;
  connectionName: string;
  feed: ChangeFeed;
  log: Logger;
  /** Entries the Redis stream keeps (approximately): at a busy fleet's rate, well over the 5 minutes of resume. */
  maxLength?: number;
}

/** Below the command timeout of the connection (2 s), so a quiet stream never looks like a hung server. */
const BLOCK_MS = 1000;
const BATCH = 1000;
const DEFAULT_MAX_LENGTH = 1_000_000;
const KINDS: ReadonlySet<string> = new Set(CHANGE_KINDS);

type StreamReply = [key: string, entries: [id: string, fields: string[]][]][] | null;

/**
 * Cluster mode (CONTRACT §6): every node appends its changes to one Redis stream and every node reads that stream
 * back, so a change made on any node reaches the stream's clients and the fleet index of every node, in one order
 * and with the same ids (Redis's), and a client resumes with Last-Event-ID on whichever node it reaches.
 */
export class RedisChanges implements ChangeRelay {
  private readonly key: string;
  private readonly maxLength: number;
  private closed = false;
  private reading: Promise<void> | undefined;

  private constructor(
    private readonly writer: RedisClient,
    private readonly reader: RedisClient,
    private readonly options: RedisChangesOptions,
  ) {
    this.key = `${options.prefix}{changes}`;
    this.maxLength = options.maxLength ?? DEFAULT_MAX_LENGTH;
  }

  /**
   * Connects, and puts the feed on the relay from the stream's current end. Call before loading the fleet index's
   * snapshot and `startReading()` after: a change made meanwhile is applied on top of the snapshot, never lost.
   */
  static async connect(options: RedisChangesOptions): Promise<RedisChanges> {
    const endpoint = parseRedisEndpoint(options.redisUrl, options.cluster ? 'true' : undefined);
    const changes = new RedisChanges(
      createRedisCommandClient(endpoint, `${options.connectionName}:changes`),
      createRedisCommandClient(endpoint, `${options.connectionName}:changes-read`),
      options,
    );
    let startId = `${Date.now()}-0`;
    try {
      const last = (await changes.writer.xrevrange(changes.key, '+', '-', 'COUNT', 1))[0];
      if (last !== undefined) startId = last[0];
    } catch (err) {
      // Redis not there yet: read from now on once it is.
      options.log.warn({ err }, 'change stream: Redis unreachable at start; reading from now on once it is back');
    }
    options.feed.useRelay(changes, startId);
    return changes;
  }

  startReading(): void {
    this.reading ??= this.readLoop(this.options.feed.latestId);
  }

  async publish(kind: ChangeKind, data: ChangeData): Promise<void> {
    await this.writer.xadd(this.key, 'MAXLEN', '~', String(this.maxLength), '*', 'k', kind, 'd', JSON.stringify(data));
  }

  private async readLoop(from: string): Promise<void> {
    let lastId = from;
    let failing = false;
    while (!this.closed) {
      let reply: StreamReply;
      try {
        reply = await this.reader.xread('COUNT', BATCH, 'BLOCK', BLOCK_MS, 'STREAMS', this.key, lastId);
        if (failing) this.options.log.info('change stream: reading from Redis again');
        failing = false;
      } catch (err) {
        if (this.isClosed()) return;
        if (!failing) this.options.log.warn({ err }, 'change stream: cannot read from Redis; changes of other nodes wait until it is back');
        failing = true;
        await new Promise((resolve) => setTimeout(resolve, 500));
        continue;
      }
      for (const [, entries] of reply ?? []) {
        for (const [id, fields] of entries) {
          lastId = id;
          const kind = fields[fields.indexOf('k') + 1];
          const json = fields[fields.indexOf('d') + 1];
          if (kind === undefined || json === undefined || !KINDS.has(kind)) continue;
          try {
            this.options.feed.ingest(id, kind as ChangeKind, JSON.parse(json) as ChangeData);
          } catch (err) {
            this.options.log.warn({ err, id }, 'change stream: unreadable entry skipped');
          }
        }
      }
    }
  }

  /** A method, not the field: the read loop asks after an await, when close() may have run meanwhile. */
  private isClosed(): boolean {
    return this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.reader.disconnect();
    await this.reading;
    await this.writer.quit().catch(() => undefined);
  }
}
