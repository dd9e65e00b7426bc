/**
 * `npm run bench -- <scenario> [options]`: the fleet-scale benchmark. Starts the CSMS under test as a
 * child process (Stroom, then the ocpp-rpc baseline), drives it with simulated stations from generator
 * worker processes over loopback, measures latency at the stations and CPU / memory of the CSMS from
 * /proc, and writes bench/results/<time>-<scenario>.{json,md}(+.svg). See bench/README.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { latencyChart, soakChart, type ChartSeries } from './chart.js';
import { clusterChart } from './cluster/chart.js';
import { clusterSummary, judgeCluster, renderClusterMarkdown } from './cluster/report.js';
import { defaultNodeCount, nodeCountProblem, runCluster } from './cluster/scenario.js';
import { MAX_STATIONS_PER_WORKER } from './generator/fleet.js';
import { isMixName, MIXES } from './generator/messages.js';
import { commonRates, compactJson, phasesByRate, renderMarkdown, type PhaseReport, type RunReport, type TargetReport } from './report.js';
import { runScenario, SCENARIOS, type BenchOptions, type RunContext, type ScenarioName } from './scenarios.js';
import { judge, type SoakReport } from './soak.js';
import { BenchPostgres, makeLogDir, type TargetKind } from './target.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface ScenarioDefaults {
  stations: number;
  rates: number[];
  duration: number;
  warmup: number;
}

const DEFAULTS: Record<ScenarioName, ScenarioDefaults> = {
  'boot-storm': { stations: 1000, rates: [0], duration: 0, warmup: 0 },
  fleet: { stations: 2000, rates: [0], duration: 10, warmup: 0 },
  steady: { stations: 1000, rates: [2000], duration: 15, warmup: 3 },
  max: { stations: 1000, rates: [1000], duration: 5, warmup: 3 },
  authorize: { stations: 500, rates: [5000], duration: 10, warmup: 3 },
  commands: { stations: 500, rates: [200], duration: 10, warmup: 2 },
  cost: { stations: 500, rates: [2000], duration: 6, warmup: 3 },
  soak: { stations: 1000, rates: [300], duration: 3600, warmup: 0 },
  // --rate: operator commands per second (half local, half cross-node); --duration / --warmup: their phase.
  cluster: { stations: 100_000, rates: [50], duration: 30, warmup: 5 },
};

const USAGE = `usage: npm run bench -- <scenario> [options]

scenarios:
  boot-storm   N stations connect and boot at once (cold), then all reconnect at once: time to all
               Accepted, failures, peak memory
  fleet        N idle connected stations (heartbeating at the boot interval): RSS and heap per station
  steady       mixed traffic at a fixed rate (open loop): latency per action, CPU per message
  max          raise the rate until p99 exceeds --p99-limit: the highest sustainable msg/s, and a chart
  authorize    Authorize-heavy traffic (Accepted, Blocked and unknown cards)
  commands     operator API → station → answer round trips over many stations
  cost         CSMS CPU per message for each action on its own (Heartbeat, StatusNotification, …)
  soak         Stroom alone for a long time (default 60 min): mixed traffic at a moderate rate, an operator
               command a second, a tenth of the fleet reconnecting every window; RSS, heap, event-loop
               delay and p99 per window, and verdicts on memory growth and latency drift
  cluster      N Stroom nodes, one Redis, one PostgreSQL, the fleet spread over them (default 100,000 stations):
               boot storm, RSS per idle station against a lone node, Redis memory per station, local vs
               cross-node command latency (--rate commands/s for --duration), Redis killed and restarted, a
               node killed; verdicts on the targets of issue 23

options:
  --stations N            simulated stations (scenario default; at most 100000)
  --rate R[,R…]           open-loop msg/s; a list makes steady a sweep; max starts at the first
  --duration S            seconds per measured phase; a unit may follow: 90s, 6m, 1h, 1h30m (soak: the whole soak,
                          default 60m)
  --warmup S              seconds of unmeasured load first
  --mode open|closed      steady: open loop (fixed rate) or closed loop (--concurrency outstanding)
  --concurrency C         closed loop: CALLs outstanding over the whole fleet (default 100)
  --mix NAME              ${Object.keys(MIXES).join(', ')} (default mixed)
  --targets LIST          stroom,baseline (default both); --no-baseline = stroom only
  --store postgres|embedded   Stroom's store (default postgres: a fresh database per run on DATABASE_URL)
  --register api|open|seeded
                          api: PUT every station with a password first; open: CSMS_UNKNOWN_STATIONS=accept;
                          seeded (PostgreSQL): written into the database with one fleet password and each
                          station's keyed verifier, as after a first login, so none pays scrypt (bench/cluster/seed.ts)
                          (default api up to 1000 stations, open above)
  --auth basic|none       send HTTP Basic credentials (default basic)
  --gen-workers W         generator processes (default: one per ${MAX_STATIONS_PER_WORKER.toLocaleString('en-US')} stations)
  --stations-per-address N  stations per loopback source address 127.0.0.x (default 2000: the kernel's search for a free
                          source port slows down badly as an address's port range fills)
  --evses N               EVSEs per station (StatusNotifications after boot; default 2)
  --ocpp 1.6|2.0.1        the OCPP version the stations speak (default 2.0.1); the report gives latency per version
  --ocpp-mix F            share of the stations that speak 1.6 (0–1, e.g. 0.5 for a half-and-half fleet)
  --tokens N              id tokens registered (default 1000; 1 in 20 Blocked, 1 in 20 unknown)
  --heartbeat S           CSMS_HEARTBEAT_INTERVAL, and how often idle fleet stations heartbeat (default 300)
  --p99-limit MS          max: the latency target (default 10)
  --max-rate R            max: never offer more than this (default 100000)
  --step S                max: seconds per step (default 5)
  --action NAME           commands: the OCPP action (default GetVariables)
  --no-reconnect          boot-storm: skip the reconnect storm
  --storm-handshakes H    boot-storm: WebSocket handshakes in flight at once over the whole fleet (default
                          2000; 0 = every station at the same instant, which on loopback mostly measures SYN
                          retransmits once the listen backlog overflows)
  --csms-workers N        passed to Stroom as CSMS_WORKERS (cluster mode)
  --console               fleet: then what an operator opening the console meets (bench/console-probe.ts): summary
                          and list latency, SSE fan-out CPU with 20 clients, the list's first paint in Chromium
  --redis-url URL         passed to Stroom as REDIS_URL
  --nodes N               cluster: Stroom nodes (default max(3, stations ÷ 16,000, 1 + stations ÷ 18,500), rounded
                          up: one process holds at most ~16,000 stations under the 20,000 open-file limit, and the
                          survivors of a killed node take its stations)
  --call-timeout MS       CSMS_CALL_TIMEOUT_MS and the stations' own give-up time (default 30000)
  --timeout S             hard limit for the whole run (default 900)
  --out DIR               results directory (default bench/results)
  --profile               write V8 CPU profiles of the CSMSs (node --cpu-prof) next to their logs
  --window S              soak: report window (default 5m); verdicts use windows 2..n
  --sample S              soak: how often the CSMS is sampled (default 5s)
  --storm-every S         soak: a reconnect storm in the middle of every such interval (default: the window)
  --storm-fraction F      soak: share of the fleet each storm drops and reconnects (default 0.1)
  --command-rate R        soak: operator commands (--action) per second (default 1)

soak defaults: 1000 stations, --rate 300, Stroom only on PostgreSQL; --timeout defaults to the duration + 60 min.
cluster defaults: 100000 stations, --rate 50 for --duration 30 after --warmup 5, --timeout 3600, PostgreSQL only.
Both exit with 3 when their verdict is fail.
`;

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

function positiveNumber(name: string, value: string | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > max) fail(`--${name} must be a number in (0, ${max}]`);
  return n;
}

function parseOptions(argv: string[]): { options: BenchOptions; outDir: string } {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      stations: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      mode: { type: 'string' },
      concurrency: { type: 'string' },
      mix: { type: 'string' },
      targets: { type: 'string' },
      'no-baseline': { type: 'boolean' },
      store: { type: 'string' },
      register: { type: 'string' },
      auth: { type: 'string' },
      'gen-workers': { type: 'string' },
      'stations-per-address': { type: 'string' },
      evses: { type: 'string' },
      ocpp: { type: 'string' },
      'ocpp-mix': { type: 'string' },
      tokens: { type: 'string' },
      heartbeat: { type: 'string' },
      'p99-limit': { type: 'string' },
      'max-rate': { type: 'string' },
      step: { type: 'string' },
      action: { type: 'string' },
      'no-reconnect': { type: 'boolean' },
      'storm-handshakes': { type: 'string' },
      'csms-workers': { type: 'string' },
      'redis-url': { type: 'string' },
      nodes: { type: 'string' },
      'call-timeout': { type: 'string' },
      timeout: { type: 'string' },
      out: { type: 'string' },
      profile: { type: 'boolean' },
      console: { type: 'boolean' },
      window: { type: 'string' },
      sample: { type: 'string' },
      'storm-every': { type: 'string' },
      'storm-fraction': { type: 'string' },
      'command-rate': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || positionals.length === 0) {
    process.stdout.write(USAGE);
    process.exit(values.help ? 0 : 2);
  }
  const scenario = positionals[0] as ScenarioName;
  if (!SCENARIOS.includes(scenario)) fail(`unknown scenario "${positionals[0]}"; one of ${SCENARIOS.join(', ')}`);
  const d = DEFAULTS[scenario];
  const stations = Math.round(positiveNumber('stations', values.stations, d.stations, 100_000));
  const rates = values.rate === undefined ? d.rates : values.rate.split(',').map((r) => positiveNumber('rate', r.trim(), 0, 500_000));
  const mix = values.mix ?? (scenario === 'authorize' ? 'authorize' : 'mixed');
  if (!isMixName(mix)) fail(`--mix must be one of ${Object.keys(MIXES).join(', ')}`);
  const mode = values.mode ?? 'open';
  if (mode !== 'open' && mode !== 'closed') fail('--mode must be open or closed');
  const store = values.store ?? 'postgres';
  if (store !== 'postgres' && store !== 'embedded') fail('--store must be postgres or embedded');
  const targetNames = (values.targets ?? 'stroom,baseline').split(',').map((t) => t.trim());
  for (const t of targetNames) if (t !== 'stroom' && t !== 'baseline') fail(`unknown target "${t}"`);
  let targets = targetNames as TargetKind[];
  if (values['no-baseline']) targets = targets.filter((t) => t !== 'baseline');
  if (scenario === 'soak') {
    // A soak watches Stroom for drift; an hour of the baseline as well would prove nothing about it.
    if (values.targets?.includes('baseline')) process.stderr.write('bench: soak runs Stroom only; the baseline is skipped\n');
    targets = ['stroom'];
  }
  const cluster = scenario === 'cluster';
  if (cluster) {
    if (values.store === 'embedded') fail('cluster needs PostgreSQL: its nodes share one database');
    targets = ['stroom'];
  }
  if (targets.length === 0) fail('no target to run');
  if (cluster && values.register !== undefined) fail('cluster seeds its stations in the database (bench/README.md "Cluster"); --register does not apply');
  const registration = cluster ? 'seeded' : (values.register ?? (stations <= 1000 ? 'api' : 'open'));
  if (registration !== 'api' && registration !== 'open' && registration !== 'seeded') fail('--register must be api, open or seeded');
  if (registration === 'seeded' && (values.store === 'embedded' || values.auth === 'none' || targets.includes('baseline')))
    fail("--register seeded writes the stations into Stroom's PostgreSQL schema, with passwords: needs --no-baseline, PostgreSQL, --auth basic");
  const auth = values.auth ?? 'basic';
  if (auth !== 'basic' && auth !== 'none') fail('--auth must be basic or none');
  if (auth === 'none' && registration === 'api') fail('--auth none needs --register open (registered stations have passwords)');
  const ocpp = values.ocpp ?? '2.0.1';
  if (ocpp !== '1.6' && ocpp !== '2.0.1') fail('--ocpp must be 1.6 or 2.0.1');
  const ocppMix = values['ocpp-mix'] === undefined ? undefined : Number(values['ocpp-mix']);
  if (ocppMix !== undefined && !(ocppMix >= 0 && ocppMix <= 1)) fail('--ocpp-mix must be a number in [0, 1]');
  if (ocppMix !== undefined && values.ocpp !== undefined) fail('--ocpp and --ocpp-mix exclude each other');
  if (cluster && (ocppMix !== undefined || values.ocpp !== undefined)) fail('cluster runs OCPP 2.0.1 stations only (its commands are 2.0.1 actions)');
  const soak = scenario === 'soak';
  const duration = durationSeconds('duration', values.duration, d.duration || 10, soak ? 7 * 86_400 : 600);
  const windowSeconds = durationSeconds('window', values.window, Math.min(300, duration), duration);
  const options: BenchOptions = {
    scenario,
    stations,
    rates,
    durationSeconds: duration,
    warmupSeconds: values.warmup === undefined ? d.warmup : Number(values.warmup) || 0,
    mode,
    concurrency: Math.round(positiveNumber('concurrency', values.concurrency, 100)),
    mix: mix,
    targets,
    store,
    registration,
    basicAuth: auth === 'basic',
    generatorWorkers: Math.round(positiveNumber('gen-workers', values['gen-workers'], 1, 64)),
    // Soak: Stroom allows 8 password checks in flight per source address (429 beyond), so a fleet on one
    // address mostly fails its first connections; a few stations per address, as real stations have their own.
    stationsPerAddress: Math.round(positiveNumber('stations-per-address', values['stations-per-address'], soak ? Math.max(4, Math.ceil(stations / 250)) : 2_000, 28_000)),
    evses: Math.round(positiveNumber('evses', values.evses, 2, 16)),
    tokens: Math.round(positiveNumber('tokens', values.tokens, 1000, 1_000_000)),
    heartbeatIntervalSeconds: Math.round(positiveNumber('heartbeat', values.heartbeat, 300, 86_400)),
    p99LimitMs: positiveNumber('p99-limit', values['p99-limit'], 10),
    maxRate: positiveNumber('max-rate', values['max-rate'], 100_000, 500_000),
    stepSeconds: positiveNumber('step', values.step, d.duration || 5, 120),
    csmsWorkers: values['csms-workers'] === undefined ? undefined : Math.round(positiveNumber('csms-workers', values['csms-workers'], 1, 64)),
    redisUrl: values['redis-url'],
    nodes: cluster ? clusterNodes(stations, values.nodes) : undefined,
    action: values.action ?? 'GetVariables',
    reconnect: !values['no-reconnect'],
    stormHandshakes: values['storm-handshakes'] === '0' ? 0 : Math.round(positiveNumber('storm-handshakes', values['storm-handshakes'], 2000, 1_000_000)),
    callTimeoutMs: Math.round(positiveNumber('call-timeout', values['call-timeout'], 30_000, 600_000)),
    ocpp16Share: ocppMix ?? (ocpp === '1.6' ? 1 : 0),
    timeoutSeconds: durationSeconds('timeout', values.timeout, soak ? duration + 3600 : cluster ? 3600 : 900, soak ? 8 * 86_400 : cluster ? 4 * 3600 : 3600),
    profile: values.profile ?? false,
    console: values.console ?? false,
    windowSeconds,
    sampleSeconds: durationSeconds('sample', values.sample, Math.min(5, windowSeconds), windowSeconds),
    stormEverySeconds: durationSeconds('storm-every', values['storm-every'], windowSeconds, 7 * 86_400),
    stormFraction: positiveNumber('storm-fraction', values['storm-fraction'], 0.1, 1),
    commandRate: positiveNumber('command-rate', values['command-rate'], 1, 1000),
  };
  return { options, outDir: values.out ?? join(REPO_ROOT, 'bench', 'results') };
}

function clusterNodes(stations: number, value: string | undefined): number {
  const nodes = value === undefined ? defaultNodeCount(stations) : Number(value);
  const problem = nodeCountProblem(stations, nodes);
  if (problem !== undefined) fail(`--nodes ${value ?? nodes}: ${problem}`);
  return nodes;
}

/** Seconds: a bare number, or numbers with units (ms, s, m / min, h), e.g. 90, 90s, 6m, 1h30m. */
function durationSeconds(name: string, value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const text = value.trim().toLowerCase();
  let seconds: number;
  if (/^\d+(\.\d+)?$/.test(text)) {
    seconds = Number(text);
  } else if (/^(\d+(\.\d+)?(ms|s|sec|min|m|h))+$/.test(text)) {
    seconds = 0;
    const unit: Record<string, number> = { ms: 0.001, s: 1, sec: 1, m: 60, min: 60, h: 3600 };
    for (const match of text.matchAll(/(\d+(?:\.\d+)?)(ms|sec|s|min|m|h)/g)) seconds += Number(match[1]) * (unit[match[2] as string] as number);
  } else {
    fail(`--${name} must be seconds, or a duration with a unit (90s, 6m, 1h30m)`);
  }
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > max) fail(`--${name} must be in (0, ${max}] seconds`);
  return seconds;
}

function openFileLimit(): number | undefined {
  try {
    const match = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return match === null ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

/**
 * The commit the run was built from, read when it starts: a soak lasts an hour, and HEAD may move meanwhile
 * (the report would name code that never ran).
 */
const COMMIT_AT_START = gitCommit();

function gitCommit(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    const dirty =
      execFileSync('git', ['status', '--porcelain'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trim().length > 0;
    return dirty ? `${commit}+uncommitted changes` : commit;
  } catch {
    return 'unknown';
  }
}

function headline(target: TargetReport): PhaseReport | undefined {
  if (target.sustained !== null) return target.sustained.phase;
  return target.phases.find((p) => p.name === target.headline) ?? target.phases[target.phases.length - 1];
}

function ratios(targets: TargetReport[], scenario: ScenarioName): Record<string, number> {
  const ours = targets.find((t) => t.target === 'stroom' && t.error === null);
  const theirs = targets.find((t) => t.target === 'baseline' && t.error === null);
  const out: Record<string, number> = {};
  if (ours === undefined || theirs === undefined) return out;
  const put = (name: string, a: number | null | undefined, b: number | null | undefined): void => {
    if (a !== null && a !== undefined && b !== null && b !== undefined && a > 0 && b > 0) out[name] = Number((a / b).toFixed(2));
  };
  const [p, q] = [headline(ours), headline(theirs)];
  switch (scenario) {
    case 'max':
      put('sustained msg/s with p99 under the limit: Stroom ÷ baseline', ours.sustained?.rate, theirs.sustained?.rate);
      put('throughput ceiling (kept up, any latency): Stroom ÷ baseline', ours.ceiling?.rate, theirs.ceiling?.rate);
      put("CSMS CPU per message at each one's sustained rate: baseline ÷ Stroom", q?.csms.cpuMicrosPerMessage, p?.csms.cpuMicrosPerMessage);
      for (const [rate, a, b] of commonRates(ours, theirs)) put(`p99 at ${rate} msg/s offered: baseline ÷ Stroom`, b.all.p99, a.all.p99);
      break;
    case 'steady':
    case 'authorize':
    case 'cost':
      put('answered msg/s: Stroom ÷ baseline', p?.throughput, q?.throughput);
      put('p99 latency: baseline ÷ Stroom', q?.all.p99, p?.all.p99);
      put('p99.9 latency: baseline ÷ Stroom', q?.all.p999, p?.all.p999);
      put('Authorize p99: baseline ÷ Stroom', q?.authorizeResponse?.p99, p?.authorizeResponse?.p99);
      put('CSMS CPU per message: baseline ÷ Stroom', q?.csms.cpuMicrosPerMessage, p?.csms.cpuMicrosPerMessage);
      for (const [rate, a, b] of commonRates(ours, theirs)) if (rate !== p?.offeredRate) put(`p99 at ${rate} msg/s offered: baseline ÷ Stroom`, b.all.p99, a.all.p99);
      break;
    case 'fleet':
      put('RSS per station: baseline ÷ Stroom', theirs.memory?.rssPerStationBytes, ours.memory?.rssPerStationBytes);
      put('JS heap per station: baseline ÷ Stroom', theirs.memory?.heapPerStationBytes, ours.memory?.heapPerStationBytes);
      break;
    case 'boot-storm':
      put('cold boot storm, time to all Accepted: baseline ÷ Stroom', theirs.connect?.timeToAllAcceptedSeconds, ours.connect?.timeToAllAcceptedSeconds);
      put('reconnect storm, time to all Accepted: baseline ÷ Stroom', theirs.reconnect?.timeToAllAcceptedSeconds, ours.reconnect?.timeToAllAcceptedSeconds);
      break;
    case 'commands':
      put('command p99: baseline ÷ Stroom', theirs.commands?.latency.p99, ours.commands?.latency.p99);
      put('CSMS CPU per command: baseline ÷ Stroom', theirs.commands?.csms.cpuMicrosPerMessage, ours.commands?.csms.cpuMicrosPerMessage);
      break;
  }
  return out;
}

function chartSeries(targets: TargetReport[], scenario: ScenarioName): ChartSeries[] {
  return targets
    .filter((t) => t.error === null)
    .map((t) => ({
      label: t.label,
      // A step re-measured (max: p99 over the limit once) is plotted with the better of its two measurements.
      points:
        scenario === 'max' || scenario === 'steady' || scenario === 'authorize'
          ? [...phasesByRate(t).values()].map((p) => ({ rate: p.offeredRate as number, p50: p.all.p50, p99: p.all.p99, p999: p.all.p999 }))
          : [],
    }))
    .filter((s) => s.points.length > 0);
}

function automaticNotes(run: RunReport, options: BenchOptions): string[] {
  const notes: string[] = [];
  notes.push(
    'Latency is measured at the simulated stations, from the moment each CALL was due (open loop; no coordinated omission) to its answer, ' +
      'so it includes the generator\'s own lateness (shown) and loopback TCP. "Message" = one station CALL and its answer.',
  );
  notes.push(
    '"Inside the CSMS" is Stroom\'s own measurement from its /metrics over the phase (mean CALL received → answer written; group commits): ' +
      'the difference to the station-side latency is time spent in sockets, the kernel and the generator.',
  );
  notes.push("CPU is utime+stime of the CSMS process tree from /proc over each phase; PostgreSQL CPU is that of the backends serving the run's database.");
  if (options.registration === 'open') {
    notes.push('Stations were not registered in advance (CSMS_UNKNOWN_STATIONS=accept): the first connection of each station registers it and stores its password hash.');
  }
  if (options.basicAuth) {
    notes.push(
      'Both CSMSs keep station passwords as salted scrypt hashes (N=4096, r=8: ≈10 ms CPU each); a first connection pays one verification. ' +
        'Stroom remembers a verified password, so reconnects do not; the baseline verifies on every connection.',
    );
  }
  for (const target of run.targets) {
    for (const phase of target.phases) {
      if (phase.generator.cpuPercent > 85)
        notes.push(`${target.label}, "${phase.name}": the generator used ${phase.generator.cpuPercent}% of a core; it may have limited this phase.`);
      if (phase.mode === 'open' && phase.sendLag.p99 > 2)
        notes.push(`${target.label}, "${phase.name}": the generator sent p99 ${phase.sendLag.p99} ms late (included in the latencies).`);
    }
  }
  const loads = run.targets.map((t) => ({ label: t.label, phase: headline(t) })).filter((x) => x.phase !== undefined);
  const busiest = Math.max(...loads.map((x) => x.phase?.machine.otherCores ?? 0));
  const quietest = Math.min(...loads.map((x) => x.phase?.machine.otherCores ?? 0));
  if (loads.length > 1 && busiest - quietest > 0.3) {
    notes.push(
      `The machine was shared: other processes used ${loads.map((x) => `${x.phase?.machine.otherCores} cores during ${x.label}'s summarised phase`).join(' and ')}. ` +
        'Latency comparisons between the two are unreliable by that much; re-run on a quiet machine.',
    );
  }
  if (options.csmsWorkers === undefined) notes.push('Stroom ran as one process (CSMS_WORKERS unset).');
  return notes;
}

/** The soak's figures at the top level of the JSON, as issue 14 asks. */
function soakSummary(soak: SoakReport): Pick<RunReport, 'windows' | 'rssSlopeMbPer10Min' | 'p99Drift' | 'verdict' | 'checks'> {
  return { verdict: soak.verdict, rssSlopeMbPer10Min: soak.rssSlopeMbPer10Min, p99Drift: soak.p99Drift, checks: soak.checks, windows: soak.windows };
}

/** Writes <base>.json, <base>.md and, when there is a load sweep, <base>.svg. */
function writeReport(run: RunReport, base: string): { markdown: string; chartFile: string | undefined } {
  const options = run.options as unknown as BenchOptions;
  if (run.cluster !== undefined) {
    const chartFile = `${base}.svg`;
    writeFileSync(chartFile, clusterChart(run.cluster));
    writeFileSync(`${base}.json`, `${compactJson(run)}\n`);
    const markdown = renderClusterMarkdown(run, run.cluster, basename(chartFile));
    writeFileSync(`${base}.md`, markdown);
    return { markdown, chartFile };
  }
  const series = chartSeries(run.targets, options.scenario);
  let chartFile: string | undefined;
  const soak = run.targets.find((t) => t.soak !== null && t.soak !== undefined)?.soak ?? undefined;
  if (soak !== undefined) {
    chartFile = `${base}.svg`;
    const rows = soak.samples.rows.map((row) => Object.fromEntries(soak.samples.columns.map((c, i) => [c, row[i] ?? null])));
    writeFileSync(
      chartFile,
      soakChart(
        `soak: ${options.stations.toLocaleString('en-US')} stations, ${soak.settings.mix} at ${soak.settings.rate.toLocaleString('en-US')} msg/s, verdict ${soak.verdict}`,
        {
          samples: rows.map((r) => ({ t: r.t as number, rssBytes: r.rssBytes ?? null, heapUsedBytes: r.heapUsedBytes ?? null })),
          windows: soak.windows.map((w) => ({
            startSeconds: w.startSeconds,
            endSeconds: w.endSeconds,
            p99: w.calls.latency.p99,
            p50: w.calls.latency.p50,
            rssMeanBytes: w.csms.rssMeanBytes,
          })),
          storms: soak.windows.flatMap((w) => w.storms.map((st) => st.atSeconds)),
          durationSeconds: soak.settings.durationSeconds,
        },
      ),
    );
  } else if (series.some((s) => s.points.length > 1)) {
    chartFile = `${base}.svg`;
    const title = `${options.scenario}: latency against offered load (${options.stations.toLocaleString('en-US')} stations, ${options.mix})`;
    writeFileSync(chartFile, latencyChart(title, series, options.scenario === 'max' ? options.p99LimitMs : undefined));
  }
  writeFileSync(`${base}.json`, `${compactJson(run)}\n`);
  const markdown = renderMarkdown(run, chartFile === undefined ? undefined : basename(chartFile));
  writeFileSync(`${base}.md`, markdown);
  return { markdown, chartFile };
}

/** `npm run bench -- render <results.json>`: the .md (and .svg) again from a result file, e.g. after the report format changed. */
function renderAgain(file: string): void {
  const run = JSON.parse(readFileSync(file, 'utf8')) as RunReport;
  // Files of the first runs also kept the sum of the per-action histograms.
  for (const target of run.targets) for (const phase of target.phases) delete (phase.histograms as { all?: unknown }).all;
  for (const target of run.targets) {
    if (target.soak === null || target.soak === undefined) continue;
    Object.assign(
      target.soak,
      judge(
        target.soak.windows,
        target.phases.some((p) => p.saturated),
      ),
    );
    Object.assign(run, soakSummary(target.soak));
  }
  run.ratios = ratios(run.targets, run.scenario as ScenarioName);
  if (run.cluster !== undefined) {
    Object.assign(run.cluster, judgeCluster(run.cluster));
    Object.assign(run, clusterSummary(run.cluster));
  } else {
    // The scenario's own notes (cost: idle CPU) stay; the automatic ones are derived again.
    const scenarioNotes = run.notes.filter((note) => note.includes('with the fleet connected and no traffic'));
    run.notes = [...automaticNotes(run, run.options as unknown as BenchOptions), ...scenarioNotes];
  }
  const { chartFile } = writeReport(run, file.replace(/\.json$/, ''));
  process.stdout.write(`rewrote ${file.replace(/\.json$/, '.md')}${chartFile ? ` and ${chartFile}` : ''}\n`);
}

async function main(): Promise<void> {
  if (process.argv[2] === 'render') {
    for (const file of process.argv.slice(3)) renderAgain(file);
    return;
  }
  const { options, outDir } = parseOptions(process.argv.slice(2));
  const limit = openFileLimit();
  if (limit !== undefined && options.stations + 200 > limit && (options.csmsWorkers ?? 1) === 1 && options.scenario !== 'cluster') {
    process.stderr.write(
      `bench: warning: one CSMS process may hold at most ${limit} sockets (ulimit -n); ${options.stations} stations need more, or several CSMS workers (--csms-workers)\n`,
    );
  }
  if (options.store === 'embedded' && options.targets.includes('baseline')) {
    process.stderr.write('bench: the baseline needs PostgreSQL; with --store embedded only Stroom runs\n');
    options.targets = options.targets.filter((t) => t !== 'baseline');
  }
  const needsPostgres = options.store === 'postgres' || options.targets.includes('baseline');
  const ctx: RunContext = {
    options,
    postgres: needsPostgres ? await BenchPostgres.connect() : undefined,
    logDir: makeLogDir(),
    notes: [],
    cleanups: new Set(),
  };

  let interrupted = false;
  const abort = (reason: string, code: number): void => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\nbench: ${reason}; cleaning up\n`);
    void Promise.all([...ctx.cleanups].map((cleanup) => cleanup().catch(() => undefined)))
      .then(() => ctx.postgres?.close())
      .finally(() => process.exit(code));
  };
  process.on('SIGINT', () => abort('interrupted', 130));
  process.on('SIGTERM', () => abort('terminated', 143));
  const deadline = setTimeout(() => abort(`the run exceeded --timeout ${options.timeoutSeconds} s`, 1), options.timeoutSeconds * 1000);
  deadline.unref();

  const startedAt = new Date();
  const targets: TargetReport[] = [];
  const cluster = options.nodes === undefined ? undefined : await runCluster(ctx, options.nodes);
  if (cluster === undefined) for (const kind of options.targets) targets.push(await runScenario(ctx, kind));
  await ctx.postgres?.close();
  clearTimeout(deadline);

  const cpuList = cpus();
  const run: RunReport = {
    scenario: options.scenario,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`,
    options: { ...options },
    machine: { cpus: cpuList.length, model: cpuList[0]?.model ?? 'unknown', memoryBytes: totalmem(), node: process.version, kernel: release(), commit: COMMIT_AT_START },
    ...(() => {
      const soak = targets.find((t) => t.soak !== null)?.soak;
      return soak === undefined || soak === null ? {} : soakSummary(soak);
    })(),
    ...(cluster === undefined ? {} : clusterSummary(cluster)),
    targets,
    ratios: ratios(targets, options.scenario),
    notes: [],
    ...(cluster === undefined ? {} : { cluster }),
  };
  run.notes = cluster === undefined ? [...automaticNotes(run, options), ...ctx.notes] : ctx.notes;

  mkdirSync(outDir, { recursive: true });
  const stamp = startedAt
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/:/g, '-');
  const base = join(outDir, `${stamp}-${options.scenario}`);
  const { markdown, chartFile } = writeReport(run, base);
  const failed = targets.some((t) => t.error !== null) || (cluster?.error ?? null) !== null;
  if (!failed && !options.profile) rmSync(ctx.logDir, { recursive: true, force: true });
  else process.stderr.write(`bench: the targets' logs are kept in ${ctx.logDir}\n`);

  process.stdout.write(`\n${markdown.split('\n## ')[0]}\n`);
  if (Object.keys(run.ratios).length > 0) {
    process.stdout.write('Ratios:\n');
    for (const [name, value] of Object.entries(run.ratios)) process.stdout.write(`  ${name}: ${value}×\n`);
  }
  const shown = (file: string): string => relative(process.cwd(), file) || file;
  process.stdout.write(`\nwrote ${shown(`${base}.json`)}, ${shown(`${base}.md`)}${chartFile ? `, ${shown(chartFile)}` : ''}\n`);
  if (run.verdict !== undefined) process.stdout.write(`${options.scenario} verdict: ${run.verdict.toUpperCase()}\n`);
  process.exit(failed ? 1 : run.verdict === 'fail' ? 3 : 0);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
