/**
 * CSMS_WORKERS=N (issue 6 §1): `npm start` runs N worker processes behind one OCPP port and one API port
 * (SO_REUSEPORT), supervised: a crashed worker is restarted and logged, SIGTERM drains them all and exits 0
 * within 10 s, and one scrape of /metrics shows every worker's metrics aggregated.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricValue } from '../support/api.js';
import { TestCluster, occurrences, type ClusterNode, type Credentials } from '../support/cluster.js';
import { REPO_ROOT } from '../support/csms.js';
import { waitFor, type TestStation } from '../support/station.js';

const OFFLINE_THRESHOLD = { component: { name: 'OCPPCommCtrlr' }, variable: { name: 'OfflineThreshold' } };
const STATIONS = 16;

interface LogLine {
  msg?: string;
  worker?: number;
  pid?: number;
}

function logLines(output: string): LogLine[] {
  return output.split('\n').flatMap((line) => {
    if (!line.startsWith('{')) return [];
    try {
      return [JSON.parse(line) as LogLine];
    } catch {
      return [];
    }
  });
}

function workerPids(output: string): Map<number, number> {
  const pids = new Map<number, number>();
  for (const line of logLines(output)) {
    if (line.msg === 'worker started' && line.worker !== undefined && line.pid !== undefined) pids.set(line.worker, line.pid);
  }
  return pids;
}

describe('CSMS_WORKERS without Redis or PostgreSQL', () => {
  it('refuses to start with one clear line and a non-zero exit', () => {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, CSMS_WORKERS: '2', CSMS_OCPP_PORT: '0', CSMS_API_PORT: '0' };
    const run = spawnSync(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'main.js')], { cwd: REPO_ROOT, env, encoding: 'utf8', timeout: 15_000 });
    expect(run.status).not.toBe(0);
    expect(run.status).not.toBeNull();
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/CSMS_WORKERS=2 needs REDIS_URL and DATABASE_URL/);
    expect(lines[0]).toMatch(/missing: REDIS_URL, DATABASE_URL/);
  });
});

describe('two workers on one port', () => {
  let cluster: TestCluster;
  let node: ClusterNode;
  const credentials: Credentials[] = [];
  const stations: TestStation[] = [];

  beforeAll(async () => {
    cluster = await TestCluster.create({ callTimeoutMs: 5000 });
    node = await cluster.startNode('wk', { CSMS_WORKERS: 2 });
    await waitFor(() => occurrences(node.process.output(), '"msg":"CSMS ready"') >= 2, { timeoutMs: 30_000, what: 'both workers ready' });
  }, 60_000);

  afterAll(async () => {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
    await cluster?.stop();
  }, 60_000);

  it('stations land on both workers, and a command through the shared API port reaches each of them', async () => {
    for (let i = 0; i < STATIONS; i++) {
      const creds = await cluster.register(node, `WK${i}`);
      credentials.push(creds);
      const station = await cluster.connectAndBoot(node, creds);
      await station.reportConnectors();
      stations.push(station);
    }
    const holders = new Set<string>();
    for (const station of stations) {
      const view = await waitFor(
        async () => {
          const res = await node.api.getStation(station.identity);
          // eslint-disable-next-line @typescript-eslint/no-unnecessary-boolean-literal-compare -- res.body is parsed JSON from the API, typed as promised, not checked: this asks for the boolean itself, not any truthy value
          return res.body.connected === true ? res.body : undefined;
        },
        { what: `${station.identity} connected` },
      );
      holders.add(String(view.nodeId));
    }
    expect([...holders].sort()).toEqual(['wk-w0', 'wk-w1']);
    for (const station of stations) {
      for (let round = 0; round < 2; round++) {
        const res = await node.api.command(station.identity, 'GetVariables', { getVariableData: [OFFLINE_THRESHOLD] });
        expect(res.status, res.text).toBe(200);
      }
    }
  });

  it('one scrape of /metrics aggregates both workers', async () => {
    for (let scrape = 0; scrape < 4; scrape++) {
      const text = await node.api.metrics();
      expect(metricValue(text, 'csms_connected_stations')).toBe(STATIONS);
      expect(metricValue(text, 'csms_workers')).toBe(2);
      expect(metricValue(text, 'csms_redis_up')).toBe(1);
    }
  });

  it('a crashed worker is restarted and logged; its stations reconnect and take commands again', async () => {
    const pids = workerPids(node.process.output());
    const victim = pids.get(1);
    expect(victim).toBeDefined();
    process.kill(victim as number, 'SIGKILL');
    await waitFor(() => node.process.output().includes('"msg":"worker died; restarting it"'), { what: 'restart logged' });
    await waitFor(() => workerPids(node.process.output()).get(1) !== victim, { what: 'worker 1 restarted' });
    await waitFor(() => occurrences(node.process.output(), '"msg":"CSMS ready"') >= 3, { timeoutMs: 30_000, what: 'restarted worker ready' });

    // The stations of the dead worker lost their socket; like real stations they reconnect (to the same port).
    const dropped = stations.filter((s) => !s.isOpen);
    expect(dropped.length).toBeGreaterThan(0);
    for (const old of dropped) {
      const creds = credentials.find((c) => c.identity === old.identity) as Credentials;
      const again = await cluster.connectAndBoot(node, creds);
      stations[stations.indexOf(old)] = again;
    }
    for (const station of stations) {
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-boolean-literal-compare -- res.body is parsed JSON from the API, typed as promised, not checked: this asks for the boolean itself, not any truthy value
      await waitFor(async () => (await node.api.getStation(station.identity)).body.connected === true, { what: `${station.identity} back` });
      const res = await node.api.command(station.identity, 'GetVariables', { getVariableData: [OFFLINE_THRESHOLD] });
      expect(res.status, res.text).toBe(200);
    }
    const text = await node.api.metrics();
    expect(metricValue(text, 'csms_worker_restarts_total')).toBe(1);
    expect(metricValue(text, 'csms_connected_stations')).toBe(STATIONS);
  }, 60_000);

  it('SIGTERM drains every worker (stations closed with 1001) and exits 0 within 10 s', async () => {
    const result = await node.process.stop(15_000);
    cluster.nodes.splice(cluster.nodes.indexOf(node), 1);
    expect(result.code).toBe(0);
    expect(result.ms).toBeLessThan(10_000);
    for (const station of stations) expect((await station.waitForClose(2000)).code).toBe(1001);
    expect(cluster.problems()).toEqual([]);
  }, 30_000);
});
