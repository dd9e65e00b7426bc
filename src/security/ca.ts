// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata API first;
// csr.ts (imported below) points it at Node's WebCrypto before anything here runs.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { X509Certificate as NodeCertificate, createPrivateKey, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../config.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import { describeKey, keyWeakness } from './csr.js';

/** The WebCrypto key type as @peculiar/x509 declares it (a DOM type; Node's is structurally the same). */
type SigningKey = x509.X509CertificateCreateWithKeyParams['signingKey'];
type SigningAlgorithm = { name: string; hash: string };

/** A02.FR.06 note: certificates start a little in the past, so a station whose clock lags still accepts them. */
export const NOT_BEFORE_SKEW_MS = 5 * 60_000;
/** How long a station certificate signed here is valid (capped by the CA's own validity). */
export const LEAF_VALIDITY_MS = 365 * 24 * 3600_000;
const GENERATED_CA_VALIDITY_MS = 20 * 365 * 24 * 3600_000;
const GENERATED_CA_NAME = 'CN=Stroom CSMS Charging Station CA, O=Stroom';
/** ISO 15118-2 wants a V2G PKI apart from the OCPP one: a generated V2G CA is a root of its own. */
const GENERATED_V2G_CA_NAME = 'CN=Stroom CSMS V2G Root CA, O=Stroom, DC=V2G';
/** Where an earlier version generated its CA under CSMS_DATA_DIR (imported into the database on first start). */
export const GENERATED_CA_DIR = 'ca';
export const GENERATED_CA_CERT_FILE = 'csms-ca.pem';
export const GENERATED_CA_KEY_FILE = 'csms-ca.key';

export interface IssuedCertificate {
  /** The leaf alone, PEM. */
  certificatePem: string;
  /** Leaf followed by the CA certificate: what CertificateSigned.certificateChain carries. */
  chainPem: string;
  /** Hexadecimal, as X.509 tools print it. */
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
}

export interface IssueOptions {
  /** Extended key usage OIDs of the leaf; default TLS client (an OCPP station certificate). */
  extendedKeyUsages?: readonly string[];
}

/** A certificate-request subject and key, already checked (see verifyCsr in csr.ts). */
export interface SigningRequest {
  request: x509.Pkcs10CertificateRequest;
  publicKey: KeyObject;
}

/**
 * The CSMS's certificate authority for charging-station certificates (A02/A03): signs verified CSRs as TLS
 * client certificates that chain to it. The private key stays a non-extractable WebCrypto key.
 */
export class CertificateAuthority {
  private constructor(
    private readonly certificate: x509.X509Certificate,
    private readonly signingKey: SigningKey,
    private readonly signingAlgorithm: SigningAlgorithm,
    readonly certificatePem: string,
    /** Where it came from, for logs: a configured file or the generated one. */
    readonly source: string,
  ) {}

  get subject(): string {
    return this.certificate.subject;
  }

  get notAfter(): Date {
    return this.certificate.notAfter;
  }

  /** Builds a CA from PEM texts; throws with a reason when they are unusable. */
  static async fromPem(certificatePem: string, keyPem: string, source: string): Promise<CertificateAuthority> {
    let nodeCertificate: NodeCertificate;
    try {
      nodeCertificate = new NodeCertificate(certificatePem);
    } catch {
      throw new Error('the CA certificate is not a PEM X.509 certificate');
    }
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(keyPem);
    } catch {
      throw new Error('the CA key is not a readable PEM private key');
    }
    if (!nodeCertificate.ca) throw new Error('the CA certificate is not a CA certificate (basicConstraints CA:FALSE)');
    if (!nodeCertificate.checkPrivateKey(privateKey)) throw new Error('the CA key does not belong to the CA certificate');
    const weakness = keyWeakness(privateKey);
    if (weakness !== undefined) throw new Error(`the CA key is too weak: ${weakness}`);
    if (Date.parse(nodeCertificate.validTo) <= Date.now()) throw new Error(`the CA certificate expired on ${nodeCertificate.validTo}`);

    const { importAlgorithm, signingAlgorithm } = algorithmsFor(privateKey);
    const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
    const signingKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, importAlgorithm, false, ['sign']);
    const certificate = new x509.X509Certificate(nodeCertificate.raw);
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- @peculiar/x509 types its keys with DOM types that lib ES2023 lacks, so the checker sees an unresolved type here; the cast keeps Node's webcrypto key typed as the library declares it
    return new CertificateAuthority(certificate, signingKey as unknown as SigningKey, signingAlgorithm, certificate.toString('pem'), source);
  }

  /**
   * Issues a TLS client certificate for `request`: its subject and public key as requested (TC_A_11:
   * "the public key equals the CSR's, the subject is preserved"), issued by this CA.
   */
  async issue(signing: SigningRequest, now: number, options: IssueOptions = {}): Promise<IssuedCertificate> {
    const notBefore = new Date(now - NOT_BEFORE_SKEW_MS);
    const notAfter = new Date(Math.min(now + LEAF_VALIDITY_MS, this.certificate.notAfter.getTime()));
    const isRsa = signing.publicKey.asymmetricKeyType === 'rsa' || signing.publicKey.asymmetricKeyType === 'rsa-pss';
    const keyUsage = x509.KeyUsageFlags.digitalSignature | (isRsa ? x509.KeyUsageFlags.keyEncipherment : x509.KeyUsageFlags.keyAgreement);
    const authorityKeyId = this.certificate.getExtension(x509.SubjectKeyIdentifierExtension);
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerialNumber(),
      subject: signing.request.subjectName,
      issuer: this.certificate.subjectName,
      notBefore,
      notAfter,
      publicKey: signing.request.publicKey,
      // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- @peculiar/x509 types its keys with DOM types that lib ES2023 lacks, so the checker sees an unresolved type here
      signingKey: this.signingKey,
      signingAlgorithm: this.signingAlgorithm,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment -- KeyUsageFlags are bit flags: their OR is a plain number, which the library reads as flags
        new x509.KeyUsagesExtension(keyUsage, true),
        new x509.ExtendedKeyUsageExtension([...(options.extendedKeyUsages ?? [x509.ExtendedKeyUsage.clientAuth])]),
        await x509.SubjectKeyIdentifierExtension.create(signing.request.publicKey),
        authorityKeyId !== null
          ? new x509.AuthorityKeyIdentifierExtension(authorityKeyId.keyId)
          : await x509.AuthorityKeyIdentifierExtension.create(this.certificate.publicKey),
      ],
    });
    const certificatePem = leaf.toString('pem');
    return {
      certificatePem,
      chainPem: `${certificatePem}\n${this.certificatePem}\n`,
      serialNumber: leaf.serialNumber,
      notBefore: leaf.notBefore,
      notAfter: leaf.notAfter,
    };
  }
}

function algorithmsFor(key: KeyObject): { importAlgorithm: webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams; signingAlgorithm: SigningAlgorithm } {
  if (key.asymmetricKeyType === 'rsa') {
    return { importAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } };
  }
  if (key.asymmetricKeyType === 'ec') {
    const curve = WEBCRYPTO_CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
    if (curve !== undefined) {
      return { importAlgorithm: { name: 'ECDSA', namedCurve: curve.name }, signingAlgorithm: { name: 'ECDSA', hash: curve.hash } };
    }
  }
  throw new Error(`a CA key must be RSA or EC on P-256/P-384/P-521 (got ${describeKey(key)})`);
}

const WEBCRYPTO_CURVES: Readonly<Record<string, { name: string; hash: string }>> = {
  prime256v1: { name: 'P-256', hash: 'SHA-256' },
  secp384r1: { name: 'P-384', hash: 'SHA-384' },
  secp521r1: { name: 'P-521', hash: 'SHA-512' },
};

/** 128 random bits, positive (RFC 5280 §4.1.2.2 allows at most 20 octets). */
function randomSerialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] as number) & 0x7f) | 0x01;
  return bytes.toString('hex');
}

function toPem(der: ArrayBuffer, label: string): string {
  const base64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${base64.endsWith('\n') ? base64 : `${base64}\n`}-----END ${label}-----\n`;
}

/** A fresh self-signed ECDSA P-256 CA, as PEM texts. */
export async function generateCaPem(now = Date.now(), name = GENERATED_CA_NAME): Promise<{ certificatePem: string; keyPem: string }> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialNumber(),
    name,
    notBefore: new Date(now - NOT_BEFORE_SKEW_MS),
    notAfter: new Date(now + GENERATED_CA_VALIDITY_MS),
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion, @typescript-eslint/no-unsafe-assignment -- @peculiar/x509 types its keys with DOM types that lib ES2023 lacks, so the checker sees an unresolved type here; the cast keeps Node's webcrypto key typed as the library declares it
    keys: keys as unknown as x509.X509CertificateCreateSelfSignedParams['keys'],
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- @peculiar/x509 types its keys with DOM types that lib ES2023 lacks, so the checker sees an unresolved type here; the cast keeps Node's webcrypto key typed as the library declares it
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as unknown as x509.PublicKeyType),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { certificatePem: certificate.toString('pem'), keyPem: toPem(pkcs8, 'PRIVATE KEY') };
}

function errorCode(error: unknown): unknown {
  return typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
}

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

/** The CA an earlier version generated into `<dataDir>/ca`, when there is one (both files). */
async function dataDirCaPem(dataDir: string): Promise<{ certificatePem: string; keyPem: string; dir: string } | undefined> {
  const dir = join(dataDir, GENERATED_CA_DIR);
  const [certificatePem, keyPem] = await Promise.all([readIfPresent(join(dir, GENERATED_CA_CERT_FILE)), readIfPresent(join(dir, GENERATED_CA_KEY_FILE))]);
  return certificatePem !== undefined && keyPem !== undefined ? { certificatePem, keyPem, dir } : undefined;
}

/** Where the store keeps the CA that signs station certificates. */
export const STATION_CA_NAME = 'station';
/** Where the store keeps the CA that signs V2G (SECC) certificates (CONTRACT §8.6). */
export const V2G_CA_NAME = 'v2g';

/** Which of the CSMS's two CAs: its row in the store, the keys that configure it, how a generated one is named. */
export interface CaKind {
  storeName: string;
  certKey: string;
  keyKey: string;
  /** What it signs, for messages. */
  label: string;
  generatedName: string;
  /** Only the station CA was ever generated into `<dataDir>/ca` by an earlier version. */
  importsDataDir: boolean;
}

export const STATION_CA: CaKind = {
  storeName: STATION_CA_NAME,
  certKey: 'CSMS_CA_CERT',
  keyKey: 'CSMS_CA_KEY',
  label: 'station',
  generatedName: GENERATED_CA_NAME,
  importsDataDir: true,
};

export const V2G_CA: CaKind = {
  storeName: V2G_CA_NAME,
  certKey: 'CSMS_V2G_CA_CERT',
  keyKey: 'CSMS_V2G_CA_KEY',
  label: 'V2G',
  generatedName: GENERATED_V2G_CA_NAME,
  importsDataDir: false,
};

/** What the CA needs of the store: its row in certificate_authorities. */
export type CertificateAuthorityStore = Pick<Store, 'getCertificateAuthority' | 'createCertificateAuthority'>;

/**
 * The station CA of the database, created there by the first node that starts (CONTRACT §6: one CA for every
 * node, never one per data dir). A CA an earlier version generated into `<dataDir>/ca` is imported instead of a
 * new one, so the certificates it signed stay valid; of several nodes racing, the first insert wins and every
 * node loads the winner's.
 */
async function storedCa(store: CertificateAuthorityStore, dataDir: string, log: Logger, kind: CaKind): Promise<CertificateAuthority> {
  const source = `the database (certificate_authorities '${kind.storeName}')`;
  const fromStore = async (stored: { certificatePem: string; keyPem: string }): Promise<CertificateAuthority> => {
    try {
      return await CertificateAuthority.fromPem(stored.certificatePem, stored.keyPem, source);
    } catch (error) {
      throw new ConfigError(
        kind.certKey,
        `the ${kind.label} CA in ${source} is unusable: ${(error as Error).message}; replace it, or set ${kind.certKey} and ${kind.keyKey}`,
      );
    }
  };
  const legacy = kind.importsDataDir ? await dataDirCaPem(dataDir) : undefined;
  const existing = await store.getCertificateAuthority(kind.storeName);
  if (existing !== undefined) {
    if (legacy !== undefined && legacy.certificatePem.trim() !== existing.certificatePem.trim()) {
      log.warn(
        { event: 'ca_data_dir_ignored', dir: legacy.dir },
        `${legacy.dir} holds another CA than the database; the database's signs station certificates. Certificates signed by the one in ${legacy.dir} are accepted only if CSMS_TLS_CLIENT_CA lists it`,
      );
    }
    return fromStore(existing);
  }
  let candidate: { certificatePem: string; keyPem: string };
  if (legacy !== undefined) {
    try {
      await CertificateAuthority.fromPem(legacy.certificatePem, legacy.keyPem, legacy.dir);
    } catch (error) {
      throw new ConfigError('CSMS_DATA_DIR', `the CA in ${legacy.dir} is unusable: ${(error as Error).message}`);
    }
    candidate = legacy;
  } else {
    candidate = await generateCaPem(Date.now(), kind.generatedName);
  }
  const stored = await store.createCertificateAuthority(kind.storeName, { certificatePem: candidate.certificatePem, keyPem: candidate.keyPem });
  if (stored.certificatePem !== candidate.certificatePem) {
    log.info({ event: 'ca_loaded', ca: kind.storeName }, `another node created the ${kind.label} certificate authority first; using it`);
  } else if (legacy !== undefined) {
    log.info({ event: 'ca_imported', ca: kind.storeName, dir: legacy.dir }, `imported the ${kind.label} certificate authority of ${legacy.dir} into the database`);
  } else {
    log.info({ event: 'ca_generated', ca: kind.storeName }, `generated the ${kind.label} certificate authority into the database`);
  }
  return fromStore(stored);
}

/**
 * The CA from CSMS_CA_CERT / CSMS_CA_KEY, or the one in the store (created by the first node to start). Refuses
 * (ConfigError naming the key) a CA that cannot sign: unreadable, mismatched, expired, weak, not a CA.
 */
export async function openCertificateAuthority(options: {
  certFile: string | undefined;
  keyFile: string | undefined;
  dataDir: string;
  store: CertificateAuthorityStore;
  log: Logger;
  /** Which CA: the station CA unless told (the V2G CA is opened the same way, from its own keys and row). */
  kind?: CaKind;
}): Promise<CertificateAuthority> {
  const { certFile, keyFile, dataDir, store, log } = options;
  const kind = options.kind ?? STATION_CA;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new ConfigError(certFile === undefined ? kind.certKey : kind.keyKey, `${kind.certKey} and ${kind.keyKey} must be set together`);
  }
  if (certFile !== undefined && keyFile !== undefined) {
    const read = async (file: string, key: string): Promise<string> => {
      try {
        return await readFile(file, 'utf8');
      } catch (error) {
        throw new ConfigError(key, `cannot read ${file}: ${(error as Error).message}`);
      }
    };
    const [certificatePem, keyPem] = await Promise.all([read(certFile, kind.certKey), read(keyFile, kind.keyKey)]);
    try {
      return await CertificateAuthority.fromPem(certificatePem, keyPem, certFile);
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      throw new ConfigError(kind.certKey, `${certFile}: ${(error as Error).message}`);
    }
  }
  return storedCa(store, dataDir, log, kind);
}
