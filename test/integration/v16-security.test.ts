/**
 * The 1.6 Security Extension's three profiles on the same listeners and rules as 2.0.1 (CONTRACT §3): Basic auth on
 * ws:// (profile 1) and wss:// (profile 2), a client certificate whose CN is the identity on wss:// (profile 3), no
 * downgrade, and a certificate the CSMS signed (SignCertificate) opening profile 3 on the next connection.
 */
import { describe, expect, it } from 'vitest';
import { Station16, upgradeStatus } from '../support/station16.js';
import { waitFor } from '../support/station.js';
import { CSO_NAME, createCsr, withSecureCsms, type SecureCsms } from '../support/tls.js';

const h = withSecureCsms({ CSMS_TLS_CLIENT_ORGANIZATION: CSO_NAME });

const opened: Station16[] = [];

async function connect(
  secure: SecureCsms,
  options: { identity: string; password?: string; tls?: boolean; certificate?: { certPem: string; keyPem: string }; protocols?: string[] },
): Promise<Station16> {
  const station = await Station16.connect({
    url: options.tls === true ? secure.tlsUrl : secure.csms.ocppUrl,
    identity: options.identity,
    ...(options.protocols !== undefined ? { protocols: options.protocols } : {}),
    ...(options.password !== undefined ? { password: options.password } : {}),
    ...(options.tls === true
      ? { tls: { ca: secure.pki.serverCa.certPem, ...(options.certificate !== undefined ? { cert: options.certificate.certPem, key: options.certificate.keyPem } : {}) } }
      : {}),
  });
  opened.push(station);
  return station;
}

async function refused(attempt: Promise<Station16>): Promise<number | undefined> {
  try {
    const station = await attempt;
    throw new Error(`${station.identity} was admitted`);
  } catch (err) {
    return upgradeStatus(err);
  }
}

async function closeAll(): Promise<void> {
  const stations = opened.splice(0);
  const problems = stations.flatMap((s) => s.problems());
  await Promise.all(stations.map((s) => s.close()));
  expect(problems).toEqual([]);
}

describe('OCPP 1.6J security profiles', () => {
  it('profile 1: Basic auth on ws://, a wrong or missing password is refused with 401', async () => {
    const { identity, password } = await h.secure.register(1, { prefix: 'v16sp1' });
    expect(await refused(connect(h.secure, { identity, password: `${password}x` }))).toBe(401);
    expect(await refused(connect(h.secure, { identity }))).toBe(401);
    const station = await connect(h.secure, { identity, password });
    expect(station.protocol).toBe('ocpp1.6');
    await station.booted(1);
    await closeAll();
  });

  it('profile 2: Basic auth over wss://, never over ws://; a pinned version is the one the 101 names', async () => {
    const { identity, password } = await h.secure.register(2, { prefix: 'v16sp2' });
    expect(await refused(connect(h.secure, { identity, password }))).toBe(403);
    expect((await h.secure.csms.api.patchStation(identity, { ocppVersion: '1.6' })).status).toBe(200);
    const station = await connect(h.secure, { identity, password, tls: true, protocols: ['ocpp2.0.1', 'ocpp1.6'] });
    expect(station.protocol).toBe('ocpp1.6');
    await station.booted(1);
    expect((await h.secure.csms.api.getStation(identity)).body).toMatchObject({ securityProfile: 2, ocppVersion: '1.6', bootStatus: 'Accepted' });
    await closeAll();
  });

  it('profile 3: a client certificate with CN = identity opens wss:// without a password; none, or Basic auth alone, is refused', async () => {
    const { identity, password } = await h.secure.register(3, { prefix: 'v16sp3' });
    expect(await refused(connect(h.secure, { identity, tls: true }))).toBe(401);
    expect(await refused(connect(h.secure, { identity, password, tls: true }))).toBe(401);
    const station = await connect(h.secure, { identity, tls: true, certificate: await h.secure.pki.stationCertificate(identity) });
    expect((await station.boot({ chargePointSerialNumber: identity })).status).toBe('Accepted');
    await station.heartbeat();
    expect((await h.secure.csms.api.getStation(identity)).body).toMatchObject({ securityProfile: 3, ocppVersion: '1.6', connected: true });
    await closeAll();
  });

  it('profile 3: a chargePointSerialNumber other than the certificate CN closes the connection (1008)', async () => {
    const { identity } = await h.secure.register(3, { prefix: 'v16sn' });
    const station = await connect(h.secure, { identity, tls: true, certificate: await h.secure.pki.stationCertificate(identity) });
    await station.boot({ chargePointSerialNumber: 'NOT-THE-CN' }).catch(() => undefined);
    const closed = await waitFor(() => station.closed, { what: 'the close' });
    expect(closed.code).toBe(1008);
    await closeAll();
  });

  it('a certificate the CSMS signed for a 1.6 station (SignCertificate → CertificateSigned) opens profile 3 on its next connection', async () => {
    const { identity, password } = await h.secure.register(2, { prefix: 'v16sign' });
    const station = await connect(h.secure, { identity, password, tls: true });
    await station.booted(0);
    const { csrPem, keyPem } = await createCsr({ cn: identity, o: CSO_NAME });
    expect(await station.call('SignCertificate', { csr: csrPem })).toEqual({ status: 'Accepted' });
    const signed = await station.waitForCall('CertificateSigned');
    await station.close();
    const again = await connect(h.secure, { identity, tls: true, certificate: { certPem: String(signed.certificateChain), keyPem } });
    expect((await again.boot({ chargePointSerialNumber: identity })).status).toBe('Accepted');
    await closeAll();
  });
});
