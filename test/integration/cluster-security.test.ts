/**
 * Security decisions hold on every node (CONTRACT §6, §3.2): two CSMS nodes (child processes sharing Redis and
 * PostgreSQL), each with its own wss:// port. A security-profile raise accepted through node A is applied when
 * the station comes back through node B (TC_A_19); the certificate-signing outcome and a revocation made
 * through node A are what node B sees; a remote-start token granted through node A's API is Accepted at the
 * station on node B before it answers, and at no other station.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../bench/free-port.js';
import { ChargingSession, newIdToken, type IdTokenInfo } from '../support/charging.js';
import { TestCluster, type ClusterNode, type Credentials } from '../support/cluster.js';
import { TestStation, waitFor } from '../support/station.js';
import { createCsr, createTestPki, refusal, stationTls, type TestPki } from '../support/tls.js';

let cluster: TestCluster;
let pki: TestPki;
let a: ClusterNode;
let b: ClusterNode;
const tlsPorts = new Map<string, number>();
const dataDirs: string[] = [];
const tlsStations: TestStation[] = [];

async function startTlsNode(nodeId: string): Promise<ClusterNode> {
  const port = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), `stroom-${nodeId}-`));
  dataDirs.push(dataDir);
  tlsPorts.set(nodeId, port);
  return cluster.startNode(nodeId, { ...pki.config(), CSMS_OCPP_TLS_PORT: port, CSMS_DATA_DIR: dataDir });
}

beforeAll(async () => {
  cluster = await TestCluster.create({ callTimeoutMs: 3000 });
  pki = await createTestPki();
  [a, b] = await Promise.all([startTlsNode('sec-a'), startTlsNode('sec-b')]);
}, 90_000);

afterEach(async () => {
  const problems = [...tlsStations.flatMap((s) => s.problems()), ...cluster.problems()];
  await Promise.all(tlsStations.splice(0).map((s) => s.close()));
  expect(problems).toEqual([]);
});

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
  await cluster?.stop();
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
  await pki?.remove();
  await Promise.all(dataDirs.map((dir) => rm(dir, { recursive: true, force: true })));
}, 60_000);

/** A wss:// connection to `node`: Basic auth (profile 2) with `creds.password`, or a client certificate (profile 3). */
async function connectTls(node: ClusterNode, creds: { identity: string; password?: string }, certificate?: { certPem: string; keyPem: string }): Promise<TestStation> {
  const url = `wss://127.0.0.1:${tlsPorts.get(node.nodeId)}/ocpp`;
  const station = await TestStation.connectWith(url, { ...creds, csmsCallTimeoutMs: cluster.callTimeoutMs }, stationTls(pki, certificate));
  if (certificate !== undefined) station.chargingStation = { ...station.chargingStation, serialNumber: creds.identity };
  tlsStations.push(station);
  return station;
}

async function register(via: ClusterNode, securityProfile: 1 | 2, prefix: string): Promise<Credentials> {
  const creds = await cluster.register(via, prefix);
  if (securityProfile === 2) expect((await via.api.patchStation(creds.identity, { securityProfile: 2 })).status).toBe(200);
  return creds;
}

describe('TC_A_19 across nodes: the pending profile raise lives with the station', () => {
  it('SetNetworkProfile accepted via node A; the station comes back at profile 2 on node B → raised; ws:// is refused afterwards', async () => {
    const creds = await register(a, 1, 'RAISE');
    const station = await cluster.connect(a, creds);
    await station.booted();
    const res = await a.api.command(creds.identity, 'SetNetworkProfile', {
      configurationSlot: 1,
      connectionData: {
        ocppVersion: 'OCPP20',
        ocppTransport: 'JSON',
        ocppCsmsUrl: `wss://127.0.0.1:${tlsPorts.get(b.nodeId)}/ocpp`,
        messageTimeout: 30,
        securityProfile: 2,
        ocppInterface: 'Wired0',
      },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body.response).toEqual({ status: 'Accepted' });
    await station.close();

    const upgraded = await connectTls(b, creds);
    await upgraded.booted({ reason: 'RemoteReset' });
    await waitFor(async () => (await a.api.getStation(creds.identity)).body.securityProfile === 2, { timeoutMs: 5000, what: 'profile 2 seen through node A' });
    await upgraded.close();
    expect((await refusal(cluster.connect(a, creds))).status).toBe(403);
    expect((await refusal(cluster.connect(b, creds))).status).toBe(403);
  });
});

describe('certificates across nodes', () => {
  it('the signing outcome of node B is what node A shows; a revocation through node A holds on node B', async () => {
    const creds = await register(a, 2, 'CERTX');
    const station = await connectTls(b, creds);
    await station.booted();
    const { csrPem, keyPem } = await createCsr({ cn: creds.identity });
    expect(await station.call('SignCertificate', { csr: csrPem })).toEqual({ status: 'Accepted' });
    const signed = await station.waitForCall('CertificateSigned');
    const certificate = { certPem: String(signed.payload.certificateChain), keyPem };
    const serialNumber = new X509Certificate(certificate.certPem).serialNumber.toLowerCase();
    await waitFor(async () => ((await a.api.getStation(creds.identity)).body.certificateSigning as { status?: string } | null)?.status === 'Accepted', {
      what: 'certificateSigning Accepted on node A',
    });
    await station.close();

    expect((await a.api.patchStation(creds.identity, { securityProfile: 3 })).status).toBe(200);
    const sp3 = await connectTls(b, { identity: creds.identity }, certificate);
    await sp3.booted();
    await sp3.close();

    expect((await a.api.request('DELETE', `/api/v1/stations/${creds.identity}/certificates/${serialNumber}`)).status).toBe(204);
    expect([401, 403]).toContain((await refusal(connectTls(b, { identity: creds.identity }, certificate))).status);
  });
});

describe('remote-start tokens across nodes', () => {
  it('a RequestStartTransaction sent through node A grants the token at the station on node B (before it answers), not at a station on node A', async () => {
    const token = newIdToken('Central');
    const station = await cluster.connect(b, await register(a, 1, 'RSB'));
    await station.booted();
    const other = await cluster.connect(a, await register(a, 1, 'RSA'));
    await other.booted();
    await cluster.waitForPresence(a, station.identity, b.nodeId);
    const authorize = async (at: TestStation): Promise<IdTokenInfo> => (await at.authorize(token.idToken, token.type)).idTokenInfo;

    let beforeAnswer: IdTokenInfo | undefined;
    station.onCall('RequestStartTransaction', async () => {
      beforeAnswer = await authorize(station);
      return { status: 'Accepted' };
    });
    const res = await a.api.command(station.identity, 'RequestStartTransaction', { idToken: token, evseId: 1 });
    expect(res.status, res.text).toBe(200);
    expect(beforeAnswer?.status).toBe('Accepted');
    expect((await authorize(other)).status).toBe('Unknown');

    const tx = new ChargingSession(station);
    const started = await tx.event('Started', 'RemoteStart', { remoteStartId: res.body.request.remoteStartId as number, idToken: token });
    expect(started.response.idTokenInfo?.status).toBe('Accepted');
    const ended = await tx.event('Ended', 'StopAuthorized', { stoppedReason: 'Local', idToken: token });
    expect(ended.response.idTokenInfo?.status).toBe('Accepted');
    expect((await authorize(station)).status).toBe('Unknown');
  });
});
