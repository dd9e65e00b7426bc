import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { CsmsMetrics } from '../metrics.js';
import type { SessionRegistry } from '../station/registry.js';
import { LocalCommandRouter, type CommandRouter, type DecisionChannel } from './command-router.js';
import { RedisCommandRouter } from './redis-router.js';

/**
 * The router for this node: in-process without REDIS_URL, through Redis with it (CONTRACT §6). It also carries
 * operator decisions to every node's caches.
 */
export async function createCommandRouter(
  config: Config,
  registry: SessionRegistry,
  clock: Clock,
  log: Logger,
  metrics: CsmsMetrics,
): Promise<CommandRouter & DecisionChannel> {
  if (config.redisUrl === undefined) return new LocalCommandRouter(registry, config.nodeId);
  return RedisCommandRouter.connect({
    redisUrl: config.redisUrl,
    cluster: config.redisCluster,
    prefix: config.redisPrefix,
    nodeId: config.nodeId,
    registry,
    clock,
    log,
    metrics,
  });
}

/** Why this configuration cannot run as more than one process, or undefined when it can. */
export function clusterConfigProblem(config: Config): string | undefined {
  const missing = [config.redisUrl === undefined ? 'REDIS_URL' : undefined, config.databaseUrl === undefined ? 'DATABASE_URL' : undefined].filter(
    (key): key is string => key !== undefined,
  );
  if (config.workers > 1 && missing.length > 0) {
    return `CSMS_WORKERS=${config.workers} needs REDIS_URL and DATABASE_URL (the embedded store and in-process routing are single-process); missing: ${missing.join(', ')}`;
  }
  if (config.redisUrl !== undefined && config.databaseUrl === undefined) {
    return 'REDIS_URL (cluster mode: several nodes) needs DATABASE_URL too: the embedded store is single-process';
  }
  return undefined;
}
