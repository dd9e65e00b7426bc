import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { seedStations } from './cluster/seed.js';
import { Fleet, type ConnectSummary, type FleetProgress, type PhaseOptions, type PhaseSummary } from './generator/fleet.js';
import { DEFAULT_STATION_PREFIX, stationId, stationPassword, tokenId, tokenStatus } from './generator/fleet-data.js';
import type { MixName } from './generator/messages.js';
import { probeConsole } from './console-probe.js';
import { Histogram } from './histogram.js';
import { forEachLimited } from './http.js';
import { openLoop } from './open-loop.js';
import {
  ms,
  num,
  bytes,
  summarisePhaseLatency,
  type CommandReport,
  type ConnectReport,
  type MemoryReport,
  type PhaseReport,
  type ResourceReport,
  type TargetReport,
} from './report.js';
import { loadAverage, treeUsage } from './proc.js';
import { soak } from './soak.js';
import { BenchPostgres, RunningTarget, TARGET_LABEL, databaseCpuBetween, startTarget, type TargetKind, type UsageSnapshot } from './target.js';

/**
 * The scenarios of `npm run bench -- <scenario>`. Each runs once per target (Stroom, then the ocpp-rpc
 * baseline) with the same fleet, the same schedule and a fresh database, and fills a TargetReport.
 */

export const SCENARIOS = ['boot-storm', 'fleet', 'steady', 'max', 'authorize', 'commands', 'cost', 'soak', 'cluster'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface BenchOptions {
  scenario: ScenarioName;
  stations: number;
  /** Open-loop rates (msg/s); several make a sweep (steady) — max starts from the first. */
  rates: number[];
  durationSeconds: number;
  warmupSeconds: number;
  mode: 'open' | 'closed';
  /** Closed loop: CALLs outstanding at once over the whole fleet. */
  concurrency: number;
  mix: MixName;
  /** Boot storm: handshakes in flight at once over the whole fleet; 0 = all at the same instant. */
  stormHandshakes: number;
  targets: TargetKind[];
  store: 'postgres' | 'embedded';
  /** seeded: written into the database by the cluster scenario (cluster/seed.ts). */
  registration: 'api' | 'open' | 'seeded';
  basicAuth: boolean;
  generatorWorkers: number;
  stationsPerAddress: number;
  evses: number;
  tokens: number;
  heartbeatIntervalSeconds: number;
  p99LimitMs: number;
  maxRate: number;
  stepSeconds: number;
  csmsWorkers: number | undefined;
  redisUrl: string | undefined;
  /** cluster: Stroom nodes (see cluster/scenario.ts for the default and the limits). */
  nodes: number | undefined;
  action: string;
  reconnect: boolean;
  callTimeoutMs: number;
  /** Share of the stations that speak OCPP 1.6J (0: all 2.0.1, 1: all 1.6). */
  ocpp16Share: number;
  /** Hard limit on the whole run. */
  timeoutSeconds: number;
  /** V8 CPU profiles of the targets (kept with their logs). */
  profile: boolean;
  /** fleet: probe the console once the fleet idles (bench/console-probe.ts). */
  console: boolean;
  /** Soak: report window, CSMS sampling interval, reconnect storms (interval, share of the fleet), operator commands per second. */
  windowSeconds: number;
  sampleSeconds: number;
  stormEverySeconds: number;
  stormFraction: number;
  commandRate: number;
}

export interface RunContext {
  options: BenchOptions;
  postgres: BenchPostgres | undefined;
  logDir: string;
  notes: string[];
  /** Everything to undo if the run is interrupted. */
  cleanups: Set<() => Promise<void>>;
}

const STATION_PREFIX = DEFAULT_STATION_PREFIX;

/** Commands scenario: what the operator asks each station. */
const COMMAND_PAYLOADS: Record<string, unknown> = {
  GetVariables: { getVariableData: [{ component: { name: 'OCPPCommCtrlr' }, variable: { name: 'OfflineThreshold' } }] },
  TriggerMessage: { requestedMessage: 'Heartbeat' },
  ChangeAvailability: { operationalStatus: 'Operative' },
  ClearCache: {},
  Reset: { type: 'OnIdle' },
  SetVariables: { setVariableData: [{ component: { name: 'OCPPCommCtrlr' }, variable: { name: 'HeartbeatInterval' }, attributeValue: '300' }] },
};

export function commandPayload(action: string): unknown {
  return COMMAND_PAYLOADS[action] ?? {};
}

// ------------------------------------------------------------------------------------------ progress line

class ProgressLine {
  private lastCpu: { at: number; cpu: number } | undefined;
  private lastSent = 0;
  private lastGenCpu: { at: number; cpu: number } | undefined;
  label = '';
  private readonly started = Date.now();
  private calls = 0;

  constructor(
    private readonly targetPid: () => number,
    private readonly generatorCpu: () => number,
    /** Print one line in this many seconds when stderr is not a terminal (a soak's log would hold one an hour otherwise). */
    private readonly everySeconds = 1,
  ) {}

  print(p: FleetProgress): void {
    if (!process.stderr.isTTY && this.calls++ % this.everySeconds !== 0) return;
    const now = performance.now();
    const usage = treeUsage(this.targetPid());
    const cpuPercent = this.lastCpu === undefined ? 0 : ((usage.cpuSeconds - this.lastCpu.cpu) / ((now - this.lastCpu.at) / 1000)) * 100;
    this.lastCpu = { at: now, cpu: usage.cpuSeconds };
    const gen = this.generatorCpu();
    const genPercent = this.lastGenCpu === undefined ? 0 : ((gen - this.lastGenCpu.cpu) / ((now - this.lastGenCpu.at) / 1000)) * 100;
    this.lastGenCpu = { at: now, cpu: gen };
    const rate = (p.sent - this.lastSent) / (process.stderr.isTTY ? 1 : this.everySeconds);
    this.lastSent = p.sent;
    const elapsed = Math.round((Date.now() - this.started) / 1000);
    const line =
      `[${this.label}] t=${elapsed}s stations ${num(p.ready)}/${num(p.connected)} · sent ${num(p.sent)} (${num(rate)}/s) answered ${num(p.answered)}` +
      ` · p99(1s) ${ms(p.recent.count > 0 ? p.recent.quantile(0.99) / 1000 : null)} ms · backlog ${num(p.backlog)} · errors ${num(p.errors)}` +
      ` · CSMS ${num(cpuPercent)}% CPU ${bytes(usage.rssBytes)} · generator ${num(genPercent)}% CPU`;
    process.stderr.write(process.stderr.isTTY ? `\r\x1b[2K${line}` : `${line}\n`);
  }

  done(): void {
    if (process.stderr.isTTY) process.stderr.write('\n');
  }
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

// ------------------------------------------------------------------------------------------ one target

const INTERNAL_COUNTERS = [
  'csms_ocpp_response_seconds_sum',
  'csms_ocpp_response_seconds_count',
  'csms_authorize_response_seconds_sum',
  'csms_authorize_response_seconds_count',
  'csms_store_commit_seconds_sum',
  'csms_store_commit_seconds_count',
  'csms_store_batch_size_sum',
  'csms_store_batch_size_count',
];

function internalView(before: Record<string, number> | undefined, after: Record<string, number> | undefined): PhaseReport['internal'] {
  if (before === undefined || after === undefined) return null;
  const delta = (name: string): number => (after[name] ?? 0) - (before[name] ?? 0);
  const answers = delta('csms_ocpp_response_seconds_count') + delta('csms_authorize_response_seconds_count');
  const answerSeconds = delta('csms_ocpp_response_seconds_sum') + delta('csms_authorize_response_seconds_sum');
  const commits = delta('csms_store_commit_seconds_count');
  return {
    meanResponseMs: answers > 0 ? Number(((answerSeconds / answers) * 1000).toFixed(3)) : null,
    commits,
    meanBatchSize: commits > 0 ? Number((delta('csms_store_batch_size_sum') / commits).toFixed(1)) : null,
    meanCommitMs: commits > 0 ? Number(((delta('csms_store_commit_seconds_sum') / commits) * 1000).toFixed(3)) : null,
  };
}

function resource(cpuSeconds: number, wallSeconds: number, messages: number): ResourceReport {
  return {
    cpuSeconds: Number(cpuSeconds.toFixed(3)),
    cpuPercent: wallSeconds > 0 ? Number(((cpuSeconds / wallSeconds) * 100).toFixed(1)) : 0,
    cpuMicrosPerMessage: messages > 0 ? Number(((cpuSeconds * 1e6) / messages).toFixed(1)) : null,
  };
}

function sumValues(counts: Record<string, number>): number {
  let total = 0;
  for (const count of Object.values(counts)) total += count;
  return total;
}

/** A target started with its fleet, ready for a scenario's phases. */
export class TargetRun {
  readonly report: TargetReport;
  target!: RunningTarget;
  fleet!: Fleet;
  private database: { name: string; url: string } | undefined;
  /** --register seeded: the key the CSMS is given and the one password every station sends. */
  private readonly seeding = { verifierKey: randomBytes(32), fleetPassword: `fleet-${randomBytes(12).toString('base64url')}` };
  private progress!: ProgressLine;
  private readonly cleanup = (): Promise<void> => this.stop();

  constructor(
    private readonly ctx: RunContext,
    readonly kind: TargetKind,
  ) {
    const o = ctx.options;
    this.report = {
      target: kind,
      label: TARGET_LABEL[kind],
      store: o.store === 'embedded' && kind === 'stroom' ? 'embedded PGlite' : 'PostgreSQL',
      stations: o.stations,
      registration: o.registration,
      connect: null,
      reconnect: null,
      phases: [],
      memory: null,
      commands: null,
      soak: null,
      console: null,
      sustained: null,
      ceiling: null,
      headline: null,
      error: null,
    };
  }

  async start(): Promise<void> {
    const { options: o, postgres } = this.ctx;
    this.ctx.cleanups.add(this.cleanup);
    if (o.store === 'postgres' || this.kind === 'baseline') {
      if (postgres === undefined) throw new Error('PostgreSQL is needed for this target');
      this.database = await postgres.create(this.kind);
    }
    log(`[${this.kind}] starting ${TARGET_LABEL[this.kind]} (${this.report.store}${this.database ? ` ${this.database.name}` : ''})`);
    this.target = await startTarget({
      kind: this.kind,
      database: this.database,
      postgres,
      unknownStations: o.registration === 'open' ? 'accept' : 'reject',
      heartbeatIntervalSeconds: o.heartbeatIntervalSeconds,
      callTimeoutMs: o.callTimeoutMs,
      csmsWorkers: o.csmsWorkers,
      redisUrl: o.redisUrl,
      logDir: this.ctx.logDir,
      profile: o.profile,
      ...(o.registration === 'seeded' && { env: { CSMS_PASSWORD_VERIFIER_KEY: this.seeding.verifierKey.toString('base64') } }),
    });
    await this.register();
    this.progress = new ProgressLine(
      () => this.target.pid,
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- assigned by start(), which may have failed before it
      () => this.fleet?.cpuSeconds() ?? 0,
      o.scenario === 'soak' ? 10 : 1,
    );
    this.fleet = await Fleet.start({
      host: '127.0.0.1',
      ports: [this.target.ocppPort],
      stations: o.stations,
      workers: o.generatorWorkers,
      stationPrefix: STATION_PREFIX,
      basicAuth: o.basicAuth,
      ...(o.registration === 'seeded' && { fleetPassword: this.seeding.fleetPassword }),
      stationsPerAddress: o.stationsPerAddress,
      evses: o.evses,
      tokenCount: o.tokens,
      handshakeTimeoutMs: 30_000,
      callTimeoutMs: o.callTimeoutMs,
      ocpp16Share: o.ocpp16Share,
      onProgress: (p) => this.progress.print(p),
      ...(o.profile ? { profileDir: this.ctx.logDir } : {}),
    });
  }

  /** Stations (with passwords) and id tokens through the operator API, before anything is measured. */
  private async register(): Promise<void> {
    const o = this.ctx.options;
    const started = Date.now();
    const api = this.target.api;
    if (o.registration === 'seeded') {
      if (this.database === undefined) throw new Error('--register seeded needs PostgreSQL');
      // The target has started, so its migrations have run.
      const ids = Array.from({ length: o.stations }, (_, i) => stationId(STATION_PREFIX, i));
      await seedStations(this.database.url, ids, this.seeding.fleetPassword, this.seeding.verifierKey);
    }
    if (o.registration === 'api') {
      await forEachLimited(o.stations, 8, async (i) => {
        const id = stationId(STATION_PREFIX, i);
        const answer = await api.send('PUT', `/api/v1/stations/${encodeURIComponent(id)}`, { securityProfile: 1, password: stationPassword(id), bootPolicy: 'Accepted' });
        if (answer.status !== 200 && answer.status !== 201) throw new Error(`PUT station ${id} answered ${answer.status}: ${answer.text.slice(0, 200)}`);
      });
    }
    await forEachLimited(o.tokens, 16, async (k) => {
      const status = tokenStatus(k);
      if (status === 'Unknown') return;
      const answer = await api.send('PUT', `/api/v1/id-tokens/ISO14443/${tokenId(k)}`, { status });
      if (answer.status !== 200 && answer.status !== 201) throw new Error(`PUT id-token answered ${answer.status}: ${answer.text.slice(0, 200)}`);
    });
    log(
      `[${this.kind}] registered ${o.registration !== 'open' ? `${num(o.stations)} stations (${o.registration}) and ` : ''}${num(o.tokens)} id tokens in ${num((Date.now() - started) / 1000, 1)} s`,
    );
  }

  /** Connects, boots and reports every station; `storm`: all handshakes at once, else `concurrency` per generator worker. */
  async connect(name: string, storm: boolean, fraction = 1, concurrency = 100): Promise<ConnectReport> {
    this.progress.label = `${this.kind} ${name}`;
    const before = await this.target.snapshot();
    const genBefore = this.fleet.cpuSeconds();
    const stormHandshakes = this.ctx.options.stormHandshakes;
    const summary = await this.fleet.connect(
      storm ? { retries: 2, fraction, ...(stormHandshakes > 0 && { totalConcurrency: stormHandshakes }) } : { concurrency, retries: 2, fraction },
    );
    const after = await this.target.snapshot();
    this.progress.done();
    return this.connectReport(summary, before, after, this.fleet.cpuSeconds() - genBefore);
  }

  private connectReport(summary: ConnectSummary, before: UsageSnapshot, after: UsageSnapshot, generatorCpu: number): ConnectReport {
    const csmsCpu = after.usage.cpuSeconds - before.usage.cpuSeconds;
    return {
      stations: summary.attempted,
      ready: summary.ready,
      failures: summary.failures,
      retries: summary.retries,
      elapsedSeconds: Number((summary.elapsedMs / 1000).toFixed(3)),
      timeToAllAcceptedSeconds: Number((summary.toAccepted.max / 1e6).toFixed(3)),
      handshake: summary.handshake.summary(),
      boot: summary.boot.summary(),
      toAccepted: summary.toAccepted.summary(),
      csmsCpuSeconds: Number(csmsCpu.toFixed(3)),
      csmsCpuMillisPerStation: summary.attempted > 0 ? Number(((csmsCpu * 1000) / summary.attempted).toFixed(3)) : null,
      databaseCpuSeconds: this.database === undefined ? null : Number(databaseCpuBetween(before, after).toFixed(3)),
      generatorCpuSeconds: Number(generatorCpu.toFixed(3)),
      csmsPeakRssBytes: after.usage.peakRssBytes,
      csmsRssBytes: after.usage.rssBytes,
    };
  }

  /** The CSMS's own counters (Stroom's /metrics), to compare with what the stations saw. */
  private async internalCounters(): Promise<Record<string, number> | undefined> {
    if (this.kind !== 'stroom') return undefined;
    return this.target.gauges(INTERNAL_COUNTERS);
  }

  /** One measured load phase. */
  async phase(name: string, options: PhaseOptions, record = true): Promise<PhaseReport> {
    this.progress.label = `${this.kind} ${name}`;
    const countersBefore = await this.internalCounters();
    const before = await this.target.snapshot();
    const genBefore = this.fleet.cpuSeconds();
    const summary = await this.fleet.phase(options);
    const after = await this.target.snapshot();
    const genCpu = this.fleet.cpuSeconds() - genBefore;
    const countersAfter = await this.internalCounters();
    this.progress.done();
    const report = this.phaseReport(name, options, summary, before, after, genCpu);
    report.internal = internalView(countersBefore, countersAfter);
    if (record) this.report.phases.push(report);
    const internal = report.internal;
    log(
      `[${this.kind}] ${name}: ${num(report.throughput)} msg/s answered, p50 ${ms(report.all.p50)} p99 ${ms(report.all.p99)} p99.9 ${ms(report.all.p999)} ms, ` +
        `CSMS ${num(report.csms.cpuMicrosPerMessage, 1)} µs/msg (${num(report.csms.cpuPercent)}% CPU), errors ${report.errorCount}${report.saturated ? ' (saturated)' : ''}, ` +
        `other load ${num(report.machine.otherCores, 2)} cores` +
        (internal === null
          ? ''
          : `; inside: mean answer ${ms(internal.meanResponseMs)} ms, ${num(internal.commits)} commits of ${num(internal.meanBatchSize, 1)} writes, ${ms(internal.meanCommitMs)} ms each`) +
        Object.entries(report.byVersion)
          .map(([version, s]) => `; OCPP ${version}: p50 ${ms(s.p50)} p99 ${ms(s.p99)} ms (${num(s.count)} CALLs)`)
          .join(''),
    );
    return report;
  }

  private phaseReport(name: string, options: PhaseOptions, summary: PhaseSummary, before: UsageSnapshot, after: UsageSnapshot, genCpu: number): PhaseReport {
    const wall = (after.at - before.at) / 1000;
    const { ocpp, authorize, all } = summarisePhaseLatency(summary.latency);
    const errorCount = sumValues(summary.errors);
    const elapsed = Math.max(0.001, summary.elapsedMs / 1000);
    const csmsCpu = after.usage.cpuSeconds - before.usage.cpuSeconds;
    return {
      name,
      mode: options.mode,
      mix: options.mix,
      offeredRate: options.mode === 'open' ? options.rate : null,
      concurrency: options.mode === 'closed' ? options.concurrency : null,
      durationSeconds: Number(elapsed.toFixed(3)),
      sent: summary.sent,
      answered: summary.answered,
      throughput: Number((summary.answered / elapsed).toFixed(1)),
      errors: summary.errors,
      errorCount,
      errorRatio: errorCount / Math.max(1, summary.sent + (summary.errors.unsent ?? 0)),
      saturated: summary.saturated,
      ocppResponse: ocpp.summary(),
      authorizeResponse: authorize?.summary() ?? null,
      all: all.summary(),
      byAction: summary.latency.summaries(),
      byVersion: summary.latencyByVersion.summaries(),
      authorizeStatus: summary.authorizeStatus,
      sendLag: summary.sendLag.summary(),
      csms: { ...resource(csmsCpu, wall, summary.answered), rssBytes: after.usage.rssBytes },
      database: this.database === undefined ? null : resource(databaseCpuBetween(before, after), wall, summary.answered),
      generator: resource(genCpu, wall, summary.answered),
      machine: {
        busyCores: Number(((after.machineBusy - before.machineBusy) / wall).toFixed(2)),
        otherCores: Number(
          Math.max(0, (after.machineBusy - before.machineBusy - csmsCpu - genCpu - (this.database === undefined ? 0 : databaseCpuBetween(before, after))) / wall).toFixed(
            2,
          ),
        ),
        loadAverage: loadAverage(),
      },
      internal: null,
      csmsCalls: summary.csmsCalls,
      histograms: { byAction: summary.latency.toJSON() },
    };
  }

  note(text: string): void {
    this.ctx.notes.push(text);
  }

  async stop(): Promise<void> {
    this.ctx.cleanups.delete(this.cleanup);
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- assigned by start(), which may have failed before it
    await this.fleet?.stop().catch(() => undefined);
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- assigned by start(), which may have failed before it
    await this.target?.stop().catch(() => undefined);
    if (this.database !== undefined && this.ctx.postgres !== undefined) {
      await this.ctx.postgres
        .drop(this.database.name)
        .catch((err: unknown) => log(`could not drop ${this.database?.name}: ${err instanceof Error ? err.message : String(err)}`));
    }
  }
}

// ------------------------------------------------------------------------------------------ scenarios

function phaseOptions(o: BenchOptions, overrides: Partial<PhaseOptions> = {}): PhaseOptions {
  return {
    mode: o.mode,
    mix: o.mix,
    rate: o.rates[0] ?? 1000,
    concurrency: o.concurrency,
    durationMs: o.durationSeconds * 1000,
    ...overrides,
  };
}

async function warmUp(run: TargetRun, o: BenchOptions, rate: number, mix: MixName = o.mix): Promise<void> {
  if (o.warmupSeconds <= 0) return;
  await run.phase(`warm-up ${num(rate)}/s`, { mode: 'open', mix, rate, concurrency: o.concurrency, durationMs: o.warmupSeconds * 1000, drainMs: 3000 }, false);
}

async function bootStorm(run: TargetRun, o: BenchOptions): Promise<void> {
  run.report.connect = await run.connect('cold boot storm', true);
  logStorm(run, 'cold storm', run.report.connect);
  if (o.reconnect) {
    await run.fleet.disconnect();
    await sleep(2000);
    run.report.reconnect = await run.connect('reconnect storm', true);
    logStorm(run, 'reconnect storm', run.report.reconnect);
  }
}

function logStorm(run: TargetRun, name: string, c: ConnectReport): void {
  log(
    `[${run.kind}] ${name}: ${num(c.ready)}/${num(c.stations)} ready, all Accepted after ${num(c.timeToAllAcceptedSeconds, 2)} s, ` +
      `boot p99 ${ms(c.boot.p99)} ms, CSMS ${num(c.csmsCpuMillisPerStation, 2)} ms CPU per station, peak RSS ${bytes(c.csmsPeakRssBytes)}`,
  );
}

function mergeConnects(a: ConnectReport, b: ConnectReport): ConnectReport {
  const failures = { ...a.failures };
  for (const [reason, count] of Object.entries(b.failures)) failures[reason] = (failures[reason] ?? 0) + count;
  return {
    ...b,
    stations: a.stations + b.stations,
    ready: a.ready + b.ready,
    failures,
    retries: a.retries + b.retries,
    elapsedSeconds: a.elapsedSeconds + b.elapsedSeconds,
    csmsCpuSeconds: a.csmsCpuSeconds + b.csmsCpuSeconds,
    generatorCpuSeconds: a.generatorCpuSeconds + b.generatorCpuSeconds,
    boot: b.boot.p99 > a.boot.p99 ? b.boot : a.boot,
  };
}

async function fleetMemory(run: TargetRun, o: BenchOptions): Promise<void> {
  const heapName = 'nodejs_heap_size_used_bytes';
  // Heap used rises between collections: the lowest of a few samples is closest to what is retained.
  const settle = async (): Promise<{ rss: number; heap: number | undefined; peak: number }> => {
    await sleep(1000);
    let heap: number | undefined;
    for (let i = 0; i < 5; i++) {
      await sleep(500);
      const sample = (await run.target.gauges([heapName]))[heapName];
      if (sample !== undefined) heap = heap === undefined ? sample : Math.min(heap, sample);
    }
    const snapshot = await run.target.snapshot();
    return { rss: snapshot.usage.rssBytes, heap, peak: snapshot.usage.peakRssBytes };
  };
  const none = await settle();
  const firstHalf = await run.connect('connect half the fleet', false, 0.5);
  const half = await settle();
  const secondHalf = await run.connect('connect the rest', false);
  run.report.connect = mergeConnects(firstHalf, secondHalf);
  // The fleet idles as a real one does: a heartbeat per station per interval, nothing else.
  await run.phase(
    `idle fleet, heartbeat every ${o.heartbeatIntervalSeconds} s`,
    phaseOptions(o, { mode: 'open', mix: 'heartbeat', rate: run.report.connect.ready / o.heartbeatIntervalSeconds }),
  );
  const all = await settle();
  const stations = Math.max(1, run.report.connect.ready);
  const added = Math.max(1, secondHalf.ready);
  const memory: MemoryReport = {
    stations: run.report.connect.ready,
    rssBeforeBytes: none.rss,
    rssHalfBytes: half.rss,
    rssAfterBytes: all.rss,
    rssPerStationBytes: Math.round((all.rss - half.rss) / added),
    rssPerStationAverageBytes: Math.round((all.rss - none.rss) / stations),
    heapBeforeBytes: none.heap ?? null,
    heapHalfBytes: half.heap ?? null,
    heapAfterBytes: all.heap ?? null,
    heapPerStationBytes: half.heap !== undefined && all.heap !== undefined ? Math.round((all.heap - half.heap) / added) : null,
    peakRssBytes: all.peak,
  };
  run.report.memory = memory;
  log(
    `[${run.kind}] ${num(memory.stations)} idle stations: RSS ${bytes(memory.rssBeforeBytes)} → ${bytes(memory.rssHalfBytes)} → ${bytes(memory.rssAfterBytes)}: ` +
      `${bytes(memory.rssPerStationBytes)} per added station (${bytes(memory.rssPerStationAverageBytes)} on average); heap ${bytes(memory.heapPerStationBytes)} per added station`,
  );
  if (o.console && run.kind === 'stroom') {
    // Issue 20: the console opened on this fleet, every station still connected and heartbeating.
    log(`[${run.kind}] probing the console with ${num(memory.stations)} stations connected`);
    const probe = await probeConsole({
      apiUrl: `http://127.0.0.1:${run.target.apiPort}`,
      ocppUrl: `ws://127.0.0.1:${run.target.ocppPort}/ocpp`,
      cpuSeconds: () => treeUsage(run.target.pid).cpuSeconds,
      clients: 20,
      changesPerSecond: 500,
      seconds: 10,
      liveStations: 5,
      deepCursorId: stationId(STATION_PREFIX, Math.floor(o.stations * 0.98)),
    });
    run.report.console = probe;
    log(
      `[${run.kind}] console: summary p50 ${probe.summary.p50} ms p99 ${probe.summary.p99} ms; first page of 500 p50 ${probe.listFirstPage500.p50} ms; ` +
        `first row painted ${probe.console.firstRowPaintMs.join(' / ')} ms; SSE fan-out to ${probe.sse.clients} clients ${num(probe.sse.fanOutCpuShareOfOneCore * 100, 1)}% of a core at ${num(probe.sse.changesPerSecond)} changes/s`,
    );
  }
}

async function steady(run: TargetRun, o: BenchOptions): Promise<void> {
  run.report.connect = await run.connect('connect fleet', false);
  await warmUp(run, o, o.rates[0] ?? 1000);
  for (const rate of o.rates) {
    const name = o.mode === 'open' ? `${o.mix} ${num(rate)}/s` : `${o.mix} closed loop, ${num(o.concurrency)} outstanding`;
    await run.phase(name, phaseOptions(o, { rate }));
    if (o.mode === 'closed') break;
  }
  run.report.headline = run.report.phases[0]?.name ?? null;
}

/** The CSMS kept up: every due message was sent and answered, at the offered rate, without errors. */
function keepsUp(phase: PhaseReport): boolean {
  return !phase.saturated && phase.errorRatio <= 0.001 && phase.throughput >= 0.95 * (phase.offeredRate ?? 0);
}

function passes(phase: PhaseReport, limitMs: number): boolean {
  return keepsUp(phase) && phase.all.p99 <= limitMs;
}

/**
 * Sweeps the offered rate upwards (×1.5 per step) until the CSMS no longer keeps up (errors, a growing
 * backlog, or under 95 % of the offered rate answered), or --max-rate. That gives the whole latency-vs-load
 * curve and two figures: the highest rate whose p99 stayed under the limit (refined by one bisection step
 * towards the next rate), and the throughput ceiling (the highest rate it kept up with, whatever the
 * latency). A p99 over the limit is re-measured once before it counts, since on a shared machine one
 * step can catch someone else's burst. If even the first rate misses the limit, lower rates are tried.
 */
async function findMax(run: TargetRun, o: BenchOptions): Promise<void> {
  run.report.connect = await run.connect('connect fleet', false);
  const start = o.rates[0] ?? 1000;
  await warmUp(run, o, start);
  let step = 0;
  const measure = async (rate: number, again = false): Promise<PhaseReport> => {
    step++;
    return run.phase(`step ${step}: ${num(rate)}/s${again ? ' (again)' : ''}`, phaseOptions(o, { mode: 'open', rate, durationMs: o.stepSeconds * 1000 }));
  };
  const maxSteps = 18;
  let bestLatency: PhaseReport | undefined;
  let ceiling: PhaseReport | undefined;
  for (let rate = start; rate <= o.maxRate && step < maxSteps; rate = Math.round(rate * 1.5)) {
    let phase = await measure(rate);
    if (keepsUp(phase) && !passes(phase, o.p99LimitMs) && step < maxSteps) {
      const again = await measure(rate, true);
      if (keepsUp(again) && again.all.p99 < phase.all.p99) phase = again;
    }
    if (!keepsUp(phase)) break;
    ceiling = phase;
    if (passes(phase, o.p99LimitMs)) bestLatency = phase;
  }
  // One bisection step between the best passing rate and the next one up.
  const low = bestLatency?.offeredRate ?? undefined;
  if (low !== undefined && step < maxSteps) {
    const mid = Math.round(low * 1.25);
    if (mid <= o.maxRate && mid < (ceiling?.offeredRate ?? 0) * 1.5) {
      const phase = await measure(mid);
      if (keepsUp(phase) && (ceiling === undefined || mid > (ceiling.offeredRate ?? 0))) ceiling = phase;
      if (passes(phase, o.p99LimitMs)) bestLatency = phase;
    }
  }
  // Nothing passed: halve until something does.
  for (let rate = Math.round(start / 2); bestLatency === undefined && rate >= 50 && step < maxSteps; rate = Math.round(rate / 2)) {
    const phase = await measure(rate);
    if (passes(phase, o.p99LimitMs)) bestLatency = phase;
  }
  if (ceiling !== undefined) {
    run.report.ceiling = { rate: ceiling.offeredRate ?? 0, phase: ceiling };
    log(`[${run.kind}] throughput ceiling (kept up, any latency): ${num(ceiling.offeredRate)} msg/s, p99 ${ms(ceiling.all.p99)} ms`);
  }
  if (bestLatency !== undefined) {
    run.report.sustained = { rate: bestLatency.offeredRate ?? 0, phase: bestLatency };
    log(`[${run.kind}] highest rate with p99 ≤ ${o.p99LimitMs} ms and no errors: ${num(bestLatency.offeredRate)} msg/s`);
  } else {
    log(`[${run.kind}] no rate passed (p99 ≤ ${o.p99LimitMs} ms)`);
  }
}

async function authorizeHeavy(run: TargetRun, o: BenchOptions): Promise<void> {
  run.report.connect = await run.connect('connect fleet', false);
  await warmUp(run, o, o.rates[0] ?? 5000, 'authorize');
  for (const rate of o.rates) await run.phase(`Authorize ${num(rate)}/s`, phaseOptions(o, { mode: 'open', mix: 'authorize', rate }));
  run.report.headline = run.report.phases[0]?.name ?? null;
}

async function actionCosts(run: TargetRun, o: BenchOptions): Promise<void> {
  run.report.connect = await run.connect('connect fleet', false);
  const rate = o.rates[0] ?? 2000;
  await warmUp(run, o, rate, 'mixed');
  const idleBefore = await run.target.snapshot();
  await sleep(2000);
  const idleAfter = await run.target.snapshot();
  const idlePercent = ((idleAfter.usage.cpuSeconds - idleBefore.usage.cpuSeconds) / ((idleAfter.at - idleBefore.at) / 1000)) * 100;
  run.note(`${TARGET_LABEL[run.kind]}: CPU with the fleet connected and no traffic ${num(idlePercent, 1)}% of a core (included in the per-message figures).`);
  for (const mix of ['heartbeat', 'status', 'authorize', 'transaction', 'metervalues', 'mixed'] as const) {
    await run.phase(`${mix} ${num(rate)}/s`, phaseOptions(o, { mode: 'open', mix, rate }));
  }
  run.report.headline = `mixed ${num(rate)}/s`;
}

async function commands(run: TargetRun, o: BenchOptions): Promise<void> {
  run.report.connect = await run.connect('connect fleet', false);
  const rate = o.rates[0] ?? 200;
  const ready = run.report.connect.ready;
  if (ready === 0) throw new Error('no station connected');
  if (o.warmupSeconds > 0) await commandLoad(run, o, rate, o.warmupSeconds, ready);
  run.report.commands = await commandLoad(run, o, rate, o.durationSeconds, ready);
  const c = run.report.commands;
  log(
    `[${run.kind}] ${o.action} commands at ${num(rate)}/s: ${num(c.throughput)}/s completed, p50 ${ms(c.latency.p50)} p99 ${ms(c.latency.p99)} ms, ` +
      `CSMS ${num(c.csms.cpuMicrosPerMessage, 1)} µs per command, statuses ${JSON.stringify(c.statuses)}`,
  );
}

/** Operator commands at a fixed rate (open loop, latency from the intended send), each to another station. */
async function commandLoad(run: TargetRun, o: BenchOptions, rate: number, seconds: number, stations: number): Promise<CommandReport> {
  const payload = commandPayload(o.action);
  const latency = new Histogram();
  const statuses: Record<string, number> = {};
  const before = await run.target.snapshot();
  const genBefore = run.fleet.cpuSeconds();
  let completed = 0;
  const due = await openLoop(rate, seconds, async (k, intended) => {
    const id = stationId(STATION_PREFIX, (k * 7919) % stations);
    const answer = await run.target.api
      .send('POST', `/api/v1/stations/${encodeURIComponent(id)}/commands/${o.action}`, payload, o.callTimeoutMs + 10_000)
      .catch(() => undefined);
    const status = answer === undefined ? 'error' : String(answer.status);
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (answer?.status === 200) completed++;
    latency.record((performance.now() - intended) * 1000);
  });
  const after = await run.target.snapshot();
  const wall = (after.at - before.at) / 1000;
  return {
    action: o.action,
    offeredRate: rate,
    durationSeconds: seconds,
    sent: due,
    completed,
    throughput: Number((completed / seconds).toFixed(1)),
    statuses,
    latency: latency.summary(),
    csms: resource(after.usage.cpuSeconds - before.usage.cpuSeconds, wall, due),
    generator: resource(run.fleet.cpuSeconds() - genBefore, wall, due),
  };
}

/** `cluster` runs a cluster rather than one target: cluster/scenario.ts. */
const SCENARIO_BODIES: Record<Exclude<ScenarioName, 'cluster'>, (run: TargetRun, o: BenchOptions) => Promise<void>> = {
  'boot-storm': bootStorm,
  fleet: fleetMemory,
  steady,
  max: findMax,
  authorize: authorizeHeavy,
  commands,
  cost: actionCosts,
  soak,
};

/** Runs the scenario against one target; failures end up in the report, not as an exception. */
export async function runScenario(ctx: RunContext, kind: TargetKind): Promise<TargetReport> {
  const run = new TargetRun(ctx, kind);
  try {
    const scenario = ctx.options.scenario;
    if (scenario === 'cluster') throw new Error('the cluster scenario runs through runCluster (cluster/scenario.ts)');
    await run.start();
    await SCENARIO_BODIES[scenario](run, ctx.options);
  } catch (err) {
    run.report.error = (err as Error).message;
    log(`[${kind}] failed: ${(err as Error).message}`);
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- assigned by start(), which may have failed before it
    if (run.target !== undefined) log(`[${kind}] last lines of ${run.target.logFile}:\n${run.target.lastLogLines()}`);
  } finally {
    await run.stop();
  }
  return run.report;
}
