/**
 * Plug & Charge authorization and OCSP (ISO 15118 support profile): TC_C_50 / TC_C_51 (local validation, hash
 * data), TC_C_52 (central validation, the PEM chain), TC_M_24 (GetCertificateStatus forwarded), and the derived
 * DRV-ISO-01 (a responder that never answers), DRV-ISO-02 (the cache until nextUpdate), DRV-ISO-09 (a cancelled
 * contract) and DRV-ISO-10 (an unreachable responder). The responders are `openssl ocsp` child processes.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../bench/free-port.js';
import { startTestCsms, type TestCsms } from '../support/csms.js';
import { metricValue } from '../support/api.js';
import { ChargingSession } from '../support/charging.js';
import { OcspResponder, createRoot, issue, type PkiCert } from '../support/pnc.js';
import type { Payload, TestStation } from '../support/station.js';

interface Fixture {
  csms: TestCsms;
  dir: string;
  v2gRoot: PkiCert;
  moRoot: PkiCert;
  moSub: PkiCert;
  /** Answers for certificates moRoot issued (the sub-CA). */
  rootResponder: OcspResponder;
  /** Answers for certificates moSub issued (the contracts). */
  subResponder: OcspResponder;
  /** A responder that is made slow or broken per test; it answers for moSub too. */
  flakyResponder: OcspResponder;
  good: PkiCert;
  revoked: PkiCert;
  unknown: PkiCert;
  cancelled: PkiCert;
  unregistered: PkiCert;
  /** TC_C_52's own contract, so no other test has cached its answer. */
  central: PkiCert;
}

const EMAID_GOOD = 'DE-STR-C12345678-9';
const EMAID_REVOKED = 'DESTRC87654321X';
const EMAID_UNKNOWN = 'DESTRC00000001Y';
const EMAID_CANCELLED = 'DESTRC00000002Z';
const EMAID_UNREGISTERED = 'DESTRC00000003A';
const EMAID_CENTRAL = 'DESTRC00000004B';

let f: Fixture;
/** Undo steps, pushed as beforeAll creates things, run in reverse by afterAll. */
const cleanup: (() => Promise<void>)[] = [];

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stroom-pnc-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const [v2gRoot, moRoot] = await Promise.all([createRoot('CN=Test V2G Root CA, O=Test, DC=V2G'), createRoot('CN=Test MO Root CA, O=Test eMSP, DC=MO')]);
  const rootSlot = await OcspResponder.reserve();
  const subSlot = await OcspResponder.reserve();
  const flakySlot = await OcspResponder.reserve();
  const moSub = await issue(moRoot, 'CN=Test MO Sub-CA 1, O=Test eMSP', { isCa: true, ocspUrl: rootSlot.url });
  const contract = (emaid: string, url = subSlot.url): Promise<PkiCert> => issue(moSub, `CN=${emaid}, O=Test eMSP`, { isCa: false, ocspUrl: url });
  const [good, revoked, unknown, cancelled, unregistered, central] = await Promise.all([
    contract(EMAID_GOOD),
    contract(EMAID_REVOKED),
    contract(EMAID_UNKNOWN),
    contract(EMAID_CANCELLED),
    contract(EMAID_UNREGISTERED),
    contract(EMAID_CENTRAL),
  ]);
  const [rootResponder, subResponder, flakyResponder] = await Promise.all([
    rootSlot.start(moRoot, [{ cert: moSub }]),
    subSlot.start(moSub, [{ cert: good }, { cert: revoked, revoked: true }, { cert: cancelled }, { cert: unregistered }, { cert: central }]),
    flakySlot.start(moSub, [{ cert: good }]),
  ]);
  cleanup.push(
    () => rootResponder.stop(),
    () => subResponder.stop(),
    () => flakyResponder.stop(),
  );
  const roots = join(dir, 'v2g-roots.pem');
  await writeFile(roots, v2gRoot.pem + moRoot.pem);
  const csms = await startTestCsms({ CSMS_V2G_TRUST_ROOTS: roots });
  cleanup.push(() => csms.stop());
  for (const [emaid, status] of [
    [EMAID_GOOD, 'Accepted'],
    [EMAID_REVOKED, 'Accepted'],
    [EMAID_UNKNOWN, 'Accepted'],
    [EMAID_CANCELLED, 'Blocked'],
    [EMAID_CENTRAL, 'Accepted'],
  ] as const) {
    const res = await csms.api.request('PUT', `/api/v1/id-tokens/eMAID/${encodeURIComponent(emaid)}`, { status });
    expect(res.status, res.text).toBeLessThan(300);
  }
  f = { csms, dir, v2gRoot, moRoot, moSub, rootResponder, subResponder, flakyResponder, good, revoked, unknown, cancelled, unregistered, central };
}, 120_000);

afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
});

interface AuthorizeAnswer extends Payload {
  idTokenInfo: { status: string };
  certificateStatus?: string;
}

async function authorizeWithHashData(station: TestStation, emaid: string, hashData: Payload[]): Promise<AuthorizeAnswer> {
  return station.call<AuthorizeAnswer>('Authorize', { idToken: { idToken: emaid, type: 'eMAID' }, iso15118CertificateHashData: hashData }, { timeoutMs: 20_000 });
}

// First in the file: TC_C_52 starts with no cached OCSP answer for the chain (the case's prerequisite).
describe('Authorize with the contract certificate chain (central validation)', () => {
  it('TC_C_52: validates the chain up to a configured MO root, derives the OCSP requests itself → Accepted / Accepted', async () => {
    const station = await f.csms.bootedStation({ prefix: 'PNC' });
    const rootAsked = f.rootResponder.requests;
    const subAsked = f.subResponder.requests;
    const answer = await station.call<AuthorizeAnswer>(
      'Authorize',
      { idToken: { idToken: EMAID_CENTRAL, type: 'eMAID' }, certificate: f.central.pem + f.moSub.pem },
      { timeoutMs: 20_000 },
    );
    expect(answer).toMatchObject({ idTokenInfo: { status: 'Accepted' }, certificateStatus: 'Accepted' });
    // Both the contract certificate (at the sub-CA's responder) and the sub-CA (at the root's) were asked about.
    expect(f.rootResponder.requests).toBe(rootAsked + 1);
    expect(f.subResponder.requests).toBe(subAsked + 1);
  });

  it('TC_C_52 revoked: the chain is fine but the contract is revoked → CertificateRevoked / Invalid', async () => {
    const station = await f.csms.bootedStation({ prefix: 'PNC' });
    const answer = await station.call<AuthorizeAnswer>(
      'Authorize',
      { idToken: { idToken: EMAID_REVOKED, type: 'eMAID' }, certificate: f.revoked.pem + f.moSub.pem },
      { timeoutMs: 20_000 },
    );
    expect(answer).toMatchObject({ idTokenInfo: { status: 'Invalid' }, certificateStatus: 'CertificateRevoked' });
  });

  it('a chain that ends at a root the CSMS does not know → CertChainError / Invalid, no OCSP asked', async () => {
    const station = await f.csms.bootedStation({ prefix: 'PNC' });
    const foreignRoot = await createRoot('CN=Foreign MO Root');
    const foreignSub = await issue(foreignRoot, 'CN=Foreign Sub-CA', { isCa: true, ocspUrl: f.rootResponder.url });
    const leaf = await issue(foreignSub, `CN=${EMAID_GOOD}`, { isCa: false, ocspUrl: f.subResponder.url });
    const asked = f.subResponder.requests + f.rootResponder.requests;
    const answer = await station.call<AuthorizeAnswer>('Authorize', { idToken: { idToken: EMAID_GOOD, type: 'eMAID' }, certificate: leaf.pem + foreignSub.pem });
    expect(answer).toMatchObject({ idTokenInfo: { status: 'Invalid' }, certificateStatus: 'CertChainError' });
    expect(f.subResponder.requests + f.rootResponder.requests).toBe(asked);
  });

  it('a certificate whose CN is not the eMAID presented → not Accepted', async () => {
    const station = await f.csms.bootedStation({ prefix: 'PNC' });
    const answer = await station.call<AuthorizeAnswer>('Authorize', { idToken: { idToken: EMAID_UNKNOWN, type: 'eMAID' }, certificate: f.good.pem + f.moSub.pem });
    expect(answer.idTokenInfo.status).toBe('Invalid');
    expect(answer.certificateStatus).toBe('CertChainError');
  });

  it('an expired contract certificate → CertificateExpired', async () => {
    const station = await f.csms.bootedStation({ prefix: 'PNC' });
    const expired = await issue(f.moSub, `CN=${EMAID_GOOD}`, { isCa: false, ocspUrl: f.subResponder.url, notAfter: new Date(Date.now() - 3600_000) });
    const answer = await station.call<AuthorizeAnswer>('Authorize', { idToken: { idToken: EMAID_GOOD, type: 'eMAID' }, certificate: expired.pem + f.moSub.pem });
    expect(answer).toMatchObject({ idTokenInfo: { status: 'Invalid' }, certificateStatus: 'CertificateExpired' });
  });
});

describe('Authorize with contract certificate hash data (local validation)', () => {
  it('TC_C_50: asks the responder named in the hash data; good and a valid eMAID → Accepted / Accepted', async () => {
    const station = await f.csms.bootedStation({ prefix: 'PNC' });
    const before = f.subResponder.requests;
    const answer = await authorizeWithHashData(station, EMAID_GOOD, [f.good.hashData(f.moSub, f.subResponder.url)]);
    expect(answer).toMatchObject({ idTokenInfo: { status: 'Accepted' }, certificateStatus: 'Accepted' });
    expect(f.subResponder.requests).toBe(before + 1);
    // Step 5: the transaction the contract authorized is Accepted too.
    const tx = new ChargingSession(station);
    const started = await tx.event('Started', 'Authorized', { idToken: { idToken: EMAID_GOOD, type: 'eMAID' }, evse: true });
    expect(started.response.idTokenInfo?.status).toBe('Accepted');
  });

  it('DRV-ISO-02: a second Authorize within nextUpdate is answered from the cache, hex compared case-insensitively', async () => {
    const station = await f.csms.bootedStation({ prefix: 'PNC' });
    const data = f.good.hashData(f.moSub, f.subResponder.url);
    await authorizeWithHashData(station, EMAID_GOOD, [data]);
    const asked = f.subResponder.requests;
    const cachedBefore = metricValue(await f.csms.api.metrics(), 'csms_ocsp_checks_total', { outcome: 'good', cached: 'true' });
    const upper = {
      ...data,
      issuerNameHash: data.issuerNameHash.toUpperCase(),
      issuerKeyHash: data.issuerKeyHash.toUpperCase(),
      serialNumber: data.serialNumber.toUpperCase(),
    };
    const again = await authorizeWithHashData(station, EMAID_GOOD, [upper]);
    expect(again).toMatchObject({ idTokenInfo: { status: 'Accepted' }, certificateStatus: 'Accepted' });
    expect(f.subResponder.requests).toBe(asked);
    expect(metricValue(await f.csms.api.metrics(), 'csms_ocsp_checks_total', { outcome: 'good', cached: 'true' })).toBe(cachedBefore + 1);
  });

  it('TC_C_51: a revoked contract certificate → CertificateRevoked and idTokenInfo Invalid', async () => {
    const station = await f.csms.bootedStation({ prefix: 'PNC' });
    const answer = await authorizeWithHashData(station, EMAID_REVOKED, [f.revoked.hashData(f.moSub, f.subResponder.url)]);
    expect(answer).toMatchObject({ idTokenInfo: { status: 'Invalid' }, certificateStatus: 'CertificateRevoked' });
  });

  it('TC_C_51 (derived, C07.FR.16): after the revocation, a TransactionEvent with that eMAID is Invalid though the register says Accepted', async () => {
    const station = await f.csms.bootedStation({ prefix: 'PNC' });
    await authorizeWithHashData(station, EMAID_REVOKED, [f.revoked.hashData(f.moSub, f.subResponder.url)]);
    // The station lets the EV start anyway (or sends the token later): the CSMS re-verifies it (E02.FR.04).
    const started = await station.transactionEvent({
      eventType: 'Started',
      triggerReason: 'Authorized',
      transactionInfo: { transactionId: 'pnc-revoked-1' },
      evse: { id: 1, connectorId: 1 },
      // Written with separators and in lower case: the same eMAID as far as ISO 15118 is concerned.
      idToken: { idToken: 'de-strc-87654321-x', type: 'eMAID' },
    });
    expect(started).toMatchObject({ idTokenInfo: { status: 'Invalid' } });
    // Durable: another station (another node, a restarted CSMS) sees the same refusal, and a plain Authorize too.
    const other = await f.csms.bootedStation({ prefix: 'PNC' });
    expect((await other.authorize(EMAID_REVOKED, 'eMAID')).idTokenInfo.status).toBe('Invalid');
    // The register alone still decides for a contract nobody found revoked.
    const good = await other.transactionEvent({
      eventType: 'Started',
      triggerReason: 'Authorized',
      transactionInfo: { transactionId: 'pnc-good-1' },
      evse: { id: 1, connectorId: 1 },
      idToken: { idToken: EMAID_GOOD, type: 'eMAID' },
    });
    expect(good).toMatchObject({ idTokenInfo: { status: 'Accepted' } });
  });

  it('an "unknown" OCSP answer is never Accepted', async () => {
    const station = await f.csms.bootedStation({ prefix: 'PNC' });
    const answer = await authorizeWithHashData(station, EMAID_UNKNOWN, [f.unknown.hashData(f.moSub, f.subResponder.url)]);
    expect(answer.idTokenInfo.status).toBe('Invalid');
    expect(answer.certificateStatus).not.toBe('Accepted');
  });

  it('one revoked entry among several good ones → CertificateRevoked (the sub-CA is asked at its own responder)', async () => {
    const station = await f.csms.bootedStation({ prefix: 'PNC' });
    const answer = await authorizeWithHashData(station, EMAID_REVOKED, [
      f.moSub.hashData(f.moRoot, f.rootResponder.url),
      f.revoked.hashData(f.moSub, f.subResponder.url),
    ]);
    expect(answer).toMatchObject({ idTokenInfo: { status: 'Invalid' }, certificateStatus: 'CertificateRevoked' });
  });

  it('DRV-ISO-09: a good certificate for a blocked contract → ContractCancelled, token not Accepted', async () => {
    const station = await f.csms.bootedStation({ prefix: 'PNC' });
    const answer = await authorizeWithHashData(station, EMAID_CANCELLED, [f.cancelled.hashData(f.moSub, f.subResponder.url)]);
    expect(answer).toMatchObject({ idTokenInfo: { status: 'Blocked' }, certificateStatus: 'ContractCancelled' });
  });

  it('a good certificate for an eMAID the register does not know → certificate Accepted, token Unknown', async () => {
    const station = await f.csms.bootedStation({ prefix: 'PNC' });
    const answer = await authorizeWithHashData(station, EMAID_UNREGISTERED, [f.unregistered.hashData(f.moSub, f.subResponder.url)]);
    expect(answer).toMatchObject({ idTokenInfo: { status: 'Unknown' }, certificateStatus: 'Accepted' });
  });

  it('DRV-ISO-01: a responder that never answers → Invalid once the 5 s bound passes, not a hung Authorize', async () => {
    const station = await f.csms.bootedStation({ prefix: 'PNC' });
    f.flakyResponder.mode = 'slow';
    try {
      // A serial the cache has not seen, so the responder must be asked.
      const data = { ...f.good.hashData(f.moSub, f.flakyResponder.url), serialNumber: 'abcdef0123' };
      const answer = await authorizeWithHashData(station, EMAID_GOOD, [data]);
      expect(answer.idTokenInfo.status).toBe('Invalid');
      expect(answer.certificateStatus).not.toBe('Accepted');
    } finally {
      f.flakyResponder.mode = 'normal';
    }
  }, 30_000);

  it('an unreachable responder, or one that answers garbage or HTTP 500 → Invalid', async () => {
    const station = await f.csms.bootedStation({ prefix: 'PNC' });
    const closed = `http://127.0.0.1:${await freePort()}/`;
    expect((await authorizeWithHashData(station, EMAID_GOOD, [f.good.hashData(f.moSub, closed)])).idTokenInfo.status).toBe('Invalid');
    for (const mode of ['garbage', 'http500'] as const) {
      f.flakyResponder.mode = mode;
      try {
        const answer = await authorizeWithHashData(station, EMAID_GOOD, [f.good.hashData(f.moSub, f.flakyResponder.url)]);
        expect(answer.idTokenInfo.status, mode).toBe('Invalid');
        expect(answer.certificateStatus, mode).not.toBe('Accepted');
      } finally {
        f.flakyResponder.mode = 'normal';
      }
    }
  });

  it('an answer signed by someone other than the issuer is not believed', async () => {
    const station = await f.csms.bootedStation({ prefix: 'PNC' });
    // The hash data names moRoot as issuer, but the responder at that URL signs as moSub: the signature cannot be tied to the issuer.
    const misattributed = { ...f.good.hashData(f.moRoot, f.flakyResponder.url), serialNumber: f.good.cert.serialNumber };
    const answer = await authorizeWithHashData(station, EMAID_GOOD, [misattributed]);
    expect(answer.idTokenInfo.status).toBe('Invalid');
  });
});

describe('GetCertificateStatus (M06)', () => {
  it("TC_M_24: the station's OCSP request goes to its responder; the DER answer comes back as ocspResult", async () => {
    const station = await f.csms.bootedStation({ prefix: 'PNC' });
    const asked = f.rootResponder.requests;
    const answer = await station.call<{ status: string; ocspResult?: string }>(
      'GetCertificateStatus',
      { ocspRequestData: f.moSub.hashData(f.moRoot, f.rootResponder.url) },
      { timeoutMs: 20_000 },
    );
    expect(answer.status).toBe('Accepted');
    expect(f.rootResponder.requests).toBe(asked + 1);
    // openssl reads it as the OCSP response for exactly the sub-CA, and says good.
    const file = join(f.dir, 'm24.der');
    await writeFile(file, Buffer.from(answer.ocspResult ?? '', 'base64'));
    const text = spawnSync('openssl', ['ocsp', '-respin', file, '-resp_text', '-noverify'], { encoding: 'utf8' }).stdout;
    expect(text).toMatch(/Cert Status: good/);
    expect(text.replace(/\s/g, '').toLowerCase()).toContain(`SerialNumber:${f.moSub.cert.serialNumber}`.toLowerCase());
  });

  it('DRV-ISO-10: an unreachable or garbling responder → Failed, never a made-up answer', async () => {
    const station = await f.csms.bootedStation({ prefix: 'PNC' });
    const closed = `http://127.0.0.1:${await freePort()}/`;
    const unreachable = await station.call<{ status: string; ocspResult?: string }>('GetCertificateStatus', { ocspRequestData: f.moSub.hashData(f.moRoot, closed) });
    expect(unreachable.status).toBe('Failed');
    expect(unreachable.ocspResult).toBeUndefined();
    f.flakyResponder.mode = 'garbage';
    try {
      const garbled = await station.call<{ status: string }>('GetCertificateStatus', { ocspRequestData: f.moSub.hashData(f.moRoot, f.flakyResponder.url) });
      expect(garbled.status).toBe('Failed');
    } finally {
      f.flakyResponder.mode = 'normal';
    }
  });
});
