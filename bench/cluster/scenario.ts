import { setTimeout as sleep } from 'node:timers/promises';
import { IDENTITY_ADDRESS_LIMITS } from '../../src/security/throttle.js';
import { Fleet, type ConnectSummary, type FleetProgress } from '../generator/fleet.js';
import { DEFAULT_STATION_PREFIX, stationId } from '../generator/fleet-data.js';
import { Histogram } from '../histogram.js';
import { forEachLimited } from '../http.js';
import { openLoop } from '../open-loop.js';
import { treeUsage } from '../proc.js';
import { bytes, ms, num } from '../report.js';
import { commandPayload, type BenchOptions, type RunContext } from '../scenarios.js';
import type { RunningTarget } from '../target.js';
import { ClusterProcesses, nodeName } from './processes.js';
import {
  clusterNotes,
  judgeCluster,
  type ClusterReport,
  type CommandFigures,
  type CommandSide,
  type FailoverFigures,
  type MetricsScrapes,
  type NodeFigures,
  type RedisMemory,
  type RedisRestartFigures,
  type SampleCheck,
  type StormFigures,
} from './report.js';

/**
 * `npm run bench -- cluster`: N Stroom nodes (CSMS_WORKERS=1 each) on this machine with a private Redis and a fresh
 * PostgreSQL database, and a fleet spread over them (station i on node i mod N). In order:
 *
 * 1. the reference: one node alone (no Redis) with as many stations as a cluster node will hold: its storm and its
 *    idle RSS per station;
 * 2. the cluster's boot storm, every station at once (`--storm-handshakes` in flight), with `/metrics` of every node
 *    scraped once a second meanwhile; then the fleet idles (heartbeats) and each node's RSS per station is read;
 * 3. Redis memory per station: used_memory before the storm and once the storm's login-throttle keys expired;
 * 4. the same operator command through the API at one steady rate, alternately to a station on the node that
 *    receives it (local) and on another node (cross-node, routed through Redis): p50 / p99 of each, and the ratio;
 * 5. Redis SIGKILLed with everything connected and started again empty: time until presence shows every station on
 *    a live node again, and whether any station lost its connection;
 * 6. one node SIGKILLed: its stations reconnect to the others (the generator's failover: back-off, next node) and the
 *    time until every one of them is booted again and shown by presence on a live node.
 * After each fault a sample of the stations gets a real command and is looked up through the API.
 */

/** One process may hold at most 20,000 open files here (hard limit); a node keeps room for its other files. */
export const MAX_STATIONS_PER_NODE = 16_000;
/** When a node is lost its stations spread over the others, which may then hold this many each. */
export const MAX_STATIONS_PER_NODE_AFTER_FAILOVER = 18_500;

export function defaultNodeCount(stations: number): number {
  return Math.max(3, Math.ceil(stations / MAX_STATIONS_PER_NODE), 1 + Math.ceil(stations / MAX_STATIONS_PER_NODE_AFTER_FAILOVER));
}

/** Why `nodes` cannot carry `stations` on this machine, or undefined. */
export function nodeCountProblem(stations: number, nodes: number): string | undefined {
  if (!Number.isInteger(nodes) || nodes < 2) return 'a cluster needs at least 2 nodes';
  const perNode = Math.ceil(stations / nodes);
  if (perNode > MAX_STATIONS_PER_NODE) {
    return (
      `${nodes} nodes would hold ${perNode} stations each, but one process may hold at most ${MAX_STATIONS_PER_NODE} sockets here ` +
      `(the hard open-file limit is 20,000 per process): use at least ${Math.ceil(stations / MAX_STATIONS_PER_NODE)} nodes`
    );
  }
  const afterFailover = Math.ceil(stations / (nodes - 1));
  if (afterFailover > MAX_STATIONS_PER_NODE_AFTER_FAILOVER) {
    return (
      `when one of ${nodes} nodes is killed the others would hold ${afterFailover} stations each (at most ${MAX_STATIONS_PER_NODE_AFTER_FAILOVER} ` +
      `fit under the open-file limit): use at least ${1 + Math.ceil(stations / MAX_STATIONS_PER_NODE_AFTER_FAILOVER)} nodes`
    );
  }
  return undefined;
}

const STATION_PREFIX = DEFAULT_STATION_PREFIX;
/** The fleet idles (heartbeats only) this long before RSS is read. */
const IDLE_SECONDS = 10;
const SETTLE_MS = 2000;
/** Redis stays dead this long before it is started again. */
const REDIS_DOWN_SECONDS = 2;
const REBUILD_DEADLINE_SECONDS = 60;
const FAILOVER_DEADLINE_SECONDS = 90;
/** Stations given a real command (and looked up) after each fault. */
const SAMPLE_STATIONS = 50;
/** A station whose node died comes back like a real one: 1 s (+ up to 2 s) later, the wait doubling per failed try up to 8 s. */
const FAILOVER = { backoffMs: 1000, randomMs: 2000, doublings: 3 };

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function round(value: number, digits: number): number {
  return Number(value.toFixed(digits));
}

/** [seconds since the storm started, stations Accepted by then] at every 2 % of the fleet, from each station's own time to Accepted. */
function acceptedOverTime(toAccepted: Histogram): [number, number][] {
  if (toAccepted.count === 0) return [];
  const points: [number, number][] = [[0, 0]];
  for (let i = 1; i <= 50; i++) points.push([round(toAccepted.quantile(i / 50) / 1e6, 3), Math.round((i / 50) * toAccepted.count)]);
  return points;
}

/** Counts added between two cumulative snapshots. */
function since(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, count] of Object.entries(after)) if (count > (before[key] ?? 0)) out[key] = count - (before[key] ?? 0);
  return out;
}

/** `count` of `ids`, evenly spaced. */
function spread<T>(ids: readonly T[], count: number): T[] {
  const n = Math.min(count, ids.length);
  return Array.from({ length: n }, (_, i) => ids[Math.floor((i * ids.length) / n)] as T);
}

/** GET /metrics of each node once a second (never two at once per node), timed. */
class MetricsScraper {
  readonly latency: Histogram[];
  readonly failures: number[];
  readonly timeline: [number, number][][];
  private running = true;
  private readonly loops: Promise<void>[];

  constructor(
    nodes: readonly RunningTarget[],
    private readonly origin: number,
  ) {
    this.latency = nodes.map(() => new Histogram());
    this.failures = nodes.map(() => 0);
    this.timeline = nodes.map(() => []);
    this.loops = nodes.map((node, i) => this.scrape(node, i));
  }

  private async scrape(node: RunningTarget, i: number): Promise<void> {
    while (this.running) {
      const started = performance.now();
      const answer = await node.api.send('GET', '/metrics', undefined, 10_000).catch(() => undefined);
      const took = performance.now() - started;
      if (answer?.status === 200) {
        this.latency[i]?.record(took * 1000);
        this.timeline[i]?.push([round((started - this.origin) / 1000, 2), round(took, 2)]);
      } else {
        this.failures[i] = (this.failures[i] ?? 0) + 1;
      }
      await sleep(Math.max(0, 1000 - took));
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  figures(i: number): MetricsScrapes {
    return { ...(this.latency[i] ?? new Histogram()).summary(), failures: this.failures[i] ?? 0 };
  }
}

interface StormResult {
  figures: StormFigures;
  scraper: MetricsScraper;
  cpuSeconds: number[];
}

class ClusterBench {
  readonly report: ClusterReport;
  private processes: ClusterProcesses | undefined;
  private fleet: Fleet | undefined;
  private progressListener: ((progress: FleetProgress) => void) | undefined;
  private readonly stationIds: string[];
  private readonly payload: unknown;
  private readonly cleanup = (): Promise<void> => this.stop();

  constructor(
    private readonly ctx: RunContext,
    private readonly o: BenchOptions,
    private readonly nodeCount: number,
  ) {
    this.stationIds = Array.from({ length: o.stations }, (_, i) => stationId(STATION_PREFIX, i));
    this.payload = commandPayload(o.action);
    this.report = {
      settings: {
        stations: o.stations,
        nodes: nodeCount,
        stationsPerNode: Math.ceil(o.stations / nodeCount),
        stationsPerAddress: o.stationsPerAddress,
        sourceAddresses: Math.ceil(o.stations / o.stationsPerAddress),
        generatorWorkers: 0,
        evses: o.evses,
        stormHandshakes: o.stormHandshakes,
        heartbeatIntervalSeconds: o.heartbeatIntervalSeconds,
        idleSeconds: IDLE_SECONDS,
        commandRate: o.rates[0] ?? 50,
        commandSeconds: o.durationSeconds,
        commandWarmupSeconds: o.warmupSeconds,
        action: o.action,
        redisDownSeconds: REDIS_DOWN_SECONDS,
        redisPrefix: '',
        registration: 'seeded',
      },
      single: null,
      storm: null,
      nodes: [],
      redis: null,
      commands: null,
      redisRestart: null,
      failover: null,
      rssPerStationRatio: null,
      checks: [],
      verdict: 'inconclusive',
      error: null,
    };
  }

  async run(): Promise<void> {
    const { ctx, o } = this;
    if (ctx.postgres === undefined) throw new Error('the cluster benchmark needs PostgreSQL (DATABASE_URL)');
    ctx.cleanups.add(this.cleanup);
    this.processes = await ClusterProcesses.start({
      postgres: ctx.postgres,
      logDir: ctx.logDir,
      heartbeatIntervalSeconds: o.heartbeatIntervalSeconds,
      callTimeoutMs: o.callTimeoutMs,
      profile: o.profile,
    });
    this.report.settings.redisPrefix = this.processes.redisPrefix;
    log(`[cluster] database ${this.processes.database.name}, Redis ${this.processes.redis.url} (prefix ${this.processes.redisPrefix})`);
    await this.reference(this.processes);
    const nodes = await this.processes.startNodes(this.nodeCount);
    log(`[cluster] ${nodes.length} nodes up: ${nodes.map((n, k) => `${nodeName(k)} :${n.ocppPort}`).join(', ')}`);
    const fleet = await this.startFleet(o.stations, nodes);
    this.fleet = fleet;
    const stormEnd = await this.clusterStorm(this.processes, nodes, fleet);
    this.report.commands = await this.commands(this.processes, nodes);
    this.report.redis = await this.redisSteady(this.processes, stormEnd);
    this.report.redisRestart = await this.redisRestart(this.processes, nodes, fleet);
    this.report.failover = await this.killNode(this.processes, nodes, fleet);
  }

  private async startFleet(stations: number, nodes: readonly RunningTarget[]): Promise<Fleet> {
    const o = this.o;
    const fleet = await Fleet.start({
      host: '127.0.0.1',
      ports: nodes.map((n) => n.ocppPort),
      stations,
      workers: o.generatorWorkers,
      stationPrefix: STATION_PREFIX,
      ocpp16Share: 0,
      basicAuth: true,
      fleetPassword: (this.processes as ClusterProcesses).fleetPassword,
      failover: FAILOVER,
      stationsPerAddress: o.stationsPerAddress,
      evses: o.evses,
      tokenCount: 1,
      handshakeTimeoutMs: 30_000,
      callTimeoutMs: o.callTimeoutMs,
      onProgress: (p) => this.progressListener?.(p),
      ...(o.profile ? { profileDir: this.ctx.logDir } : {}),
    });
    this.report.settings.generatorWorkers = Math.max(this.report.settings.generatorWorkers, fleet.workerCount);
    return fleet;
  }

  // ---------------------------------------------------------------------------------------- 1. the lone node

  private async reference(processes: ClusterProcesses): Promise<void> {
    const o = this.o;
    const alone = await processes.startAlone();
    const seeded = performance.now();
    await processes.seed(this.stationIds);
    log(`[cluster] seeded ${num(o.stations)} stations in the database in ${num((performance.now() - seeded) / 1000, 1)} s (one fleet password, a verifier per row)`);
    const stations = this.report.settings.stationsPerNode;
    const rssBefore = await this.settledRss(alone);
    const fleet = await this.startFleet(stations, [alone]);
    try {
      const handshakes = o.stormHandshakes === 0 ? 0 : Math.max(1, Math.round(o.stormHandshakes / this.nodeCount));
      const storm = await this.storm('lone node', fleet, [alone], handshakes);
      await this.idle(fleet, storm.figures.ready);
      const rssIdle = await this.settledRss(alone);
      this.report.single = {
        stations,
        storm: storm.figures,
        rssBeforeBytes: rssBefore,
        rssIdleBytes: rssIdle,
        rssPerStationBytes: storm.figures.ready > 0 ? Math.round((rssIdle - rssBefore) / storm.figures.ready) : null,
        metrics: storm.scraper.figures(0),
      };
      log(
        `[cluster] lone node: ${num(storm.figures.ready)} idle stations, RSS ${bytes(rssBefore)} → ${bytes(rssIdle)}: ${bytes(this.report.single.rssPerStationBytes)} per station`,
      );
    } finally {
      await fleet.disconnect().catch(() => undefined);
      await fleet.stop();
      await alone.stop();
    }
  }

  // ---------------------------------------------------------------------------------------- 2. boot storm, idle RSS

  /** Returns when the storm ended (performance.now() ms). */
  private async clusterStorm(processes: ClusterProcesses, nodes: readonly RunningTarget[], fleet: Fleet): Promise<number> {
    const o = this.o;
    const rssBefore = await Promise.all(nodes.map((node) => this.settledRss(node)));
    const redisBefore = await processes.redis.usedMemory();
    const storm = await this.storm('cluster', fleet, nodes, o.stormHandshakes);
    const stormEnd = performance.now();
    this.report.storm = storm.figures;
    const redisAfterStorm = await processes.redis.usedMemory();
    const keysAfterStorm = await processes.redis.keyCount();
    await this.idle(fleet, storm.figures.ready);
    const rssIdle = await Promise.all(nodes.map((node) => this.settledRss(node)));
    const { readyByNode } = await fleet.failoverStatus();
    this.report.nodes = nodes.map((node, k): NodeFigures => ({
      nodeId: nodeName(k),
      stations: readyByNode[k] ?? 0,
      rssBeforeBytes: rssBefore[k] ?? 0,
      rssIdleBytes: rssIdle[k] ?? 0,
      rssPerStationBytes: (readyByNode[k] ?? 0) > 0 ? Math.round(((rssIdle[k] ?? 0) - (rssBefore[k] ?? 0)) / (readyByNode[k] ?? 1)) : null,
      cpuStormSeconds: round(storm.cpuSeconds[k] ?? 0, 2),
      metrics: storm.scraper.figures(k),
      metricsTimeline: storm.scraper.timeline[k] ?? [],
      stationsAfterFailover: null,
    }));
    const single = this.report.single?.rssPerStationBytes ?? null;
    const highest = Math.max(...this.report.nodes.map((n) => n.rssPerStationBytes ?? 0));
    this.report.rssPerStationRatio = single === null || single <= 0 || highest <= 0 ? null : round(highest / single, 2);
    this.report.redis = {
      beforeBytes: redisBefore,
      afterStormBytes: redisAfterStorm,
      keysAfterStorm,
      steadyBytes: redisAfterStorm,
      keysSteady: keysAfterStorm,
      bytesPerStationAfterStorm: storm.figures.ready > 0 ? Math.round((redisAfterStorm - redisBefore) / storm.figures.ready) : null,
      changeLogBytes: 0,
      bytesPerStation: null,
    };
    log(
      `[cluster] idle: RSS per station ${this.report.nodes.map((n) => bytes(n.rssPerStationBytes)).join(', ')} (lone node ${bytes(single)}); ` +
        `Redis ${bytes(redisBefore)} → ${bytes(redisAfterStorm)} right after the storm (${num(keysAfterStorm)} keys)`,
    );
    return stormEnd;
  }

  /** Every station not connected connects, boots and reports its connectors; /metrics of every node is timed meanwhile. */
  private async storm(label: string, fleet: Fleet, nodes: readonly RunningTarget[], handshakes: number): Promise<StormResult> {
    const started = performance.now();
    const cpuBefore = nodes.map((node) => treeUsage(node.pid).cpuSeconds);
    const generatorBefore = fleet.cpuSeconds();
    const scraper = new MetricsScraper(nodes, started);
    let printed = 0;
    this.progressListener = (p) => {
      const t = (performance.now() - started) / 1000;
      if (process.stderr.isTTY || t - printed >= 5) {
        printed = t;
        const rss = nodes.reduce((sum, node) => sum + treeUsage(node.pid).rssBytes, 0);
        log(`[cluster ${label} storm] t=${num(t)}s ready ${num(p.ready)}/${num(p.connected)} connected · nodes' RSS ${bytes(rss)}`);
      }
    };
    let summary: ConnectSummary;
    try {
      summary = await fleet.connect({ retries: 2, ...(handshakes > 0 && { totalConcurrency: handshakes }) });
    } finally {
      this.progressListener = undefined;
      await scraper.stop();
    }
    const cpuSeconds = nodes.map((node, k) => treeUsage(node.pid).cpuSeconds - (cpuBefore[k] ?? 0));
    const csmsCpu = cpuSeconds.reduce((a, b) => a + b, 0);
    const bootFailures = summary.attempted - summary.ready;
    const figures: StormFigures = {
      stations: summary.attempted,
      ready: summary.ready,
      failures: summary.failures,
      bootFailures,
      retries: summary.retries,
      elapsedSeconds: round(summary.elapsedMs / 1000, 3),
      timeToAllAcceptedSeconds: round(summary.toAccepted.max / 1e6, 3),
      handshake: summary.handshake.summary(),
      boot: summary.boot.summary(),
      csmsCpuSeconds: round(csmsCpu, 2),
      csmsCpuMillisPerStation: summary.attempted > 0 ? round((csmsCpu * 1000) / summary.attempted, 3) : null,
      generatorCpuSeconds: round(fleet.cpuSeconds() - generatorBefore, 2),
      timeline: acceptedOverTime(summary.toAccepted),
    };
    log(
      `[cluster] ${label} storm: ${num(figures.ready)}/${num(figures.stations)} ready, all Accepted after ${num(figures.timeToAllAcceptedSeconds, 2)} s, ` +
        `${num(bootFailures)} failed ${JSON.stringify(figures.failures)}, boot p99 ${ms(figures.boot.p99)} ms, CSMS ${num(figures.csmsCpuMillisPerStation, 2)} ms CPU per station`,
    );
    return { figures, scraper, cpuSeconds };
  }

  /** The fleet as it idles (a heartbeat per station per interval), then a pause before memory is read. */
  private async idle(fleet: Fleet, ready: number): Promise<void> {
    if (ready > 0) {
      await fleet.phase({
        mode: 'open',
        mix: 'heartbeat',
        rate: ready / this.o.heartbeatIntervalSeconds,
        concurrency: 1,
        durationMs: IDLE_SECONDS * 1000,
        drainMs: 3000,
      });
    }
    await sleep(SETTLE_MS);
  }

  /** RSS of a node's process tree: the mean of three readings 300 ms apart. */
  private async settledRss(node: RunningTarget): Promise<number> {
    await sleep(SETTLE_MS);
    let total = 0;
    for (let i = 0; i < 3; i++) {
      if (i > 0) await sleep(300);
      total += treeUsage(node.pid).rssBytes;
    }
    return Math.round(total / 3);
  }

  // ---------------------------------------------------------------------------------------- 3. Redis memory

  /** Once every login-throttle key of the storm has expired (their window is 60 s): what stays per station. */
  private async redisSteady(processes: ClusterProcesses, stormEnd: number): Promise<RedisMemory | null> {
    const redis = this.report.redis;
    const ready = this.report.storm?.ready ?? 0;
    if (redis === null) return null;
    const wait = stormEnd + IDENTITY_ADDRESS_LIMITS.windowMs + 3000 - performance.now();
    if (wait > 0) {
      log(`[cluster] waiting ${num(wait / 1000)} s for the storm's login-throttle keys to expire before reading Redis memory`);
      await sleep(wait);
    }
    const steadyBytes = await processes.redis.usedMemory();
    const keysSteady = await processes.redis.keyCount();
    const changeLogBytes = await processes.redis.keyBytes(`${processes.redisPrefix}{changes}`);
    const steady: RedisMemory = {
      ...redis,
      steadyBytes,
      keysSteady,
      changeLogBytes,
      bytesPerStation: ready > 0 ? Math.round((steadyBytes - redis.beforeBytes - changeLogBytes) / ready) : null,
    };
    log(
      `[cluster] Redis: ${bytes(redis.beforeBytes)} → ${bytes(steadyBytes)} with ${num(ready)} stations (${num(keysSteady)} keys): ${num(steady.bytesPerStation)} B per station`,
    );
    return steady;
  }

  // ---------------------------------------------------------------------------------------- 4. commands

  private async commands(processes: ClusterProcesses, nodes: readonly RunningTarget[]): Promise<CommandFigures> {
    const o = this.o;
    const n = nodes.length;
    // Only stations that are connected (a station the storm left out would answer 409 and tell nothing about routing).
    const held = await this.stationsByNode(processes, n);
    const rate = this.report.settings.commandRate;
    const sides: Record<'local' | 'crossNode', { sent: number; statuses: Record<string, number>; latency: Histogram }> = {
      local: { sent: 0, statuses: {}, latency: new Histogram() },
      crossNode: { sent: 0, statuses: {}, latency: new Histogram() },
    };
    const send = async (k: number, intended: number, record: boolean): Promise<void> => {
      // Even k: a station on the node whose API is asked; odd k: a station on another node. Every node's API takes both.
      const local = k % 2 === 0;
      const pair = Math.floor(k / 2);
      const via = pair % n;
      const holder = local ? via : (via + 1 + (Math.floor(pair / n) % (n - 1))) % n;
      const stations = held[holder] ?? [];
      if (stations.length === 0) return;
      const id = stations[(pair * 7919) % stations.length] as string;
      const node = nodes[via] as RunningTarget;
      const answer = await node.api
        .send('POST', `/api/v1/stations/${encodeURIComponent(id)}/commands/${o.action}`, this.payload, o.callTimeoutMs + 10_000)
        .catch(() => undefined);
      if (!record) return;
      const side = sides[local ? 'local' : 'crossNode'];
      const status = answer === undefined ? 'error' : String(answer.status);
      side.sent++;
      side.statuses[status] = (side.statuses[status] ?? 0) + 1;
      side.latency.record((performance.now() - intended) * 1000);
    };
    log(`[cluster] ${o.action} at ${num(rate)}/s, half local and half cross-node: ${num(o.warmupSeconds)} s warm-up, ${num(o.durationSeconds)} s measured`);
    if (o.warmupSeconds > 0) await openLoop(rate, o.warmupSeconds, (k, intended) => send(k, intended, false));
    await openLoop(rate, o.durationSeconds, (k, intended) => send(k, intended, true));
    const side = (s: (typeof sides)['local']): CommandSide => ({ sent: s.sent, statuses: s.statuses, latency: s.latency.summary() });
    const local = side(sides.local);
    const crossNode = side(sides.crossNode);
    const ratio = (a: number, b: number): number | null => (a > 0 && b > 0 ? round(a / b, 2) : null);
    const figures: CommandFigures = {
      action: o.action,
      rate,
      seconds: o.durationSeconds,
      local,
      crossNode,
      p50Ratio: ratio(crossNode.latency.p50, local.latency.p50),
      p99Ratio: ratio(crossNode.latency.p99, local.latency.p99),
    };
    log(
      `[cluster] ${o.action}: local p50 ${ms(local.latency.p50)} p99 ${ms(local.latency.p99)} ms ${JSON.stringify(local.statuses)}; ` +
        `cross-node p50 ${ms(crossNode.latency.p50)} p99 ${ms(crossNode.latency.p99)} ms ${JSON.stringify(crossNode.statuses)}: p99 ×${figures.p99Ratio ?? '–'}`,
    );
    return figures;
  }

  // ---------------------------------------------------------------------------------------- 5. Redis restart

  private async redisRestart(processes: ClusterProcesses, nodes: readonly RunningTarget[], fleet: Fleet): Promise<RedisRestartFigures> {
    const presence = processes.presence();
    const connected = (await this.stationsByNode(processes, nodes.length)).flat();
    const expected = connected.length;
    const before = await fleet.failoverStatus();
    const rebuildsBefore = await Promise.all(nodes.map((node) => node.gauges(['csms_presence_rebuilds_total'])));
    log(`[cluster] Redis SIGKILLed with ${num(expected)} stations present; back in ${REDIS_DOWN_SECONDS} s`);
    await processes.redis.kill();
    await sleep(REDIS_DOWN_SECONDS * 1000);
    await processes.redis.restart();
    const upAt = performance.now();
    const timeline: [number, number][] = [];
    let rebuildSeconds: number | null = null;
    let readSeconds: number | null = null;
    let present = 0;
    while (performance.now() - upAt < REBUILD_DEADLINE_SECONDS * 1000) {
      const readAt = performance.now();
      const census = await presence.census(this.stationIds).catch(() => undefined);
      const t = round((performance.now() - upAt) / 1000, 2);
      if (census !== undefined) {
        readSeconds = round((performance.now() - readAt) / 1000, 3);
        present = census.present;
        timeline.push([t, present]);
        if (present >= expected) {
          rebuildSeconds = t;
          break;
        }
      }
      await sleep(200);
    }
    // Stations that lost their connection meanwhile would show here (and come back through the failover).
    await sleep(1000);
    const after = await fleet.failoverStatus();
    const rebuildsAfter = await Promise.all(nodes.map((node) => node.gauges(['csms_presence_rebuilds_total'])));
    const rebuildsByNode: Record<string, number> = {};
    nodes.forEach((_, k) => {
      rebuildsByNode[nodeName(k)] = (rebuildsAfter[k]?.csms_presence_rebuilds_total ?? 0) - (rebuildsBefore[k]?.csms_presence_rebuilds_total ?? 0);
    });
    const sample = await this.sampleCheck(nodes, spread(connected, SAMPLE_STATIONS), undefined);
    const figures: RedisRestartFigures = {
      downSeconds: REDIS_DOWN_SECONDS,
      rebuildSeconds,
      present,
      stationsDropped: after.lost - before.lost,
      readyAfter: after.readyByNode.reduce((a, b) => a + b, 0),
      rebuildsByNode,
      readSeconds,
      timeline,
      sample,
    };
    log(
      `[cluster] Redis back: ${num(present)}/${num(expected)} present after ${rebuildSeconds === null ? 'the deadline' : `${num(rebuildSeconds, 2)} s`}, ` +
        `${num(figures.stationsDropped)} stations dropped; sample ${JSON.stringify(sample.statuses)}, ${sample.shownOnLiveNode}/${sample.stations} shown on a live node`,
    );
    return figures;
  }

  // ---------------------------------------------------------------------------------------- 6. a node lost

  private async killNode(processes: ClusterProcesses, nodes: readonly RunningTarget[], fleet: Fleet): Promise<FailoverFigures> {
    const presence = processes.presence();
    const victimIndex = nodes.length - 1;
    const victim = nodes[victimIndex] as RunningTarget;
    const victimId = nodeName(victimIndex);
    const located = await presence.locate(this.stationIds);
    const victimStations = this.stationIds.filter((_, i) => located[i] === victimId);
    const before = await fleet.failoverStatus();
    const killedAtEpoch = Date.now();
    const killedAt = performance.now();
    log(`[cluster] SIGKILL ${victimId} holding ${num(victimStations.length)} stations`);
    await victim.kill('SIGKILL');
    const timeline: [number, number][] = [];
    let presenceSeconds: number | null = null;
    let rebootedSeconds: number | null = null;
    let status = before;
    let lastPrint = 0;
    while (performance.now() - killedAt < FAILOVER_DEADLINE_SECONDS * 1000) {
      status = await fleet.failoverStatus();
      const where = await presence.locate(victimStations).catch(() => undefined);
      const t = round((performance.now() - killedAt) / 1000, 2);
      if (where !== undefined) {
        const reachable = where.filter((node) => node !== undefined && node !== victimId).length;
        timeline.push([t, reachable]);
        if (presenceSeconds === null && reachable === victimStations.length) presenceSeconds = t;
      }
      const lost = status.lost - before.lost;
      const settled = lost >= victimStations.length && status.rejoining === 0;
      if (settled && rebootedSeconds === null && status.failed === before.failed) rebootedSeconds = round((status.lastRejoinAt - killedAtEpoch) / 1000, 2);
      if (t - lastPrint >= 5) {
        lastPrint = t;
        log(
          `[cluster] t=${num(t)}s after the kill: ${num(status.rejoined - before.rejoined)}/${num(lost)} lost stations back, ${num(timeline.at(-1)?.[1] ?? 0)} shown elsewhere`,
        );
      }
      if (settled && presenceSeconds !== null) break;
      await sleep(200);
    }
    const survivors = nodes.filter((_, k) => k !== victimIndex);
    const sample = await this.sampleCheck(survivors, spread(victimStations, SAMPLE_STATIONS), victimId);
    const census = await presence.census(this.stationIds);
    this.report.nodes.forEach((node) => (node.stationsAfterFailover = census.byNode[node.nodeId] ?? 0));
    const figures: FailoverFigures = {
      nodeId: victimId,
      stations: victimStations.length,
      reachableSeconds: presenceSeconds === null || rebootedSeconds === null ? null : Math.max(presenceSeconds, rebootedSeconds),
      rebootedSeconds,
      presenceSeconds,
      deadlineSeconds: FAILOVER_DEADLINE_SECONDS,
      rejoined: status.rejoined - before.rejoined,
      failed: status.failed - before.failed,
      failures: since(status.failures, before.failures),
      retries: status.retries - before.retries,
      retryReasons: since(status.retryReasons, before.retryReasons),
      downtime: status.downtime.summary(),
      timeline,
      sample,
    };
    log(
      `[cluster] ${victimId}'s ${num(figures.stations)} stations: re-booted after ${num(rebootedSeconds, 2)} s, shown on live nodes after ${num(presenceSeconds, 2)} s, ` +
        `${num(figures.rejoined)} back, ${num(figures.failed)} refused for good, ${num(figures.retries)} tries retried; sample ${JSON.stringify(sample.statuses)}, ${sample.shownOnLiveNode}/${sample.stations} shown on a live node`,
    );
    return figures;
  }

  /** The stations presence shows on each node (by index), in index order. */
  private async stationsByNode(processes: ClusterProcesses, nodes: number): Promise<string[][]> {
    const held: string[][] = Array.from({ length: nodes }, () => []);
    const located = await processes.presence().locate(this.stationIds);
    const index = new Map(Array.from({ length: nodes }, (_, k) => [nodeName(k), k]));
    located.forEach((node, i) => {
      const k = node === undefined ? undefined : index.get(node);
      if (k !== undefined) held[k]?.push(this.stationIds[i] as string);
    });
    return held;
  }

  /** A real command to each station of the sample through a live node, and its view through another one. */
  private async sampleCheck(live: readonly RunningTarget[], ids: readonly string[], deadNodeId: string | undefined): Promise<SampleCheck> {
    const liveIds = new Set(this.report.nodes.map((n) => n.nodeId).filter((id) => id !== deadNodeId));
    const latency = new Histogram();
    const statuses: Record<string, number> = {};
    let shownOnLiveNode = 0;
    await forEachLimited(ids.length, 10, async (i) => {
      const id = encodeURIComponent(ids[i] as string);
      const via = live[i % live.length] as RunningTarget;
      const viewer = live[(i + 1) % live.length] as RunningTarget;
      const started = performance.now();
      const answer = await via.api.send('POST', `/api/v1/stations/${id}/commands/${this.o.action}`, this.payload, this.o.callTimeoutMs + 10_000).catch(() => undefined);
      latency.record((performance.now() - started) * 1000);
      const status = answer === undefined ? 'error' : String(answer.status);
      statuses[status] = (statuses[status] ?? 0) + 1;
      const view = await viewer.api.send('GET', `/api/v1/stations/${id}`).catch(() => undefined);
      if (view?.status !== 200) return;
      const station = JSON.parse(view.text) as { connected?: unknown; nodeId?: unknown };
      if (station.connected === true && typeof station.nodeId === 'string' && liveIds.has(station.nodeId)) shownOnLiveNode++;
    });
    return { stations: ids.length, statuses, latency: latency.summary(), shownOnLiveNode };
  }

  async stop(): Promise<void> {
    this.ctx.cleanups.delete(this.cleanup);
    await this.fleet?.stop().catch(() => undefined);
    this.fleet = undefined;
    await this.processes?.stop();
    this.processes = undefined;
  }
}

/** Runs the whole cluster benchmark; a failure ends up in the report (with what was measured before it), not as an exception. */
export async function runCluster(ctx: RunContext, nodes: number): Promise<ClusterReport> {
  const bench = new ClusterBench(ctx, ctx.options, nodes);
  try {
    await bench.run();
  } catch (err) {
    bench.report.error = (err as Error).message;
    log(`[cluster] failed: ${(err as Error).stack ?? String(err)}`);
  } finally {
    await bench.stop();
  }
  Object.assign(bench.report, judgeCluster(bench.report));
  ctx.notes.push(...clusterNotes(bench.report));
  return bench.report;
}
