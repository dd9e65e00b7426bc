import { setTimeout as sleep } from 'node:timers/promises';
import type { ConnectSummary, FleetSnapshot } from './generator/fleet.js';
import { DEFAULT_STATION_PREFIX, stationId } from './generator/fleet-data.js';
import { Histogram, type HistogramJson, type LatencySummary } from './histogram.js';
import { treeUsage } from './proc.js';
import { bytes, ms, num } from './report.js';
import { commandPayload, type BenchOptions, type TargetRun } from './scenarios.js';

/**
 * `npm run bench -- soak`: Stroom under steady moderate traffic for a long time (default 60 min), to see
 * whether memory or latency drifts. One open-loop phase of the `mixed` traffic runs for the whole duration;
 * beside it, operator commands at a low rate (GetVariables through the API, each to a random connected
 * station) and, every `--storm-every` (default: one window), a reconnect storm of a tenth of the fleet (its
 * TCP connections dropped without a close frame, back 2 s later: connect, BootNotification, connectors).
 * Storms run in the middle of each storm interval, so with the default every window holds exactly one and
 * windows compare like with like. The CSMS is sampled every `--sample` seconds (RSS from /proc; JS heap,
 * event-loop delay, handles and connected stations from its /metrics), and everything is reported per
 * `--window` (default 5 min).
 *
 * Verdicts, on windows 2..n (the first one holds the warm-up: JIT, pools, caches filling):
 * - RSS slope (least squares of each window's mean RSS against time) below 1 MiB per 10 min;
 * - p99 of station CALLs not drifting up: the last window's p99 ≤ 1.5 × the second's (or within 2 ms of it,
 *   the noise floor of a shared 2-core machine), and the least-squares trend of the windows' p99 rising
 *   less than half of their mean over the span;
 * - errors: CALL errors ≤ 0.1 % of those answered, no stations left offline after a storm, operator
 *   commands failing ≤ 1 %, the generator never saturated.
 */

export const RSS_SLOPE_LIMIT_MIB_PER_10_MIN = 1;
export const P99_RATIO_LIMIT = 1.5;
export const P99_GRACE_MS = 2;
/** The fitted p99 trend may rise by at most this fraction of the windows' mean p99 over windows 2..n. */
export const P99_TREND_LIMIT = 0.5;
const MIB = 1024 * 1024;
/** Stations of a storm stay offline this long before they reconnect. */
const STORM_OFFLINE_MS = 2000;
/**
 * First connections in flight while the fleet connects. A station whose row has no password verifier costs Stroom a
 * scrypt check (N=2^15: a few per second on a busy 2-core machine); with 100 such in flight they would queue past
 * the stations' 30 s handshake timeout and the retries run into Stroom's per-station limits (429). Registered
 * through the API, every station has a verifier and connects at HMAC cost; the pace stays for a CSMS without one.
 */
const SETUP_CONCURRENCY = 10;

const GAUGES = [
  'nodejs_heap_size_used_bytes',
  'nodejs_heap_size_total_bytes',
  'nodejs_external_memory_bytes',
  'nodejs_eventloop_lag_p99_seconds',
  'nodejs_eventloop_lag_max_seconds',
  'nodejs_eventloop_lag_mean_seconds',
  'nodejs_active_handles_total',
  'nodejs_gc_duration_seconds_sum',
  'csms_connected_stations',
] as const;

/** One sample of the CSMS; seconds since the soak started, bytes, milliseconds. */
export const SAMPLE_COLUMNS = [
  't',
  'rssBytes',
  'heapUsedBytes',
  'heapTotalBytes',
  'externalBytes',
  'eventLoopP99Ms',
  'eventLoopMaxMs',
  'eventLoopMeanMs',
  'activeHandles',
  'connectedStations',
  'cpuSeconds',
  'gcSeconds',
] as const;
type Sample = Record<(typeof SAMPLE_COLUMNS)[number], number | null>;

export interface SoakStorm {
  /** Seconds since the soak started. */
  atSeconds: number;
  firstStation: number;
  dropped: number;
  /** Load CALLs outstanding on the dropped stations (abandoned by the generator, not errors). */
  abandoned: number;
  reconnected: number;
  failures: Record<string, number>;
  retries: number;
  /** Reconnect start → last station Accepted. */
  timeToAllAcceptedSeconds: number;
  bootP99Ms: number;
}

export interface SoakWindow {
  index: number;
  startSeconds: number;
  endSeconds: number;
  calls: {
    sent: number;
    answered: number;
    throughput: number;
    errors: Record<string, number>;
    errorCount: number;
    abandoned: number;
    latency: LatencySummary;
    sendLagP99Ms: number;
    histogram: HistogramJson;
  };
  commands: { sent: number; completed: number; statuses: Record<string, number>; latency: LatencySummary };
  storms: SoakStorm[];
  csms: {
    samples: number;
    rssMeanBytes: number | null;
    rssMinBytes: number | null;
    rssMaxBytes: number | null;
    rssEndBytes: number | null;
    heapUsedMinBytes: number | null;
    heapUsedMeanBytes: number | null;
    heapUsedMaxBytes: number | null;
    /** nodejs_eventloop_lag_p99_seconds of each sample (the p99 since the previous scrape): their mean and max. */
    eventLoopP99MeanMs: number | null;
    eventLoopP99MaxMs: number | null;
    eventLoopMaxMs: number | null;
    cpuPercent: number | null;
    gcSeconds: number | null;
    activeHandlesEnd: number | null;
    connectedStationsMin: number | null;
    connectedStationsEnd: number | null;
  };
}

export interface P99Drift {
  secondWindowMs: number | null;
  lastWindowMs: number | null;
  /** last ÷ second. */
  ratio: number | null;
  /** Least squares over windows 2..n. */
  slopeMsPer10Min: number | null;
  /** The fitted line's rise over windows 2..n, as a fraction of their mean p99. */
  trendRise: number | null;
  ratioPass: boolean | null;
  trendPass: boolean | null;
  pass: boolean | null;
}

export interface SoakCheck {
  name: string;
  pass: boolean | null;
  detail: string;
}

export type SoakVerdict = 'pass' | 'fail' | 'inconclusive';

export interface SoakReport {
  settings: {
    durationSeconds: number;
    windowSeconds: number;
    sampleSeconds: number;
    rate: number;
    mix: string;
    commandRate: number;
    action: string;
    stormEverySeconds: number;
    stormStations: number;
  };
  windows: SoakWindow[];
  /** MiB (2^20 bytes) per 10 minutes, least squares of the windows' mean RSS over windows 2..n. */
  rssSlopeMbPer10Min: number | null;
  heapSlopeMbPer10Min: number | null;
  p99Drift: P99Drift;
  checks: SoakCheck[];
  verdict: SoakVerdict;
  samples: { columns: readonly string[]; rows: (number | null)[][] };
}

// ------------------------------------------------------------------------------------------ arithmetic

/** Least-squares slope of y against x; null with fewer than two distinct x. */
export function slope(points: readonly [number, number][]): number | null {
  if (points.length < 2) return null;
  const mx = points.reduce((s, [x]) => s + x, 0) / points.length;
  const my = points.reduce((s, [, y]) => s + y, 0) / points.length;
  let sxx = 0;
  let sxy = 0;
  for (const [x, y] of points) {
    sxx += (x - mx) ** 2;
    sxy += (x - mx) * (y - my);
  }
  return sxx === 0 ? null : sxy / sxx;
}

function mean(values: number[]): number | null {
  return values.length === 0 ? null : values.reduce((s, v) => s + v, 0) / values.length;
}

function round(value: number | null, digits: number): number | null {
  return value === null || !Number.isFinite(value) ? null : Number(value.toFixed(digits));
}

function present(values: (number | null)[]): number[] {
  return values.filter((v): v is number => v !== null && Number.isFinite(v));
}

function sumCounts(counts: Record<string, number>): number {
  return Object.values(counts).reduce((s, n) => s + n, 0);
}

function diffCounts(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, n] of Object.entries(after)) {
    const d = n - (before[key] ?? 0);
    if (d > 0) out[key] = d;
  }
  return out;
}

/** The verdicts over the windows (exported for `render`, which derives them again). */
export function judge(windows: SoakWindow[], saturated: boolean): Pick<SoakReport, 'rssSlopeMbPer10Min' | 'heapSlopeMbPer10Min' | 'p99Drift' | 'checks' | 'verdict'> {
  const later = windows.slice(1).filter((w) => w.calls.answered > 0);
  const mid = (w: SoakWindow): number => (w.startSeconds + w.endSeconds) / 2 / 60;
  const per10 = (s: number | null): number | null => (s === null ? null : s * 10);
  const rssSlope = per10(slope(later.filter((w) => w.csms.rssMeanBytes !== null).map((w) => [mid(w), (w.csms.rssMeanBytes as number) / MIB])));
  // Heap used rises between collections: the lowest sample of a window is closest to what is retained.
  const heapSlope = per10(slope(later.filter((w) => w.csms.heapUsedMinBytes !== null).map((w) => [mid(w), (w.csms.heapUsedMinBytes as number) / MIB])));

  const second = later[0]?.calls.latency.p99 ?? null;
  const last = later.length >= 2 ? (later[later.length - 1]?.calls.latency.p99 ?? null) : null;
  const p99Slope = per10(slope(later.map((w) => [mid(w), w.calls.latency.p99])));
  const meanP99 = mean(later.map((w) => w.calls.latency.p99));
  const span = later.length >= 2 ? mid(later[later.length - 1] as SoakWindow) - mid(later[0] as SoakWindow) : 0;
  const trendRise = p99Slope === null || meanP99 === null || meanP99 <= 0 ? null : ((p99Slope / 10) * span) / meanP99;
  const ratioPass = second === null || last === null ? null : last <= P99_RATIO_LIMIT * second || last - second <= P99_GRACE_MS;
  const trendPass = trendRise === null ? null : trendRise <= P99_TREND_LIMIT || ((p99Slope ?? 0) / 10) * span <= P99_GRACE_MS;
  const p99Drift: P99Drift = {
    secondWindowMs: second,
    lastWindowMs: last,
    ratio: second === null || last === null || second <= 0 ? null : round(last / second, 3),
    slopeMsPer10Min: round(p99Slope, 3),
    trendRise: round(trendRise, 3),
    ratioPass,
    trendPass,
    pass: ratioPass === null || trendPass === null ? null : ratioPass && trendPass,
  };

  const checks: SoakCheck[] = [];
  checks.push({
    name: 'RSS slope',
    pass: rssSlope === null ? null : rssSlope < RSS_SLOPE_LIMIT_MIB_PER_10_MIN,
    detail:
      rssSlope === null
        ? 'needs at least 3 windows'
        : `${rssSlope.toFixed(3)} MiB per 10 min over windows 2..${windows.length} (limit < ${RSS_SLOPE_LIMIT_MIB_PER_10_MIN}); JS heap (lowest sample per window) ${heapSlope?.toFixed(3) ?? '–'} MiB per 10 min`,
  });
  checks.push({
    name: 'p99 drift',
    pass: p99Drift.pass,
    detail:
      p99Drift.pass === null
        ? 'needs at least 3 windows'
        : `last window ${ms(last)} ms vs second ${ms(second)} ms (×${p99Drift.ratio ?? '–'}; limit ×${P99_RATIO_LIMIT} or +${P99_GRACE_MS} ms): ${ratioPass ? 'ok' : 'up'}; ` +
          `trend ${p99Drift.slopeMsPer10Min ?? '–'} ms per 10 min, rising ${trendRise === null ? '–' : `${(trendRise * 100).toFixed(0)} %`} of the mean p99 over the span (limit ${P99_TREND_LIMIT * 100} % or ${P99_GRACE_MS} ms): ${trendPass ? 'ok' : 'up'}`,
  });
  const answered = windows.reduce((s, w) => s + w.calls.answered, 0);
  const callErrors = windows.reduce((s, w) => s + w.calls.errorCount, 0);
  const commandsSent = windows.reduce((s, w) => s + w.commands.sent, 0);
  const commandsFailed = windows.reduce((s, w) => s + (w.commands.sent - w.commands.completed), 0);
  const storms = windows.flatMap((w) => w.storms);
  const offline = storms.reduce((s, st) => s + Math.max(0, st.dropped - st.reconnected), 0);
  const errorsPass = !saturated && callErrors <= 0.001 * Math.max(1, answered) && offline === 0 && commandsFailed <= 0.01 * Math.max(1, commandsSent);
  checks.push({
    name: 'errors',
    pass: windows.length === 0 ? null : errorsPass,
    detail:
      `${num(callErrors)} station CALL errors in ${num(answered)} answered (limit 0.1 %); ${num(commandsFailed)} of ${num(commandsSent)} operator commands failed (limit 1 %); ` +
      `${num(storms.length)} storms, ${num(offline)} stations not back${saturated ? '; the generator saturated (backlog over 5 s)' : ''}`,
  });
  const verdict: SoakVerdict = checks.some((c) => c.pass === false) ? 'fail' : checks.some((c) => c.pass === null) ? 'inconclusive' : 'pass';
  return { rssSlopeMbPer10Min: round(rssSlope, 3), heapSlopeMbPer10Min: round(heapSlope, 3), p99Drift, checks, verdict };
}

// ------------------------------------------------------------------------------------------ the scenario

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function sleepUntil(epochMs: number): Promise<void> {
  // A timer may fire a millisecond before Date.now() reaches its end; the window loop treats "early" as "the phase
  // ended", so wait until the clock really is there.
  for (let wait = epochMs - Date.now(); wait > 0; wait = epochMs - Date.now()) await sleep(wait);
}

interface CommandWindow {
  sent: number;
  completed: number;
  statuses: Record<string, number>;
  latency: Histogram;
}

function emptyCommandWindow(): CommandWindow {
  return { sent: 0, completed: 0, statuses: {}, latency: new Histogram() };
}

export async function soak(run: TargetRun, o: BenchOptions): Promise<void> {
  const stationPrefix = DEFAULT_STATION_PREFIX;
  run.report.connect = await run.connect('connect fleet', false, 1, SETUP_CONCURRENCY);
  const fleetSize = o.stations;
  if (run.report.connect.ready < fleetSize) {
    // One more round for those refused (e.g. 429 while too many password checks ran at once from an address).
    log(
      `[${run.kind}] ${num(run.report.connect.ready)}/${num(fleetSize)} connected (failures ${JSON.stringify(run.report.connect.failures)}); connecting the rest again`,
    );
    await sleep(5000);
    const again = await run.connect('connect the rest', false, 1, SETUP_CONCURRENCY);
    run.report.connect = {
      ...again,
      stations: run.report.connect.stations,
      ready: run.report.connect.ready + again.ready,
      elapsedSeconds: run.report.connect.elapsedSeconds + again.elapsedSeconds,
    };
  }
  const missing = fleetSize - run.report.connect.ready;
  log(`[${run.kind}] ${num(run.report.connect.ready)}/${num(fleetSize)} stations connected in ${num(run.report.connect.elapsedSeconds, 1)} s`);
  // A soak of part of the fleet measures nothing intended: the rate would fall on fewer stations (and saturate them).
  if (missing > fleetSize * 0.01) {
    throw new Error(
      `only ${run.report.connect.ready} of ${fleetSize} stations connected (failures ${JSON.stringify(run.report.connect.failures)}); not soaking a partial fleet`,
    );
  }
  const durationMs = o.durationSeconds * 1000;
  const windowMs = o.windowSeconds * 1000;
  const windowCount = Math.max(1, Math.ceil(durationMs / windowMs));
  const stormStations = Math.max(1, Math.round(fleetSize * o.stormFraction));
  const rate = o.rates[0] ?? 300;
  const startAt = Date.now() + 1000;
  const endAt = startAt + durationMs;
  const since = (epochMs: number): number => (epochMs - startAt) / 1000;
  log(
    `[${run.kind}] soak: ${num(o.durationSeconds / 60, 1)} min of ${o.mix} at ${num(rate)}/s over ${num(fleetSize)} stations, ${o.action} every ${num(1 / o.commandRate, 1)} s, ` +
      `${num(stormStations)} stations reconnecting every ${num(o.stormEverySeconds)} s; ${windowCount} windows of ${num(o.windowSeconds)} s, a sample every ${num(o.sampleSeconds)} s`,
  );

  // An object, so that the loops below read it afresh after each await.
  const state = { finished: false };
  const stopped = (): boolean => state.finished;
  const pid = run.target.pid;

  // Samples of the CSMS.
  const samples: Sample[] = [];
  const sampleOnce = async (): Promise<void> => {
    const t = since(Date.now());
    const usage = treeUsage(pid);
    const g = await run.target.gauges(GAUGES);
    const at = (name: (typeof GAUGES)[number], scale = 1): number | null => (g[name] === undefined ? null : g[name] * scale);
    samples.push({
      t: Number(t.toFixed(2)),
      rssBytes: usage.rssBytes,
      heapUsedBytes: at('nodejs_heap_size_used_bytes'),
      heapTotalBytes: at('nodejs_heap_size_total_bytes'),
      externalBytes: at('nodejs_external_memory_bytes'),
      eventLoopP99Ms: round(at('nodejs_eventloop_lag_p99_seconds', 1000), 3),
      eventLoopMaxMs: round(at('nodejs_eventloop_lag_max_seconds', 1000), 3),
      eventLoopMeanMs: round(at('nodejs_eventloop_lag_mean_seconds', 1000), 3),
      activeHandles: at('nodejs_active_handles_total'),
      connectedStations: at('csms_connected_stations'),
      cpuSeconds: Number(usage.cpuSeconds.toFixed(2)),
      gcSeconds: round(at('nodejs_gc_duration_seconds_sum'), 4),
    });
  };
  const sampler = (async () => {
    const every = o.sampleSeconds * 1000;
    while (!stopped()) {
      await sleepUntil(startAt + (Math.floor((Date.now() - startAt) / every) + 1) * every);
      if (stopped() || Date.now() > endAt + 1000) break;
      await sampleOnce().catch((err: unknown) => log(`[${run.kind}] sample failed: ${(err as Error).message}`));
    }
  })();

  // Operator commands (open loop) to random connected stations, avoiding those a storm is taking offline.
  let commandWindow = emptyCommandWindow();
  const blocked = new Set<number>();
  const commandsInFlight = new Map<number, number>();
  const commandBody = commandPayload(o.action);
  const commander = (async () => {
    const interval = 1000 / o.commandRate;
    for (let k = 0; ; k++) {
      const intendedEpoch = startAt + k * interval;
      if (intendedEpoch >= endAt) break;
      await sleepUntil(intendedEpoch);
      if (stopped()) break;
      let index = Math.floor(Math.random() * fleetSize);
      for (let tries = 0; blocked.has(index) && tries < 20; tries++) index = Math.floor(Math.random() * fleetSize);
      if (blocked.has(index)) continue;
      const intended = performance.now() - (Date.now() - intendedEpoch);
      commandWindow.sent++;
      commandsInFlight.set(index, (commandsInFlight.get(index) ?? 0) + 1);
      const id = stationId(stationPrefix, index);
      void run.target.api
        .send('POST', `/api/v1/stations/${encodeURIComponent(id)}/commands/${o.action}`, commandBody, o.callTimeoutMs + 10_000)
        .then(
          (answer) => {
            const status = String(answer.status);
            commandWindow.statuses[status] = (commandWindow.statuses[status] ?? 0) + 1;
            if (answer.status === 200) commandWindow.completed++;
          },
          () => {
            commandWindow.statuses.error = (commandWindow.statuses.error ?? 0) + 1;
          },
        )
        .finally(() => {
          commandWindow.latency.record((performance.now() - intended) * 1000);
          const left = (commandsInFlight.get(index) ?? 1) - 1;
          if (left <= 0) commandsInFlight.delete(index);
          else commandsInFlight.set(index, left);
        });
    }
  })();

  // Reconnect storms, in the middle of each storm interval.
  let currentStorms: SoakStorm[] = [];
  const stormer = (async () => {
    const every = o.stormEverySeconds * 1000;
    for (let k = 0; ; k++) {
      const at = startAt + (k + 0.5) * every;
      if (at + 10_000 > endAt) break;
      await sleepUntil(Math.max(at, Date.now()));
      if (stopped() || Date.now() + 10_000 > endAt) break;
      const first = (k * stormStations) % fleetSize;
      for (let i = 0; i < stormStations; i++) blocked.add((first + i) % fleetSize);
      // No operator command may be on its way to a station about to drop: that failure would be ours.
      const waitUntil = Date.now() + o.callTimeoutMs + 5000;
      while ([...commandsInFlight.keys()].some((index) => blocked.has(index)) && Date.now() < waitUntil) await sleep(50);
      const stormAt = Date.now();
      const storm: SoakStorm = {
        atSeconds: Number(since(stormAt).toFixed(1)),
        firstStation: first,
        dropped: 0,
        abandoned: 0,
        reconnected: 0,
        failures: {},
        retries: 0,
        timeToAllAcceptedSeconds: 0,
        bootP99Ms: 0,
      };
      currentStorms.push(storm);
      const { dropped, abandoned } = await run.fleet.drop(first, stormStations);
      storm.dropped = dropped;
      storm.abandoned = abandoned;
      await sleep(STORM_OFFLINE_MS);
      const summary: ConnectSummary = await run.fleet.connect({ retries: 2, ...(o.stormHandshakes > 0 && { totalConcurrency: o.stormHandshakes }) });
      storm.reconnected = summary.ready;
      storm.failures = summary.failures;
      storm.retries = summary.retries;
      storm.timeToAllAcceptedSeconds = Number((summary.toAccepted.max / 1e6).toFixed(3));
      storm.bootP99Ms = summary.boot.summary().p99;
      blocked.clear();
      log(
        `[${run.kind}] storm ${k + 1} at ${num(storm.atSeconds)} s: ${num(dropped)} dropped (${num(abandoned)} CALLs abandoned), ${num(summary.ready)}/${num(summary.attempted)} back, ` +
          `all Accepted after ${num(storm.timeToAllAcceptedSeconds, 2)} s, boot p99 ${ms(storm.bootP99Ms)} ms${sumCounts(summary.failures) > 0 ? `, failures ${JSON.stringify(summary.failures)}` : ''}`,
      );
    }
  })();

  // The traffic: one open-loop phase for the whole soak.
  const phase = run.phase(`soak: ${o.mix} ${num(rate)}/s`, { mode: 'open', mix: o.mix, rate, concurrency: o.concurrency, durationMs, drainMs: 5000, startAt });

  // Windows: a snapshot of the generator at each boundary; the last one after the phase.
  const windows: SoakWindow[] = [];
  let previous: FleetSnapshot | undefined;
  const closeWindow = (index: number, snapshot: FleetSnapshot, endSeconds: number): void => {
    const startSeconds = index * o.windowSeconds;
    const errors = diffCounts(snapshot.errors, previous?.errors ?? {});
    const all = snapshot.latency.total();
    const commandsDone = commandWindow;
    commandWindow = emptyCommandWindow();
    const storms = currentStorms;
    currentStorms = [];
    const inWindow = samples.filter((s) => (s.t as number) >= startSeconds && (s.t as number) < endSeconds + (index === windowCount - 1 ? 5 : 0));
    const col = (name: keyof Sample): number[] => present(inWindow.map((s) => s[name]));
    const rss = col('rssBytes');
    const heap = col('heapUsedBytes');
    const cpu = col('cpuSeconds');
    const gc = col('gcSeconds');
    const times = col('t');
    const handles = col('activeHandles');
    const connected = col('connectedStations');
    const wall = times.length >= 2 ? (times[times.length - 1] as number) - (times[0] as number) : 0;
    const window: SoakWindow = {
      index: index + 1,
      startSeconds,
      endSeconds: Number(endSeconds.toFixed(1)),
      calls: {
        sent: snapshot.sent - (previous?.sent ?? 0),
        answered: snapshot.answered - (previous?.answered ?? 0),
        throughput: Number(((snapshot.answered - (previous?.answered ?? 0)) / Math.max(1, endSeconds - startSeconds)).toFixed(1)),
        errors,
        errorCount: sumCounts(errors),
        abandoned: snapshot.abandoned - (previous?.abandoned ?? 0),
        latency: all.summary(),
        sendLagP99Ms: snapshot.sendLag.summary().p99,
        histogram: all.toJSON(),
      },
      commands: { sent: commandsDone.sent, completed: commandsDone.completed, statuses: commandsDone.statuses, latency: commandsDone.latency.summary() },
      storms,
      csms: {
        samples: inWindow.length,
        rssMeanBytes: round(mean(rss), 0),
        rssMinBytes: rss.length === 0 ? null : Math.min(...rss),
        rssMaxBytes: rss.length === 0 ? null : Math.max(...rss),
        rssEndBytes: rss[rss.length - 1] ?? null,
        heapUsedMinBytes: heap.length === 0 ? null : Math.min(...heap),
        heapUsedMeanBytes: round(mean(heap), 0),
        heapUsedMaxBytes: heap.length === 0 ? null : Math.max(...heap),
        eventLoopP99MeanMs: round(mean(col('eventLoopP99Ms')), 3),
        eventLoopP99MaxMs: col('eventLoopP99Ms').length === 0 ? null : Math.max(...col('eventLoopP99Ms')),
        eventLoopMaxMs: col('eventLoopMaxMs').length === 0 ? null : Math.max(...col('eventLoopMaxMs')),
        cpuPercent: wall > 0 ? round((((cpu[cpu.length - 1] as number) - (cpu[0] as number)) / wall) * 100, 1) : null,
        gcSeconds: gc.length >= 2 ? round((gc[gc.length - 1] as number) - (gc[0] as number), 3) : null,
        activeHandlesEnd: handles[handles.length - 1] ?? null,
        connectedStationsMin: connected.length === 0 ? null : Math.min(...connected),
        connectedStationsEnd: connected[connected.length - 1] ?? null,
      },
    };
    previous = snapshot;
    windows.push(window);
    const c = window.csms;
    log(
      `[${run.kind}] window ${window.index}/${windowCount} (${num(startSeconds / 60, 1)}–${num(endSeconds / 60, 1)} min): ${num(window.calls.throughput)} msg/s, ` +
        `p50 ${ms(window.calls.latency.p50)} p99 ${ms(window.calls.latency.p99)} max ${ms(window.calls.latency.max)} ms, errors ${window.calls.errorCount}; ` +
        `commands ${num(window.commands.completed)}/${num(window.commands.sent)} p99 ${ms(window.commands.latency.p99)} ms; ` +
        `RSS ${bytes(c.rssMeanBytes)} (${bytes(c.rssMinBytes)}–${bytes(c.rssMaxBytes)}), heap ${bytes(c.heapUsedMinBytes)}–${bytes(c.heapUsedMaxBytes)}, ` +
        `event loop p99 ${ms(c.eventLoopP99MeanMs)} ms (max ${ms(c.eventLoopMaxMs)}), CSMS ${num(c.cpuPercent)}% CPU`,
    );
  };
  let failure: Error | undefined;
  const phaseDone = phase.then(
    () => undefined,
    (err: unknown) => {
      failure = err as Error;
    },
  );
  for (let k = 1; k < windowCount; k++) {
    await Promise.race([sleepUntil(startAt + k * windowMs), phaseDone]);
    if (failure !== undefined || Date.now() < startAt + k * windowMs) break;
    closeWindow(k - 1, await run.fleet.snapshot(), k * o.windowSeconds);
  }
  await phaseDone;
  state.finished = true;
  await Promise.all([sampler, commander, stormer]);
  // Operator commands still on their way (at most a call timeout).
  const drainUntil = Date.now() + o.callTimeoutMs + 10_000;
  while (commandsInFlight.size > 0 && Date.now() < drainUntil) await sleep(50);
  if (failure !== undefined) throw failure;
  await sampleOnce().catch(() => undefined);
  closeWindow(windows.length, await run.fleet.snapshot(), Math.min(o.durationSeconds, since(Date.now())));

  const saturated = run.report.phases.some((p) => p.saturated);
  const verdicts = judge(windows, saturated);
  run.report.soak = {
    settings: {
      durationSeconds: o.durationSeconds,
      windowSeconds: o.windowSeconds,
      sampleSeconds: o.sampleSeconds,
      rate,
      mix: o.mix,
      commandRate: o.commandRate,
      action: o.action,
      stormEverySeconds: o.stormEverySeconds,
      stormStations,
    },
    windows,
    ...verdicts,
    samples: { columns: SAMPLE_COLUMNS, rows: samples.map((s) => SAMPLE_COLUMNS.map((c) => s[c])) },
  };
  run.report.headline = run.report.phases[0]?.name ?? null;
  for (const check of verdicts.checks) log(`[${run.kind}] ${check.name}: ${check.pass === null ? 'inconclusive' : check.pass ? 'pass' : 'FAIL'} — ${check.detail}`);
  log(`[${run.kind}] soak verdict: ${verdicts.verdict.toUpperCase()}`);
}

// ------------------------------------------------------------------------------------------ report

/** The windows as a markdown table. */
export function soakWindowTable(report: SoakReport): string[] {
  const header = [
    'window',
    'min',
    'CALLs/s',
    'p50 / p99 / max (ms)',
    'errors',
    'commands ok / sent, p99',
    'storms: back / dropped, all Accepted after',
    'RSS mean (min–max)',
    'JS heap used min–max',
    'event loop p99 mean / max of samples, max (ms)',
    'CSMS CPU',
    'GC s',
    'handles',
    'stations min / end',
  ];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const w of report.windows) {
    const c = w.csms;
    const errors = Object.entries(w.calls.errors)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    const storms = w.storms.length === 0 ? '–' : w.storms.map((s) => `${num(s.reconnected)} / ${num(s.dropped)}, ${num(s.timeToAllAcceptedSeconds, 2)} s`).join('; ');
    lines.push(
      `| ${[
        String(w.index),
        `${num(w.startSeconds / 60, 1)}–${num(w.endSeconds / 60, 1)}`,
        num(w.calls.throughput),
        `${ms(w.calls.latency.p50)} / ${ms(w.calls.latency.p99)} / ${ms(w.calls.latency.max)}`,
        (errors || '0') + (w.calls.abandoned > 0 ? ` (${w.calls.abandoned} abandoned by storms)` : ''),
        `${num(w.commands.completed)} / ${num(w.commands.sent)}, ${ms(w.commands.latency.p99)} ms`,
        storms,
        `${bytes(c.rssMeanBytes)} (${bytes(c.rssMinBytes)}–${bytes(c.rssMaxBytes)})`,
        `${bytes(c.heapUsedMinBytes)}–${bytes(c.heapUsedMaxBytes)}`,
        `${ms(c.eventLoopP99MeanMs)} / ${ms(c.eventLoopP99MaxMs)}, ${ms(c.eventLoopMaxMs)}`,
        `${num(c.cpuPercent)} %`,
        num(c.gcSeconds, 2),
        num(c.activeHandlesEnd),
        `${num(c.connectedStationsMin)} / ${num(c.connectedStationsEnd)}`,
      ].join(' | ')} |`,
    );
  }
  return lines;
}
