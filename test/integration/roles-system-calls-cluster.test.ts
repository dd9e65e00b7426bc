/**
 * CONTRACT §6 / §8.7 in a cluster: an operator's command sent through one node to a station held by the other is
 * audited once, as the operator's request; the holder, which makes the CALL, does not add a `system` entry for it.
 * A CALL the holder makes on its own (the local list sync a PUT started) is `system`, written by the holder.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, type ClusterNode } from '../support/cluster.js';
import { waitFor } from '../support/station.js';

let cluster: TestCluster;
let nodes: ClusterNode[];

beforeAll(async () => {
  cluster = await TestCluster.create();
  nodes = await Promise.all(['aud-a', 'aud-b'].map((id) => cluster.startNode(id, { CSMS_LOG_LEVEL: 'warn' })));
}, 120_000);

afterAll(async () => {
  await cluster.stop();
}, 60_000);

interface AuditItem {
  actor: string;
  method: string;
  action: string | null;
  outcome: string;
  status: number;
  nodeId: string | null;
}

describe('audit of routed calls', () => {
  it('a command routed to the other node is one operator entry; the sync the holder runs is system, by the holder', async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode];
    const station = await cluster.bootedStation(b, 'AUDC');
    station.onCall('GetLocalListVersion', () => ({ versionNumber: 0 }));
    station.onCall('SendLocalList', () => ({ status: 'Accepted' }));
    expect((await a.api.command(station.identity, 'ClearCache', {})).status).toBe(200);
    const card = { idToken: { idToken: 'CLCARD1', type: 'ISO14443' }, idTokenInfo: { status: 'Accepted' } };
    expect((await a.api.request('PUT', `/api/v1/stations/${station.identity}/local-list`, { entries: [card] })).status).toBe(202);

    const trail = async (): Promise<AuditItem[]> =>
      (await a.api.request<{ items: AuditItem[] }>('GET', `/api/v1/audit?stationId=${encodeURIComponent(station.identity)}&limit=500`)).body.items;
    await waitFor(async () => (await trail()).some((e) => e.actor === 'system' && e.action === 'SendLocalList'), { what: 'the sync entry' });
    const items = await trail();
    expect(items.filter((e) => e.action === 'ClearCache').map((e) => [e.method, e.outcome, e.status, e.nodeId])).toEqual([['POST', 'ok', 200, 'aud-a']]);
    expect(items.find((e) => e.actor === 'system' && e.action === 'SendLocalList')).toMatchObject({ method: 'CALL', outcome: 'ok', status: 200, nodeId: 'aud-b' });
  }, 60_000);
});
