/**
 * CONTRACT §6 / §8.7: two nodes on one PostgreSQL (and one Redis) deliver each webhook event once, whichever node
 * the station is connected to and whichever node claims it, in order per station.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, type ClusterNode } from '../support/cluster.js';
import { sleep, waitFor, type TestStation } from '../support/station.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

const EVENTS_PER_STATION = 12;
let cluster: TestCluster;
let nodes: ClusterNode[];
let receiver: WebhookReceiver;

beforeAll(async () => {
  cluster = await TestCluster.create();
  nodes = await Promise.all(['wh-a', 'wh-b'].map((id) => cluster.startNode(id, { CSMS_LOG_LEVEL: 'warn' })));
  receiver = await WebhookReceiver.start();
}, 120_000);

afterAll(async () => {
  await receiver.close();
  await cluster.stop();
}, 60_000);

describe('webhooks in a cluster', () => {
  it('each event is delivered once, by one node, in order per station', async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode];
    const put = await a.api.request<{ secret: string }>('PUT', '/api/v1/webhooks/cluster', {
      url: receiver.url,
      events: ['transaction.started', 'transaction.updated', 'transaction.ended', 'station.connected'],
    });
    expect(put.status).toBe(201);
    // The other node reads webhooks every second.
    await sleep(1500);
    const stations: TestStation[] = [];
    for (const node of [a, b, a, b]) stations.push(await cluster.bootedStation(node, 'WHC'));
    await Promise.all(
      stations.map(async (station) => {
        const transactionId = `tx-${station.identity}`;
        for (let seqNo = 0; seqNo < EVENTS_PER_STATION; seqNo++) {
          const eventType = seqNo === 0 ? 'Started' : seqNo === EVENTS_PER_STATION - 1 ? 'Ended' : 'Updated';
          await station.transactionEvent({
            eventType,
            triggerReason: seqNo === 0 ? 'CablePluggedIn' : 'MeterValuePeriodic',
            seqNo,
            transactionInfo: { transactionId, ...(eventType === 'Ended' ? { stoppedReason: 'Local' } : {}) },
            ...(seqNo === 0 ? { evse: { id: 1, connectorId: 1 } } : {}),
          });
        }
      }),
    );
    // One station.connected per station (the node holding it writes it; the other only hears of it through Redis).
    const total = stations.length * (EVENTS_PER_STATION + 1);
    await waitFor(() => receiver.received.length >= total, { timeoutMs: 20_000, what: `${total} deliveries` });
    // Time for a duplicate to show up, if a second node were to deliver an event again.
    await sleep(1500);
    expect(receiver.received).toHaveLength(total);
    expect(new Set(receiver.received.map((d) => d.id)).size).toBe(total);
    for (const station of stations) {
      const mine = receiver.received.filter((d) => d.payload.data.stationId === station.identity);
      expect(mine.filter((d) => d.payload.type === 'station.connected')).toHaveLength(1);
      const seqNos = mine.filter((d) => d.payload.type.startsWith('transaction.')).map((d) => d.payload.data.seqNo);
      expect(seqNos).toEqual(Array.from({ length: EVENTS_PER_STATION }, (_, i) => i));
    }
    for (const d of receiver.received) expect(() => WebhookReceiver.verify(put.body.secret, d)).not.toThrow();
    // Either node lists the same attempts: they are in the database.
    const fromB = await b.api.request<{ items: { outcome: string }[] }>('GET', '/api/v1/webhooks/cluster/deliveries?limit=500');
    expect(fromB.body.items.filter((item) => item.outcome === 'delivered')).toHaveLength(total);
    expect(cluster.problems()).toEqual([]);
  }, 90_000);
});
