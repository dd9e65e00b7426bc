/**
 * Redis goes away during traffic and comes back empty (issue 6 §4): every node keeps serving the stations it
 * holds, cross-node commands fail fast with 503, nothing crashes, and presence is rebuilt when Redis returns —
 * including stations that connected while it was gone. Runs against its own throw-away redis-server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricValue } from '../support/api.js';
import { TestCluster, ThrowawayRedis, type ClusterNode } from '../support/cluster.js';
import { sleep, waitFor, type TestStation } from '../support/station.js';

const OFFLINE_THRESHOLD = { component: { name: 'OCPPCommCtrlr' }, variable: { name: 'OfflineThreshold' } };

let redis: ThrowawayRedis;
let cluster: TestCluster;
let a: ClusterNode;
let b: ClusterNode;

beforeAll(async () => {
  redis = await ThrowawayRedis.start();
  cluster = await TestCluster.create({ redisUrl: redis.url, callTimeoutMs: 5000 });
  [a, b] = (await cluster.startNodes('rr-a', 'rr-b')) as [ClusterNode, ClusterNode];
}, 60_000);

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
  await cluster?.stop();
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
  await redis?.stop();
}, 60_000);

async function command(via: ClusterNode, station: TestStation): Promise<{ status: number; ms: number }> {
  const started = Date.now();
  const res = await via.api.command(station.identity, 'GetVariables', { getVariableData: [OFFLINE_THRESHOLD] });
  return { status: res.status, ms: Date.now() - started };
}

async function redisUp(node: ClusterNode): Promise<number> {
  return metricValue(await node.api.metrics(), 'csms_redis_up');
}

async function presenceRebuilds(node: ClusterNode): Promise<number> {
  return metricValue(await node.api.metrics(), 'csms_presence_rebuilds_total');
}

describe('Redis restarted during traffic', () => {
  it('nodes keep their stations, cross-node commands answer 503 fast, presence is rebuilt when Redis is back', async () => {
    const onA = await cluster.bootedStation(a, 'RRA');
    const onB = await cluster.bootedStation(b, 'RRB');
    await cluster.waitForPresence(a, onB.identity, b.nodeId);
    await cluster.waitForPresence(b, onA.identity, a.nodeId);

    // Station traffic all along: every CALL must be answered, Redis or not.
    let traffic = true;
    const failures: string[] = [];
    let answered = 0;
    const loop = (async () => {
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by another async task, which the checker's narrowing does not see
      while (traffic) {
        for (const station of [onA, onB]) {
          await station.heartbeat().then(
            () => (answered += 1),
            (err: unknown) => failures.push(`${station.identity}: ${err instanceof Error ? err.message : String(err)}`),
          );
          await station
            .statusNotification(1, 1, 'Available')
            .catch((err: unknown) => failures.push(`${station.identity}: ${err instanceof Error ? err.message : String(err)}`));
        }
        await sleep(20);
      }
    })();

    // The first connection to Redis is no rebuild.
    expect([await presenceRebuilds(a), await presenceRebuilds(b)]).toEqual([0, 0]);
    await redis.kill();
    await waitFor(async () => (await redisUp(a)) === 0 && (await redisUp(b)) === 0, { timeoutMs: 5000, what: 'csms_redis_up 0 on both nodes' });

    // Local commands work; cross-node ones fail fast.
    expect((await command(a, onA)).status).toBe(200);
    expect((await command(b, onB)).status).toBe(200);
    const crossAB = await command(a, onB);
    expect(crossAB.status).toBe(503);
    expect(crossAB.ms).toBeLessThan(500);
    const crossBA = await command(b, onA);
    expect(crossBA.status).toBe(503);
    expect((await a.api.getStation(onB.identity)).status).toBe(200);

    // A station connecting while Redis is away is served by its node, and registered once Redis returns.
    const lateCreds = await cluster.register(b, 'RRLATE');
    const late = await cluster.connect(b, lateCreds);
    await late.booted();
    expect((await command(b, late)).status).toBe(200);
    await sleep(1000);

    await redis.start();
    await waitFor(async () => (await redisUp(a)) === 1 && (await redisUp(b)) === 1, { timeoutMs: 10_000, what: 'csms_redis_up 1 on both nodes' });
    await cluster.waitForPresence(a, onB.identity, b.nodeId, 5000);
    await cluster.waitForPresence(b, onA.identity, a.nodeId, 5000);
    await cluster.waitForPresence(a, late.identity, b.nodeId, 5000);
    await waitFor(async () => (await presenceRebuilds(a)) >= 1 && (await presenceRebuilds(b)) >= 1, { what: 'csms_presence_rebuilds_total counted on both nodes' });
    expect((await command(a, onB)).status).toBe(200);
    expect((await command(b, onA)).status).toBe(200);
    expect((await command(a, late)).status).toBe(200);

    traffic = false;
    await loop;
    expect(failures).toEqual([]);
    expect(answered).toBeGreaterThan(10);
    expect(a.process.child.exitCode).toBeNull();
    expect(b.process.child.exitCode).toBeNull();
    expect(onA.isOpen && onB.isOpen && late.isOpen).toBe(true);
    expect(cluster.problems()).toEqual([]);
  }, 60_000);
});
