import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import type { Logger } from '../log.js';
import { WORKER_INDEX_ENV, isIpcMessage, type IpcMessage, type WorkerMetrics } from './worker-ipc.js';

/**
 * `CSMS_WORKERS=N`: N worker processes (each a whole CSMS node named `<nodeId>-w<i>`) share the OCPP and API
 * ports (uWS listens with SO_REUSEPORT; the kernel spreads connections over them). The supervisor runs no CSMS
 * itself: it forks the workers, restarts one that dies, drains them all on SIGTERM / SIGINT, and aggregates
 * their metrics for whichever worker a scrape reached.
 */
export interface SupervisorOptions {
  workers: number;
  nodeId: string;
  log: Logger;
  /** Module the workers run; default dist/src/main.js (this file's ../main.js). */
  script?: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** SIGTERM → every worker gone; past it the stragglers are killed. Below CONTRACT §1's 10 s. */
  shutdownTimeoutMs?: number;
}

/** Exit code a worker uses for invalid configuration (main.ts): restarting cannot help. */
const EXIT_CONFIG_ERROR = 2;
/** A worker that dies this soon after starting counts towards a crash loop. */
const FAST_CRASH_MS = 10_000;
/** This many fast crashes in a row and the supervisor gives up (exit 1) instead of restarting forever. */
const MAX_FAST_CRASHES = 5;
const METRICS_COLLECT_TIMEOUT_MS = 2000;

interface WorkerSlot {
  index: number;
  nodeId: string;
  child: ChildProcess | undefined;
  startedAt: number;
  fastCrashes: number;
  restartTimer: NodeJS.Timeout | undefined;
}

interface Collection {
  expected: number;
  received: WorkerMetrics[];
  done: () => void;
}

export class Supervisor {
  private readonly slots: WorkerSlot[];
  private readonly script: string;
  private readonly log: Logger;
  private readonly collections = new Map<string, Collection>();
  private readonly ownRegistry = new Registry();
  private readonly restarts: Counter;
  private readonly running: Gauge;
  private stopping: Promise<number> | undefined;

  constructor(private readonly options: SupervisorOptions) {
    this.log = options.log;
    this.script = options.script ?? fileURLToPath(new URL('../main.js', import.meta.url));
    this.slots = Array.from({ length: options.workers }, (_, index) => ({
      index,
      nodeId: `${options.nodeId}-w${index}`,
      child: undefined,
      startedAt: 0,
      fastCrashes: 0,
      restartTimer: undefined,
    }));
    this.restarts = new Counter({ name: 'csms_worker_restarts_total', help: 'Workers the supervisor restarted after they died', registers: [this.ownRegistry] });
    this.running = new Gauge({ name: 'csms_workers', help: 'Worker processes running under the supervisor', registers: [this.ownRegistry] });
  }

  start(): void {
    this.log.info({ workers: this.slots.length, script: this.script }, 'supervisor starting workers');
    for (const slot of this.slots) this.spawn(slot);
  }

  /** Drains every worker (SIGTERM), kills stragglers at the deadline; resolves with the exit code to use. */
  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number> {
    return (this.stopping ??= this.drain(signal));
  }

  private async drain(signal: NodeJS.Signals): Promise<number> {
    const timeoutMs = this.options.shutdownTimeoutMs ?? 9000;
    this.log.info({ signal, workers: this.live().length }, 'supervisor draining workers');
    for (const slot of this.slots) clearTimeout(slot.restartTimer);
    let clean = true;
    const exits = this.live().map(
      (slot) =>
        new Promise<void>((resolve) => {
          const child = slot.child as ChildProcess;
          child.once('exit', (code, exitSignal) => {
            if (code !== 0 && exitSignal !== 'SIGTERM' && exitSignal !== 'SIGINT') clean = false;
            resolve();
          });
          child.kill('SIGTERM');
        }),
    );
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      Promise.all(exits).then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (!finished) {
      for (const slot of this.live()) {
        this.log.error({ worker: slot.index, pid: slot.child?.pid }, 'worker did not stop in time; killing it');
        slot.child?.kill('SIGKILL');
      }
      return 1;
    }
    this.log.info('supervisor stopped');
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- `clean` is cleared by the workers' exit handlers, which the checker's narrowing does not see
    return clean ? 0 : 1;
  }

  private live(): WorkerSlot[] {
    return this.slots.filter((slot) => slot.child !== undefined && slot.child.exitCode === null && slot.child.signalCode === null);
  }

  private spawn(slot: WorkerSlot): void {
    const env: NodeJS.ProcessEnv = {
      ...(this.options.env ?? process.env),
      [WORKER_INDEX_ENV]: String(slot.index),
      CSMS_NODE_ID: slot.nodeId,
    };
    const child = fork(this.script, this.options.args ?? process.argv.slice(2), { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    slot.child = child;
    slot.startedAt = Date.now();
    this.running.set(this.live().length);
    this.log.info({ worker: slot.index, pid: child.pid, nodeId: slot.nodeId }, 'worker started');
    child.on('message', (message: unknown) => this.onWorkerMessage(slot, message));
    child.on('error', (err) => this.log.error({ err, worker: slot.index }, 'worker process error'));
    child.once('exit', (code, signal) => this.onExit(slot, child, code, signal));
  }

  private onExit(slot: WorkerSlot, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (slot.child === child) slot.child = undefined;
    this.running.set(this.live().length);
    for (const collection of this.collections.values()) collection.expected = Math.min(collection.expected, this.live().length);
    if (this.stopping !== undefined) return;
    const lived = Date.now() - slot.startedAt;
    if (code === EXIT_CONFIG_ERROR) {
      this.log.fatal({ worker: slot.index, code }, 'worker rejected its configuration; stopping');
      void this.stopAndExit(EXIT_CONFIG_ERROR);
      return;
    }
    slot.fastCrashes = lived < FAST_CRASH_MS ? slot.fastCrashes + 1 : 0;
    if (slot.fastCrashes >= MAX_FAST_CRASHES) {
      this.log.fatal({ worker: slot.index, code, signal, crashes: slot.fastCrashes }, 'worker keeps crashing at start; stopping');
      process.stderr.write(`stroom: worker ${slot.index} crashed ${slot.fastCrashes} times in a row within ${FAST_CRASH_MS / 1000} s of starting; giving up\n`);
      void this.stopAndExit(1);
      return;
    }
    const delayMs = slot.fastCrashes === 0 ? 100 : Math.min(5000, 250 * 2 ** (slot.fastCrashes - 1));
    this.restarts.inc();
    this.log.error({ worker: slot.index, pid: child.pid, code, signal, livedMs: lived, restartInMs: delayMs }, 'worker died; restarting it');
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (this.stopping === undefined) this.spawn(slot);
    }, delayMs);
  }

  private async stopAndExit(code: number): Promise<void> {
    const drained = await this.stop();
    process.exit(code === 0 ? drained : code);
  }

  // ------------------------------------------------------------------------------------ metrics

  private onWorkerMessage(slot: WorkerSlot, message: unknown): void {
    if (!isIpcMessage(message)) return;
    if (message.type === 'stroom:metrics:request') {
      void this.aggregate().then(
        (text) => this.sendTo(slot, { type: 'stroom:metrics:result', id: message.id, text }),
        (err: unknown) => this.log.warn({ err }, 'metrics aggregation failed'),
      );
    } else if (message.type === 'stroom:metrics:data') {
      const collection = this.collections.get(message.id);
      if (collection === undefined) return;
      collection.received.push(message.metrics);
      if (collection.received.length >= collection.expected) collection.done();
    }
  }

  /** Every live worker's metrics plus the supervisor's own, aggregated (sums, or each metric's aggregator). */
  private async aggregate(): Promise<string> {
    const id = randomUUID();
    const live = this.live();
    const collection: Collection = { expected: live.length, received: [], done: () => undefined };
    const complete = new Promise<void>((resolve) => {
      collection.done = resolve;
    });
    this.collections.set(id, collection);
    let timer: NodeJS.Timeout | undefined;
    try {
      for (const slot of live) this.sendTo(slot, { type: 'stroom:metrics:collect', id });
      if (live.length > 0) {
        await Promise.race([
          complete,
          new Promise<void>((resolve) => {
            timer = setTimeout(resolve, METRICS_COLLECT_TIMEOUT_MS);
          }),
        ]);
      }
    } finally {
      clearTimeout(timer);
      this.collections.delete(id);
    }
    const own = (await this.ownRegistry.getMetricsAsJSON()) as WorkerMetrics;
    return AggregatorRegistry.aggregate([...collection.received, own]).metrics();
  }

  private sendTo(slot: WorkerSlot, message: IpcMessage): void {
    const child = slot.child;
    if (child === undefined || !child.connected) return;
    child.send(message, (err) => {
      if (err) this.log.debug({ err, worker: slot.index }, 'IPC send failed');
    });
  }
}

/**
 * Runs the supervisor until SIGTERM / SIGINT, then exits the process (0 when every worker drained in time).
 */
export function runSupervisor(options: SupervisorOptions): Supervisor {
  const supervisor = new Supervisor(options);
  const onSignal = (signal: NodeJS.Signals): void => {
    void supervisor.stop(signal).then((code) => process.exit(code));
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  supervisor.start();
  return supervisor;
}
