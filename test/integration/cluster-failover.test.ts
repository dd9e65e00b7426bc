/**
 * A node killed with SIGKILL (CONTRACT §6): its stations reconnect to the remaining nodes at once and take
 * commands there right away (newest connection wins even before the dead node's presence expires); a station
 * that does not come back is reported gone within 10 s (with 2 s to spare: the node's liveness key expires
 * after 6 s); commands for it fail fast (503) meanwhile.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, type ClusterNode, type Credentials } from '../support/cluster.js';
import { waitFor, type TestStation } from '../support/station.js';

const OFFLINE_THRESHOLD = { component: { name: 'OCPPCommCtrlr' }, variable: { name: 'OfflineThreshold' } };
/** CONTRACT §6: a dead node's stations are gone within 10 s; this test wants them gone with a margin. */
const PRESENCE_PROMISE_MS = 10_000;
const MARGIN_MS = 2_000;
const LIVENESS_TTL_MS = 6_000;

let cluster: TestCluster;
let doomed: ClusterNode;
let b: ClusterNode;
let c: ClusterNode;

beforeAll(async () => {
  cluster = await TestCluster.create({ callTimeoutMs: 5000 });
  [doomed, b, c] = (await cluster.startNodes('kill-a', 'kill-b', 'kill-c')) as [ClusterNode, ClusterNode, ClusterNode];
}, 60_000);

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
  await cluster?.stop();
}, 60_000);

describe('a node dies (SIGKILL)', () => {
  it('its stations reconnect elsewhere and take commands at once; a station that stays away is gone within 10 s, with a margin', async () => {
    const movers: { creds: Credentials; station: TestStation }[] = [];
    for (let i = 0; i < 6; i++) {
      const creds = await cluster.register(b, `MOVE${i}`);
      const station = await cluster.connect(doomed, creds);
      await station.booted();
      movers.push({ creds, station });
    }
    const stayCreds = await cluster.register(b, 'STAY');
    const stay = await cluster.connect(doomed, stayCreds);
    await stay.booted();
    for (const { creds } of movers) await cluster.waitForPresence(b, creds.identity, doomed.nodeId);
    await cluster.waitForPresence(c, stayCreds.identity, doomed.nodeId);

    const killedAt = Date.now();
    doomed.process.child.kill('SIGKILL');
    await Promise.all([...movers.map((m) => m.station.waitForClose(5000)), stay.waitForClose(5000)]);

    // Presence still names the dead node, but nobody listens there: 503 at once, not a 5 s timeout.
    const started = Date.now();
    const toDead = await b.api.command(stayCreds.identity, 'GetVariables', { getVariableData: [OFFLINE_THRESHOLD] });
    expect(toDead.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(1000);

    // Reconnect at once, alternating between the survivors; each is reachable from the other survivor.
    const reconnected = await Promise.all(
      movers.map(async ({ creds }, i) => {
        const node = i % 2 === 0 ? b : c;
        const station = await cluster.connect(node, creds);
        await station.boot();
        return { station, node, other: node === b ? c : b };
      }),
    );
    for (const { station, node, other } of reconnected) {
      await cluster.waitForPresence(other, station.identity, node.nodeId, 3000);
      const res = await other.api.command(station.identity, 'GetVariables', { getVariableData: [OFFLINE_THRESHOLD] });
      expect(res.status, `${other.nodeId} → ${station.identity} on ${node.nodeId}: ${res.text}`).toBe(200);
    }
    // All of that happened before the dead node's presence could expire (its liveness key lives 6 s).
    expect(Date.now() - killedAt).toBeLessThan(LIVENESS_TTL_MS);

    // The station that stayed away: reported gone well within the promise.
    await cluster.waitForPresence(c, stayCreds.identity, undefined, PRESENCE_PROMISE_MS);
    expect(Date.now() - killedAt).toBeLessThanOrEqual(PRESENCE_PROMISE_MS - MARGIN_MS);
    const gone = await c.api.command(stayCreds.identity, 'GetVariables', { getVariableData: [OFFLINE_THRESHOLD] });
    expect(gone.status).toBe(409);
    cluster.nodes.splice(cluster.nodes.indexOf(doomed), 1);

    // ... and when it comes back, to a survivor, commands work again.
    const back = await cluster.connect(c, stayCreds);
    await back.boot();
    await cluster.waitForPresence(b, stayCreds.identity, c.nodeId);
    expect((await b.api.command(stayCreds.identity, 'GetVariables', { getVariableData: [OFFLINE_THRESHOLD] })).status).toBe(200);
    expect(cluster.problems()).toEqual([]);
    await waitFor(() => doomed.process.child.signalCode === 'SIGKILL', { what: 'node A dead' });
  }, 60_000);
});
