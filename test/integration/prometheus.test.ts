/**
 * The SRE side, verified for real: a real Prometheus scrapes a running CSMS under a short load (stations
 * booting and heartbeating, an Authorize, an operator command, an invalid frame), and then
 *
 * - promtool accepts grafana/alerts.yml, grafana/prometheus.yml and the generated configuration;
 * - every PromQL expression of the Grafana dashboards and of the alert rules evaluates without error
 *   through Prometheus' HTTP API, and the core panels show data;
 * - every metric they reference is one the CSMS exports (a dashboard that references a metric we do not
 *   export fails here);
 * - Prometheus loaded every alert rule and evaluates it without error.
 *
 * Besides the single node (no Redis: the cluster panels and rules must evaluate there too, to nothing), Prometheus
 * scrapes a two-node cluster (one PostgreSQL, one Redis) with a station on one node and commands through the other:
 * the dashboard's cluster row shows stations per node, routed commands and their latency, and Redis up; a cluster
 * node stopped makes StroomClusterNodeLost pending for that node.
 *
 * Needs the `prometheus` and `promtool` binaries (Debian package `prometheus`).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newIdToken, registerIdToken } from '../support/charging.js';
import { freePort } from '../../bench/free-port.js';
import { REPO_ROOT, startTestCsms, type TestCsms } from '../support/csms.js';
import { TestCluster, type ClusterNode } from '../support/cluster.js';
import { sleep, waitFor, type TestStation } from '../support/station.js';

const GRAFANA_DIR = join(REPO_ROOT, 'grafana');
const ALERTS_FILE = join(GRAFANA_DIR, 'alerts.yml');
const DASHBOARD_DIR = join(GRAFANA_DIR, 'dashboards');

/** Series Prometheus makes itself for every scrape: alert rules may use them, the CSMS cannot export them. */
const PROMETHEUS_SYNTHETIC = new Set(['up']);

/** What Grafana substitutes before a query reaches Prometheus. */
const GRAFANA_VARIABLES: Record<string, string> = {
  $__rate_interval: '15s',
  $__interval: '5s',
  $__range: '1m',
  $node: '.*',
  $action: '.*',
};

class MissingPrometheusError extends Error {
  constructor() {
    super('prometheus is not installed: apt-get install prometheus');
    this.name = 'MissingPrometheusError';
    // One line, not a stack: the fix is an install.
    this.stack = `${this.name}: ${this.message}`;
  }
}

function onPath(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, binary), constants.X_OK);
      return join(dir, binary);
    } catch {
      /* next */
    }
  }
  return undefined;
}

function run(command: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 20_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, output: `${stdout}${stderr}`.trim() });
    });
  });
}

interface Expression {
  where: string;
  expr: string;
}

/** Every `expr` in a dashboard, with the title of the panel it belongs to. */
function dashboardExpressions(node: unknown, where: string, out: Expression[]): Expression[] {
  if (Array.isArray(node)) {
    for (const item of node) dashboardExpressions(item, where, out);
  } else if (typeof node === 'object' && node !== null) {
    const record = node as Record<string, unknown>;
    const here = typeof record.title === 'string' ? `${where} › ${record.title}` : where;
    if (typeof record.expr === 'string') out.push({ where: here, expr: record.expr });
    for (const [key, value] of Object.entries(record)) if (key !== 'expr') dashboardExpressions(value, here, out);
  }
  return out;
}

/** The expressions of the panels below the dashboard's "Cluster" row (up to the next row). */
function clusterRowExpressions(dashboard: Record<string, unknown>, file: string): Expression[] {
  const panels = (dashboard.panels ?? []) as Record<string, unknown>[];
  const start = panels.findIndex((panel) => panel.type === 'row' && String(panel.title).startsWith('Cluster'));
  if (start < 0) return [];
  const next = panels.findIndex((panel, index) => index > start && panel.type === 'row');
  return dashboardExpressions(panels.slice(start + 1, next < 0 ? undefined : next), `${file} › Cluster`, []);
}

/** label_values(selector, label) queries of a dashboard's variables. */
function variableQueries(dashboard: Record<string, unknown>): { name: string; selector: string; label: string }[] {
  const list = ((dashboard.templating as { list?: unknown[] } | undefined)?.list ?? []) as Record<string, unknown>[];
  const out: { name: string; selector: string; label: string }[] = [];
  for (const variable of list) {
    if (variable.type !== 'query') continue;
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-conversion -- the dashboard is JSON read from disk, typed here but not checked
    const query = typeof variable.query === 'string' ? variable.query : String((variable.query as { query?: string }).query ?? '');
    const match = /^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$/.exec(query.trim());
    if (match === null) throw new Error(`variable ${String(variable.name)}: only label_values(selector, label) is checked here, got ${query}`);
    out.push({ name: String(variable.name), selector: match[1] as string, label: match[2] as string });
  }
  return out;
}

function substitute(expr: string): string {
  let out = expr;
  // Longest names first, so $__rate_interval is not mistaken for $__interval… with a suffix.
  for (const name of Object.keys(GRAFANA_VARIABLES).sort((a, b) => b.length - a.length)) out = out.split(name).join(GRAFANA_VARIABLES[name]);
  return out;
}

const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan', 'atan2']);

/** The metric names a PromQL expression selects (not functions, aggregations, labels or keywords). */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // strings
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\b\d+(\.\d+)?(ms|s|m|h|d|w|y)\b/g, ' ') // durations
    .replace(/\b\d+(\.\d+)?([eE][-+]?\d+)?\b/g, ' '); // numbers
  const names = new Set<string>();
  for (const match of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const name = match[0];
    const after = stripped.slice(match.index + name.length);
    if (/^\s*\(/.test(after) || PROMQL_KEYWORDS.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return [...names];
}

/** Sample names the exposition text can contain: every family, with _bucket/_sum/_count for histograms and summaries. */
function exportedNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const match of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, family, type] = match as unknown as [string, string, string];
    names.add(family);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(family + suffix);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(family + suffix);
  }
  return names;
}

interface QueryAnswer {
  status: string;
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

describe('Grafana dashboards and alert rules against a real Prometheus scraping a live CSMS', () => {
  let csms: TestCsms | undefined;
  /** Two cluster nodes (child processes, REDIS_URL, one database): the cluster row and rules need their metrics. */
  let cluster: TestCluster | undefined;
  let clusterNodes: ClusterNode[] = [];
  let prometheus: ChildProcess | undefined;
  let prometheusLog = '';
  let prometheusUrl = '';
  let workDir = '';
  let generatedConfig = '';
  let exposition = '';
  const dashboards: { file: string; json: Record<string, unknown> }[] = [];

  async function query(expr: string): Promise<QueryAnswer> {
    const res = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
    return (await res.json()) as QueryAnswer;
  }

  beforeAll(async () => {
    const binary = onPath('prometheus');
    if (binary === undefined || onPath('promtool') === undefined) throw new MissingPrometheusError();
    for (const file of readdirSync(DASHBOARD_DIR).filter((f) => f.endsWith('.json'))) {
      dashboards.push({ file, json: JSON.parse(readFileSync(join(DASHBOARD_DIR, file), 'utf8')) as Record<string, unknown> });
    }

    csms = await startTestCsms();
    cluster = await TestCluster.create();
    clusterNodes = await cluster.startNodes('prom-a', 'prom-b');
    workDir = await mkdtemp(join(tmpdir(), 'stroom-prometheus-'));
    const port = await freePort();
    prometheusUrl = `http://127.0.0.1:${port}`;
    generatedConfig = join(workDir, 'prometheus.yml');
    await writeFile(
      generatedConfig,
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'rule_files:',
        `  - ${JSON.stringify(ALERTS_FILE)}`,
        'scrape_configs:',
        '  - job_name: stroom',
        '    metrics_path: /metrics',
        '    static_configs:',
        `      - targets: [${[csms.csms.apiPort, ...clusterNodes.map((node) => node.apiPort)].map((port) => `'127.0.0.1:${port}'`).join(', ')}]`,
        '',
      ].join('\n'),
    );
    prometheus = spawn(
      binary,
      [`--config.file=${generatedConfig}`, `--storage.tsdb.path=${join(workDir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    prometheus.stderr?.on('data', (chunk: Buffer) => {
      prometheusLog = (prometheusLog + chunk.toString()).slice(-4000);
    });
    await waitFor(
      async () => {
        if (prometheus?.exitCode !== null) throw new Error(`prometheus exited: ${prometheusLog}`);
        const res = await fetch(`${prometheusUrl}/-/ready`).catch(() => undefined);
        return res?.status === 200;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'Prometheus ready' },
    );
    // The first scrape, before the load: counters then start from a sample, and rates have something to compare with.
    await waitFor(async () => ((await query('up{job="stroom"} == 1')).data?.result.length ?? 0) > 0, {
      timeoutMs: 15_000,
      intervalMs: 200,
      what: 'Prometheus scraping the CSMS',
    });

    // A short load: stations booting (BootNotification, StatusNotification), heartbeating, an Authorize,
    // an operator command, and one invalid frame (a CALLERROR).
    const h = csms;
    const stations: TestStation[] = await Promise.all([1, 2, 3].map(() => h.bootedStation({ prefix: 'prom' })));
    const token = await registerIdToken(h.api, newIdToken('ISO14443'));
    const [first] = stations as [TestStation];
    expect((await first.authorize(token.idToken)).idTokenInfo.status).toBe('Accepted');
    const command = await h.api.command(first.identity, 'GetVariables', {
      getVariableData: [{ component: { name: 'OCPPCommCtrlr' }, variable: { name: 'OfflineThreshold' } }],
    });
    expect(command.status).toBe(200);
    first.sendRaw('[2,"prom-invalid","Heartbeat",{"unexpected":true}]');
    for (let round = 0; round < 4; round++) {
      await Promise.all(stations.map((s) => s.heartbeat()));
      await sleep(500);
    }
    // The cluster: a station on node A, commands for it through node B (routed through Redis).
    const [nodeA, nodeB] = clusterNodes as [ClusterNode, ClusterNode];
    const clustered = await cluster.bootedStation(nodeA, 'prom-cl');
    await waitFor(async () => (await nodeB.api.getStation(clustered.identity)).body.connected, { what: 'the station seen from node B' });
    const routeOne = async (): Promise<void> => {
      const routed = await nodeB.api.command(clustered.identity, 'TriggerMessage', { requestedMessage: 'Heartbeat' });
      expect(routed.status, routed.text).toBe(200);
    };
    // The counters appear with the first routed command; rates need a scrape of them before the next ones.
    await routeOne();
    await waitFor(async () => ((await query('csms_routed_commands_total')).data?.result.length ?? 0) > 0, {
      timeoutMs: 15_000,
      intervalMs: 250,
      what: 'Prometheus scraping the routed-commands counter',
    });
    for (let round = 0; round < 3; round++) await routeOne();
    // Two scrapes after the load, so every rate() sees it.
    await waitFor(async () => ((await query('sum(rate(csms_messages_total{direction="in"}[15s])) > 0')).data?.result.length ?? 0) > 0, {
      timeoutMs: 15_000,
      intervalMs: 250,
      what: 'Prometheus seeing the load',
    });
    await sleep(1500);
    await waitFor(async () => ((await query('sum(rate(csms_routed_commands_total[15s])) > 0')).data?.result.length ?? 0) > 0, {
      timeoutMs: 15_000,
      intervalMs: 250,
      what: 'Prometheus seeing the routed commands',
    });
    exposition = (await Promise.all([h, ...clusterNodes].map((node) => node.api.metrics()))).join('\n');
  }, 90_000);

  afterAll(async () => {
    if (prometheus !== undefined && prometheus.exitCode === null) {
      const exited = new Promise<void>((resolve) => prometheus?.once('exit', () => resolve()));
      prometheus.kill('SIGTERM');
      const timer = setTimeout(() => prometheus?.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await csms?.stop();
    await cluster?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  }, 30_000);

  it('promtool accepts the alert rules, grafana/prometheus.yml and the generated configuration', async () => {
    for (const args of [
      ['check', 'rules', ALERTS_FILE],
      ['check', 'config', join(GRAFANA_DIR, 'prometheus.yml')],
      ['check', 'config', generatedConfig],
    ]) {
      const result = await run('promtool', args);
      expect(result.code, `promtool ${args.join(' ')}:\n${result.output}`).toBe(0);
    }
  });

  it('every dashboard expression evaluates without error, and the core panels show data', async () => {
    const expressions = dashboards.flatMap((d) => dashboardExpressions(d.json, d.file, []));
    expect(expressions.length).toBeGreaterThan(10);
    const failures: string[] = [];
    const empty: string[] = [];
    for (const { where, expr } of expressions) {
      const answer = await query(substitute(expr));
      if (answer.status !== 'success') failures.push(`${where}: ${answer.error ?? answer.status}\n    ${expr}`);
      else if ((answer.data?.result.length ?? 0) === 0) empty.push(expr);
    }
    expect(failures).toEqual([]);
    // What the load produced must be visible: connections, boots, message rates, OCPP and Authorize latency.
    for (const metric of [
      'csms_connected_stations',
      'csms_boots_total',
      'csms_messages_total',
      'csms_ocpp_response_seconds_bucket',
      'csms_authorize_response_seconds_bucket',
    ]) {
      const shown = expressions.filter((e) => e.expr.includes(metric) && !empty.includes(e.expr));
      expect(shown.length, `no panel over ${metric} shows data`).toBeGreaterThan(0);
    }
  });

  it('every alert rule evaluates without error', async () => {
    const answer = (await (await fetch(`${prometheusUrl}/api/v1/rules?type=alert`)).json()) as {
      status: string;
      data: { groups: { name: string; rules: { name: string; query: string; health: string; lastError?: string }[] }[] };
    };
    expect(answer.status).toBe('success');
    const rules = answer.data.groups.flatMap((g) => g.rules);
    const declared = (readFileSync(ALERTS_FILE, 'utf8').match(/^\s*- alert:/gm) ?? []).length;
    expect(rules.length).toBe(declared);
    const failures: string[] = [];
    for (const rule of rules) {
      const result = await query(rule.query);
      if (result.status !== 'success') failures.push(`${rule.name}: ${result.error ?? result.status}`);
    }
    expect(failures).toEqual([]);
    // Prometheus evaluates the rules itself every second: none may report an error.
    const evaluated = await waitFor(
      async () => {
        const now = (await (await fetch(`${prometheusUrl}/api/v1/rules?type=alert`)).json()) as typeof answer;
        const all = now.data.groups.flatMap((g) => g.rules);
        return all.every((r) => r.health !== 'unknown') ? all : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 250, what: 'every alert rule evaluated' },
    );
    expect(evaluated.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError ?? r.health}`)).toEqual([]);
  });

  it('every metric the dashboards and alert rules reference is one the CSMS exports', async () => {
    const exported = exportedNames(exposition);
    expect(exported.has('csms_connected_stations')).toBe(true);
    const rules = (await (await fetch(`${prometheusUrl}/api/v1/rules?type=alert`)).json()) as { data: { groups: { rules: { name: string; query: string }[] }[] } };
    const sources: Expression[] = [
      ...dashboards.flatMap((d) => dashboardExpressions(d.json, d.file, [])),
      ...dashboards.flatMap((d) => variableQueries(d.json).map((v) => ({ where: `${d.file} variable $${v.name}`, expr: v.selector }))),
      ...rules.data.groups.flatMap((g) => g.rules.map((r) => ({ where: `alerts.yml ${r.name}`, expr: r.query }))),
    ];
    const unknown: string[] = [];
    for (const { where, expr } of sources) {
      for (const name of metricNames(substitute(expr))) {
        if (!exported.has(name) && !PROMETHEUS_SYNTHETIC.has(name)) unknown.push(`${where}: ${name}`);
      }
    }
    expect(unknown).toEqual([]);
  });

  it('the cluster row shows stations per node, routed commands and their latency, and Redis up', async () => {
    const expressions = dashboards.flatMap((d) => clusterRowExpressions(d.json, d.file));
    for (const metric of ['csms_connected_stations', 'csms_routed_commands_total', 'csms_routing_seconds_bucket', 'csms_redis_up']) {
      const panels = expressions.filter((e) => e.expr.includes(metric));
      expect(panels.length, `no cluster panel over ${metric}`).toBeGreaterThan(0);
      const shown = [];
      for (const panel of panels) if (((await query(substitute(panel.expr))).data?.result.length ?? 0) > 0) shown.push(panel.where);
      expect(shown.length, `no cluster panel over ${metric} shows data`).toBeGreaterThan(0);
    }
    for (const metric of ['csms_presence_takeovers_total', 'csms_presence_rebuilds_total']) {
      expect(
        expressions.some((e) => e.expr.includes(metric)),
        `no cluster panel over ${metric}`,
      ).toBe(true);
    }
    // Stations per node: both cluster nodes are there, one of them holding the station.
    const perNode = await query('sum by (instance) (csms_connected_stations{instance=~".*"})');
    const nodeA = clusterNodes[0] as ClusterNode;
    expect(perNode.data?.result.find((r) => r.metric.instance === `127.0.0.1:${nodeA.apiPort}`)?.value[1]).toBe('1');
    const redisUp = await query('min by (instance) (csms_redis_up)');
    expect(redisUp.data?.result.map((r) => r.value[1])).toEqual(['1', '1']);
  });

  it("the dashboards' variables find their values (node, action)", async () => {
    for (const { file, json } of dashboards) {
      for (const variable of variableQueries(json)) {
        const url = `${prometheusUrl}/api/v1/label/${variable.label}/values?match[]=${encodeURIComponent(variable.selector)}`;
        const answer = (await (await fetch(url)).json()) as { status: string; data: string[] };
        expect(answer.status, `${file} $${variable.name}`).toBe('success');
        expect(answer.data.length, `${file} $${variable.name} has no values`).toBeGreaterThan(0);
      }
    }
  });

  it('StroomClusterNodeLost becomes pending for a cluster node that stops, and only for it', async () => {
    const lost = clusterNodes[1] as ClusterNode;
    const instance = `127.0.0.1:${lost.apiPort}`;
    expect((await lost.process.stop(12_000)).code).toBe(0);
    const alerts = await waitFor(
      async () => {
        const answer = (await (await fetch(`${prometheusUrl}/api/v1/alerts`)).json()) as { data: { alerts: { labels: Record<string, string>; state: string }[] } };
        const nodeLost = answer.data.alerts.filter((a) => a.labels.alertname === 'StroomClusterNodeLost');
        return nodeLost.length > 0 ? nodeLost : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 250, what: 'StroomClusterNodeLost pending' },
    );
    expect(alerts.map((a) => [a.labels.instance, a.state])).toEqual([[instance, 'pending']]);
  });
});
