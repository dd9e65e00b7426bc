import { randomUUID } from 'node:crypto';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { Logger } from '../log.js';
import type { CsmsMetrics } from '../metrics.js';

/**
 * Supervisor ↔ worker messages over the fork IPC channel. Workers share the API port (SO_REUSEPORT), so a
 * scrape of /metrics lands on any one of them: that worker asks the supervisor, which collects every worker's
 * metrics as JSON and aggregates them (prom-client AggregatorRegistry) into one exposition.
 */
export const WORKER_INDEX_ENV = 'CSMS_WORKER_INDEX';

export type WorkerMetrics = MetricObjectWithValues<MetricValue<string>>[];

export type IpcMessage =
  /** worker → supervisor: a scrape arrived, please aggregate. */
  | { type: 'stroom:metrics:request'; id: string }
  /** supervisor → every worker: send your metrics. */
  | { type: 'stroom:metrics:collect'; id: string }
  /** worker → supervisor: my metrics for collection `id`. */
  | { type: 'stroom:metrics:data'; id: string; metrics: WorkerMetrics }
  /** supervisor → the asking worker: the aggregated exposition. */
  | { type: 'stroom:metrics:result'; id: string; text: string };

export function isIpcMessage(value: unknown): value is IpcMessage {
  if (typeof value !== 'object' || value === null) return false;
  const { type, id } = value as { type?: unknown; id?: unknown };
  if (typeof id !== 'string') return false;
  switch (type) {
    case 'stroom:metrics:request':
    case 'stroom:metrics:collect':
      return true;
    case 'stroom:metrics:data':
      return Array.isArray((value as { metrics?: unknown }).metrics);
    case 'stroom:metrics:result':
      return typeof (value as { text?: unknown }).text === 'string';
    default:
      return false;
  }
}

export function isWorkerProcess(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[WORKER_INDEX_ENV] !== undefined && typeof process.send === 'function';
}

/** How long a worker waits for the aggregated metrics before serving its own alone. */
const AGGREGATE_TIMEOUT_MS = 3000;

/**
 * In a worker: answer the supervisor's collection requests, and make `/metrics` serve every worker's metrics
 * aggregated by the supervisor (falling back to this worker's own if the supervisor does not answer).
 */
export function installWorkerMetrics(metrics: CsmsMetrics, log: Logger): void {
  const waiting = new Map<string, (text: string) => void>();
  const send = (message: IpcMessage): boolean => {
    if (typeof process.send !== 'function' || !process.connected) return false;
    process.send(message);
    return true;
  };
  process.on('message', (message: unknown) => {
    if (!isIpcMessage(message)) return;
    if (message.type === 'stroom:metrics:collect') {
      metrics.registry.getMetricsAsJSON().then(
        (data) => send({ type: 'stroom:metrics:data', id: message.id, metrics: data }),
        (err: unknown) => log.warn({ err }, 'cannot collect metrics for the supervisor'),
      );
    } else if (message.type === 'stroom:metrics:result') {
      waiting.get(message.id)?.(message.text);
    }
  });
  const ownRender = metrics.render.bind(metrics);
  metrics.render = async (): Promise<string> => {
    const id = randomUUID();
    let timer: NodeJS.Timeout | undefined;
    const aggregated = new Promise<string | undefined>((resolve) => {
      waiting.set(id, resolve);
      timer = setTimeout(() => resolve(undefined), AGGREGATE_TIMEOUT_MS);
      if (!send({ type: 'stroom:metrics:request', id })) resolve(undefined);
    });
    try {
      const text = await aggregated;
      if (text !== undefined) return text;
      log.warn("supervisor did not aggregate metrics in time; serving this worker's own");
      return await ownRender();
    } finally {
      clearTimeout(timer);
      waiting.delete(id);
    }
  };
}

/** In a worker: if the supervisor goes away (killed), drain and exit as on SIGTERM instead of living on orphaned. */
export function exitWithSupervisor(): void {
  process.once('disconnect', () => {
    process.kill(process.pid, 'SIGTERM');
  });
}
