/**
 * Reservation expiry in a cluster (CONTRACT §6, §8.2; DRV-RES-01 across nodes): a reservation made through node A for
 * a station connected to node B expires exactly once — one `Expired`, one `reservation.updated` event on the stream
 * seen from either node — although both nodes run the expiry sweep, and a late ReservationStatusUpdate from the
 * station changes nothing.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, type ClusterNode } from '../support/cluster.js';
import { dataOf, SseReader } from '../support/sse.js';
import { sleep, waitFor } from '../support/station.js';

let cluster: TestCluster;
let a: ClusterNode;
let b: ClusterNode;

beforeAll(async () => {
  cluster = await TestCluster.create({ callTimeoutMs: 5000 });
  [a, b] = (await cluster.startNodes('res-a', 'res-b')) as [ClusterNode, ClusterNode];
}, 60_000);

afterEach(() => {
  expect(cluster.problems()).toEqual([]);
});

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
  await cluster?.stop();
}, 60_000);

const streamUrl = (node: ClusterNode, stationId: string): string => `http://127.0.0.1:${node.apiPort}/api/v1/stream?stationId=${encodeURIComponent(stationId)}`;

interface ReservationView {
  id: number;
  status: string;
  expiresAt: string;
}

function expiredEvents(stream: SseReader, id: number): unknown[] {
  return stream.events
    .filter((e) => e.event === 'reservation.updated')
    .map((e) => dataOf(e).reservation as ReservationView)
    .filter((r) => r.id === id && r.status === 'Expired');
}

describe('cluster: reservation expiry', () => {
  it('DRV-RES-01 across nodes: reserved through A, station on B: each reservation expires once, whichever node sweeps', async () => {
    const station = await cluster.bootedStation(b, 'RES-CL');
    const onA = await SseReader.open(streamUrl(a, station.identity));
    const onB = await SseReader.open(streamUrl(b, station.identity));
    try {
      await a.api.request('PUT', '/api/v1/id-tokens/ISO14443/RESCL0001', { status: 'Accepted' });
      // Several reservations due at the same instant: both nodes' sweeps (every second each) race for them.
      const expiresAt = new Date(Date.now() + 2500).toISOString();
      const ids: number[] = [];
      for (const evseId of [1, 2, 3, 4]) {
        const res = await a.api.request<ReservationView>('POST', `/api/v1/stations/${station.identity}/reservations`, {
          evseId,
          idToken: { idToken: 'RESCL0001', type: 'ISO14443' },
          expiresAt,
        });
        expect(res.status, res.text).toBe(201);
        expect(res.body.status).toBe('Accepted');
        ids.push(res.body.id);
      }
      expect(station.callsOf('ReserveNow').map((c) => c.payload.id)).toEqual(ids);

      // CONTRACT §8.2: Expired within 5 s of expiresAt, by the CSMS's clock, seen through either node.
      for (const node of [a, b]) {
        await waitFor(
          async () => {
            const list = await node.api.request<{ items: ReservationView[] }>('GET', `/api/v1/stations/${station.identity}/reservations`);
            return ids.every((id) => list.body.items.find((r) => r.id === id)?.status === 'Expired');
          },
          { timeoutMs: 2500 + 5000, intervalMs: 100, what: `every reservation Expired, read through ${node.nodeId}` },
        );
      }
      // The station, late, says the same; then a few more sweeps of both nodes pass.
      for (const id of ids) expect(await station.call('ReservationStatusUpdate', { reservationId: id, reservationUpdateStatus: 'Expired' })).toEqual({});
      await sleep(2500);
      for (const stream of [onA, onB]) {
        for (const id of ids) expect(expiredEvents(stream, id), `reservation ${id}`).toHaveLength(1);
      }
      for (const id of ids) {
        const one = await b.api.request<ReservationView>('GET', `/api/v1/stations/${station.identity}/reservations/${id}`);
        expect(one.body.status).toBe('Expired');
      }
    } finally {
      onA.close();
      onB.close();
    }
  });
});
