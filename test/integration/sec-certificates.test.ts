/**
 * Station certificates signed by the CSMS (A02/A03): TC_A_11 (renewal on the CSMS's request), TC_A_14 (the station
 * rejects the signed certificate), DRV-A02-01 (bad CSRs), DRV-A03-01 (renewal on the station's initiative), the
 * CertificateSigned retry, DRV-A04-01 (security events stored), and the CSMS CA itself (created once in the database;
 * or configured).
 */
import { X509Certificate, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { generateCaPem, openCertificateAuthority, type CertificateAuthorityStore } from '../../src/security/ca.js';
import { verifyCsr } from '../../src/security/csr.js';
import { openStore } from '../../src/store/open-store.js';
import type { SqlStore } from '../../src/store/sql-store.js';
import { freshPostgresDatabase } from '../support/services.js';
import { Reply, randomPassword, sleep, waitFor, type Payload, type TestStation } from '../support/station.js';
import { TestCa, createCsr, generateKey, refusal, withSecureCsms, type SecureCsms } from '../support/tls.js';

const h = withSecureCsms();
const silent = pino({ level: 'silent' });
/** A configured CA never reaches the store: this one fails the test if it does. */
const unusedStore: CertificateAuthorityStore = {
  getCertificateAuthority: () => Promise.reject(new Error('a configured CA must not read the store')),
  createCertificateAuthority: () => Promise.reject(new Error('a configured CA must not write the store')),
};

async function bootedSp2(secure: SecureCsms, prefix: string): Promise<{ station: TestStation; identity: string; password: string }> {
  const creds = await secure.register(2, { prefix });
  const station = await secure.connectTls(creds);
  await station.booted();
  return { station, ...creds };
}

/** The station answers TriggerMessage(SignChargingStationCertificate) Accepted, then sends SignCertificate with `csr`. */
function signOnTrigger(station: TestStation, csr: string, answers: Payload[]): void {
  station.onCall('TriggerMessage', (payload) =>
    payload.requestedMessage === 'SignChargingStationCertificate'
      ? Reply.then({ status: 'Accepted' }, async () => {
          answers.push(await station.call('SignCertificate', { csr, certificateType: 'ChargingStationCertificate' }));
        })
      : { status: 'Rejected' },
  );
}

function pemBlocks(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** The SubjectPublicKeyInfo of a certificate's key or of a private key PEM, for comparison. */
function spki(key: KeyObject | string): string {
  const publicKey = typeof key === 'string' ? createPublicKey(key) : key;
  return publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
}

/** The CSMS CA as the database holds it (CONTRACT §6: created there once, never per data dir). */
async function csmsCa(secure: SecureCsms): Promise<X509Certificate> {
  const rows = await onDatabase(String(secure.csms.config.DATABASE_URL), (client) =>
    client.query<{ cert_pem: string }>("SELECT cert_pem FROM certificate_authorities WHERE name = 'station'"),
  );
  expect(rows.rows).toHaveLength(1);
  return new X509Certificate(rows.rows[0]?.cert_pem ?? '');
}

async function onDatabase<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function certificateSigning(secure: SecureCsms, identity: string): Promise<Record<string, unknown> | null> {
  const view = await secure.csms.api.getStation(identity);
  return view.body.certificateSigning as Record<string, unknown> | null;
}

describe('TC_A_11: update the station certificate on request of the CSMS', () => {
  it('TC_A_11: TriggerMessage → SignCertificate Accepted → CertificateSigned with a chain issued from that CSR by the CSMS CA', async () => {
    const { station, identity } = await bootedSp2(h.secure, 'A11');
    const { csrPem, keyPem } = await createCsr({ cn: identity, o: 'Stroom Test CSO' });
    const answers: Payload[] = [];
    signOnTrigger(station, csrPem, answers);

    const trigger = await h.secure.csms.api.command(identity, 'TriggerMessage', { requestedMessage: 'SignChargingStationCertificate' });
    expect(trigger.status).toBe(200);
    expect(trigger.body.response).toEqual({ status: 'Accepted' });
    const signed = await station.waitForCall('CertificateSigned');
    // A02.FR.11: SignCertificateResponse Accepted.
    expect(answers).toEqual([{ status: 'Accepted' }]);
    // A02.FR.14: the certificate type is echoed.
    expect(signed.payload.certificateType).toBe('ChargingStationCertificate');

    const chain = pemBlocks(String(signed.payload.certificateChain));
    expect(chain).toHaveLength(2);
    const leaf = new X509Certificate(chain[0] as string);
    const ca = await csmsCa(h.secure);
    expect(new X509Certificate(chain[1] as string).fingerprint256).toBe(ca.fingerprint256);
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    // The public key is the CSR's, the subject is preserved (CN = identity).
    expect(spki(leaf.publicKey)).toBe(spki(keyPem));
    expect(leaf.subject.split('\n')).toEqual(expect.arrayContaining([`CN=${identity}`, 'O=Stroom Test CSO']));
    // A02.FR.06 note: notBefore a little in the past; a TLS client certificate.
    expect(Date.parse(leaf.validFrom)).toBeLessThanOrEqual(Date.now() - 4 * 60_000);
    expect(leaf.keyUsage).toContain('1.3.6.1.5.5.7.3.2');
    expect(leaf.ca).toBe(false);

    await waitFor(async () => (await certificateSigning(h.secure, identity))?.status === 'Accepted', { what: 'outcome Accepted' });
    expect(await certificateSigning(h.secure, identity)).toMatchObject({
      status: 'Accepted',
      serialNumber: leaf.serialNumber.toLowerCase(),
      certificateType: 'ChargingStationCertificate',
    });

    // Step 2: the station reconnects over profile 3 with the new certificate; the CSMS accepts.
    await station.close();
    const renewed = await h.secure.connectTls({ identity }, { certPem: String(signed.payload.certificateChain), keyPem });
    renewed.chargingStation = { ...renewed.chargingStation, serialNumber: identity };
    await renewed.booted();
  });

  it('TC_A_14: the station rejects the signed certificate; the operator sees it, and the station keeps its old credentials', async () => {
    const { station, identity, password } = await bootedSp2(h.secure, 'A14');
    const { csrPem } = await createCsr({ cn: identity });
    const answers: Payload[] = [];
    signOnTrigger(station, csrPem, answers);
    station.onCall('CertificateSigned', () =>
      Reply.then({ status: 'Rejected', statusInfo: { reasonCode: 'InvalidCertificate' } }, async () => {
        // Errata 2024-09: the station reports the rejected certificate as a security event.
        await station.call('SecurityEventNotification', {
          type: 'InvalidChargingStationCertificate',
          timestamp: new Date().toISOString(),
          techInfo: 'chain does not match the installed root',
        });
      }),
    );

    const trigger = await h.secure.csms.api.command(identity, 'TriggerMessage', { requestedMessage: 'SignChargingStationCertificate' });
    expect(trigger.body.response).toEqual({ status: 'Accepted' });
    await station.waitForCall('CertificateSigned');
    expect(answers).toEqual([{ status: 'Accepted' }]);

    const outcome = await waitFor(
      async () => {
        const seen = await certificateSigning(h.secure, identity);
        return seen?.status === 'Rejected' ? seen : undefined;
      },
      { what: 'outcome Rejected on GET station' },
    );
    expect(outcome).toMatchObject({ status: 'Rejected', certificateType: 'ChargingStationCertificate', reason: 'InvalidCertificate' });
    // No retry of a certificate the station has answered.
    await sleep(300);
    expect(station.callsOf('CertificateSigned')).toHaveLength(1);

    const events = await waitFor(
      async () => {
        const res = await h.secure.csms.api.request<{ items: { kind: string; payload: Payload }[] }>('GET', `/api/v1/stations/${identity}/events`);
        return res.body.items.find((e) => e.kind === 'SecurityEventNotification') !== undefined ? res.body.items : undefined;
      },
      { what: 'the SecurityEventNotification in the events API' },
    );
    expect(events.find((e) => e.kind === 'SecurityEventNotification')?.payload).toMatchObject({ type: 'InvalidChargingStationCertificate' });

    await station.close();
    const again = await h.secure.connectTls({ identity, password });
    await again.heartbeat();
  });
});

describe('DRV-A02-01 / DRV-A03-01: what the CSMS signs', () => {
  it('DRV-A02-01: answers Rejected to unusable CSRs and sends no CertificateSigned', async () => {
    const { station, identity } = await bootedSp2(h.secure, 'A201');
    const good = await createCsr({ cn: identity });
    const weak = await createCsr({ cn: identity, key: 'rsa-1024' });
    const otherCn = await createCsr({ cn: `${identity}-X` });
    const body = good.csrPem.split('\n').slice(1, -2).join('');
    // Flip a byte near the end of the DER: inside the signature, so parsing works but verification fails.
    const der = Buffer.from(body, 'base64');
    der[der.length - 5] = ((der[der.length - 5] as number) ^ 0xff) & 0xff;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE REQUEST-----\n`;
    const cases: Record<string, string> = {
      garbage: 'this is not a certificate signing request',
      garbageInPem: '-----BEGIN CERTIFICATE REQUEST-----\nAAAAAAAAAAAA\n-----END CERTIFICATE REQUEST-----',
      weakRsa1024: weak.csrPem,
      cnIsNotTheIdentity: otherCn.csrPem,
      badSignature: tampered,
    };
    for (const [name, csr] of Object.entries(cases)) {
      const answer = await station.call('SignCertificate', { csr, certificateType: 'ChargingStationCertificate' });
      expect(answer, name).toMatchObject({ status: 'Rejected', statusInfo: { reasonCode: 'InvalidCSR' } });
      expect(await certificateSigning(h.secure, identity), name).toMatchObject({ status: 'CsrRejected' });
    }
    await sleep(500);
    expect(station.callsOf('CertificateSigned')).toHaveLength(0);
  });

  it('DRV-A03-01: an unsolicited SignCertificate (station-initiated renewal) is Accepted and answered with a chain for that CSR', async () => {
    const { station, identity } = await bootedSp2(h.secure, 'A301');
    const { csrPem, keyPem } = await createCsr({ cn: identity, key: 'rsa-2048' });
    const answer = await station.call('SignCertificate', { csr: csrPem });
    expect(answer).toEqual({ status: 'Accepted' });
    const signed = await station.waitForCall('CertificateSigned');
    const leaf = new X509Certificate(pemBlocks(String(signed.payload.certificateChain))[0] as string);
    expect(spki(leaf.publicKey)).toBe(spki(keyPem));
    expect(leaf.checkIssued(await csmsCa(h.secure))).toBe(true);
  });

  it('a V2G certificate request is signed by the V2G CA, never by the station CA (TC_A_12 in pnc-v2g.test.ts)', async () => {
    const { station, identity } = await bootedSp2(h.secure, 'V2G');
    const { csrPem } = await createCsr({ cn: identity });
    expect(await station.call('SignCertificate', { csr: csrPem, certificateType: 'V2GCertificate' })).toEqual({ status: 'Accepted' });
    const signed = await station.waitForCall('CertificateSigned', { timeoutMs: 10_000 });
    expect(signed.payload.certificateType).toBe('V2GCertificate');
    const leaf = new X509Certificate(pemBlocks(String(signed.payload.certificateChain))[0] ?? '');
    expect(leaf.verify((await csmsCa(h.secure)).publicKey)).toBe(false);
  });

  it('CertificateSigned is sent again after a CALLERROR, and the second answer counts', async () => {
    const { station, identity } = await bootedSp2(h.secure, 'RTRY');
    let attempts = 0;
    station.onCall('CertificateSigned', () => {
      attempts += 1;
      return attempts === 1 ? Reply.error('InternalError', 'storage busy') : { status: 'Accepted' };
    });
    const { csrPem } = await createCsr({ cn: identity });
    expect(await station.call('SignCertificate', { csr: csrPem })).toEqual({ status: 'Accepted' });
    await waitFor(() => attempts >= 2, { timeoutMs: 8000, what: 'a second CertificateSigned' });
    await waitFor(async () => (await certificateSigning(h.secure, identity))?.status === 'Accepted', { what: 'outcome Accepted' });
    const calls = station.callsOf('CertificateSigned');
    expect(calls).toHaveLength(2);
    expect(calls[1]?.payload).toEqual(calls[0]?.payload);
  });
});

describe('DRV-A04-01: security events', () => {
  it('DRV-A04-01: SecurityEventNotification of several types is answered {} and stored in the security log', async () => {
    const { station, identity } = await bootedSp2(h.secure, 'A401');
    const types = ['StartupOfTheDevice', 'ResetOrReboot', 'InvalidCsmsCertificate'];
    for (const type of types) {
      expect(await station.call('SecurityEventNotification', { type, timestamp: new Date().toISOString() })).toEqual({});
    }
    const res = await h.secure.csms.api.request<{ items: { kind: string; payload: Payload }[] }>('GET', `/api/v1/stations/${identity}/events`);
    const stored = res.body.items.filter((e) => e.kind === 'SecurityEventNotification').map((e) => e.payload.type);
    expect(stored.sort()).toEqual([...types].sort());
  });
});

describe('the CSMS certificate authority', () => {
  it('is created once in the database (two racing starts end with one), and every later start loads it', async () => {
    const database = await freshPostgresDatabase();
    const dataDir = await mkdtemp(join(tmpdir(), 'stroom-ca-'));
    // Two stores on one database: two nodes starting together.
    const stores = await Promise.all([1, 2].map(() => openStore({ databaseUrl: database.url, dataDir })));
    try {
      const [first, second] = await Promise.all(
        stores.map((store) => openCertificateAuthority({ certFile: undefined, keyFile: undefined, dataDir, store, log: silent })),
      );
      expect(second?.certificatePem).toBe(first?.certificatePem);
      const again = await openCertificateAuthority({ certFile: undefined, keyFile: undefined, dataDir, store: stores[0] as SqlStore, log: silent });
      expect(again.certificatePem).toBe(first?.certificatePem);
      const rows = await onDatabase(database.url, (client) => client.query<{ name: string; key_pem: string }>('SELECT name, key_pem FROM certificate_authorities'));
      expect(rows.rows.map((row) => row.name)).toEqual(['station']);
      // Nothing of it in the data dir: a second node's dir would hold another CA.
      await expect(stat(join(dataDir, 'ca'))).rejects.toThrow(/ENOENT/);
      const ca = new X509Certificate(first?.certificatePem ?? '');
      expect(ca.ca).toBe(true);
      expect(ca.checkPrivateKey(createPrivateKey(rows.rows[0]?.key_pem ?? ''))).toBe(true);
      expect(Date.parse(ca.validFrom)).toBeLessThan(Date.now());
      expect(ca.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    } finally {
      await Promise.all(stores.map((store) => store.close()));
      await rm(dataDir, { recursive: true, force: true });
      await database.drop();
    }
  });

  it('imports the CA an earlier version generated into CSMS_DATA_DIR/ca, so the certificates it signed stay valid', async () => {
    const database = await freshPostgresDatabase();
    const dataDir = await mkdtemp(join(tmpdir(), 'stroom-ca-'));
    const store = await openStore({ databaseUrl: database.url, dataDir });
    try {
      const earlier = await generateCaPem();
      await mkdir(join(dataDir, 'ca'));
      await writeFile(join(dataDir, 'ca', 'csms-ca.pem'), earlier.certificatePem);
      await writeFile(join(dataDir, 'ca', 'csms-ca.key'), earlier.keyPem, { mode: 0o600 });
      const ca = await openCertificateAuthority({ certFile: undefined, keyFile: undefined, dataDir, store, log: silent });
      expect(new X509Certificate(ca.certificatePem).fingerprint256).toBe(new X509Certificate(earlier.certificatePem).fingerprint256);
      expect((await store.getCertificateAuthority('station'))?.certificatePem).toBe(earlier.certificatePem);
    } finally {
      await store.close();
      await rm(dataDir, { recursive: true, force: true });
      await database.drop();
    }
  });

  it("signs with a configured CSMS_CA_CERT / CSMS_CA_KEY (RSA 3072), and refuses a key that is not the certificate's", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stroom-ca-'));
    try {
      const configured = await TestCa.create('CN=Operator Station CA, O=Operator', 'rsa-3072');
      const certFile = join(dir, 'ca.pem');
      const keyFile = join(dir, 'ca.key');
      await writeFile(certFile, configured.certPem);
      await writeFile(keyFile, configured.keyPem);
      const ca = await openCertificateAuthority({ certFile, keyFile, dataDir: dir, store: unusedStore, log: silent });
      const { csrPem } = await createCsr({ cn: 'CS-CONFIGURED' });
      const verdict = await verifyCsr(csrPem, 'CS-CONFIGURED');
      if (!verdict.ok) throw new Error(verdict.reason);
      const issued = await ca.issue(verdict, Date.now());
      const leaf = new X509Certificate(issued.certificatePem);
      expect(leaf.verify(new X509Certificate(configured.certPem).publicKey)).toBe(true);
      expect(pemBlocks(issued.chainPem)).toHaveLength(2);

      const strayKey = join(dir, 'stray.key');
      await writeFile(strayKey, (await generateKey('ec-p256')).keyPem);
      await expect(openCertificateAuthority({ certFile, keyFile: strayKey, dataDir: dir, store: unusedStore, log: silent })).rejects.toThrow(
        /CSMS_CA_CERT.*does not belong/,
      );
      await expect(openCertificateAuthority({ certFile, keyFile: undefined, dataDir: dir, store: unusedStore, log: silent })).rejects.toThrow(/must be set together/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** SignCertificate from `station` for its identity; resolves with the delivered chain and the key. */
async function mintCertificate(station: TestStation): Promise<{ certPem: string; keyPem: string; serialNumber: string }> {
  const { csrPem, keyPem } = await createCsr({ cn: station.identity });
  const mark = station.mark();
  expect(await station.call('SignCertificate', { csr: csrPem, certificateType: 'ChargingStationCertificate' })).toEqual({ status: 'Accepted' });
  const signed = await station.waitForCall('CertificateSigned', { afterSeq: mark });
  const certPem = String(signed.payload.certificateChain);
  const serialNumber = new X509Certificate(pemBlocks(certPem)[0] as string).serialNumber.toLowerCase();
  await waitFor(async () => (await certificateSigning(h.secure, station.identity))?.status === 'Accepted', { what: 'CertificateSigned answered' });
  return { certPem, keyPem, serialNumber };
}

/** A profile-3 connection with `certificate` (serialNumber = CN = identity at boot). */
async function connectSp3(secure: SecureCsms, identity: string, certificate: { certPem: string; keyPem: string }): Promise<TestStation> {
  const station = await secure.connectTls({ identity }, certificate);
  station.chargingStation = { ...station.chargingStation, serialNumber: identity };
  return station;
}

interface IssuedView {
  serialNumber: string;
  certificateType: string;
  issuedAt: string;
  notAfter: string;
  revokedAt: string | null;
  revocationReason: string | null;
  status: string;
}

async function issuedCertificates(secure: SecureCsms, identity: string): Promise<IssuedView[]> {
  const res = await secure.csms.api.request<{ items: IssuedView[] }>('GET', `/api/v1/stations/${identity}/certificates`);
  expect(res.status, res.text).toBe(200);
  return res.body.items;
}

describe('CONTRACT §3.2 "Certificates": issued serials are kept and can be taken back', () => {
  it('a certificate minted with a profile-1 password is refused once the operator rotates the password and raises the station to profile 3', async () => {
    // The attacker knows the profile-1 password (plain ws://) and mints a certificate for the identity.
    const creds = await h.secure.register(1, { prefix: 'REVPW' });
    const attacker = await h.secure.connectPlain(creds);
    await attacker.booted();
    const minted = await mintCertificate(attacker);
    await attacker.close();

    // The operator notices, rotates the password and raises the station to profile 3.
    const rotated = await h.secure.csms.api.putStation(creds.identity, { securityProfile: 3, password: randomPassword() });
    expect(rotated.status).toBe(200);
    const refused = await refusal(connectSp3(h.secure, creds.identity, minted));
    expect([401, 403]).toContain(refused.status);

    // The list shows why; a certificate of the operator's own client CA is unaffected.
    expect(await issuedCertificates(h.secure, creds.identity)).toEqual([
      expect.objectContaining({
        serialNumber: minted.serialNumber,
        certificateType: 'ChargingStationCertificate',
        status: 'Revoked',
        revocationReason: 'password changed',
        revokedAt: expect.any(String),
      }),
    ]);
    const own = await connectSp3(h.secure, creds.identity, await h.secure.pki.stationCertificate(creds.identity));
    await own.booted();
  });

  it('delete and re-registration invalidate the certificates issued before', async () => {
    const creds = await h.secure.register(2, { prefix: 'REVDEL' });
    const station = await h.secure.connectTls(creds);
    await station.booted();
    const minted = await mintCertificate(station);
    await station.close();
    expect((await h.secure.csms.api.patchStation(creds.identity, { securityProfile: 3 })).status).toBe(200);
    // Current: it admits the station on profile 3.
    const current = await connectSp3(h.secure, creds.identity, minted);
    await current.booted();
    await current.close();

    expect((await h.secure.csms.api.deleteStation(creds.identity)).status).toBe(204);
    expect((await h.secure.csms.api.putStation(creds.identity, { securityProfile: 3, bootPolicy: 'Accepted' })).status).toBe(201);
    const refused = await refusal(connectSp3(h.secure, creds.identity, minted));
    expect([401, 403]).toContain(refused.status);
    expect(await issuedCertificates(h.secure, creds.identity)).toEqual([
      expect.objectContaining({ serialNumber: minted.serialNumber, status: 'Revoked', revocationReason: 'station deleted' }),
    ]);
  });

  it('GET …/certificates lists what was issued; DELETE …/certificates/{serial} revokes that one only', async () => {
    const creds = await h.secure.register(2, { prefix: 'REVSER' });
    const station = await h.secure.connectTls(creds);
    await station.booted();
    const first = await mintCertificate(station);
    const second = await mintCertificate(station);
    await station.close();
    expect((await h.secure.csms.api.patchStation(creds.identity, { securityProfile: 3 })).status).toBe(200);

    const listed = await issuedCertificates(h.secure, creds.identity);
    expect(listed.map((c) => [c.serialNumber, c.status, c.revokedAt])).toEqual([
      [first.serialNumber, 'Valid', null],
      [second.serialNumber, 'Valid', null],
    ]);
    for (const c of listed) expect(Date.parse(c.notAfter)).toBeGreaterThan(Date.parse(c.issuedAt));

    const revoked = await h.secure.csms.api.request('DELETE', `/api/v1/stations/${creds.identity}/certificates/${first.serialNumber.toUpperCase()}`);
    expect(revoked.status, revoked.text).toBe(204);
    expect((await h.secure.csms.api.request('DELETE', `/api/v1/stations/${creds.identity}/certificates/abcdef0123`)).status).toBe(404);
    expect((await h.secure.csms.api.request('DELETE', `/api/v1/stations/${creds.identity}/certificates/not-hex`)).status).toBe(400);

    expect([401, 403]).toContain((await refusal(connectSp3(h.secure, creds.identity, first))).status);
    const stillGood = await connectSp3(h.secure, creds.identity, second);
    await stillGood.booted();
    const after = await issuedCertificates(h.secure, creds.identity);
    expect(after.map((c) => [c.serialNumber, c.status, c.revocationReason])).toEqual([
      [first.serialNumber, 'Revoked', 'revoked by the operator'],
      [second.serialNumber, 'Valid', null],
    ]);
  });

  it('10 SignCertificates in a row: one in progress at a time, at most 5 signed per 10 minutes', async () => {
    const { station, identity } = await bootedSp2(h.secure, 'SIGN10');
    // The first CertificateSigned is held until the test lets it go: the signing is in progress meanwhile.
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let deliveries = 0;
    station.onCall('CertificateSigned', async () => {
      deliveries += 1;
      if (deliveries === 1) await held;
      return { status: 'Accepted' };
    });
    const answers: Payload[] = [];
    const sign = async (): Promise<Payload> => {
      const { csrPem } = await createCsr({ cn: identity });
      const answer = await station.call('SignCertificate', { csr: csrPem, certificateType: 'ChargingStationCertificate' });
      answers.push(answer);
      return answer;
    };

    expect(await sign()).toEqual({ status: 'Accepted' });
    await station.waitForCall('CertificateSigned');
    expect(await sign()).toMatchObject({ status: 'Rejected', statusInfo: { reasonCode: 'SigningInProgress' } });
    release();
    for (let i = 0; i < 8; i++) {
      await waitFor(async () => (await certificateSigning(h.secure, identity))?.status !== 'Issued', { what: 'the previous signing settled' });
      await sign();
    }
    expect(answers).toHaveLength(10);
    const accepted = answers.filter((a) => a.status === 'Accepted');
    expect(accepted).toHaveLength(5);
    expect(answers.slice(6)).toEqual(
      Array.from({ length: 4 }, () => expect.objectContaining({ status: 'Rejected', statusInfo: expect.objectContaining({ reasonCode: 'RateLimited' }) })),
    );
    await waitFor(() => deliveries === 5, { what: 'five CertificateSigned' });
    await sleep(300);
    expect(station.callsOf('CertificateSigned')).toHaveLength(5);
    expect(await issuedCertificates(h.secure, identity)).toHaveLength(5);
  });
});
