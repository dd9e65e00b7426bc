import { clusterConfigProblem } from '../cluster/wiring.js';
import type { Config } from '../config.js';
import { createLogger } from '../log.js';
import { runSupervisor } from './supervisor.js';
import { exitWithSupervisor, WORKER_INDEX_ENV } from './worker-ipc.js';

export { installWorkerMetrics, isWorkerProcess } from './worker-ipc.js';

/**
 * main.ts, before starting the CSMS: with CSMS_WORKERS > 1 (and not already a worker) this process becomes
 * the supervisor and the answer is true — do not start a CSMS here. A configuration that cannot run clustered
 * stops the process with one clear line (exit 2). `CSMS_WORKER_INDEX` is set by the supervisor in each worker.
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
