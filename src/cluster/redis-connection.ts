import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';

/**
 * How Stroom reaches Redis: a single server or a Redis Cluster, chosen at construction.
 *
 * - `REDIS_URL=redis://host:6379` → one server.
 * - `REDIS_URL=redis://a:7000,redis://b:7001,…` (several seeds) or `CSMS_REDIS_CLUSTER=1` → Redis Cluster
 *   (ioredis `Cluster`). Every presence key carries the `{presence}` hash tag, so the multi-key presence
 *   scripts run in one slot; each node's channel carries its node id as hash tag, so channels spread over the
 *   shards.
 *
 * Pub/sub is sharded (SSUBSCRIBE / SPUBLISH) where the server has it (Redis ≥ 7); older servers fall back to
 * SUBSCRIBE / PUBLISH. Commands never queue while Redis is unreachable (`enableOfflineQueue: false`): they fail
 * at once, and the router answers `unavailable`.
 */
export type RedisClient = Redis | Cluster;

export interface RedisEndpoint {
  /** One or more `redis://` / `rediss://` URLs. */
  urls: string[];
  cluster: boolean;
}

export function parseRedisEndpoint(redisUrl: string, clusterFlag: string | undefined): RedisEndpoint {
  const urls = redisUrl
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  for (const url of urls) {
    if (!/^rediss?:\/\//.test(url)) throw new Error(`REDIS_URL: ${url} is not a redis:// or rediss:// URL`);
  }
  if (urls.length === 0) throw new Error('REDIS_URL is empty');
  const flag = (clusterFlag ?? '').trim().toLowerCase();
  return { urls, cluster: urls.length > 1 || flag === '1' || flag === 'true' || flag === 'yes' };
}

/** Reconnect forever, quickly at first, at most every 2 s: a node must find Redis again by itself. */
const retryStrategy = (times: number): number => Math.min(50 * 2 ** Math.min(times, 6), 2000);

const COMMAND_OPTIONS: RedisOptions = {
  // Fail fast while disconnected, never buffer without bound (issue 6, §4).
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  // A hung server (not a dead one) must not hold a command longer than this.
  commandTimeout: 2000,
  connectTimeout: 2000,
  // locate() for a whole station list becomes one pipeline.
  enableAutoPipelining: true,
  retryStrategy,
};

/** The subscriber only ever sends (S)SUBSCRIBE, so queueing those few commands while connecting is bounded. */
const SUBSCRIBER_OPTIONS: RedisOptions = {
  enableOfflineQueue: true,
  maxRetriesPerRequest: null,
  autoResubscribe: true,
  connectTimeout: 2000,
  retryStrategy,
};

function clusterSeeds(urls: string[]): { nodes: ClusterNode[]; auth: RedisOptions } {
  const first = new URL(urls[0] as string);
  const auth: RedisOptions = {};
  if (first.username !== '') auth.username = decodeURIComponent(first.username);
  if (first.password !== '') auth.password = decodeURIComponent(first.password);
  if (first.protocol === 'rediss:') auth.tls = {};
  const nodes = urls.map((url) => {
    const parsed = new URL(url);
    return { host: parsed.hostname, port: parsed.port === '' ? 6379 : Number(parsed.port) };
  });
  return { nodes, auth };
}

export interface RedisPair {
  commands: RedisClient;
  subscriber: RedisClient;
  cluster: boolean;
}

/** Two connections: one for commands and publishing, one in subscriber mode. Both start connecting at once. */
export function createRedisPair(endpoint: RedisEndpoint, connectionName: string): RedisPair {
  if (endpoint.cluster) {
    const { nodes, auth } = clusterSeeds(endpoint.urls);
    const common: ClusterOptions = { clusterRetryStrategy: retryStrategy, scaleReads: 'master', maxRedirections: 8 };
    const commands = new Cluster(nodes, {
      ...common,
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      redisOptions: {
        ...auth,
        connectionName,
        connectTimeout: COMMAND_OPTIONS.connectTimeout,
        commandTimeout: COMMAND_OPTIONS.commandTimeout,
        maxRetriesPerRequest: COMMAND_OPTIONS.maxRetriesPerRequest,
      },
    });
    const subscriber = new Cluster(nodes, {
      ...common,
      enableOfflineQueue: true,
      shardedSubscribers: true,
      redisOptions: { ...auth, connectionName: `${connectionName}:sub`, connectTimeout: SUBSCRIBER_OPTIONS.connectTimeout },
    });
    return { commands, subscriber, cluster: true };
  }
  const url = endpoint.urls[0] as string;
  const commands = new Redis(url, { ...COMMAND_OPTIONS, connectionName });
  const subscriber = new Redis(url, { ...SUBSCRIBER_OPTIONS, connectionName: `${connectionName}:sub` });
  return { commands, subscriber, cluster: false };
}

/** One command connection (no subscriber), for a helper that only runs commands (the shared attempt counter). */
export function createRedisCommandClient(endpoint: RedisEndpoint, connectionName: string): RedisClient {
  if (endpoint.cluster) {
    const { nodes, auth } = clusterSeeds(endpoint.urls);
    return new Cluster(nodes, {
      clusterRetryStrategy: retryStrategy,
      scaleReads: 'master',
      maxRedirections: 8,
      enableOfflineQueue: false,
      redisOptions: { ...auth, connectionName, connectTimeout: COMMAND_OPTIONS.connectTimeout, commandTimeout: COMMAND_OPTIONS.commandTimeout, maxRetriesPerRequest: 1 },
    });
  }
  return new Redis(endpoint.urls[0] as string, { ...COMMAND_OPTIONS, enableAutoPipelining: false, connectionName });
}

/** Connection names may not contain spaces or newlines (CLIENT SETNAME). */
export function connectionNameFor(nodeId: string): string {
  return `stroom:${nodeId}`.replace(/[^\x21-\x7e]/g, '_').slice(0, 200);
}
