import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import { createLogger, type Logger } from '../log.js';
import type { CsmsMetrics } from '../metrics.js';
import type { SessionRegistry } from '../station/registry.js';
import { LocalCommandRouter, type CommandRouter } from './command-router.js';
import { parseRedisEndpoint } from './redis-connection.js';
import { DEFAULT_REDIS_PREFIX, RedisCommandRouter } from './redis-router.js';
import { runSupervisor } from './supervisor.js';
import { exitWithSupervisor, installWorkerMetrics, isWorkerProcess, WORKER_INDEX_ENV } from './worker-ipc.js';

/**
 * What the composition root calls for cluster mode: two functions, so app.ts and main.ts stay unaware of
 * Redis, workers and IPC.
 *
 * Environment read here (besides Config's REDIS_URL, CSMS_NODE_ID and CSMS_WORKERS):
 * - `CSMS_REDIS_PREFIX` (default `stroom:`): prefix of every Redis key and channel, so deployments (or test
 *   runs) can share one Redis.
 * - `CSMS_REDIS_CLUSTER=1`: talk Redis Cluster even with a single seed URL (several comma-separated seeds in
 *   REDIS_URL imply it).
 * - `CSMS_WORKER_INDEX`: set by the supervisor in each worker it forks.
 */

/** The router for this node: in-process without REDIS_URL, through Redis with it. */
export async function createCommandRouter(
  config: Config,
  registry: SessionRegistry,
  clock: Clock,
  log: Logger,
  metrics: CsmsMetrics,
  env: NodeJS.ProcessEnv = process.env,
): Promise<CommandRouter> {
  if (isWorkerProcess(env)) installWorkerMetrics(metrics, log);
  if (config.redisUrl === undefined) return new LocalCommandRouter(registry, clock, config.nodeId);
  const endpoint = parseRedisEndpoint(config.redisUrl, env.CSMS_REDIS_CLUSTER);
  return RedisCommandRouter.connect({
    redisUrl: config.redisUrl,
    cluster: endpoint.cluster,
    prefix: env.CSMS_REDIS_PREFIX ?? DEFAULT_REDIS_PREFIX,
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

/**
 * main.ts, before starting the CSMS: with CSMS_WORKERS > 1 (and not already a worker) this process becomes
 * the supervisor and the answer is true — do not start a CSMS here. A configuration that cannot run clustered
 * stops the process with one clear line (exit 2).
 */
export async function runSupervisorIfNeeded(config: Config, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (env[WORKER_INDEX_ENV] !== undefined) {
    if (typeof process.send === 'function') exitWithSupervisor();
    return false;
  }
  const problem = clusterConfigProblem(config);
  if (problem !== undefined) {
    process.stderr.write(`stroom: ${problem}\n`);
    process.exit(2);
  }
  if (config.workers <= 1) return false;
  const log = createLogger(config.logLevel, { nodeId: config.nodeId, role: 'supervisor' });
  runSupervisor({ workers: config.workers, nodeId: config.nodeId, log });
  return true;
}
