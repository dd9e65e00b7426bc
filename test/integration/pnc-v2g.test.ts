/**
 * The station's V2G certificate and its ISO 15118 trust anchors (ISO 15118 support profile): TC_A_12 (V2G
 * certificate renewal on the CSMS's request), DRV-ISO-03 (bad V2G CSRs), TC_M_03 / TC_M_04 (install the V2G / MO
 * root), TC_M_14 / TC_M_15 / TC_M_16 (list installed V2G root, V2G chain, MO root), DeleteCertificate of a V2G root
 * (DRV-ISO-12: with the hash data the station reported), TC_N_63 (customer data by contract certificate), and the V2G CA itself (its own row in the database, one
 * for every node; or configured by CSMS_V2G_CA_CERT / CSMS_V2G_CA_KEY).
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { STATION_CA, V2G_CA, openCertificateAuthority } from '../../src/security/ca.js';
import { openStore } from '../../src/store/open-store.js';
import { startTestCsms, withCsms, type TestCsms } from '../support/csms.js';
import { freshPostgresDatabase } from '../support/services.js';
import { Reply, waitFor, type Payload, type TestStation } from '../support/station.js';
import { TestCa, createCsr } from '../support/tls.js';

const h = withCsms();
const silent = pino({ level: 'silent' });
const SECC_ID = 'DESTRE0000001';

function pemBlocks(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

async function caRow(csms: TestCsms, name: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: String(csms.config.DATABASE_URL) });
  await client.connect();
  try {
    const rows = await client.query<{ cert_pem: string }>('SELECT cert_pem FROM certificate_authorities WHERE name = $1', [name]);
    return rows.rows[0]?.cert_pem;
  } finally {
    await client.end();
  }
}

/** The station answers TriggerMessage(SignV2GCertificate) Accepted, then sends SignCertificate{V2GCertificate} with `csr`. */
function signV2gOnTrigger(station: TestStation, csr: string, answers: Payload[]): void {
  station.onCall('TriggerMessage', (payload) =>
    payload.requestedMessage === 'SignV2GCertificate'
      ? Reply.then({ status: 'Accepted' }, async () => {
          answers.push(await station.call('SignCertificate', { csr, certificateType: 'V2GCertificate' }));
        })
      : { status: 'Rejected' },
  );
}

describe('V2G certificate signing (A02 with certificateType V2GCertificate)', () => {
  it('TC_A_12: TriggerMessage SignV2GCertificate, the CSR signed by the V2G CA (not the station CA), CertificateSigned typed V2GCertificate', async () => {
    const station = await h.csms.bootedStation({ prefix: 'V2G' });
    const { csrPem, csr } = await createCsr({ cn: SECC_ID, o: 'Stroom Test CPO', key: 'ec-p256' });
    const answers: Payload[] = [];
    signV2gOnTrigger(station, csrPem, answers);
    const trigger = await h.csms.api.command(station.identity, 'TriggerMessage', { requestedMessage: 'SignV2GCertificate' });
    expect(trigger.status, trigger.text).toBe(200);
    const signed = await station.waitForCall('CertificateSigned', { timeoutMs: 10_000 });
    expect(answers).toEqual([{ status: 'Accepted' }]);
    expect(signed.payload.certificateType).toBe('V2GCertificate');

    const chain = pemBlocks(String(signed.payload.certificateChain));
    expect(chain.length).toBeGreaterThanOrEqual(2);
    const leaf = new X509Certificate(chain[0] as string);
    const issuer = new X509Certificate(chain[1] as string);
    // Issued from that CSR: its key and subject.
    expect(leaf.publicKey.export({ format: 'der', type: 'spki' }).equals(Buffer.from(csr.publicKey.rawData))).toBe(true);
    expect(leaf.subject).toContain(`CN=${SECC_ID}`);
    expect(leaf.verify(issuer.publicKey)).toBe(true);
    expect(Date.parse(leaf.validFrom)).toBeLessThan(Date.now());
    // Signed by the V2G CA the database holds, which is not the station CA.
    const v2gCa = new X509Certificate((await caRow(h.csms, 'v2g')) ?? '');
    const stationCa = new X509Certificate((await caRow(h.csms, 'station')) ?? '');
    expect(issuer.fingerprint256).toBe(v2gCa.fingerprint256);
    expect(v2gCa.fingerprint256).not.toBe(stationCa.fingerprint256);
    expect(leaf.verify(stationCa.publicKey)).toBe(false);
    await waitFor(async () => {
      const view = await h.csms.api.getStation(station.identity);
      const signing = view.body.certificateSigning as Record<string, unknown> | null;
      return signing?.status === 'Accepted' && signing.certificateType === 'V2GCertificate' ? signing : undefined;
    });
  });

  it('DRV-ISO-03: an RSA key, a garbage CSR, or a CN other than the SECC id the station reported → Rejected, no CertificateSigned', async () => {
    const station = await h.csms.bootedStation({ prefix: 'V2G' });
    const rsa = await createCsr({ cn: SECC_ID, key: 'rsa-2048' });
    const mark = station.mark();
    const rsaAnswer = await station.call<{ status: string; statusInfo?: { additionalInfo?: string } }>('SignCertificate', {
      csr: rsa.csrPem,
      certificateType: 'V2GCertificate',
    });
    expect(rsaAnswer.status).toBe('Rejected');
    expect(rsaAnswer.statusInfo?.additionalInfo).toMatch(/ECDSA/);
    const garbage = await station.call<{ status: string }>('SignCertificate', { csr: 'not a CSR', certificateType: 'V2GCertificate' });
    expect(garbage.status).toBe('Rejected');

    // Once the station reported its SECC id, a CSR for another one is refused.
    await station.notifyReport(4711, [
      [{ component: { name: 'ISO15118Ctrlr', evse: { id: 1 } }, variable: { name: 'SeccId' }, variableAttribute: [{ type: 'Actual', value: SECC_ID }] }],
    ]);
    await waitFor(async () => {
      const vars = (await h.csms.api.getVariables(station.identity)).body as { component: { name: string } }[];
      return vars.some((v) => v.component.name === 'ISO15118Ctrlr') ? true : undefined;
    });
    const other = await createCsr({ cn: 'SOMEONE-ELSE', key: 'ec-p256' });
    const otherAnswer = await station.call<{ status: string; statusInfo?: { additionalInfo?: string } }>('SignCertificate', {
      csr: other.csrPem,
      certificateType: 'V2GCertificate',
    });
    expect(otherAnswer.status).toBe('Rejected');
    expect(otherAnswer.statusInfo?.additionalInfo).toMatch(/SECC id/);
    await expect(station.waitForCall('CertificateSigned', { timeoutMs: 1500, afterSeq: mark })).rejects.toThrow();
  });
});

describe('ISO 15118 trust anchors on the station (M03, M04, M05) through the commands endpoint', () => {
  it('TC_M_03 / TC_M_04: InstallCertificate V2GRootCertificate and MORootCertificate carry the exact type and the PEM unchanged', async () => {
    const station = await h.csms.bootedStation({ prefix: 'V2G' });
    const [v2gRoot, moRoot] = await Promise.all([TestCa.create('CN=Test V2G Root, DC=V2G'), TestCa.create('CN=Test MO Root, DC=MO')]);
    for (const [certificateType, pem] of [
      ['V2GRootCertificate', v2gRoot.certPem],
      ['MORootCertificate', moRoot.certPem],
    ] as const) {
      station.onCall('InstallCertificate', () => ({ status: 'Accepted' }));
      const res = await h.csms.api.command(station.identity, 'InstallCertificate', { certificateType, certificate: pem });
      expect(res.status, res.text).toBe(200);
      expect(res.body).toMatchObject({ response: { status: 'Accepted' } });
      const call = station.callsOf('InstallCertificate').at(-1);
      expect(call?.payload).toEqual({ certificateType, certificate: pem });
    }
  });

  it('TC_M_14 / TC_M_15 / TC_M_16: GetInstalledCertificateIds for one ISO 15118 type; the V2G chain comes back with its children and is kept', async () => {
    const station = await h.csms.bootedStation({ prefix: 'V2G' });
    const hash = (serialNumber: string): Payload => ({ hashAlgorithm: 'SHA256', issuerNameHash: 'aa'.repeat(32), issuerKeyHash: 'bb'.repeat(32), serialNumber });
    station.onCall('GetInstalledCertificateIds', (payload) => {
      const type = (payload.certificateType as string[])[0] as string;
      return {
        status: 'Accepted',
        certificateHashDataChain: [
          {
            certificateType: type,
            certificateHashData: hash(type === 'V2GCertificateChain' ? '0a01' : type === 'MORootCertificate' ? '0b02' : '0c03'),
            ...(type === 'V2GCertificateChain' ? { childCertificateHashData: [hash('0a02')] } : {}),
          },
        ],
      };
    });
    for (const type of ['V2GRootCertificate', 'V2GCertificateChain', 'MORootCertificate']) {
      const res = await h.csms.api.command(station.identity, 'GetInstalledCertificateIds', { certificateType: [type] });
      expect(res.status, res.text).toBe(200);
      expect(station.callsOf('GetInstalledCertificateIds').at(-1)?.payload).toEqual({ certificateType: [type] });
    }
    const view = await h.csms.api.getStation(station.identity);
    const installed = (view.body.certificates as { installed: { certificateType: string; childCertificateHashData?: unknown[] }[] }).installed;
    expect(installed.map((entry) => entry.certificateType).sort()).toEqual(['MORootCertificate', 'V2GCertificateChain', 'V2GRootCertificate']);
    expect(installed.find((entry) => entry.certificateType === 'V2GCertificateChain')?.childCertificateHashData).toHaveLength(1);
  });

  it('DRV-ISO-12: DeleteCertificate of a V2G root sends the hash data as the station reported it', async () => {
    const station = await h.csms.bootedStation({ prefix: 'V2G' });
    const reported = { hashAlgorithm: 'SHA384', issuerNameHash: 'Ab'.repeat(48), issuerKeyHash: 'cD'.repeat(48), serialNumber: '01f2' };
    station.onCall('DeleteCertificate', () => ({ status: 'Accepted' }));
    const res = await h.csms.api.command(station.identity, 'DeleteCertificate', { certificateHashData: reported });
    expect(res.status, res.text).toBe(200);
    expect(station.callsOf('DeleteCertificate').at(-1)?.payload).toEqual({ certificateHashData: reported });
  });
});

describe('customer data by contract certificate (N10, ISO-4)', () => {
  it('TC_N_63: CustomerInformation by customerCertificate only (the hash algorithm the station reported), then the report is assembled', async () => {
    const station = await h.csms.bootedStation({ prefix: 'V2G' });
    const customerCertificate = { hashAlgorithm: 'SHA384', issuerNameHash: '1a'.repeat(48), issuerKeyHash: '2b'.repeat(48), serialNumber: '7f01' };
    station.onCall('CustomerInformation', (payload) =>
      Reply.then({ status: 'Accepted' }, async () => {
        await station.call('NotifyCustomerInformation', {
          data: 'contract DESTRC12345678: 3 sessions',
          seqNo: 0,
          generatedAt: new Date().toISOString(),
          requestId: payload.requestId,
        });
      }),
    );
    const res = await h.csms.api.command(station.identity, 'CustomerInformation', { requestId: 6301, report: true, clear: true, customerCertificate });
    expect(res.status, res.text).toBe(200);
    expect(station.callsOf('CustomerInformation').at(-1)?.payload).toEqual({ requestId: 6301, report: true, clear: true, customerCertificate });
    await waitFor(async () => {
      const report = await h.csms.api.request<{ complete: boolean; data: string }>('GET', `/api/v1/stations/${station.identity}/customer-information/6301`);
      return report.status === 200 && report.body.complete && report.body.data.includes('3 sessions') ? true : undefined;
    });
    // One customer reference only: the certificate with an idToken as well is refused before anything is sent.
    const both = await h.csms.api.command(station.identity, 'CustomerInformation', {
      requestId: 6302,
      report: true,
      clear: false,
      customerCertificate,
      idToken: { idToken: 'DESTRC12345678', type: 'eMAID' },
    });
    expect(both.status).toBe(400);
  });
});

describe('the V2G certificate authority', () => {
  it('is one per database, created once however many nodes start together, and apart from the station CA', async () => {
    const database = await freshPostgresDatabase();
    const dataDir = await mkdtemp(join(tmpdir(), 'stroom-v2g-'));
    const stores = await Promise.all([1, 2].map(() => openStore({ databaseUrl: database.url, dataDir })));
    try {
      const [first, second] = await Promise.all(
        stores.map((store) => openCertificateAuthority({ certFile: undefined, keyFile: undefined, dataDir, store, log: silent, kind: V2G_CA })),
      );
      expect(second?.certificatePem).toBe(first?.certificatePem);
      const station = await openCertificateAuthority({
        certFile: undefined,
        keyFile: undefined,
        dataDir,
        store: stores[0] as (typeof stores)[number],
        log: silent,
        kind: STATION_CA,
      });
      expect(station.certificatePem).not.toBe(first?.certificatePem);
      const v2g = new X509Certificate(first?.certificatePem ?? '');
      expect(v2g.ca).toBe(true);
      expect(v2g.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
      expect(v2g.subject).toMatch(/V2G/);
    } finally {
      await Promise.all(stores.map((store) => store.close()));
      await rm(dataDir, { recursive: true, force: true });
      await database.drop();
    }
  });

  it('signs with a configured CSMS_V2G_CA_CERT / CSMS_V2G_CA_KEY', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stroom-v2g-'));
    const configured = await TestCa.create('CN=Operator V2G Sub-CA, O=Operator, DC=V2G');
    await writeFile(join(dir, 'v2g.pem'), configured.certPem);
    await writeFile(join(dir, 'v2g.key'), configured.keyPem, { mode: 0o600 });
    const csms = await startTestCsms({ CSMS_V2G_CA_CERT: join(dir, 'v2g.pem'), CSMS_V2G_CA_KEY: join(dir, 'v2g.key') });
    try {
      const station = await csms.bootedStation({ prefix: 'V2G' });
      const { csrPem } = await createCsr({ cn: SECC_ID, key: 'ec-p256' });
      expect(await station.call('SignCertificate', { csr: csrPem, certificateType: 'V2GCertificate' })).toEqual({ status: 'Accepted' });
      const signed = await station.waitForCall('CertificateSigned', { timeoutMs: 10_000 });
      const leaf = new X509Certificate(pemBlocks(String(signed.payload.certificateChain))[0] as string);
      expect(leaf.verify(new X509Certificate(configured.certPem).publicKey)).toBe(true);
      expect(signed.payload.certificateType).toBe('V2GCertificate');
      // Configured by file: nothing generated into the database for it.
      expect(await caRow(csms, 'v2g')).toBeUndefined();
      const problems = await csms.closeStations();
      expect(problems).toEqual([]);
    } finally {
      await csms.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
