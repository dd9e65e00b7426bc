import { randomBytes } from 'node:crypto';
import { RedisKeys } from '../../src/cluster/presence.js';
import { forEachLimited } from '../http.js';
import { startTarget, type BenchPostgres, type RunningTarget } from '../target.js';
import { PresenceReader } from './presence.js';
import { BenchRedis } from './redis-server.js';
import { seedStations } from './seed.js';

/** CSMS_NODE_ID of the k-th cluster node (from 0); presence and the API name nodes by it. */
export function nodeName(k: number): string {
  return `node-${k + 1}`;
}

export interface ClusterProcessesOptions {
  postgres: BenchPostgres;
  logDir: string;
  heartbeatIntervalSeconds: number;
  callTimeoutMs: number;
  profile: boolean;
}

/**
 * What the cluster benchmark runs against: a fresh PostgreSQL database, a private Redis, and Stroom nodes
 * (`node dist/src/main.js`, CSMS_WORKERS=1 each) that share both, one verifier key and one key prefix. Also the
 * lone reference node, the same program without Redis. Everything started here is stopped by `stop()`.
 */
export class ClusterProcesses {
  /** About as long as the default `stroom:`, so presence keys cost what they cost in production; unique per run. */
  readonly redisPrefix = `s${randomBytes(3).toString('hex')}:`;
  readonly verifierKey = randomBytes(32);
  /** One password for the whole (seeded) fleet: 16–64 characters. */
  readonly fleetPassword = `fleet-${randomBytes(12).toString('base64url')}`;
  readonly nodes: RunningTarget[] = [];
  private readonly others: RunningTarget[] = [];

  private constructor(
    private readonly options: ClusterProcessesOptions,
    readonly database: { name: string; url: string },
    readonly redis: BenchRedis,
  ) {}

  static async start(options: ClusterProcessesOptions): Promise<ClusterProcesses> {
    const database = await options.postgres.create('cluster');
    try {
      return new ClusterProcesses(options, database, await BenchRedis.start(options.logDir));
    } catch (err) {
      await options.postgres.drop(database.name).catch(() => undefined);
      throw err;
    }
  }

  /** Presence as Redis holds it, read with this run's key prefix. */
  presence(): PresenceReader {
    return new PresenceReader(this.redis.client, new RedisKeys(this.redisPrefix));
  }

  private start(name: string, clustered: boolean): Promise<RunningTarget> {
    const o = this.options;
    return startTarget({
      kind: 'stroom',
      name,
      env: {
        CSMS_PASSWORD_VERIFIER_KEY: this.verifierKey.toString('base64'),
        ...(clustered ? { CSMS_NODE_ID: name, CSMS_REDIS_PREFIX: this.redisPrefix } : {}),
      },
      database: this.database,
      postgres: o.postgres,
      unknownStations: 'reject',
      heartbeatIntervalSeconds: o.heartbeatIntervalSeconds,
      callTimeoutMs: o.callTimeoutMs,
      csmsWorkers: 1,
      redisUrl: clustered ? this.redis.url : undefined,
      logDir: o.logDir,
      profile: o.profile,
    });
  }

  /** The single-node reference: Stroom alone, no Redis. Its first start also migrates the database. */
  async startAlone(): Promise<RunningTarget> {
    const node = await this.start('single', false);
    this.others.push(node);
    return node;
  }

  /** `count` cluster nodes, two starting at a time (each start compiles schemas: CPU-bound on a small machine). */
  async startNodes(count: number): Promise<RunningTarget[]> {
    const started: RunningTarget[] = new Array<RunningTarget>(count);
    try {
      await forEachLimited(count, 2, async (k) => {
        started[k] = await this.start(nodeName(k), true);
      });
    } finally {
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- a slot stays empty when its start failed
      this.nodes.push(...started.filter((node) => node !== undefined));
    }
    return this.nodes;
  }

  async seed(stationIds: readonly string[]): Promise<void> {
    await seedStations(this.database.url, stationIds, this.fleetPassword, this.verifierKey);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.nodes, ...this.others].map((node) => node.stop().catch(() => undefined)));
    await this.redis.stop().catch(() => undefined);
    await this.options.postgres.drop(this.database.name).catch(() => undefined);
  }
}
