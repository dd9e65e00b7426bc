/**
 * CONTRACT §6 "the CAs that sign station certificates are the same on every node": without CSMS_CA_CERT/KEY the
 * station CA is created once in the shared PostgreSQL by the first node and loaded by every other, never one per
 * node's data dir. Two nodes (child processes, each with its own data dir, its own wss:// port and server
 * certificate) start at the same moment on one empty database: one CA. A certificate a station gets through node A
 * (SignCertificate → CertificateSigned) lets it in over profile 3 at node B's TLS listener.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../bench/free-port.js';
import { TestCluster, type ClusterNode } from '../support/cluster.js';
import { TestStation, randomPassword, uniqueIdentity } from '../support/station.js';
import { CSO_NAME, createCsr, createTestPki, refusal, stationTls, type TestPki } from '../support/tls.js';

interface TlsNode {
  node: ClusterNode;
  tlsUrl: string;
  dataDir: string;
}

let cluster: TestCluster;
let pki: TestPki;
let a: TlsNode;
let b: TlsNode;
const opened: TestStation[] = [];

/** A node with its own wss:// port and data dir, the shared test server certificates, and no CA files. */
async function startTlsNode(nodeId: string): Promise<TlsNode> {
  const tlsPort = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), `stroom-${nodeId}-`));
  const node = await cluster.startNode(nodeId, { ...pki.config(), CSMS_OCPP_TLS_PORT: tlsPort, CSMS_DATA_DIR: dataDir });
  return { node, tlsUrl: `wss://127.0.0.1:${tlsPort}/ocpp`, dataDir };
}

async function stationCaRows(name = 'station'): Promise<{ cert_pem: string }[]> {
  const client = new pg.Client({ connectionString: cluster.database.url });
  await client.connect();
  try {
    return (await client.query<{ cert_pem: string }>('SELECT cert_pem FROM certificate_authorities WHERE name = $1', [name])).rows;
  } finally {
    await client.end();
  }
}

async function connectTls(at: TlsNode, opts: { identity: string; password?: string }, certificate?: { certPem: string; keyPem: string }): Promise<TestStation> {
  const station = await TestStation.connectWith(at.tlsUrl, { csmsCallTimeoutMs: cluster.callTimeoutMs, ...opts }, stationTls(pki, certificate));
  opened.push(station);
  return station;
}

async function register(via: TlsNode, securityProfile: 2 | 3, prefix: string): Promise<{ identity: string; password: string }> {
  const identity = uniqueIdentity(prefix);
  const password = randomPassword();
  const res = await via.node.api.putStation(identity, { securityProfile, password, bootPolicy: 'Accepted' });
  expect([200, 201], res.text).toContain(res.status);
  return { identity, password };
}

/** A profile-2 station on `at` asks for a certificate (A03, station-initiated); resolves with the chain and its key. */
async function certificateThrough(at: TlsNode, prefix: string): Promise<{ identity: string; password: string; chainPem: string; keyPem: string }> {
  const creds = await register(at, 2, prefix);
  const station = await connectTls(at, creds);
  await station.booted();
  const { csrPem, keyPem } = await createCsr({ cn: creds.identity, o: CSO_NAME });
  const mark = station.mark();
  expect(await station.call('SignCertificate', { csr: csrPem, certificateType: 'ChargingStationCertificate' })).toEqual({ status: 'Accepted' });
  const signed = await station.waitForCall('CertificateSigned', { afterSeq: mark, timeoutMs: 10_000 });
  await station.close();
  return { ...creds, chainPem: String(signed.payload.certificateChain), keyPem };
}

function chainRoot(chainPem: string): X509Certificate {
  const blocks = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  expect(blocks).toHaveLength(2);
  return new X509Certificate(blocks[1] as string);
}

beforeAll(async () => {
  cluster = await TestCluster.create();
  pki = await createTestPki();
  // The same moment, one empty database: both race to create the CA.
  [a, b] = await Promise.all([startTlsNode('ca-a'), startTlsNode('ca-b')]);
}, 90_000);

afterEach(async () => {
  const stations = opened.splice(0);
  const problems = stations.flatMap((s) => s.problems());
  await Promise.all(stations.map((s) => s.close()));
  if (problems.length > 0) throw new Error(`protocol problems seen by the test station(s):\n  ${problems.join('\n  ')}`);
});

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
  await cluster?.stop();
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
  await pki?.remove();
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
  for (const node of [a, b]) if (node !== undefined) await rm(node.dataDir, { recursive: true, force: true });
}, 60_000);

describe('one station CA for the whole cluster, in the database', () => {
  it('two nodes started at the same moment on an empty database create exactly one CA, and neither writes one into its data dir', async () => {
    expect(await stationCaRows()).toHaveLength(1);
    // The V2G CA (CONTRACT §8.6) likewise: one row, apart from the station CA.
    const v2g = await stationCaRows('v2g');
    expect(v2g).toHaveLength(1);
    expect(v2g[0]?.cert_pem).not.toBe((await stationCaRows())[0]?.cert_pem);
    for (const node of [a, b]) expect(await readdir(node.dataDir)).not.toContain('ca');
  });

  it('both nodes sign with that CA: the roots of CertificateSigned chains through A and through B are the one in the database', async () => {
    const [viaA, viaB] = await Promise.all([certificateThrough(a, 'CAA'), certificateThrough(b, 'CAB')]);
    const stored = new X509Certificate((await stationCaRows())[0]?.cert_pem ?? '');
    expect(chainRoot(viaA.chainPem).fingerprint256).toBe(stored.fingerprint256);
    expect(chainRoot(viaB.chainPem).fingerprint256).toBe(stored.fingerprint256);
  });

  it('V2G certificates signed through A and through B chain to the one V2G CA in the database (CONTRACT §6, §8.6)', async () => {
    const v2gThrough = async (at: TlsNode, prefix: string): Promise<string> => {
      const creds = await register(at, 2, prefix);
      const station = await connectTls(at, creds);
      await station.booted();
      const { csrPem } = await createCsr({ cn: `SECC-${prefix}`, key: 'ec-p256' });
      const mark = station.mark();
      expect(await station.call('SignCertificate', { csr: csrPem, certificateType: 'V2GCertificate' })).toEqual({ status: 'Accepted' });
      const signed = await station.waitForCall('CertificateSigned', { afterSeq: mark, timeoutMs: 10_000 });
      expect(signed.payload.certificateType).toBe('V2GCertificate');
      await station.close();
      return String(signed.payload.certificateChain);
    };
    const [viaA, viaB] = await Promise.all([v2gThrough(a, 'V2GA'), v2gThrough(b, 'V2GB')]);
    const stored = new X509Certificate((await stationCaRows('v2g'))[0]?.cert_pem ?? '');
    expect(chainRoot(viaA).fingerprint256).toBe(stored.fingerprint256);
    expect(chainRoot(viaB).fingerprint256).toBe(stored.fingerprint256);
  });

  it('a certificate signed through node A gets the station in over profile 3 at node B, which refuses a foreign CA', async () => {
    const issued = await certificateThrough(a, 'CA3');
    // The operator raises the station to profile 3 through B: from now on only a verified certificate lets it in.
    const raised = await b.node.api.patchStation(issued.identity, { securityProfile: 3 });
    expect(raised.status, raised.text).toBe(200);

    const foreign = await pki.foreignCa.issue({ cn: issued.identity, o: CSO_NAME, usage: 'client' });
    expect((await refusal(connectTls(b, { identity: issued.identity }, foreign))).status).toBe(401);

    const station = await connectTls(b, { identity: issued.identity }, { certPem: issued.chainPem, keyPem: issued.keyPem });
    station.chargingStation = { ...station.chargingStation, serialNumber: issued.identity };
    await station.booted();
    await cluster.waitForPresence(a.node, issued.identity, 'ca-b');
    expect((await a.node.api.getStation(issued.identity)).body).toMatchObject({ connected: true, nodeId: 'ca-b', securityProfile: 3 });
  });
});
