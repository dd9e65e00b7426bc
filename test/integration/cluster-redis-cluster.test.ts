/**
 * Redis Cluster (issue 6 §5): with several seed URLs in REDIS_URL, nodes talk to a Redis Cluster — presence keys
 * share the `{presence}` hash tag, each node's channel is a sharded channel (SSUBSCRIBE / SPUBLISH) tagged with
 * its node id. Runs against its own throw-away three-master cluster.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import { metricValue } from '../support/api.js';
import { TestCluster, ThrowawayRedisCluster, type ClusterNode } from '../support/cluster.js';

const OFFLINE_THRESHOLD = { component: { name: 'OCPPCommCtrlr' }, variable: { name: 'OfflineThreshold' } };

let redis: ThrowawayRedisCluster;
let cluster: TestCluster;
let nodes: ClusterNode[];

beforeAll(async () => {
  redis = await ThrowawayRedisCluster.start(3);
  cluster = await TestCluster.create({ redisUrl: redis.url, callTimeoutMs: 5000 });
  nodes = await cluster.startNodes('rc-a', 'rc-b', 'rc-c');
}, 90_000);

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
  await cluster?.stop();
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
  await redis?.stop();
}, 60_000);

describe('on a Redis Cluster', () => {
  it('routes commands between every pair of nodes and follows a takeover', async () => {
    const stations = await Promise.all(nodes.map((node) => cluster.bootedStation(node, `RC-${node.nodeId}`)));
    for (const via of nodes) {
      for (const [i, station] of stations.entries()) {
        await cluster.waitForPresence(via, station.identity, nodes[i]?.nodeId);
        const res = await via.api.command(station.identity, 'GetVariables', { getVariableData: [OFFLINE_THRESHOLD] });
        expect(res.status, `${via.nodeId} → ${station.identity}: ${res.text}`).toBe(200);
      }
    }

    const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    const creds = await cluster.register(a, 'RC-TAKE');
    const first = await cluster.connect(a, creds);
    await first.boot();
    await cluster.waitForPresence(c, creds.identity, a.nodeId);
    const second = await cluster.connect(b, creds);
    expect((await first.waitForClose(5000)).code).toBe(4000);
    await second.boot();
    await cluster.waitForPresence(c, creds.identity, b.nodeId);
    expect((await c.api.command(creds.identity, 'ClearCache', {})).status).toBe(200);
    expect(metricValue(await b.api.metrics(), 'csms_presence_takeovers_total')).toBe(1);
    expect(cluster.problems()).toEqual([]);
  });

  it('uses sharded channels spread over the shards, and presence keys in one slot', async () => {
    const client = new Cluster(redis.ports.map((port) => ({ host: '127.0.0.1', port })));
    client.on('error', () => undefined);
    await new Promise((resolve) => client.once('ready', resolve));
    try {
      const channels = new Set<string>();
      for (const master of client.nodes('master')) {
        for (const channel of (await master.call('PUBSUB', 'SHARDCHANNELS', `${cluster.prefix}*`)) as string[]) channels.add(channel);
      }
      // One channel per node, plus the one every node hears operator decisions on.
      expect([...channels].sort()).toEqual([...nodes.map((n) => cluster.nodeChannel(n.nodeId)), `${cluster.prefix}decisions`].sort());
      const keySlots = new Set<number>();
      for (const master of client.nodes('master')) {
        for (const key of await master.keys(`${cluster.prefix}{presence}:*`)) keySlots.add(Number(await master.call('CLUSTER', 'KEYSLOT', key)));
      }
      expect(keySlots.size).toBe(1);
    } finally {
      client.disconnect();
    }
  });
});
