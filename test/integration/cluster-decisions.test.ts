/**
 * CONTRACT §6: a decision an operator makes through one node holds on every node within 1 s — an id token's
 * status, a station's password, security profile, boot policy, registration and deletion. Each is made through
 * node A and checked at node B, where the station (or the token) was already known and warm.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newIdToken, putIdToken, registerIdToken } from '../support/charging.js';
import { TestCluster, type ClusterNode } from '../support/cluster.js';
import { ConnectRefusedError, sleep, waitFor, type Payload } from '../support/station.js';

/** How soon a decision must hold elsewhere. */
const WITHIN_MS = 1000;

let cluster: TestCluster;
let a: ClusterNode;
let b: ClusterNode;

beforeAll(async () => {
  cluster = await TestCluster.create({ callTimeoutMs: 5000 });
  [a, b] = (await cluster.startNodes('dec-a', 'dec-b')) as [ClusterNode, ClusterNode];
}, 60_000);

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
  await cluster?.stop();
}, 60_000);

async function refusal(node: ClusterNode, creds: { identity: string; password: string }): Promise<number | undefined> {
  try {
    const station = await cluster.connect(node, creds);
    await station.close();
    return 101;
  } catch (err) {
    if (err instanceof ConnectRefusedError) return err.status;
    throw err;
  }
}

describe('operator decisions across nodes', () => {
  it('an id token blocked through node A is Blocked at node B within 1 s, though B had it cached as Accepted', async () => {
    const token = await registerIdToken(a.api, newIdToken('ISO14443'));
    const station = await cluster.bootedStation(b, 'DEC-TOKEN');
    const before = await station.call<{ idTokenInfo: Payload }>('Authorize', { idToken: token });
    expect(before.idTokenInfo.status).toBe('Accepted');

    expect((await putIdToken(a.api, token, { status: 'Blocked' })).status).toBe(200);
    const blockedAt = Date.now();
    // The announcement crosses Redis pub/sub: ask B until it says Blocked, for at most the promised second.
    let status: unknown;
    while (Date.now() - blockedAt < WITHIN_MS) {
      status = (await station.call<{ idTokenInfo: Payload }>('Authorize', { idToken: token })).idTokenInfo.status;
      if (status === 'Blocked') break;
      await sleep(20);
    }
    expect(status).toBe('Blocked');
    expect(Date.now() - blockedAt).toBeLessThan(WITHIN_MS);

    // And back: unblocked through A, Accepted at B.
    expect((await putIdToken(a.api, token, { status: 'Accepted' })).status).toBe(200);
    await waitFor(async () => ((await station.call<{ idTokenInfo: Payload }>('Authorize', { idToken: token })).idTokenInfo.status === 'Accepted' ? true : undefined), {
      timeoutMs: WITHIN_MS,
      what: 'Accepted again at node B',
    });
  });

  it("a station's new password set through node A is the only one node B accepts", async () => {
    const creds = await cluster.register(a, 'DEC-PWD');
    expect(await refusal(b, creds)).toBe(101);
    const password = 'a-brand-new-station-secret';
    expect((await a.api.patchStation(creds.identity, { password })).status).toBe(200);
    expect(await refusal(b, creds)).toBe(401);
    expect(await refusal(b, { identity: creds.identity, password })).toBe(101);
  });

  it('a security profile raised through node A refuses the lower profile at node B', async () => {
    const creds = await cluster.register(a, 'DEC-SP');
    expect(await refusal(b, creds)).toBe(101);
    expect((await a.api.patchStation(creds.identity, { securityProfile: 2 })).status).toBe(200);
    expect(await refusal(b, creds)).toBe(403);
  });

  it('a boot policy changed through node A decides the next boot at node B', async () => {
    const creds = await cluster.register(a, 'DEC-BOOT');
    expect((await a.api.patchStation(creds.identity, { bootPolicy: 'Rejected' })).status).toBe(200);
    const station = await cluster.connect(b, creds);
    expect((await station.boot({ expect: 'Rejected' })).status).toBe('Rejected');
    expect((await a.api.patchStation(creds.identity, { bootPolicy: 'Accepted' })).status).toBe(200);
    expect((await station.boot()).status).toBe('Accepted');
  });

  it('a station deleted through node A is unknown at node B, and registered again it connects there', async () => {
    const creds = await cluster.register(a, 'DEC-DEL');
    expect(await refusal(b, creds)).toBe(101);
    expect((await a.api.deleteStation(creds.identity)).status).toBe(204);
    expect(await refusal(b, creds)).toBe(404);
    expect((await a.api.putStation(creds.identity, { securityProfile: 1, password: creds.password, bootPolicy: 'Accepted' })).status).toBe(201);
    expect(await refusal(b, creds)).toBe(101);
  });
});
