/**
 * Running a cluster the way operators do (README "Cluster mode"): a real HAProxy with the shipped
 * deploy/haproxy.cfg, as it is, in front of two nodes (child processes on one PostgreSQL and one Redis). Stations
 * connect only through HAProxy — ws:// (HTTP mode, X-Forwarded-For to trusted nodes) and wss:// (TLS passthrough
 * to each node's own TLS listener, profiles 2 and 3) — and land on both nodes; commands through either node's API
 * reach them; a node stopped, its stations reconnect through HAProxy to the other and stay reachable.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../bench/free-port.js';
import { TestCluster, type ClusterNode } from '../support/cluster.js';
import { REPO_ROOT } from '../support/csms.js';
import { RunningHaproxy } from '../support/haproxy.js';
import { TestStation, randomPassword, uniqueIdentity, waitFor } from '../support/station.js';
import { createTestPki, stationTls, type TestPki } from '../support/tls.js';

const DEPLOY_CONFIG = join(REPO_ROOT, 'deploy', 'haproxy.cfg');

interface Node {
  nodeId: string;
  tlsPort: number;
  ocppPort: number;
  apiPort: number;
  dataDir: string;
  cluster?: ClusterNode;
}

let cluster: TestCluster;
let pki: TestPki;
let haproxy: RunningHaproxy | undefined;
let wsPort = 0;
let wssPort = 0;
const nodes: Node[] = [];
const opened: TestStation[] = [];

async function planNode(nodeId: string): Promise<Node> {
  return { nodeId, tlsPort: await freePort(), ocppPort: await freePort(), apiPort: await freePort(), dataDir: await mkdtemp(join(tmpdir(), `stroom-${nodeId}-`)) };
}

/** Starts (or restarts, on the same ports) a node: TLS on, HAProxy's address trusted for X-Forwarded-For. */
async function startNode(node: Node): Promise<ClusterNode> {
  node.cluster = await cluster.startNode(
    node.nodeId,
    { ...pki.config(), CSMS_OCPP_TLS_PORT: node.tlsPort, CSMS_DATA_DIR: node.dataDir, CSMS_TRUSTED_PROXIES: '127.0.0.1' },
    { ocppPort: node.ocppPort, apiPort: node.apiPort },
  );
  return node.cluster;
}

function api(node: Node): ClusterNode['api'] {
  if (node.cluster === undefined) throw new Error(`${node.nodeId} is not running`);
  return node.cluster.api;
}

type Kind = 'ws' | 'wss-sp2' | 'wss-sp3';

interface Registered {
  identity: string;
  password: string;
  kind: Kind;
  certificate?: { certPem: string; keyPem: string };
}

async function register(kind: Kind): Promise<Registered> {
  const identity = uniqueIdentity('HA');
  const password = randomPassword();
  const securityProfile = kind === 'ws' ? 1 : kind === 'wss-sp2' ? 2 : 3;
  const res = await api(nodes[0] as Node).putStation(identity, { securityProfile, password, bootPolicy: 'Accepted' });
  expect([200, 201], res.text).toContain(res.status);
  return kind === 'wss-sp3' ? { identity, password, kind, certificate: await pki.stationCertificate(identity) } : { identity, password, kind };
}

/** Connects through HAProxy only, and boots. */
async function connectViaHaproxy(station: Registered): Promise<TestStation> {
  const opts = { identity: station.identity, csmsCallTimeoutMs: cluster.callTimeoutMs };
  const connected =
    station.kind === 'ws'
      ? await TestStation.connect(`ws://127.0.0.1:${wsPort}/ocpp`, { ...opts, password: station.password })
      : await TestStation.connectWith(
          `wss://127.0.0.1:${wssPort}/ocpp`,
          station.kind === 'wss-sp2' ? { ...opts, password: station.password } : opts,
          stationTls(pki, station.certificate),
        );
  opened.push(connected);
  if (station.kind === 'wss-sp3') connected.chargingStation = { ...connected.chargingStation, serialNumber: station.identity };
  await connected.booted();
  return connected;
}

/** The node presence names for the station, as `via` sees it. */
async function holder(via: Node, identity: string): Promise<string | undefined> {
  const view = (await api(via).getStation(identity)).body;
  return view.connected ? (view.nodeId ?? undefined) : undefined;
}

/** A TriggerMessage(Heartbeat) through `via`'s API reaches the station wherever it is, and it heartbeats. */
async function commandReaches(via: Node, station: TestStation): Promise<void> {
  const mark = station.mark();
  const res = await api(via).command(station.identity, 'TriggerMessage', { requestedMessage: 'Heartbeat' });
  expect(res.status, `${via.nodeId} → ${station.identity}: ${res.text}`).toBe(200);
  expect(res.body.response).toEqual({ status: 'Accepted' });
  await station.waitForCall('TriggerMessage', { afterSeq: mark });
}

beforeAll(async () => {
  cluster = await TestCluster.create();
  pki = await createTestPki();
  nodes.push(await planNode('ha-1'), await planNode('ha-2'));
  await Promise.all(nodes.map((node) => startNode(node)));
  [wsPort, wssPort] = [await freePort(), await freePort()];
  const [one, two] = nodes as [Node, Node];
  haproxy = await RunningHaproxy.start(
    DEPLOY_CONFIG,
    {
      STROOM_WS_BIND: `127.0.0.1:${wsPort}`,
      STROOM_WSS_BIND: `127.0.0.1:${wssPort}`,
      STROOM_NODE1_HOST: '127.0.0.1',
      STROOM_NODE1_OCPP_PORT: one.ocppPort,
      STROOM_NODE1_TLS_PORT: one.tlsPort,
      STROOM_NODE1_API_PORT: one.apiPort,
      STROOM_NODE2_HOST: '127.0.0.1',
      STROOM_NODE2_OCPP_PORT: two.ocppPort,
      STROOM_NODE2_TLS_PORT: two.tlsPort,
      STROOM_NODE2_API_PORT: two.apiPort,
    },
    [wsPort, wssPort],
  );
}, 120_000);

afterEach(async () => {
  const stations = opened.splice(0);
  const problems = stations.flatMap((s) => s.problems());
  await Promise.all(stations.map((s) => s.close()));
  if (problems.length > 0) throw new Error(`protocol problems seen by the test station(s):\n  ${problems.join('\n  ')}\nhaproxy:\n${haproxy?.output() ?? ''}`);
});

afterAll(async () => {
  await haproxy?.stop();
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
  await cluster?.stop();
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
  await pki?.remove();
  for (const node of nodes) await rm(node.dataDir, { recursive: true, force: true });
}, 60_000);

describe('deploy/haproxy.cfg in front of two nodes', () => {
  it('stations of every profile connect through HAProxy, land on both nodes, and commands through either API reach each of them', async () => {
    const kinds: Kind[] = ['ws', 'ws', 'ws', 'ws', 'wss-sp2', 'wss-sp2', 'wss-sp3', 'wss-sp3'];
    const registered = await Promise.all(kinds.map((kind) => register(kind)));
    // One after the other, so leastconn sees each connection before the next: both nodes get stations.
    const stations: TestStation[] = [];
    for (const station of registered) stations.push(await connectViaHaproxy(station));

    const [one, two] = nodes as [Node, Node];
    const holders = await Promise.all(stations.map((s) => waitFor(() => holder(one, s.identity), { what: `presence of ${s.identity}` })));
    expect(new Set(holders)).toEqual(new Set(['ha-1', 'ha-2']));
    // Over both fronts: ws:// and wss:// connections each reached both nodes.
    expect(new Set(holders.slice(0, 4))).toEqual(new Set(['ha-1', 'ha-2']));
    expect(new Set(holders.slice(4))).toEqual(new Set(['ha-1', 'ha-2']));
    for (const station of stations) {
      await commandReaches(one, station);
      await commandReaches(two, station);
    }
  }, 60_000);

  it('a node stopped: its stations are closed (1001), reconnect through HAProxy to the other node, and are reachable from both APIs once it is back', async () => {
    const registered = await Promise.all((['ws', 'ws', 'ws', 'ws', 'wss-sp2', 'wss-sp3', 'wss-sp3', 'wss-sp2'] as Kind[]).map((kind) => register(kind)));
    const stations: TestStation[] = [];
    for (const station of registered) stations.push(await connectViaHaproxy(station));
    const [one, two] = nodes as [Node, Node];
    const holders = await Promise.all(stations.map((s) => waitFor(() => holder(two, s.identity), { what: `presence of ${s.identity}` })));
    const onOne = registered.filter((_, index) => holders[index] === 'ha-1');
    expect(onOne.length).toBeGreaterThan(0);

    // SIGTERM node 1: it closes its stations' sockets with 1001 (going away) and exits.
    const stopped = await one.cluster?.process.stop(12_000);
    expect(stopped?.code).toBe(0);
    for (const [index, station] of stations.entries()) {
      if (holders[index] === 'ha-1') expect((await station.waitForClose(10_000)).code).toBe(1001);
    }
    // At once, like a station would: HAProxy may still think node 1 is up and retries the connection on node 2.
    const moved: TestStation[] = [];
    for (const station of onOne) moved.push(await connectViaHaproxy(station));
    for (const station of moved) {
      await cluster.waitForPresence(two.cluster as ClusterNode, station.identity, 'ha-2', 10_000);
      await commandReaches(two, station);
    }

    // Node 1 back on its ports: the stations stay on node 2, and node 1's API reaches them there through Redis.
    await startNode(one);
    for (const station of moved) {
      await commandReaches(one, station);
      await commandReaches(two, station);
    }
    // New stations through HAProxy go to the returned node again (it holds the fewest) once its health check passes.
    await waitFor(
      async () => {
        const fresh = await connectViaHaproxy(await register('ws'));
        return (await waitFor(() => holder(two, fresh.identity), { what: `presence of ${fresh.identity}` })) === 'ha-1';
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'a new station through HAProxy on the returned node' },
    );
    // A node stop and start (child processes, up to 30 s to become healthy on a loaded machine) are part of the case.
  }, 120_000);
});
