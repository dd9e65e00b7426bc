import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Histogram, HistogramSet } from '../histogram.js';
import { processCpuSeconds } from '../proc.js';
import type { MixName } from './messages.js';
import {
  emptyPhaseCounters,
  type CoordinatorMessage,
  type FailoverStatus,
  type FleetSettings,
  type PhaseCounters,
  type PhaseMode,
  type Progress,
  type WorkerConfig,
  type WorkerMessage,
} from './protocol.js';

/**
 * The coordinator's side of the load generator: forks the worker processes, splits the fleet between
 * them, runs connect / load phases on all of them at once and adds up what they measured.
 */

export interface FleetOptions extends FleetSettings {
  stations: number;
  /** Generator processes; at least enough that none holds more than `maxStationsPerWorker` sockets. */
  workers: number;
  /** Write V8 CPU profiles of the workers into this directory. */
  profileDir?: string;
  /** Called about once a second while anything runs. */
  onProgress?: (progress: FleetProgress) => void;
}

/** A process may hold as many sockets as its file-descriptor limit (ulimit -n) allows; keep a margin. */
export const MAX_STATIONS_PER_WORKER = 15_000;

/** The workers' progress added up; `recent` is the latency of the last second, all actions. */
export interface FleetProgress extends Omit<Progress, 'kind' | 'recent'> {
  recent: Histogram;
}

export interface ConnectSummary {
  attempted: number;
  ready: number;
  failures: Record<string, number>;
  handshake: Histogram;
  boot: Histogram;
  toAccepted: Histogram;
  toReady: Histogram;
  retries: number;
  elapsedMs: number;
}

export interface PhaseSummary extends PhaseCounters {
  latency: HistogramSet;
  latencyByVersion: HistogramSet;
  sendLag: Histogram;
  elapsedMs: number;
}

export interface PhaseOptions {
  mode: PhaseMode;
  mix: MixName;
  /** Open loop: total messages per second. */
  rate: number;
  /** Closed loop: total CALLs outstanding. */
  concurrency: number;
  durationMs: number;
  drainMs?: number;
  /** Epoch ms at which the phase starts (default: 50 ms from now). */
  startAt?: number;
}

export interface FleetFailoverStatus extends Omit<FailoverStatus, 'kind' | 'downtime'> {
  downtime: Histogram;
}

/** Soak: the fleet's figures since the previous snapshot (counters cumulative over the phase). */
export interface FleetSnapshot {
  sent: number;
  answered: number;
  errors: Record<string, number>;
  abandoned: number;
  saturated: boolean;
  latency: HistogramSet;
  sendLag: Histogram;
  connected: number;
  ready: number;
}

interface WorkerHandle {
  child: ChildProcess;
  stations: number;
  latest: Progress | undefined;
  /** Requests waiting for their answer (of different kinds: a soak snapshots and storms while a phase runs). */
  waiting: Set<(message: WorkerMessage) => boolean>;
}

function add(into: Record<string, number>, from: Record<string, number>): void {
  for (const [key, count] of Object.entries(from)) into[key] = (into[key] ?? 0) + count;
}

export class Fleet {
  private readonly workers: WorkerHandle[] = [];
  private progressTimer: NodeJS.Timeout | undefined;

  private constructor(readonly options: FleetOptions) {}

  static async start(options: FleetOptions): Promise<Fleet> {
    const fleet = new Fleet(options);
    await fleet.spawn();
    return fleet;
  }

  get workerCount(): number {
    return this.workers.length;
  }

  get pids(): number[] {
    return this.workers.map((w) => w.child.pid ?? 0).filter((pid) => pid > 0);
  }

  /** CPU seconds used so far by the generator: every worker plus this coordinator process. */
  cpuSeconds(): number {
    let total = process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6;
    for (const pid of this.pids) total += processCpuSeconds(pid) ?? 0;
    return total;
  }

  private async spawn(): Promise<void> {
    const o = this.options;
    const count = Math.max(1, o.workers, Math.ceil(o.stations / MAX_STATIONS_PER_WORKER));
    const per = Math.ceil(o.stations / count);
    const script = fileURLToPath(new URL('./worker.js', import.meta.url));
    const ready: Promise<void>[] = [];
    for (let w = 0; w < count; w++) {
      const first = w * per;
      const stations = Math.max(0, Math.min(per, o.stations - first));
      const profile = o.profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${o.profileDir}`, `--cpu-prof-name=generator-${w}-${Date.now()}.cpuprofile`];
      const child = fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--max-old-space-size=4096', ...profile] });
      const handle: WorkerHandle = { child, stations, latest: undefined, waiting: new Set() };
      child.on('message', (message: WorkerMessage) => this.onMessage(handle, message));
      child.on('exit', (code, signal) => {
        for (const waiter of handle.waiting) waiter({ kind: 'fatal', message: `generator worker exited (${code ?? signal})` });
        handle.waiting.clear();
      });
      this.workers.push(handle);
      const config: WorkerConfig = {
        workerIndex: w,
        host: o.host,
        ports: o.ports,
        firstStation: first,
        stationCount: stations,
        stationPrefix: o.stationPrefix,
        ...(o.fleetPassword !== undefined && { fleetPassword: o.fleetPassword }),
        ...(o.failover !== undefined && { failover: o.failover }),
        basicAuth: o.basicAuth,
        stationsPerAddress: o.stationsPerAddress,
        evses: o.evses,
        tokenCount: o.tokenCount,
        handshakeTimeoutMs: o.handshakeTimeoutMs,
        callTimeoutMs: o.callTimeoutMs,
        ocpp16Share: o.ocpp16Share,
      };
      ready.push(this.request(handle, { kind: 'init', config }, 'ready').then(() => undefined));
    }
    await Promise.all(ready);
    this.progressTimer = setInterval(() => this.emitProgress(), 1000);
    this.progressTimer.unref();
  }

  private onMessage(handle: WorkerHandle, message: WorkerMessage): void {
    if (message.kind === 'progress') {
      handle.latest = message;
      return;
    }
    for (const waiter of handle.waiting) if (waiter(message)) handle.waiting.delete(waiter);
  }

  private request<K extends WorkerMessage['kind']>(handle: WorkerHandle, command: CoordinatorMessage, answer: K): Promise<Extract<WorkerMessage, { kind: K }>> {
    return new Promise((resolve, reject) => {
      handle.waiting.add((message) => {
        if (message.kind === 'fatal') {
          reject(new Error(`generator worker: ${message.message}`));
          return true;
        }
        if (message.kind !== answer) return false;
        resolve(message as Extract<WorkerMessage, { kind: K }>);
        return true;
      });
      handle.child.send(command);
    });
  }

  private emitProgress(): void {
    const onProgress = this.options.onProgress;
    if (onProgress === undefined) return;
    const total: FleetProgress = { connected: 0, ready: 0, sent: 0, answered: 0, errors: 0, outstanding: 0, backlog: 0, recent: new Histogram() };
    for (const { latest } of this.workers) {
      if (latest === undefined) continue;
      total.connected += latest.connected;
      total.ready += latest.ready;
      total.sent += latest.sent;
      total.answered += latest.answered;
      total.errors += latest.errors;
      total.outstanding += latest.outstanding;
      total.backlog += latest.backlog;
      total.recent.merge(latest.recent);
      latest.recent = { count: 0, sum: 0, min: 0, max: 0, buckets: [] };
    }
    onProgress(total);
  }

  /**
   * Connects every station that is not connected, boots it and reports its connectors. `concurrency` bounds
   * the handshakes in flight per worker, `totalConcurrency` those over all workers (neither: all at once).
   */
  async connect(options: { concurrency?: number; totalConcurrency?: number; retries?: number; fraction?: number } = {}): Promise<ConnectSummary> {
    const startAt = Date.now() + 50;
    const totalStations = this.workers.reduce((sum, w) => sum + w.stations, 0);
    const concurrencyOf = (stations: number): number =>
      options.totalConcurrency !== undefined
        ? Math.max(1, Math.round((options.totalConcurrency * stations) / Math.max(1, totalStations)))
        : (options.concurrency ?? Number.MAX_SAFE_INTEGER);
    const results = await Promise.all(
      this.workers.map((w) =>
        this.request(
          w,
          {
            kind: 'connect',
            concurrency: concurrencyOf(w.stations),
            limit: Math.ceil(w.stations * (options.fraction ?? 1)),
            retries: options.retries ?? 2,
            startAt,
          },
          'connected',
        ),
      ),
    );
    const elapsedMs = Date.now() - startAt;
    const summary: ConnectSummary = {
      attempted: 0,
      ready: 0,
      failures: {},
      handshake: new Histogram(),
      boot: new Histogram(),
      toAccepted: new Histogram(),
      toReady: new Histogram(),
      retries: 0,
      elapsedMs,
    };
    for (const r of results) {
      summary.attempted += r.attempted;
      summary.ready += r.ready;
      summary.retries += r.retries;
      add(summary.failures, r.failures);
      summary.handshake.merge(r.handshake);
      summary.boot.merge(r.boot);
      summary.toAccepted.merge(r.toAccepted);
      summary.toReady.merge(r.toReady);
    }
    return summary;
  }

  /** One load phase on every worker at once; the rate and concurrency are split evenly. */
  async phase(options: PhaseOptions): Promise<PhaseSummary> {
    const startAt = options.startAt ?? Date.now() + 50;
    const totalStations = this.workers.reduce((sum, w) => sum + w.stations, 0);
    const results = await Promise.all(
      this.workers.map((w) => {
        const share = totalStations === 0 ? 0 : w.stations / totalStations;
        return this.request(
          w,
          {
            kind: 'phase',
            mode: options.mode,
            mix: options.mix,
            rate: options.rate * share,
            concurrency: Math.max(1, Math.round(options.concurrency * share)),
            durationMs: options.durationMs,
            drainMs: options.drainMs ?? 5000,
            startAt,
          },
          'phaseDone',
        );
      }),
    );
    const summary: PhaseSummary = { ...emptyPhaseCounters(), latency: new HistogramSet(), latencyByVersion: new HistogramSet(), sendLag: new Histogram(), elapsedMs: 0 };
    for (const r of results) {
      summary.sent += r.sent;
      summary.answered += r.answered;
      add(summary.errors, r.errors);
      summary.latency.merge(r.latency);
      summary.latencyByVersion.merge(r.latencyByVersion);
      summary.sendLag.merge(r.sendLag);
      add(summary.authorizeStatus, r.authorizeStatus);
      add(summary.csmsCalls, r.csmsCalls);
      summary.elapsedMs = Math.max(summary.elapsedMs, r.elapsedMs);
      summary.saturated ||= r.saturated;
    }
    return summary;
  }

  /** Soak: what every worker measured since the previous snapshot, added up. */
  async snapshot(): Promise<FleetSnapshot> {
    const results = await Promise.all(this.workers.map((w) => this.request(w, { kind: 'snapshot' }, 'snapshot')));
    const total: FleetSnapshot = {
      sent: 0,
      answered: 0,
      errors: {},
      abandoned: 0,
      saturated: false,
      latency: new HistogramSet(),
      sendLag: new Histogram(),
      connected: 0,
      ready: 0,
    };
    for (const r of results) {
      total.sent += r.sent;
      total.answered += r.answered;
      add(total.errors, r.errors);
      total.abandoned += r.abandoned;
      total.saturated ||= r.saturated;
      total.latency.merge(r.latency);
      total.sendLag.merge(r.sendLag);
      total.connected += r.connected;
      total.ready += r.ready;
    }
    return total;
  }

  /** Soak reconnect storm: drops the ready stations with global index in [first, first + count) modulo the fleet (see DropCommand). */
  async drop(first: number, count: number): Promise<{ dropped: number; abandoned: number }> {
    const total = this.workers.reduce((sum, w) => sum + w.stations, 0);
    const results = await Promise.all(this.workers.map((w) => this.request(w, { kind: 'drop', first, count, total }, 'dropped')));
    let dropped = 0;
    let abandoned = 0;
    for (const r of results) {
      dropped += r.dropped;
      abandoned += r.abandoned;
    }
    return { dropped, abandoned };
  }

  /** Failover: every worker's FailoverStatus added up (lastRejoinAt: the latest). */
  async failoverStatus(): Promise<FleetFailoverStatus> {
    const results = await Promise.all(this.workers.map((w) => this.request(w, { kind: 'failoverStatus' }, 'failoverStatus')));
    const total: FleetFailoverStatus = {
      lost: 0,
      rejoined: 0,
      rejoining: 0,
      failed: 0,
      failures: {},
      retries: 0,
      retryReasons: {},
      lastRejoinAt: 0,
      downtime: new Histogram(),
      readyByNode: this.options.ports.map(() => 0),
    };
    for (const r of results) {
      total.lost += r.lost;
      total.rejoined += r.rejoined;
      total.rejoining += r.rejoining;
      total.failed += r.failed;
      add(total.failures, r.failures);
      total.retries += r.retries;
      add(total.retryReasons, r.retryReasons);
      total.lastRejoinAt = Math.max(total.lastRejoinAt, r.lastRejoinAt);
      total.downtime.merge(r.downtime);
      r.readyByNode.forEach((count, node) => (total.readyByNode[node] = (total.readyByNode[node] ?? 0) + count));
    }
    return total;
  }

  async disconnect(): Promise<void> {
    await Promise.all(this.workers.map((w) => this.request(w, { kind: 'disconnect' }, 'disconnected')));
  }

  async stop(): Promise<void> {
    if (this.progressTimer !== undefined) clearInterval(this.progressTimer);
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.child.exitCode !== null || w.child.signalCode !== null) {
              resolve();
              return;
            }
            const timer = setTimeout(() => w.child.kill('SIGKILL'), 5000);
            w.child.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            w.child.send({ kind: 'exit' } satisfies CoordinatorMessage);
          }),
      ),
    );
  }
}
