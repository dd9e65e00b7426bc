/**
 * Behind a TLS-terminating proxy: a real HAProxy, run with the shipped src/transport/haproxy.example.cfg as it
 * is, terminates TLS and mTLS in front of the plain ws:// listener and forwards the verified client-certificate
 * identity in headers, which the CSMS believes only from CSMS_TRUSTED_PROXIES. A forged identity header from
 * any other address must not grant profile 3.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../bench/free-port.js';
import { REPO_ROOT, startTestCsms, type TestCsms } from '../support/csms.js';
import { RunningHaproxy } from '../support/haproxy.js';
import { TestStation, randomPassword, uniqueIdentity, type ConnectOptions } from '../support/station.js';
import { CSO_NAME, createTestPki, probeTls, refusal, refusedProfile3Certificates, type TestPki } from '../support/tls.js';

const HAPROXY_CONFIG = join(REPO_ROOT, 'src', 'transport', 'haproxy.example.cfg');

let pki: TestPki;
let csms: TestCsms;
let haproxy: RunningHaproxy | undefined;
let proxyPort = 0;
const opened: TestStation[] = [];

beforeAll(async () => {
  pki = await createTestPki();
  // HAProxy wants each certificate chain followed by its key in one file.
  const rsaPem = join(pki.dir, 'haproxy-rsa.pem');
  const ecdsaPem = join(pki.dir, 'haproxy-ecdsa.pem');
  await writeFile(rsaPem, `${pki.rsaServer.certPem}\n${pki.serverCa.certPem}\n${pki.rsaServer.keyPem}`, { mode: 0o600 });
  await writeFile(ecdsaPem, `${pki.ecdsaServer.certPem}\n${pki.serverCa.certPem}\n${pki.ecdsaServer.keyPem}`, { mode: 0o600 });

  // HAProxy reaches the CSMS from 127.0.0.1; only that address is trusted. Direct connections from 127.0.0.2 are not.
  csms = await startTestCsms({ CSMS_TRUSTED_PROXIES: '127.0.0.1,::1/128', CSMS_TLS_CLIENT_ORGANIZATION: CSO_NAME });
  proxyPort = await freePort();
  haproxy = await RunningHaproxy.start(
    HAPROXY_CONFIG,
    {
      STROOM_TLS_BIND: `127.0.0.1:${proxyPort}`,
      STROOM_TLS_RSA_PEM: rsaPem,
      STROOM_TLS_ECDSA_PEM: ecdsaPem,
      STROOM_CLIENT_CA: pki.files.clientCa,
      STROOM_BACKEND: `127.0.0.1:${csms.csms.ocppPort}`,
    },
    [proxyPort],
  );
}, 60_000);

afterEach(async () => {
  const stations = opened.splice(0);
  const problems = stations.flatMap((s) => s.problems());
  await Promise.all(stations.map((s) => s.close()));
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
  problems.push(...((await csms?.closeStations()) ?? []));
  if (problems.length > 0) throw new Error(`protocol problems seen by the test station(s):\n  ${problems.join('\n  ')}`);
});

afterAll(async () => {
  await haproxy?.stop();
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
  await csms?.stop();
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
  await pki?.remove();
}, 30_000);

async function register(securityProfile: 1 | 2 | 3, prefix: string): Promise<{ identity: string; password: string }> {
  const identity = uniqueIdentity(prefix);
  const password = randomPassword();
  const res = await csms.api.putStation(identity, { securityProfile, password, bootPolicy: 'Accepted' });
  expect([200, 201]).toContain(res.status);
  return { identity, password };
}

/** Through HAProxy (wss://, SNI localhost so it can pick the RSA or ECDSA certificate). */
async function viaProxy(opts: ConnectOptions, certificate?: { certPem: string; keyPem: string }): Promise<TestStation> {
  const station = await TestStation.connectWith(`wss://127.0.0.1:${proxyPort}/ocpp`, opts, {
    ca: pki.serverCa.certPem,
    servername: 'localhost',
    ...(certificate !== undefined ? { cert: certificate.certPem, key: certificate.keyPem } : {}),
  });
  opened.push(station);
  return station;
}

/** Straight to the CSMS's ws:// port from 127.0.0.2, an address that is not a trusted proxy. */
async function direct(opts: ConnectOptions): Promise<TestStation> {
  const station = await TestStation.connectWith(csms.ocppUrl, opts, { localAddress: '127.0.0.2' });
  opened.push(station);
  return station;
}

describe('HAProxy terminates TLS in front of the plain listener (CSMS_TRUSTED_PROXIES)', () => {
  it('serves the four OCPP cipher suites with the example configuration', async () => {
    for (const ciphers of ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'AES128-GCM-SHA256', 'AES256-GCM-SHA384']) {
      const probe = await probeTls(proxyPort, { ciphers, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', servername: 'localhost', ca: pki.serverCa.certPem });
      expect(probe.ok, `${ciphers}: ${probe.ok ? '' : probe.error}`).toBe(true);
    }
    const old = await probeTls(proxyPort, {
      minVersion: 'TLSv1.1',
      maxVersion: 'TLSv1.1',
      ciphers: 'DEFAULT@SECLEVEL=0',
      servername: 'localhost',
      ca: pki.serverCa.certPem,
    });
    expect(old.ok).toBe(false);
  });

  it('TC_A_07 via proxy: a profile-3 station with a verified certificate gets in without Basic auth and boots Accepted', async () => {
    const { identity } = await register(3, 'PX3');
    const station = await viaProxy({ identity }, await pki.stationCertificate(identity));
    station.chargingStation = { ...station.chargingStation, serialNumber: identity };
    await station.booted();
    expect((await csms.api.getStation(identity)).body).toMatchObject({ connected: true, bootStatus: 'Accepted', securityProfile: 3 });
  });

  it('DRV-A00-04 via proxy: a BootNotification serialNumber that is not the certificate CN closes the connection', async () => {
    const { identity } = await register(3, 'PX4');
    const station = await viaProxy({ identity }, await pki.stationCertificate(identity));
    station.chargingStation = { ...station.chargingStation, serialNumber: 'SOMEONE-ELSE' };
    await station.boot({ expect: null }).catch(() => undefined);
    expect((await station.waitForClose()).code).toBe(1008);
  });

  it('a profile-2 station gets in with Basic auth (and a profile-1 station too: TLS is more than it needs)', async () => {
    const sp2 = await register(2, 'PX2');
    await (await viaProxy(sp2)).booted();
    const sp1 = await register(1, 'PX1');
    await (await viaProxy(sp1)).booted();
    expect((await refusal(viaProxy({ identity: sp2.identity, password: randomPassword() }))).status).toBe(401);
  });

  it('TC_A_08 via proxy: no certificate, an unknown CA, an expired certificate, or another CN never grant profile 3', async () => {
    const { identity } = await register(3, 'PX8');
    const variants = {
      ...(await refusedProfile3Certificates(pki, identity)),
      otherO: await pki.stationCertificate(identity, { o: 'Not The CSO' }),
    };
    for (const [variant, certificate] of Object.entries(variants)) {
      const err = await refusal(viaProxy({ identity }, certificate));
      expect(err.status, variant).toBe(401);
    }
  });

  it('identity headers a station sends through the proxy are stripped by HAProxy: they grant nothing', async () => {
    const { identity } = await register(3, 'PXF');
    const err = await refusal(viaProxy({ identity, headers: { 'X-Client-Cert-Verified': 'SUCCESS', 'X-Client-Cert-CN': identity, 'X-Client-Cert-O': CSO_NAME } }));
    expect(err.status).toBe(401);
  });

  it('a forged identity header straight from an untrusted address is refused (403), and grants no profile 3', async () => {
    const { identity } = await register(3, 'PXD');
    const forged = await refusal(
      direct({ identity, headers: { 'X-Forwarded-Proto': 'https', 'X-Client-Cert-Verified': 'SUCCESS', 'X-Client-Cert-CN': identity, 'X-Client-Cert-O': CSO_NAME } }),
    );
    expect(forged.status).toBe(403);
    expect(forged.body).toMatch(/trusted proxy/);
    // Without the headers it is a plain profile-1 connection: below the station's profile.
    expect((await refusal(direct({ identity }))).status).toBe(403);
    // X-Forwarded-Proto alone from an untrusted address does not make a connection TLS either.
    const sp2 = await register(2, 'PXD');
    expect((await refusal(direct({ ...sp2, headers: { 'X-Forwarded-Proto': 'https' } }))).status).toBe(403);
  });
});
