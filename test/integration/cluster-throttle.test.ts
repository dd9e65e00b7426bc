/**
 * CONTRACT §3.2: throttling limits are shared across nodes (Redis counter per key). Wrong passwords counted on
 * node A throttle the same (identity, address) on node B, while the station still gets in from another address.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, type ClusterNode } from '../support/cluster.js';
import { ConnectRefusedError, TestStation, randomPassword, type ConnectOptions } from '../support/station.js';

let cluster: TestCluster;
let a: ClusterNode;
let b: ClusterNode;

beforeAll(async () => {
  cluster = await TestCluster.create();
  [a, b] = (await cluster.startNodes('thr-a', 'thr-b')) as [ClusterNode, ClusterNode];
}, 120_000);

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
  await cluster?.stop();
}, 60_000);

async function attempt(node: ClusterNode, opts: ConnectOptions, localAddress: string): Promise<number> {
  try {
    const station = await TestStation.connectWith(node.ocppUrl, { connectTimeoutMs: 20_000, ...opts }, { localAddress });
    await station.close();
    return 101;
  } catch (err) {
    if (!(err instanceof ConnectRefusedError)) throw err;
    return err.status ?? 0;
  }
}

describe('throttling across nodes', () => {
  it('10 wrong passwords on node A: node B answers 429 to that (identity, address), and admits the station from another address', async () => {
    const creds = await cluster.register(a, 'THR');
    for (let i = 0; i < 10; i++) expect(await attempt(a, { identity: creds.identity, password: randomPassword() }, '127.0.0.11')).toBe(401);
    expect(await attempt(b, { identity: creds.identity, password: randomPassword() }, '127.0.0.11')).toBe(429);
    expect(await attempt(b, creds, '127.0.0.11')).toBe(429);
    expect(await attempt(b, creds, '127.0.0.12')).toBe(101);
  }, 90_000);
});
