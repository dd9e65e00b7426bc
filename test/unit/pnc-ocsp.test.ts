/**
 * The OCSP pieces of Plug & Charge on their own (C07.FR.05, M06): the DER request the CSMS builds, read back by
 * `openssl ocsp`, and the checks on the answers `openssl ocsp` produces for it (`-reqin`/`-respout`, no server):
 * good, revoked, unknown, another certificate's answer, a tampered signature, a signer that is not the issuer.
 */
import { X509Certificate } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DerError, decodeOid, objectIdentifier, parseDer, readNode, unsignedInteger } from '../../src/blocks/plug-and-charge/der.js';
import { OcspFailure, buildOcspRequest, certificateIdOf, readOcspResponse, type CertificateId } from '../../src/blocks/plug-and-charge/ocsp.js';
import { createRoot, issue, type PkiCert } from '../support/pnc.js';

let dir: string;
let root: PkiCert;
let otherRoot: PkiCert;
let good: PkiCert;
let revoked: PkiCert;
let stranger: PkiCert;

function idOf(cert: PkiCert, issuer: PkiCert = root): CertificateId {
  return certificateIdOf(new X509Certificate(cert.pem), new X509Certificate(issuer.pem));
}

function opensslDate(date: Date): string {
  return `${date.toISOString().slice(2, 19).replace(/[-:T]/g, '')}Z`;
}

/** What `openssl ocsp`, as `signer`'s responder with `index`, answers to `request`. */
async function opensslAnswer(request: Buffer, signer: PkiCert, extra: string[] = []): Promise<Buffer> {
  await writeFile(join(dir, 'req.der'), request);
  await writeFile(join(dir, 'signer.pem'), signer.pem);
  await writeFile(join(dir, 'signer.key'), signer.keyPem);
  const run = spawnSync(
    'openssl',
    [
      'ocsp',
      '-index',
      join(dir, 'index.txt'),
      '-CA',
      join(dir, 'signer.pem'),
      '-rsigner',
      join(dir, 'signer.pem'),
      '-rkey',
      join(dir, 'signer.key'),
      '-reqin',
      join(dir, 'req.der'),
      '-respout',
      join(dir, 'resp.der'),
      '-ndays',
      '1',
      ...extra,
    ],
    { encoding: 'utf8' },
  );
  expect(run.status, run.stderr).toBe(0);
  return readFile(join(dir, 'resp.der'));
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stroom-ocsp-unit-'));
  [root, otherRoot] = await Promise.all([createRoot('CN=Unit MO Root'), createRoot('CN=Unit Other Root')]);
  [good, revoked, stranger] = await Promise.all([
    issue(root, 'CN=UNITGOOD', { isCa: false }),
    issue(root, 'CN=UNITREVOKED', { isCa: false }),
    issue(root, 'CN=UNITSTRANGER', { isCa: false }),
  ]);
  const line = (cert: PkiCert, status: 'V' | 'R'): string =>
    `${status}\t${opensslDate(cert.cert.notAfter)}\t${status === 'R' ? opensslDate(new Date(Date.now() - 3600_000)) : ''}\t${cert.cert.serialNumber.toUpperCase()}\tunknown\t/CN=x\n`;
  await writeFile(join(dir, 'index.txt'), line(good, 'V') + line(revoked, 'R'));
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('DER', () => {
  it('writes and reads object identifiers, keeps INTEGERs positive and minimal, refuses truncated input', () => {
    expect(decodeOid(parseDer(objectIdentifier('2.16.840.1.101.3.4.2.1')))).toBe('2.16.840.1.101.3.4.2.1');
    expect(unsignedInteger(Buffer.from('0080', 'hex')).toString('hex')).toBe('020200' + '80');
    expect(unsignedInteger(Buffer.from('00007f', 'hex')).toString('hex')).toBe('02017f');
    expect(() => readNode(Buffer.from('3005020101', 'hex'))).toThrow(DerError);
    expect(() => parseDer(Buffer.from('0500ff', 'hex'))).toThrow(DerError);
  });
});

describe('OCSP request and response', () => {
  it('builds a request openssl reads as a SHA-256 CertID for exactly that serial', async () => {
    await writeFile(join(dir, 'only-req.der'), buildOcspRequest(idOf(good)));
    const text = spawnSync('openssl', ['ocsp', '-reqin', join(dir, 'only-req.der'), '-req_text'], { encoding: 'utf8' }).stdout;
    expect(text).toMatch(/Hash Algorithm: sha256/);
    expect(text.replace(/\s/g, '').toLowerCase()).toContain(`SerialNumber:${good.cert.serialNumber}`.toLowerCase());
  });

  it('reads good, revoked and unknown answers signed by the issuer, with their nextUpdate', async () => {
    const now = Date.now();
    for (const [cert, status] of [
      [good, 'good'],
      [revoked, 'revoked'],
      [stranger, 'unknown'],
    ] as const) {
      const answer = readOcspResponse(await opensslAnswer(buildOcspRequest(idOf(cert)), root), idOf(cert), now);
      expect(answer.status).toBe(status);
      expect(answer.nextUpdate).toBeGreaterThan(now);
    }
  });

  it('hex case and leading zeros of the serial do not matter', async () => {
    const id = idOf(good);
    const shouting = { ...id, issuerKeyHash: id.issuerKeyHash.toUpperCase(), serialNumber: `00${id.serialNumber.toUpperCase()}` };
    expect(readOcspResponse(await opensslAnswer(buildOcspRequest(id), root), shouting, Date.now()).status).toBe('good');
  });

  it("refuses another certificate's answer, a tampered signature, a stranger's signature, and a stale answer", async () => {
    const der = await opensslAnswer(buildOcspRequest(idOf(good)), root);
    expect(() => readOcspResponse(der, idOf(revoked), Date.now())).toThrow(/does not answer for the certificate/);
    // producedAt (the first GeneralizedTime of the signed part) a second later: still readable, no longer what was signed.
    const tampered = Buffer.from(der);
    const producedAt = tampered.indexOf(Buffer.from([0x18, 0x0f]));
    const lastDigit = producedAt + 2 + 13;
    tampered[lastDigit] = tampered[lastDigit] === 0x39 ? 0x38 : (tampered[lastDigit] as number) + 1;
    expect(() => readOcspResponse(tampered, idOf(good), Date.now())).toThrow(/signature does not verify/);
    // The same question, answered by a CA that did not issue the certificate: nothing ties its key to the CertID.
    const forged = await opensslAnswer(buildOcspRequest(idOf(good)), otherRoot);
    expect(() => readOcspResponse(forged, idOf(good), Date.now())).toThrow(/tie to the issuer/);
    // Two days on, the one-day nextUpdate has passed.
    expect(() => readOcspResponse(der, idOf(good), Date.now() + 2 * 24 * 3600_000)).toThrow(/past its nextUpdate/);
    expect(() => readOcspResponse(Buffer.from('garbage'), idOf(good), Date.now())).toThrow(OcspFailure);
  });
});
