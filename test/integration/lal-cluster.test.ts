/**
 * CONTRACT §6 and §8.1/§8.5 in a cluster: a local list or a display message set through node A reaches a station
 * connected to node B. The list's sync runs where the station is connected (B), brought there by the decision
 * channel; the display message travels the command service's cross-node route.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, type ClusterNode } from '../support/cluster.js';
import { waitFor, type Payload } from '../support/station.js';

let cluster: TestCluster;
let a: ClusterNode;
let b: ClusterNode;

beforeAll(async () => {
  cluster = await TestCluster.create({ callTimeoutMs: 5000 });
  [a, b] = (await cluster.startNodes('lal-a', 'lal-b')) as [ClusterNode, ClusterNode];
}, 60_000);

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
  await cluster?.stop();
}, 60_000);

describe('local lists and display messages across nodes', () => {
  it('TC_D_01 across nodes: a list put through node A is sent by node B, where the station is, and shows InSync at A', async () => {
    const station = await cluster.bootedStation(b, 'LAL-CL');
    let held = 0;
    station.onCall('GetLocalListVersion', () => ({ versionNumber: held }));
    station.onCall('SendLocalList', (payload) => {
      held = payload.versionNumber as number;
      return { status: 'Accepted' };
    });
    const put = await a.api.request<{ version: number }>('PUT', `/api/v1/stations/${station.identity}/local-list`, {
      entries: [{ idToken: { idToken: 'CLUSTER1', type: 'Central' }, idTokenInfo: { status: 'Accepted' } }],
    });
    expect(put.status).toBe(202);
    const sent = (await station.waitForCall('SendLocalList', { timeoutMs: 5000 })).payload;
    expect(sent).toMatchObject({ updateType: 'Full', versionNumber: put.body.version });
    await waitFor(async () => (await a.api.request<{ syncStatus: string }>('GET', `/api/v1/stations/${station.identity}/local-list`)).body.syncStatus === 'InSync', {
      what: 'InSync seen from node A',
    });

    // A register change made through A reaches the list on B's station.
    await a.api.request('PUT', '/api/v1/id-tokens/Central/CLUSTERREG', { status: 'Accepted' });
    const patch = await a.api.request<{ version: number }>('PATCH', `/api/v1/stations/${station.identity}/local-list`, {
      upsert: [{ idToken: { idToken: 'CLUSTERREG', type: 'Central' } }],
    });
    expect(patch.status).toBe(202);
    await waitFor(() => held === patch.body.version, { what: 'the Differential on B' });
    expect((await a.api.request('PUT', '/api/v1/id-tokens/Central/CLUSTERREG', { status: 'Blocked' })).status).toBe(200);
    const blocked = await station.waitForCall('SendLocalList', { where: (p: Payload) => JSON.stringify(p).includes('Blocked'), timeoutMs: 5000 });
    expect(blocked.payload).toMatchObject({
      updateType: 'Differential',
      localAuthorizationList: [{ idToken: { idToken: 'CLUSTERREG' }, idTokenInfo: { status: 'Blocked' } }],
    });
  });

  it('TC_O_01 across nodes: a display message posted at A is set on the station at B and listed at both', async () => {
    const station = await cluster.bootedStation(b, 'AUI-CL');
    station.onCall('SetDisplayMessage', () => ({ status: 'Accepted' }));
    const res = await a.api.request<{ id: number; status: string }>('POST', `/api/v1/stations/${station.identity}/display-messages`, {
      message: { priority: 'NormalCycle', message: { format: 'UTF8', content: 'Hello from A' } },
    });
    expect(res.status).toBe(201);
    expect(res.body.status).toBe('Accepted');
    for (const node of [a, b]) {
      const list = await node.api.request<{ items: { id: number }[] }>('GET', `/api/v1/stations/${station.identity}/display-messages`);
      expect(list.body.items.map((i) => i.id)).toEqual([res.body.id]);
    }
  });
});
