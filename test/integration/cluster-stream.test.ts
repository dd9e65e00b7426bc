/**
 * The change stream and the fleet index in cluster mode (issue 20, CONTRACT §6): a change on any node reaches a
 * stream client on any node, with the same ids everywhere, so a client resumes on another node; every node's
 * fleet summary counts the stations the others hold.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, type ClusterNode } from '../support/cluster.js';
import { dataOf, SseReader } from '../support/sse.js';
import { waitFor } from '../support/station.js';

let cluster: TestCluster;
let nodes: ClusterNode[];

beforeAll(async () => {
  cluster = await TestCluster.create({ callTimeoutMs: 3000 });
  nodes = await cluster.startNodes('stream-a', 'stream-b');
}, 60_000);

afterEach(() => {
  expect(cluster.problems()).toEqual([]);
});

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
  await cluster?.stop();
}, 60_000);

const streamUrl = (node: ClusterNode, stationId: string): string => `http://127.0.0.1:${node.apiPort}/api/v1/stream?stationId=${encodeURIComponent(stationId)}`;

describe('cluster: the change stream', () => {
  it('a station on node A is seen live by a client of node B, and a client resumes on node A where it left node B', async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode];
    const creds = await cluster.register(a, 'CS-STREAM');
    const onB = await SseReader.open(streamUrl(b, creds.identity));
    const station = await cluster.connect(a, creds);
    await station.booted();
    await station.statusNotification(1, 1, 'Occupied');
    const seen = await onB.waitFor((e) => e.event === 'connector.status' && dataOf(e).status === 'Occupied');
    expect(onB.events.map((e) => e.event)).toEqual(expect.arrayContaining(['station.connected', 'station.boot']));
    expect(dataOf(onB.events.find((e) => e.event === 'station.connected')!)).toMatchObject({ stationId: creds.identity, nodeId: 'stream-a' });
    onB.close();

    await station.statusNotification(1, 1, 'Faulted');
    await station.statusNotification(1, 1, 'Available');
    const onA = await SseReader.open(streamUrl(a, creds.identity), { 'Last-Event-ID': seen.id! });
    try {
      await onA.waitFor((e) => e.event === 'connector.status' && dataOf(e).status === 'Available');
      expect(onA.events.filter((e) => e.event === 'connector.status').map((e) => dataOf(e).status)).toEqual(['Faulted', 'Available']);
      expect(onA.events.some((e) => e.id === seen.id)).toBe(false);
    } finally {
      onA.close();
    }
  });

  it("every node's fleet summary and station list count the stations another node holds", async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode];
    type Summary = { connected: number; connectorStatus: Record<string, number> };
    const before = (await b.api.request<Summary>('GET', '/api/v1/fleet/summary')).body;
    const station = await cluster.bootedStation(a, 'CS-SUM');
    await station.statusNotification(1, 1, 'Reserved');
    await waitFor(async () => {
      const now = (await b.api.request<Summary>('GET', '/api/v1/fleet/summary')).body;
      return now.connected === before.connected + 1 && (now.connectorStatus.Reserved ?? 0) === (before.connectorStatus.Reserved ?? 0) + 1;
    });
    const listed = await b.api.request<{ items: { id: string; connected: boolean; nodeId: string }[] }>(
      'GET',
      `/api/v1/stations?connected=true&q=${encodeURIComponent(station.identity)}`,
    );
    expect(listed.body.items).toEqual([expect.objectContaining({ id: station.identity, connected: true, nodeId: 'stream-a' })]);
    await station.close();
    await waitFor(async () => (await b.api.request<Summary>('GET', '/api/v1/fleet/summary')).body.connected === before.connected);
  });
});
