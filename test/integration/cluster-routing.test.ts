/**
 * Cluster mode (CONTRACT §6, issue 6): three nodes sharing one Redis and one PostgreSQL database. A station may
 * sit on any node; the operator API of every node reaches it, through the station's own actor on the node
 * holding it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { metricValue } from '../support/api.js';
import { TestCluster, type ClusterNode } from '../support/cluster.js';
import { Reply, waitFor, type TestStation } from '../support/station.js';

const OFFLINE_THRESHOLD = { component: { name: 'OCPPCommCtrlr' }, variable: { name: 'OfflineThreshold' } };

let cluster: TestCluster;
let nodes: ClusterNode[];
/** stations[i] is connected to nodes[i]. */
let stations: TestStation[];

beforeAll(async () => {
  cluster = await TestCluster.create({ callTimeoutMs: 3000 });
  nodes = await cluster.startNodes('node-a', 'node-b', 'node-c');
  stations = await Promise.all(nodes.map((node) => cluster.bootedStation(node, `R-${node.nodeId}`)));
}, 60_000);

afterEach(() => {
  expect(cluster.problems()).toEqual([]);
});

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
  await cluster?.stop();
}, 60_000);

describe('cluster: three nodes', () => {
  it('GET station shows the node holding the station, whichever node is asked', async () => {
    for (const via of nodes) {
      for (const [i, station] of stations.entries()) {
        await cluster.waitForPresence(via, station.identity, nodes[i]?.nodeId);
      }
    }
  });

  it('commands cross nodes in every direction (3 × 3), answered through the station that holds the socket', async () => {
    for (const via of nodes) {
      for (const station of stations) {
        const value = String(Math.floor(Math.random() * 1000));
        station.setVariable({ ...OFFLINE_THRESHOLD, value });
        const res = await via.api.command(station.identity, 'GetVariables', { getVariableData: [OFFLINE_THRESHOLD] });
        expect(res.status, `${via.nodeId} → ${station.identity}: ${res.text}`).toBe(200);
        expect(res.body.response).toEqual({ getVariableResult: [{ ...OFFLINE_THRESHOLD, attributeStatus: 'Accepted', attributeValue: value }] });
      }
    }
  });

  it('TC_B_06 with the station on node-a and the operator on node-b: GetVariables reads the value, GET variables shows it', async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode];
    const station = await cluster.bootedStation(a, 'B06');
    await cluster.waitForPresence(b, station.identity, a.nodeId);
    station.setVariable({ ...OFFLINE_THRESHOLD, value: '77' });
    const res = await b.api.command(station.identity, 'GetVariables', { getVariableData: [OFFLINE_THRESHOLD] });
    expect(res.status).toBe(200);
    expect(res.body.response).toEqual({ getVariableResult: [{ ...OFFLINE_THRESHOLD, attributeStatus: 'Accepted', attributeValue: '77' }] });
    expect(station.callsOf('GetVariables')).toHaveLength(1);
    const shown = await b.api.getVariables(station.identity);
    expect(JSON.stringify(shown.body)).toContain('"77"');
  });

  it('TriggerMessage(Heartbeat) from node-c reaches a station on node-b, and the station then sends its Heartbeat', async () => {
    const [, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    const station = await cluster.bootedStation(b, 'F06');
    await cluster.waitForPresence(c, station.identity, b.nodeId);
    const res = await c.api.command(station.identity, 'TriggerMessage', { requestedMessage: 'Heartbeat' });
    expect(res.status).toBe(200);
    expect(res.body.response).toEqual({ status: 'Accepted' });
    expect((await station.waitForCall('TriggerMessage')).payload).toEqual({ requestedMessage: 'Heartbeat' });
    const heartbeat = await station.heartbeat();
    expect(typeof heartbeat.currentTime).toBe('string');
  });

  it('concurrent commands from all three nodes to one station still reach it one at a time (its actor queues them)', async () => {
    const target = stations[0] as TestStation;
    const results = await Promise.all(
      nodes.flatMap((via) => [1, 2].map(() => via.api.command(target.identity, 'GetVariables', { getVariableData: [OFFLINE_THRESHOLD] }))),
    );
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(target.overlaps).toEqual([]);
  });

  it('a CALLERROR crosses nodes as 502 with its code; no answer crosses as 504', async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode];
    const station = await cluster.bootedStation(a, 'ERR');
    await cluster.waitForPresence(b, station.identity, a.nodeId);
    station.onCall('Reset', () => Reply.error('InternalError', 'reset exploded'));
    const failed = await b.api.command(station.identity, 'Reset', { type: 'Immediate' });
    expect(failed.status).toBe(502);
    expect(failed.body.error.code).toBe('InternalError');

    station.onCall('ClearCache', () => Reply.none);
    const started = Date.now();
    const silent = await b.api.command(station.identity, 'ClearCache', {});
    expect(silent.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(cluster.callTimeoutMs + 1500);
  });

  it('a registered station connected nowhere answers 409 on every node; an unknown one 404', async () => {
    const creds = await cluster.register(nodes[0] as ClusterNode, 'OFF');
    for (const via of nodes) {
      const res = await via.api.command(creds.identity, 'ClearCache', {});
      expect(res.status).toBe(409);
      expect((await via.api.getStation(creds.identity)).body).toMatchObject({ connected: false, nodeId: null });
      expect((await via.api.command('NO-SUCH-STATION', 'ClearCache', {})).status).toBe(404);
    }
  });

  it('DELETE on another node disconnects the station where it is', async () => {
    const [a, , c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    const station = await cluster.bootedStation(a, 'DEL');
    await cluster.waitForPresence(c, station.identity, a.nodeId);
    expect((await c.api.deleteStation(station.identity)).status).toBe(204);
    await station.waitForClose(5000);
  });

  it('forged or malformed routing messages are ignored and counted; nothing crashes and routing goes on', async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode];
    const target = stations[0] as TestStation;
    const redis = cluster.redis();
    try {
      const channel = cluster.nodeChannel(a.nodeId);
      const presence = await redis.get(cluster.presenceKey(target.identity));
      expect(presence).toMatch(/^\d+\|node-a#/);
      const token = (presence as string).slice((presence as string).indexOf('|') + 1);
      const deadline = Date.now() + 60_000;
      const forged = [
        'not json at all',
        '[]',
        JSON.stringify({ v: 1, type: 'command', id: 'x' }),
        JSON.stringify({ v: 99, type: 'reply', id: 'x', from: 'evil', outcome: { kind: 'timeout' }, executionMs: 0, deadline }),
        JSON.stringify({ v: 1, type: 'reply', id: 'x', from: 'evil', outcome: { kind: 'explode' }, executionMs: 0, deadline }),
        JSON.stringify({
          v: 1,
          type: 'command',
          id: 'y',
          from: 'evil',
          replyTo: 'elsewhere',
          stationId: target.identity,
          action: 'Reset',
          payload: { type: 'Immediate' },
          deadline,
        }),
        '{"v":1,"type":"takeover","from":"evil","stationId":' + '"' + 'x'.repeat(5000) + '","token":"t","deadline":1}',
      ];
      for (const text of forged) await redis.spublish(channel, text);
      // Well-formed but forged: a reply nobody asked for, a stale command, and a takeover with the real token
      // that presence does not back (node-a must check Redis before closing anything).
      await redis.spublish(channel, JSON.stringify({ v: 1, type: 'reply', id: 'nobody-asked', from: 'evil', outcome: { kind: 'timeout' }, executionMs: 0, deadline }));
      await redis.spublish(
        channel,
        JSON.stringify({
          v: 1,
          type: 'command',
          id: 'old',
          from: 'evil',
          replyTo: cluster.nodeChannel('evil'),
          stationId: target.identity,
          action: 'Reset',
          payload: { type: 'Immediate' },
          deadline: 1,
        }),
      );
      await redis.spublish(channel, JSON.stringify({ v: 1, type: 'takeover', from: 'evil', stationId: target.identity, token, deadline }));

      // Dropped and counted: 7 malformed, 1 stale, 2 unknown (the reply nobody asked for, the unbacked takeover).
      const dropped = (metrics: string, reason: string): number => metricValue(metrics, 'csms_routing_dropped_messages_total', { reason });
      await waitFor(
        async () => {
          const metrics = await a.api.metrics();
          return dropped(metrics, 'malformed') >= 7 && dropped(metrics, 'stale') >= 1 && dropped(metrics, 'unknown') >= 2;
        },
        { what: 'forged messages counted as dropped', timeoutMs: 5000 },
      );
      expect(target.callsOf('Reset')).toHaveLength(0);
      expect(target.isOpen).toBe(true);
      expect(a.process.child.exitCode).toBeNull();
      const res = await b.api.command(target.identity, 'GetVariables', { getVariableData: [OFFLINE_THRESHOLD] });
      expect(res.status).toBe(200);
      expect(a.process.output()).toContain('malformed routing message ignored');
    } finally {
      redis.disconnect();
    }
  });

  it('exposes routing metrics: routed commands by outcome, routing latency, Redis up', async () => {
    const b = nodes[1] as ClusterNode;
    const metrics = await b.api.metrics();
    expect(metricValue(metrics, 'csms_routed_commands_total', { outcome: 'result' })).toBeGreaterThan(0);
    expect(metricValue(metrics, 'csms_routing_seconds_count')).toBeGreaterThan(0);
    expect(metricValue(metrics, 'csms_redis_up')).toBe(1);
    expect(metrics).toContain('# TYPE csms_presence_takeovers_total counter');
  });
});
