import type { ConsoleProbeReport } from './console-probe.js';
import type { ClusterReport, ClusterSummary } from './cluster/report.js';
import { Histogram, HistogramSet, type LatencySummary } from './histogram.js';
import { soakWindowTable, type P99Drift, type SoakCheck, type SoakReport, type SoakVerdict, type SoakWindow } from './soak.js';
import type { TargetKind } from './target.js';

/**
 * What a run produces: one JSON document (bench/results/<time>-<scenario>.json) and its markdown
 * rendering, in the shape of a certification test report (OCPP and Authorize response time min / avg /
 * max) plus the percentiles, throughput, CPU per message and memory per station.
 */

export interface ResourceReport {
  cpuSeconds: number;
  /** Of one core, over the phase's wall time. */
  cpuPercent: number;
  cpuMicrosPerMessage: number | null;
}

export interface PhaseReport {
  name: string;
  mode: 'open' | 'closed';
  mix: string;
  /** Messages (station CALLs) per second offered; null for closed loop. */
  offeredRate: number | null;
  concurrency: number | null;
  durationSeconds: number;
  sent: number;
  answered: number;
  /** Answered CALLs per second. */
  throughput: number;
  errors: Record<string, number>;
  errorCount: number;
  errorRatio: number;
  saturated: boolean;
  /** Every action except Authorize (csms_ocpp_response_seconds), Authorize, and all together. */
  ocppResponse: LatencySummary;
  authorizeResponse: LatencySummary | null;
  all: LatencySummary;
  byAction: Record<string, LatencySummary>;
  /** Station CALL latency by the OCPP version of the station (`1.6`, `2.0.1`). */
  byVersion: Record<string, LatencySummary>;
  authorizeStatus: Record<string, number>;
  /** The generator's own lateness against the schedule. */
  sendLag: LatencySummary;
  csms: ResourceReport & { rssBytes: number };
  /** PostgreSQL backends serving the target's database (null with the embedded store). */
  database: ResourceReport | null;
  generator: ResourceReport;
  /**
   * The CSMS's own view over the phase, from its /metrics (Stroom only): mean answer time as it measures
   * it (CALL received → answer written), and its group commits.
   */
  /**
   * The machine over the phase, in cores busy: everything, and what was neither the CSMS, its database nor
   * the generator (other work on a shared machine, which the figures above had to compete with).
   */
  machine: { busyCores: number; otherCores: number; loadAverage: number };
  internal: { meanResponseMs: number | null; commits: number; meanBatchSize: number | null; meanCommitMs: number | null } | null;
  csmsCalls: Record<string, number>;
  /** Histograms by action (µs), so later tooling can re-derive any percentile; `all` is their sum. */
  histograms: { byAction: ReturnType<HistogramSet['toJSON']> };
}

export interface ConnectReport {
  stations: number;
  ready: number;
  failures: Record<string, number>;
  retries: number;
  /** Start of the connect phase → last station ready (s). */
  elapsedSeconds: number;
  /** Start → last station Accepted (s): the boot-storm figure. */
  timeToAllAcceptedSeconds: number;
  handshake: LatencySummary;
  boot: LatencySummary;
  toAccepted: LatencySummary;
  csmsCpuSeconds: number;
  csmsCpuMillisPerStation: number | null;
  databaseCpuSeconds: number | null;
  generatorCpuSeconds: number;
  csmsPeakRssBytes: number;
  csmsRssBytes: number;
}

/**
 * Memory of an idle connected fleet. Measured with no stations, with half of them and with all of them:
 * the per-station figures are the slope between half and all (what one more station costs), so fixed
 * costs of the first connections (code compiled, pools filled, heap reserved) do not count.
 */
export interface MemoryReport {
  stations: number;
  rssBeforeBytes: number;
  rssHalfBytes: number;
  rssAfterBytes: number;
  /** Slope between half and all the stations. */
  rssPerStationBytes: number;
  /** (all − none) ÷ stations. */
  rssPerStationAverageBytes: number;
  heapBeforeBytes: number | null;
  heapHalfBytes: number | null;
  heapAfterBytes: number | null;
  heapPerStationBytes: number | null;
  peakRssBytes: number;
}

export interface CommandReport {
  action: string;
  offeredRate: number;
  durationSeconds: number;
  sent: number;
  completed: number;
  throughput: number;
  statuses: Record<string, number>;
  latency: LatencySummary;
  csms: ResourceReport;
  generator: ResourceReport;
}

export interface TargetReport {
  target: TargetKind;
  label: string;
  store: string;
  stations: number;
  registration: 'api' | 'open' | 'seeded';
  connect: ConnectReport | null;
  /** Boot storm: the second storm, every station reconnecting at once (credentials verified before). */
  reconnect: ConnectReport | null;
  phases: PhaseReport[];
  memory: MemoryReport | null;
  commands: CommandReport | null;
  /** soak: windows, samples and verdicts (absent in files written before the soak existed). */
  soak?: SoakReport | null;
  /** fleet --console: what an operator opening the console meets with the fleet connected. */
  console?: ConsoleProbeReport | null;
  /** max: the highest offered rate whose p99 stayed under the limit, and its phase. */
  sustained: { rate: number; phase: PhaseReport } | null;
  /** max: the highest offered rate the CSMS kept up with (no errors, no backlog), whatever the latency. */
  ceiling: { rate: number; phase: PhaseReport } | null;
  /** The phase the summary table shows. */
  headline: string | null;
  error: string | null;
}

/** A cluster run also carries its summary (ClusterSummary) at the top level; its `verdict` and `checks` are the soak's fields. */
export interface RunReport extends Partial<Omit<ClusterSummary, 'verdict' | 'checks'>> {
  scenario: string;
  startedAt: string;
  finishedAt: string;
  command: string;
  options: Record<string, unknown>;
  machine: { cpus: number; model: string; memoryBytes: number; node: string; kernel: string; commit: string };
  targets: TargetReport[];
  /** Stroom ÷ baseline (or baseline ÷ Stroom where lower is better), labelled so a reader cannot misread them. */
  ratios: Record<string, number>;
  notes: string[];
  /** soak (copied from the Stroom target's soak report): its verdict, the figures it rests on, and the windows. */
  verdict?: SoakVerdict;
  rssSlopeMbPer10Min?: number | null;
  p99Drift?: P99Drift;
  checks?: SoakCheck[];
  windows?: SoakWindow[];
  /** cluster: everything it measured (the targets list is empty). */
  cluster?: ClusterReport;
}

export const OCPP_EXCEPT_AUTHORIZE = (action: string): boolean => action !== 'Authorize';

export function summarisePhaseLatency(latency: HistogramSet): { ocpp: Histogram; authorize: Histogram | undefined; all: Histogram } {
  const ocpp = new Histogram();
  let authorize: Histogram | undefined;
  for (const [action, histogram] of latency.byKey) {
    if (action === 'Authorize') authorize = histogram;
    else ocpp.merge(histogram);
  }
  return { ocpp, authorize, all: latency.total() };
}

// ------------------------------------------------------------------------------------------- formatting

function isFlat(value: unknown): boolean {
  return (
    Array.isArray(value) &&
    value.every((item) => item === null || typeof item !== 'object' || (Array.isArray(item) && item.every((x) => x === null || typeof x !== 'object')))
  );
}

/** JSON indented like JSON.stringify(…, 2), except that arrays of numbers (histogram buckets) stay on one line. */
export function compactJson(value: unknown, indent = ''): string {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- JSON.stringify returns undefined (untyped) for undefined, functions and symbols
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (isFlat(value)) return JSON.stringify(value);
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((item) => inner + compactJson(item, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${compactJson(v, inner)}`).join(',\n')}\n${indent}}`;
}

export function ms(value: number | undefined | null): string {
  if (value === undefined || value === null || !Number.isFinite(value)) return '–';
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

export function num(value: number | undefined | null, digits = 0): string {
  if (value === undefined || value === null || !Number.isFinite(value)) return '–';
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function bytes(value: number | undefined | null): string {
  if (value === undefined || value === null || !Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  if (abs >= 1024 ** 3) return `${(value / 1024 ** 3).toFixed(2)} GiB`;
  if (abs >= 1024 ** 2) return `${(value / 1024 ** 2).toFixed(1)} MiB`;
  if (abs >= 1024) return `${(value / 1024).toFixed(1)} KiB`;
  return `${value.toFixed(0)} B`;
}

function minAvgMax(s: LatencySummary | null | undefined): string {
  if (s === null || s === undefined || s.count === 0) return '–';
  return `${ms(s.min)} / ${ms(s.avg)} / ${ms(s.max)} ms`;
}

function percentiles(s: LatencySummary | null | undefined): string {
  if (s === null || s === undefined || s.count === 0) return '–';
  return `${ms(s.p50)} / ${ms(s.p95)} / ${ms(s.p99)} / ${ms(s.p999)} ms`;
}

export function errorsText(errors: Record<string, number>): string {
  const entries = Object.entries(errors).filter(([, n]) => n > 0);
  if (entries.length === 0) return '0';
  return entries.map(([code, n]) => `${code} ${num(n)}`).join(', ');
}

function ratioText(ours: number | null | undefined, theirs: number | null | undefined, higherIsBetter: boolean): string {
  if (ours === null || ours === undefined || theirs === null || theirs === undefined || ours <= 0 || theirs <= 0) return '–';
  const ratio = higherIsBetter ? ours / theirs : theirs / ours;
  if (ratio > 0.95 && ratio < 1.05) return '≈ same';
  return `${ratio.toFixed(ratio >= 10 ? 0 : 1)}× ${ratio >= 1 ? 'better' : 'worse'}`;
}

export function table(header: string[], rows: string[][]): string {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const row of rows) lines.push(`| ${row.join(' | ')} |`);
  return lines.join('\n');
}

/**
 * Per offered rate, the phase of a target at that rate; a rate measured twice (max re-measures a step
 * whose p99 missed the limit) is represented by the better measurement, as in the chart.
 */
export function phasesByRate(target: TargetReport): Map<number, PhaseReport> {
  const byRate = new Map<number, PhaseReport>();
  for (const phase of target.phases) {
    if (phase.offeredRate === null) continue;
    const earlier = byRate.get(phase.offeredRate);
    if (earlier === undefined || (earlier.mix === phase.mix && phase.all.p99 < earlier.all.p99)) byRate.set(phase.offeredRate, phase);
  }
  return byRate;
}

/** Phases both targets ran at the same offered rate and mix, by rate. */
export function commonRates(ours: TargetReport | undefined, theirs: TargetReport | undefined): [number, PhaseReport, PhaseReport][] {
  if (ours === undefined || theirs === undefined) return [];
  const mine = phasesByRate(ours);
  const other = phasesByRate(theirs);
  const out: [number, PhaseReport, PhaseReport][] = [];
  for (const [rate, a] of mine) {
    const b = other.get(rate);
    if (b !== undefined && b.mix === a.mix) out.push([rate, a, b]);
  }
  return out.sort(([x], [y]) => x - y);
}

function headlinePhase(target: TargetReport): PhaseReport | undefined {
  if (target.sustained !== null) return target.sustained.phase;
  return target.phases.find((p) => p.name === target.headline) ?? target.phases[target.phases.length - 1];
}

// ------------------------------------------------------------------------------------------- markdown

export function renderMarkdown(run: RunReport, chartFile: string | undefined): string {
  const out: string[] = [];
  const targets = run.targets;
  const ours = targets.find((t) => t.target === 'stroom');
  const theirs = targets.find((t) => t.target === 'baseline');
  out.push(`# Stroom benchmark: \`${run.scenario}\``);
  out.push('');
  out.push(`${run.startedAt} · \`${run.command}\``);
  out.push('');
  out.push(
    `Machine: ${run.machine.cpus} × ${run.machine.model}, ${bytes(run.machine.memoryBytes)}, Node ${run.machine.node}, Linux ${run.machine.kernel}; ` +
      `commit ${run.machine.commit}. The load generator runs on the same cores as the CSMS (its CPU is shown).`,
  );
  out.push('');

  const columns = targets.map((t) => `${t.label} (${t.store})`);
  const both = ours !== undefined && theirs !== undefined && ours.error === null && theirs.error === null;
  const header = ['', ...columns, ...(both ? ['Stroom vs baseline'] : [])];
  const rows: string[][] = [];
  const row = (label: string, cell: (t: TargetReport) => string, ratio?: () => string): void => {
    rows.push([label, ...targets.map((t) => (t.error !== null ? 'failed' : cell(t))), ...(both ? [ratio?.() ?? ''] : [])]);
  };
  const phaseOf = (t: TargetReport | undefined): PhaseReport | undefined => (t === undefined ? undefined : headlinePhase(t));

  const loadScenario = ['steady', 'max', 'authorize', 'cost'].includes(run.scenario);
  if (loadScenario && targets.some((t) => t.phases.length > 0)) {
    row('Phase summarised', (t) => {
      const p = phaseOf(t);
      return p === undefined ? '–' : p.name;
    });
    row(
      'OCPP response time, min / avg / max (all but Authorize)',
      (t) => minAvgMax(phaseOf(t)?.ocppResponse),
      () => ratioText(phaseOf(ours)?.ocppResponse.avg, phaseOf(theirs)?.ocppResponse.avg, false),
    );
    row(
      'Authorize response time, min / avg / max',
      (t) => minAvgMax(phaseOf(t)?.authorizeResponse),
      () => ratioText(phaseOf(ours)?.authorizeResponse?.avg, phaseOf(theirs)?.authorizeResponse?.avg, false),
    );
    row(
      'All CALLs p50 / p95 / p99 / p99.9',
      (t) => percentiles(phaseOf(t)?.all),
      () => `p99 ${ratioText(phaseOf(ours)?.all.p99, phaseOf(theirs)?.all.p99, false)}`,
    );
    row(
      run.scenario === 'max' ? 'Highest rate with p99 under the limit (msg/s)' : 'Throughput (answered msg/s)',
      (t) => (run.scenario === 'max' ? num(t.sustained?.rate ?? null) : num(phaseOf(t)?.throughput ?? null)),
      () =>
        run.scenario === 'max'
          ? ratioText(ours?.sustained?.rate, theirs?.sustained?.rate, true)
          : ratioText(phaseOf(ours)?.throughput, phaseOf(theirs)?.throughput, true),
    );
    if (run.scenario === 'max') {
      row(
        'Throughput ceiling: highest rate kept up with, any latency (msg/s)',
        (t) => (t.ceiling === null ? '–' : `${num(t.ceiling.rate)} (p99 ${ms(t.ceiling.phase.all.p99)} ms, CSMS ${num(t.ceiling.phase.csms.cpuPercent)}% CPU)`),
        () => ratioText(ours?.ceiling?.rate, theirs?.ceiling?.rate, true),
      );
    }
    row(
      'CSMS CPU µs per message',
      (t) => num(phaseOf(t)?.csms.cpuMicrosPerMessage ?? null, 1),
      () => ratioText(phaseOf(ours)?.csms.cpuMicrosPerMessage, phaseOf(theirs)?.csms.cpuMicrosPerMessage, false),
    );
    row(
      'PostgreSQL CPU µs per message',
      (t) => num(phaseOf(t)?.database?.cpuMicrosPerMessage ?? null, 1),
      () => ratioText(phaseOf(ours)?.database?.cpuMicrosPerMessage, phaseOf(theirs)?.database?.cpuMicrosPerMessage, false),
    );
    row('CSMS CPU (% of one core)', (t) => num(phaseOf(t)?.csms.cpuPercent ?? null, 0));
    row('CSMS RSS', (t) => bytes(phaseOf(t)?.csms.rssBytes ?? null));
    row('Errors', (t) => {
      const p = phaseOf(t);
      return p === undefined ? '–' : errorsText(p.errors);
    });
    row('Generator CPU µs per message (not the CSMS)', (t) => num(phaseOf(t)?.generator.cpuMicrosPerMessage ?? null, 1));
    row('Other load on the machine (cores busy that were not CSMS, DB or generator)', (t) => {
      const p = phaseOf(t);
      return p === undefined ? '–' : `${num(p.machine.otherCores, 2)} of ${run.machine.cpus} (load average ${num(p.machine.loadAverage, 1)})`;
    });
    row('Generator lateness p99 (counted in the latencies)', (t) => {
      const p = phaseOf(t);
      return p === undefined || p.mode === 'closed' ? '–' : `${ms(p.sendLag.p99)} ms`;
    });
  }
  if (targets.some((t) => t.memory !== null)) {
    row(
      'RSS per idle connected station (slope, half → all)',
      (t) => bytes(t.memory?.rssPerStationBytes ?? null),
      () => ratioText(ours?.memory?.rssPerStationBytes, theirs?.memory?.rssPerStationBytes, false),
    );
    row(
      'RSS per station, average (none → all)',
      (t) => bytes(t.memory?.rssPerStationAverageBytes ?? null),
      () => ratioText(ours?.memory?.rssPerStationAverageBytes, theirs?.memory?.rssPerStationAverageBytes, false),
    );
    row(
      'JS heap used per station (slope)',
      (t) => bytes(t.memory?.heapPerStationBytes ?? null),
      () => ratioText(ours?.memory?.heapPerStationBytes, theirs?.memory?.heapPerStationBytes, false),
    );
    row('RSS: no stations → half → all', (t) =>
      t.memory === null ? '–' : `${bytes(t.memory.rssBeforeBytes)} → ${bytes(t.memory.rssHalfBytes)} → ${bytes(t.memory.rssAfterBytes)}`,
    );
    row('Idle fleet CPU (% of one core)', (t) => num(t.phases[0]?.csms.cpuPercent ?? null, 1));
  }
  if (targets.some((t) => t.console != null)) {
    const latency = (label: string, pick: (c: ConsoleProbeReport) => { p50: number; p99: number }): void =>
      row(`Console: ${label} p50 / p99`, (t) => (t.console == null ? '–' : `${ms(pick(t.console).p50)} / ${ms(pick(t.console).p99)} ms`));
    latency('GET /api/v1/fleet/summary', (c) => c.summary);
    latency('first page of 100 stations', (c) => c.listFirstPage100);
    latency('first page of 500 stations', (c) => c.listFirstPage500);
    latency('page of 500 sorted by vendor', (c) => c.listSortedByVendor500);
    latency('page of 500 Faulted', (c) => c.listFilteredFaulted500);
    latency('search matching nothing', (c) => c.listSearchNoMatch);
    latency('page of 500 at a deep cursor', (c) => c.deepCursorPage500);
    row('Console: fleet list first row painted (cold, warm, warm)', (t) => (t.console == null ? '–' : `${t.console.console.firstRowPaintMs.join(' / ')} ms`));
    row('Console: scroll to the second page drawn', (t) => (t.console?.console.scrollToSecondPageMs == null ? '–' : `${t.console.console.scrollToSecondPageMs} ms`));
    row('Console: SSE fan-out CPU (share of one core)', (t) =>
      t.console == null
        ? '–'
        : `${num(t.console.sse.fanOutCpuShareOfOneCore * 100, 1)}% for ${t.console.sse.clients} clients at ${num(t.console.sse.changesPerSecond)} changes/s`,
    );
  }
  if (run.scenario === 'boot-storm') {
    const storm = (label: string, pick: (t: TargetReport) => ConnectReport | null): void => {
      row(
        `${label}: time to all Accepted`,
        (t) => {
          const c = pick(t);
          return c === null ? '–' : `${num(c.timeToAllAcceptedSeconds, 2)} s (${num(c.ready)}/${num(c.stations)} ready)`;
        },
        () => ratioText(pick(ours as TargetReport)?.timeToAllAcceptedSeconds, pick(theirs as TargetReport)?.timeToAllAcceptedSeconds, false),
      );
      row(`${label}: BootNotification response p50 / p99 / max`, (t) => {
        const c = pick(t);
        return c === null ? '–' : `${ms(c.boot.p50)} / ${ms(c.boot.p99)} / ${ms(c.boot.max)} ms`;
      });
      row(`${label}: failures`, (t) => {
        const c = pick(t);
        return c === null ? '–' : `${errorsText(c.failures)} (retries ${num(c.retries)})`;
      });
      row(`${label}: CSMS CPU per station`, (t) => {
        const c = pick(t);
        return c === null ? '–' : `${num(c.csmsCpuMillisPerStation, 2)} ms`;
      });
      row(`${label}: CSMS peak RSS`, (t) => bytes(pick(t)?.csmsPeakRssBytes ?? null));
    };
    storm('Cold storm (first connection)', (t) => t.connect);
    if (targets.some((t) => t.reconnect !== null)) storm('Reconnect storm', (t) => t.reconnect);
  }
  if (targets.some((t) => t.commands !== null)) {
    row(
      'Operator command round trip, min / avg / max',
      (t) => {
        const c = t.commands;
        return c === null ? '–' : minAvgMax(c.latency);
      },
      () => ratioText(ours?.commands?.latency.avg, theirs?.commands?.latency.avg, false),
    );
    row(
      'Operator command p50 / p95 / p99 / p99.9',
      (t) => percentiles(t.commands?.latency),
      () => `p99 ${ratioText(ours?.commands?.latency.p99, theirs?.commands?.latency.p99, false)}`,
    );
    row('Commands completed per second', (t) => num(t.commands?.throughput ?? null, 0));
    row('HTTP statuses', (t) => (t.commands === null ? '–' : errorsText(t.commands.statuses)));
    row(
      'CSMS CPU µs per command',
      (t) => num(t.commands?.csms.cpuMicrosPerMessage ?? null, 1),
      () => ratioText(ours?.commands?.csms.cpuMicrosPerMessage, theirs?.commands?.csms.cpuMicrosPerMessage, false),
    );
  }
  if (run.scenario === 'soak' && targets.some((t) => t.soak !== null && t.soak !== undefined)) {
    const soakOf = (t: TargetReport): SoakReport | null => t.soak ?? null;
    row('Soak verdict', (t) => (soakOf(t) === null ? '–' : `**${(soakOf(t) as SoakReport).verdict.toUpperCase()}**`));
    for (const name of ['RSS slope', 'p99 drift', 'errors']) {
      row(name, (t) => {
        const check = soakOf(t)?.checks.find((c) => c.name === name);
        return check === undefined ? '–' : `${check.pass === null ? 'inconclusive' : check.pass ? 'pass' : '**fail**'}: ${check.detail}`;
      });
    }
    row('Load', (t) => {
      const s = soakOf(t);
      if (s === null) return '–';
      const c = s.settings;
      return (
        `${num(c.durationSeconds / 60, 1)} min of ${c.mix} at ${num(c.rate)} msg/s; ${c.action} every ${num(1 / c.commandRate, 1)} s through the API; ` +
        `${num(c.stormStations)} stations dropped and reconnected every ${num(c.stormEverySeconds)} s; windows of ${num(c.windowSeconds)} s, a sample every ${num(c.sampleSeconds)} s`
      );
    });
  }
  out.push(table(header, rows));
  out.push('');
  const common = loadScenario ? commonRates(ours, theirs) : [];
  if (common.length > 0) {
    out.push('Same offered load, both CSMSs (all CALLs, ms):');
    out.push('');
    out.push(
      table(
        ['offered msg/s', 'Stroom p50 / p99 / p99.9', 'baseline p50 / p99 / p99.9', 'p99: baseline ÷ Stroom', 'CSMS CPU µs/msg: Stroom / baseline'],
        common.map(([rate, a, b]) => [
          num(rate),
          `${ms(a.all.p50)} / ${ms(a.all.p99)} / ${ms(a.all.p999)}`,
          `${ms(b.all.p50)} / ${ms(b.all.p99)} / ${ms(b.all.p999)}`,
          a.all.p99 > 0 ? `${(b.all.p99 / a.all.p99).toFixed(1)}×` : '–',
          `${num(a.csms.cpuMicrosPerMessage, 1)} / ${num(b.csms.cpuMicrosPerMessage, 1)}`,
        ]),
      ),
    );
    out.push('');
  }

  for (const target of targets) {
    out.push(`## ${target.label}`);
    out.push('');
    if (target.error !== null) {
      out.push(`Failed: ${target.error}`);
      out.push('');
      continue;
    }
    out.push(
      `${num(target.stations)} stations, registered ${
        target.registration === 'api'
          ? 'through the API'
          : target.registration === 'seeded'
            ? 'in the database with keyed password verifiers (--register seeded)'
            : 'on first connection (CSMS_UNKNOWN_STATIONS=accept)'
      }, store ${target.store}.`,
    );
    out.push('');
    if (target.phases.length > 0) {
      out.push(
        table(
          [
            'phase',
            'offered msg/s',
            'answered msg/s',
            'p50',
            'p95',
            'p99',
            'p99.9',
            'max',
            'CSMS CPU µs/msg',
            'CSMS CPU %',
            'DB CPU µs/msg',
            'gen CPU µs/msg',
            'other load (cores)',
            'errors',
            'inside the CSMS',
          ],
          target.phases.map((p) => [
            p.name,
            p.offeredRate === null ? `closed, ${num(p.concurrency)} outstanding` : num(p.offeredRate),
            num(p.throughput),
            ms(p.all.p50),
            ms(p.all.p95),
            ms(p.all.p99),
            ms(p.all.p999),
            ms(p.all.max),
            num(p.csms.cpuMicrosPerMessage, 1),
            num(p.csms.cpuPercent),
            num(p.database?.cpuMicrosPerMessage ?? null, 1),
            num(p.generator.cpuMicrosPerMessage, 1),
            num(p.machine.otherCores, 2),
            errorsText(p.errors) + (p.saturated ? ' (saturated)' : ''),
            p.internal === null
              ? '–'
              : `mean answer ${ms(p.internal.meanResponseMs)} ms; ${num(p.internal.commits)} commits × ${num(p.internal.meanBatchSize, 1)} writes, ${ms(p.internal.meanCommitMs)} ms`,
          ]),
        ),
      );
      out.push('');
      const main = headlinePhase(target);
      if (main !== undefined) {
        out.push(`Per action, phase "${main.name}" (ms):`);
        out.push('');
        out.push(
          table(
            ['action', 'count', 'min', 'avg', 'p50', 'p95', 'p99', 'p99.9', 'max'],
            Object.entries(main.byAction).map(([action, s]) => [action, num(s.count), ms(s.min), ms(s.avg), ms(s.p50), ms(s.p95), ms(s.p99), ms(s.p999), ms(s.max)]),
          ),
        );
        out.push('');
        // Reports written before 1.6 stations existed have no split by version.
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
        const byVersion = Object.entries(main.byVersion ?? {});
        if (byVersion.length > 0) {
          out.push(`Per OCPP version of the station, phase "${main.name}" (all CALLs, ms):`);
          out.push('');
          out.push(
            table(
              ['OCPP', 'count', 'min', 'avg', 'p50', 'p95', 'p99', 'p99.9', 'max'],
              byVersion.map(([version, s]) => [version, num(s.count), ms(s.min), ms(s.avg), ms(s.p50), ms(s.p95), ms(s.p99), ms(s.p999), ms(s.max)]),
            ),
          );
          out.push('');
        }
        if (Object.keys(main.authorizeStatus).length > 0) out.push(`Authorize answers by status: ${errorsText(main.authorizeStatus)}.`);
        out.push('');
      }
    }
    if (target.soak !== null && target.soak !== undefined) {
      out.push(
        "Per window (station CALL latency from the intended send; RSS from /proc; JS heap, event-loop delay, GC, handles and connected stations from the CSMS's /metrics, sampled; storms counted in the window they started in):",
      );
      out.push('');
      out.push(...soakWindowTable(target.soak));
      out.push('');
    }
    if (target.connect !== null && run.scenario !== 'boot-storm') {
      const c = target.connect;
      out.push(
        `Set-up: ${num(c.ready)}/${num(c.stations)} stations connected, booted and reported their connectors in ${num(c.elapsedSeconds, 1)} s ` +
          `(BootNotification p99 ${ms(c.boot.p99)} ms; failures: ${errorsText(c.failures)}).`,
      );
      out.push('');
    }
  }
  if (chartFile !== undefined) {
    out.push(run.scenario === 'soak' ? `![RSS, JS heap and p99 over time](${chartFile})` : `![latency against offered load](${chartFile})`);
    out.push('');
  }
  out.push(...notesSection(run.notes));
  return out.join('\n');
}

/** The report's closing "Notes:" list, as markdown lines (none without notes). */
export function notesSection(notes: readonly string[]): string[] {
  return notes.length === 0 ? [] : ['Notes:', '', ...notes.map((note) => `- ${note}`), ''];
}
