import { X509Certificate, createHash, verify as verifySignature } from 'node:crypto';
import type { Clock } from '../../clock.js';
import type { Logger } from '../../log.js';
import {
  DER_NULL,
  TAG,
  childrenOf,
  contentOf,
  contextTag,
  decodeGeneralizedTime,
  decodeOid,
  expectTag,
  objectIdentifier,
  octetString,
  parseDer,
  sequence,
  unsignedInteger,
  type DerNode,
} from './der.js';

/**
 * OCSP (RFC 6960) as Plug & Charge needs it (C07.FR.05, M06): a request from an OCPP CertificateHashData, a
 * response checked for the certificate asked about and signed by its issuer (or a responder the issuer delegated
 * to), an answer cached until its nextUpdate.
 */

/** OCPP HashAlgorithmEnumType → the digest and its OID. */
const HASH_ALGORITHMS = {
  SHA256: { digest: 'sha256', oid: '2.16.840.1.101.3.4.2.1' },
  SHA384: { digest: 'sha384', oid: '2.16.840.1.101.3.4.2.2' },
  SHA512: { digest: 'sha512', oid: '2.16.840.1.101.3.4.2.3' },
} as const;
export type OcspHashAlgorithm = keyof typeof HASH_ALGORITHMS;
const HASH_BY_OID = new Map<string, string>([...Object.values(HASH_ALGORITHMS).map((h) => [h.oid, h.digest] as [string, string]), ['1.3.14.3.2.26', 'sha1']]);

/** Signature algorithms an OCSP responder may use → the digest node:crypto verifies with. */
const SIGNATURE_DIGESTS = new Map<string, string>([
  ['1.2.840.10045.4.3.2', 'sha256'],
  ['1.2.840.10045.4.3.3', 'sha384'],
  ['1.2.840.10045.4.3.4', 'sha512'],
  ['1.2.840.10045.4.1', 'sha1'],
  ['1.2.840.113549.1.1.11', 'sha256'],
  ['1.2.840.113549.1.1.12', 'sha384'],
  ['1.2.840.113549.1.1.13', 'sha512'],
  ['1.2.840.113549.1.1.5', 'sha1'],
]);
const ID_PKIX_OCSP_BASIC = '1.3.6.1.5.5.7.48.1.1';
const ID_KP_OCSP_SIGNING = '1.3.6.1.5.5.7.3.9';

/** The fields of OCPP's OCSPRequestDataType / CertificateHashDataType that name one certificate. */
export interface CertificateId {
  hashAlgorithm: OcspHashAlgorithm;
  /** Hex, any case (CONTRACT §8.6: compared case-insensitively). */
  issuerNameHash: string;
  issuerKeyHash: string;
  serialNumber: string;
}

export type OcspStatus = 'good' | 'revoked' | 'unknown';

export interface OcspAnswer {
  status: OcspStatus;
  /** RFC 6960 nextUpdate (epoch ms); undefined = the responder always has newer information (never cached). */
  nextUpdate: number | undefined;
}

export class OcspFailure extends Error {}

function hex(text: string): Buffer {
  const clean = text.trim().toLowerCase();
  if (!/^([0-9a-f]{2})*[0-9a-f]?$/.test(clean) || clean.length === 0) throw new OcspFailure(`not hexadecimal: ${JSON.stringify(text.slice(0, 40))}`);
  return Buffer.from(clean.length % 2 === 1 ? `0${clean}` : clean, 'hex');
}

/** A canonical text of a CertID: lower-case hex, the serial without leading zeroes. */
export function certificateIdKey(id: CertificateId): string {
  const serial = id.serialNumber
    .trim()
    .toLowerCase()
    .replace(/^0+(?=.)/, '');
  return [id.hashAlgorithm, id.issuerNameHash.trim().toLowerCase(), id.issuerKeyHash.trim().toLowerCase(), serial].join(':');
}

function certIdDer(id: CertificateId): Buffer {
  const algorithm = HASH_ALGORITHMS[id.hashAlgorithm];
  return sequence(
    sequence(objectIdentifier(algorithm.oid), DER_NULL),
    octetString(hex(id.issuerNameHash)),
    octetString(hex(id.issuerKeyHash)),
    unsignedInteger(hex(id.serialNumber)),
  );
}

/** OCSPRequest ::= SEQUENCE { tbsRequest SEQUENCE { requestList SEQUENCE OF Request { reqCert CertID } } }, unsigned. */
export function buildOcspRequest(id: CertificateId): Buffer {
  return sequence(sequence(sequence(sequence(certIdDer(id)))));
}

interface ParsedCertId {
  digest: string;
  issuerNameHash: Buffer;
  issuerKeyHash: Buffer;
  serial: Buffer;
}

function parseCertId(node: DerNode): ParsedCertId {
  const [algorithm, nameHash, keyHash, serial] = childrenOf(expectTag(node, TAG.SEQUENCE, 'CertID'));
  const oid = decodeOid(childrenOf(expectTag(algorithm, TAG.SEQUENCE, 'hashAlgorithm'))[0] as DerNode);
  const digest = HASH_BY_OID.get(oid);
  if (digest === undefined) throw new OcspFailure(`unknown CertID hash algorithm ${oid}`);
  return {
    digest,
    issuerNameHash: contentOf(expectTag(nameHash, TAG.OCTET_STRING, 'issuerNameHash')),
    issuerKeyHash: contentOf(expectTag(keyHash, TAG.OCTET_STRING, 'issuerKeyHash')),
    serial: stripZeros(contentOf(expectTag(serial, TAG.INTEGER, 'serialNumber'))),
  };
}

function stripZeros(bytes: Buffer): Buffer {
  let first = 0;
  while (first < bytes.length - 1 && bytes[first] === 0) first++;
  return bytes.subarray(first);
}

/** The subject DER and the public key bits of a certificate: what RFC 6960 CertID hashes. */
function nameAndKey(certificate: X509Certificate): { subject: Buffer; publicKeyBits: Buffer } {
  const [tbs] = childrenOf(parseDer(certificate.raw));
  const fields = childrenOf(expectTag(tbs, TAG.SEQUENCE, 'tbsCertificate'));
  // version [0] is optional: the subject is the 5th field after it, the SubjectPublicKeyInfo the 6th.
  const offset = fields[0]?.tag === contextTag(0, true) ? 1 : 0;
  const subject = expectTag(fields[offset + 4], TAG.SEQUENCE, 'subject');
  const spki = childrenOf(expectTag(fields[offset + 5], TAG.SEQUENCE, 'subjectPublicKeyInfo'));
  const bits = contentOf(expectTag(spki[1], TAG.BIT_STRING, 'subjectPublicKey'));
  return { subject: subject.raw, publicKeyBits: bits.subarray(1) };
}

/** The CertID hashes of `issuer` under `digest`: issuerNameHash and issuerKeyHash for certificates it issued. */
export function issuerHashes(issuer: X509Certificate, digest: string): { nameHash: Buffer; keyHash: Buffer } {
  const { subject, publicKeyBits } = nameAndKey(issuer);
  return { nameHash: createHash(digest).update(subject).digest(), keyHash: createHash(digest).update(publicKeyBits).digest() };
}

/** The CertID of `certificate` issued by `issuer` (C_52: the CSMS derives the request itself). */
export function certificateIdOf(certificate: X509Certificate, issuer: X509Certificate, hashAlgorithm: OcspHashAlgorithm = 'SHA256'): CertificateId {
  const { nameHash, keyHash } = issuerHashes(issuer, HASH_ALGORITHMS[hashAlgorithm].digest);
  return { hashAlgorithm, issuerNameHash: nameHash.toString('hex'), issuerKeyHash: keyHash.toString('hex'), serialNumber: certificate.serialNumber };
}

/**
 * Reads an OCSPResponse for `id` and checks it (RFC 6960 §3.2, §4.2.2.2): successful, basic, signed by the
 * issuer of the certificate (its key hash is the CertID's issuerKeyHash) or by a certificate the issuer signed
 * for OCSP signing; the SingleResponse for exactly this CertID; thisUpdate not in the future, nextUpdate not
 * past. `knownIssuers` are certificates that may be the issuer besides those the response carries (the V2G
 * trust roots, the chain the station sent).
 */
export function readOcspResponse(der: Buffer, id: CertificateId, now: number, knownIssuers: readonly X509Certificate[] = []): OcspAnswer {
  let top: DerNode[];
  try {
    top = childrenOf(expectTag(parseDer(der), TAG.SEQUENCE, 'OCSPResponse'));
  } catch (error) {
    throw new OcspFailure(`not an OCSP response: ${(error as Error).message}`);
  }
  const responseStatus = contentOf(expectTag(top[0], TAG.ENUMERATED, 'responseStatus'))[0];
  if (responseStatus !== 0) throw new OcspFailure(`the responder answered OCSP status ${responseStatus ?? '?'} (not successful)`);
  const responseBytes = childrenOf(expectTag(childrenOf(expectTag(top[1], contextTag(0, true), 'responseBytes'))[0], TAG.SEQUENCE, 'ResponseBytes'));
  if (decodeOid(responseBytes[0] as DerNode) !== ID_PKIX_OCSP_BASIC) throw new OcspFailure('not a basic OCSP response');
  const basic = childrenOf(expectTag(parseDer(contentOf(expectTag(responseBytes[1], TAG.OCTET_STRING, 'response'))), TAG.SEQUENCE, 'BasicOCSPResponse'));
  const [tbs, signatureAlgorithm, signatureBits, certsWrapper] = basic;
  const tbsNode = expectTag(tbs, TAG.SEQUENCE, 'tbsResponseData');
  const sigOid = decodeOid(childrenOf(expectTag(signatureAlgorithm, TAG.SEQUENCE, 'signatureAlgorithm'))[0] as DerNode);
  const sigDigest = SIGNATURE_DIGESTS.get(sigOid);
  if (sigDigest === undefined) throw new OcspFailure(`unsupported OCSP signature algorithm ${sigOid}`);
  const signature = contentOf(expectTag(signatureBits, TAG.BIT_STRING, 'signature')).subarray(1);
  const carried: X509Certificate[] = [];
  if (certsWrapper !== undefined && certsWrapper.tag === contextTag(0, true)) {
    const list = childrenOf(expectTag(childrenOf(certsWrapper)[0], TAG.SEQUENCE, 'certs'));
    for (const node of list) carried.push(new X509Certificate(node.raw));
  }

  const wanted = {
    digest: HASH_ALGORITHMS[id.hashAlgorithm].digest,
    nameHash: hex(id.issuerNameHash),
    keyHash: hex(id.issuerKeyHash),
    serial: stripZeros(hex(id.serialNumber)),
  };
  // Who signed: the issuer itself, or a delegated responder the issuer signed with id-kp-OCSPSigning.
  const candidates = [...carried, ...knownIssuers];
  const isIssuer = (cert: X509Certificate): boolean => {
    try {
      const hashes = issuerHashes(cert, wanted.digest);
      return hashes.keyHash.equals(wanted.keyHash) && hashes.nameHash.equals(wanted.nameHash);
    } catch {
      return false;
    }
  };
  const issuer = candidates.find(isIssuer);
  const signedBy = (cert: X509Certificate): boolean => {
    try {
      return verifySignature(sigDigest, tbsNode.raw, cert.publicKey, signature);
    } catch {
      return false;
    }
  };
  let trustedSigner = false;
  if (issuer !== undefined && signedBy(issuer)) trustedSigner = true;
  else if (issuer !== undefined) {
    trustedSigner = carried.some(
      (cert) =>
        cert.verify(issuer.publicKey) &&
        extendedKeyUsages(cert).includes(ID_KP_OCSP_SIGNING) &&
        now >= Date.parse(cert.validFrom) &&
        now <= Date.parse(cert.validTo) &&
        signedBy(cert),
    );
  }
  if (!trustedSigner) {
    throw new OcspFailure(
      issuer === undefined ? 'the OCSP response is not signed by a certificate we can tie to the issuer' : 'the OCSP response signature does not verify',
    );
  }

  const tbsFields = childrenOf(tbsNode);
  const afterVersion = tbsFields[0]?.tag === contextTag(0, true) ? 1 : 0;
  const responses = childrenOf(expectTag(tbsFields[afterVersion + 2], TAG.SEQUENCE, 'responses'));
  for (const single of responses) {
    const fields = childrenOf(expectTag(single, TAG.SEQUENCE, 'SingleResponse'));
    const certId = parseCertId(fields[0] as DerNode);
    if (
      certId.digest !== wanted.digest ||
      !certId.issuerNameHash.equals(wanted.nameHash) ||
      !certId.issuerKeyHash.equals(wanted.keyHash) ||
      !certId.serial.equals(wanted.serial)
    ) {
      continue;
    }
    const statusTag = fields[1]?.tag;
    const status: OcspStatus | undefined =
      statusTag === contextTag(0, false) ? 'good' : statusTag === contextTag(1, true) ? 'revoked' : statusTag === contextTag(2, false) ? 'unknown' : undefined;
    if (status === undefined) throw new OcspFailure('unreadable certStatus');
    const thisUpdate = decodeGeneralizedTime(fields[2] as DerNode);
    const nextField = fields[3]?.tag === contextTag(0, true) ? fields[3] : undefined;
    const nextUpdate = nextField === undefined ? undefined : decodeGeneralizedTime(childrenOf(nextField)[0] as DerNode);
    // RFC 6960 §3.2: a response from the future, or one past its nextUpdate, is not current information.
    if (thisUpdate > now + CLOCK_SKEW_MS) throw new OcspFailure('the OCSP response is dated in the future');
    if (nextUpdate !== undefined && nextUpdate < now - CLOCK_SKEW_MS) throw new OcspFailure('the OCSP response is past its nextUpdate');
    return { status, nextUpdate };
  }
  throw new OcspFailure('the OCSP response does not answer for the certificate asked about');
}

/** Node's `keyUsage` (the extended key usages) is undefined at run time for a certificate without the extension. */
function extendedKeyUsages(cert: X509Certificate): readonly string[] {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- @types/node declares string[], Node returns undefined without the extension
  return cert.keyUsage ?? [];
}

/** Tolerance between our clock and the responder's. */
const CLOCK_SKEW_MS = 5 * 60_000;

/** CONTRACT §8.6: an OCSP responder that has not answered within this is "no answer". */
export const OCSP_TIMEOUT_MS = 5_000;
/** Most answers kept; the oldest goes first when full. */
const MAX_CACHED_ANSWERS = 10_000;
/** OCPP caps ocspResult at 5500 characters of base64. */
export const MAX_OCSP_RESULT_CHARS = 5500;

export interface OcspClientOptions {
  clock: Clock;
  log: Logger;
  timeoutMs?: number;
  /** Told every check's outcome (for csms_ocsp_checks_total). */
  onCheck?: (outcome: OcspStatus | 'failed', cached: boolean) => void;
}

/**
 * Asks responders and keeps their answers until nextUpdate (C07.FR.05, DRV-ISO-02). The cache belongs to this
 * node: a node that has not seen an answer asks the responder itself, which gives the same verdict.
 */
export class OcspClient {
  private readonly cache = new Map<string, OcspAnswer & { expiresAt: number }>();
  private readonly timeoutMs: number;

  constructor(private readonly options: OcspClientOptions) {
    this.timeoutMs = options.timeoutMs ?? OCSP_TIMEOUT_MS;
  }

  /** POSTs the DER request to `responderUrl`; the raw DER answer, or OcspFailure (unreachable, slow, non-2xx). */
  async fetchRaw(responderUrl: string, request: Buffer): Promise<Buffer> {
    let url: URL;
    try {
      url = new URL(responderUrl);
    } catch {
      throw new OcspFailure(`responderURL is not a URL: ${JSON.stringify(responderUrl.slice(0, 80))}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new OcspFailure(`responderURL must be http(s): ${url.protocol}`);
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/ocsp-request', accept: 'application/ocsp-response' },
        body: request,
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'error',
      });
      const body = Buffer.from(await response.arrayBuffer());
      if (!response.ok) throw new OcspFailure(`the OCSP responder answered HTTP ${response.status}`);
      return body;
    } catch (error) {
      if (error instanceof OcspFailure) throw error;
      const name = (error as Error).name;
      throw new OcspFailure(
        name === 'TimeoutError' ? `no answer from the OCSP responder within ${this.timeoutMs} ms` : `the OCSP responder is unreachable: ${(error as Error).message}`,
      );
    }
  }

  /** The status of the certificate `id`, from the cache while its answer is current, else from `responderUrl`. */
  async check(responderUrl: string, id: CertificateId, knownIssuers: readonly X509Certificate[] = []): Promise<OcspAnswer & { cached: boolean }> {
    const key = `${responderUrl} ${certificateIdKey(id)}`;
    const now = this.options.clock.now();
    const hit = this.cache.get(key);
    if (hit !== undefined && hit.expiresAt > now) {
      this.options.onCheck?.(hit.status, true);
      return { status: hit.status, nextUpdate: hit.nextUpdate, cached: true };
    }
    if (hit !== undefined) this.cache.delete(key);
    let answer: OcspAnswer;
    try {
      const der = await this.fetchRaw(responderUrl, buildOcspRequest(id));
      answer = readOcspResponse(der, id, this.options.clock.now(), knownIssuers);
    } catch (error) {
      if (error instanceof OcspFailure) this.options.onCheck?.('failed', false);
      throw error;
    }
    this.options.onCheck?.(answer.status, false);
    if (answer.nextUpdate !== undefined && answer.nextUpdate > now) {
      if (this.cache.size >= MAX_CACHED_ANSWERS) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(key, { ...answer, expiresAt: answer.nextUpdate });
    }
    this.options.log.debug({ event: 'ocsp_answer', responderUrl, status: answer.status, nextUpdate: answer.nextUpdate }, 'OCSP answer');
    return { ...answer, cached: false };
  }
}
