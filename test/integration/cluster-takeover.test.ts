/**
 * Newest connection wins across nodes (CONTRACT §3 and §6): a second connection of an identity on another node
 * closes the older socket (4000), presence follows it, and commands reach the new one. Two nodes racing for one
 * identity end with exactly one open socket, which presence names.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricValue } from '../support/api.js';
import { TestCluster, type ClusterNode } from '../support/cluster.js';
import { sleep, waitFor, type TestStation } from '../support/station.js';

const CLOSE_REPLACED = 4000;
const OFFLINE_THRESHOLD = { component: { name: 'OCPPCommCtrlr' }, variable: { name: 'OfflineThreshold' } };

let cluster: TestCluster;
let a: ClusterNode;
let b: ClusterNode;

beforeAll(async () => {
  cluster = await TestCluster.create({ callTimeoutMs: 5000 });
  [a, b] = (await cluster.startNodes('take-a', 'take-b')) as [ClusterNode, ClusterNode];
}, 60_000);

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
  await cluster?.stop();
}, 60_000);

async function getVariables(via: ClusterNode, station: TestStation): Promise<number> {
  const res = await via.api.command(station.identity, 'GetVariables', { getVariableData: [OFFLINE_THRESHOLD] });
  return res.status;
}

describe('takeover between nodes', () => {
  it('a newer connection on node B closes the older one on node A (4000); presence and commands follow it', async () => {
    const creds = await cluster.register(a, 'TAKE');
    const first = await cluster.connect(a, creds);
    await first.booted();
    await cluster.waitForPresence(b, creds.identity, a.nodeId);
    const takeoversBefore = metricValue(await b.api.metrics(), 'csms_presence_takeovers_total');

    const second = await cluster.connect(b, creds);
    const closed = await first.waitForClose(5000);
    expect(closed.code).toBe(CLOSE_REPLACED);
    expect(second.isOpen).toBe(true);
    await second.boot();
    await cluster.waitForPresence(a, creds.identity, b.nodeId);
    await cluster.waitForPresence(b, creds.identity, b.nodeId);

    expect(await getVariables(a, second)).toBe(200);
    expect(second.callsOf('GetVariables')).toHaveLength(1);
    expect(metricValue(await b.api.metrics(), 'csms_presence_takeovers_total')).toBe(takeoversBefore + 1);

    // And back again: node A takes it over from node B.
    const third = await cluster.connect(a, creds);
    expect((await second.waitForClose(5000)).code).toBe(CLOSE_REPLACED);
    await third.boot();
    await cluster.waitForPresence(b, creds.identity, a.nodeId);
    expect(await getVariables(b, third)).toBe(200);
    expect(third.isOpen).toBe(true);
  });

  it('two nodes racing for one identity end with exactly one open socket, the one presence names (10 rounds)', async () => {
    const creds = await cluster.register(a, 'RACE');
    for (let round = 0; round < 10; round++) {
      const [onA, onB] = await Promise.all([cluster.connect(a, creds), cluster.connect(b, creds)]);
      const open = await waitFor(
        async () => {
          await sleep(100);
          const alive = [onA, onB].filter((s) => s.isOpen);
          return alive.length === 1 ? alive : undefined;
        },
        { timeoutMs: 8000, what: `round ${round}: exactly one of the racing sockets open` },
      );
      const survivor = open[0] as TestStation;
      const loser = survivor === onA ? onB : onA;
      expect(loser.closed?.code, `round ${round}`).toBe(CLOSE_REPLACED);
      const holder = survivor === onA ? a : b;
      const other = survivor === onA ? b : a;
      await cluster.waitForPresence(other, creds.identity, holder.nodeId);
      await survivor.boot();
      expect(await getVariables(other, survivor), `round ${round}: command via ${other.nodeId}`).toBe(200);
      // Stays settled: no late notice closes the survivor.
      await sleep(200);
      expect(survivor.isOpen, `round ${round}`).toBe(true);
      await survivor.close();
      await cluster.waitForPresence(other, creds.identity, undefined);
    }
  });

  it('a closing session releases its presence only if still its own: a replaced socket closing late does not erase the newer one', async () => {
    const creds = await cluster.register(a, 'CAD');
    const first = await cluster.connect(a, creds);
    await cluster.waitForPresence(b, creds.identity, a.nodeId);
    const second = await cluster.connect(b, creds);
    await first.waitForClose(5000);
    await first.close();
    await sleep(300);
    await cluster.waitForPresence(a, creds.identity, b.nodeId);
    const redis = cluster.redis();
    try {
      expect(await redis.get(cluster.presenceKey(creds.identity))).toMatch(/\|take-b#/);
      const ttl = await redis.pttl(cluster.presenceKey(creds.identity));
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(15_000);
    } finally {
      redis.disconnect();
    }
    await second.close();
    await cluster.waitForPresence(a, creds.identity, undefined);
  });
});
