// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata API first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPublicKey, webcrypto, type KeyObject } from 'node:crypto';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** A00.FR.318 / A02: key sizes a CSMS accepts, for its own certificates and for what it signs. */
export const MIN_RSA_BITS = 2048;
export const MIN_EC_BITS = 224;

/** Field sizes of the named curves Node may report, in bits. */
const CURVE_BITS: Readonly<Record<string, number>> = {
  prime192v1: 192,
  secp192k1: 192,
  secp224r1: 224,
  secp224k1: 224,
  prime256v1: 256,
  secp256k1: 256,
  secp384r1: 384,
  secp521r1: 521,
  brainpoolP160r1: 160,
  brainpoolP192r1: 192,
  brainpoolP224r1: 224,
  brainpoolP256r1: 256,
  brainpoolP320r1: 320,
  brainpoolP384r1: 384,
  brainpoolP512r1: 512,
};

/** Why `key` is too weak (or of a kind OCPP does not use), or undefined when it is acceptable. */
export function keyWeakness(key: KeyObject): string | undefined {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (type === 'rsa' || type === 'rsa-pss') {
    const bits = details.modulusLength ?? 0;
    return bits >= MIN_RSA_BITS ? undefined : `RSA key of ${bits} bits (at least ${MIN_RSA_BITS} required)`;
  }
  if (type === 'ec') {
    const curve = details.namedCurve ?? 'unknown';
    const bits = CURVE_BITS[curve];
    if (bits === undefined) return `EC key on unsupported curve ${curve}`;
    return bits >= MIN_EC_BITS ? undefined : `EC key of ${bits} bits (${curve}; at least ${MIN_EC_BITS} required)`;
  }
  return `${type ?? 'unknown'} keys are not used by OCPP (RSA or EC only)`;
}

/** A short description of a key for logs: "RSA 2048", "EC prime256v1". */
export function describeKey(key: KeyObject): string {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') return `EC ${details.namedCurve ?? '?'}`;
  if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') return `RSA ${details.modulusLength ?? '?'}`;
  return key.asymmetricKeyType ?? 'unknown';
}

export type CsrVerdict = { ok: true; request: x509.Pkcs10CertificateRequest; publicKey: KeyObject; commonName: string } | { ok: false; reason: string };

const PEM_CSR = /-----BEGIN (NEW )?CERTIFICATE REQUEST-----([A-Za-z0-9+/=\s]+)-----END (NEW )?CERTIFICATE REQUEST-----/;

/**
 * Checks a station's CSR before the CSMS signs anything (A02.FR.12 / DRV-A02-01): a PEM-armoured PKCS#10
 * request whose self-signature verifies (proof of possession), whose key is strong enough, and whose
 * subject names exactly one CN, equal to `expectedCommonName` (the station identity, A00.FR.405). `null` leaves the CN
 * to the caller (a V2G CSR's CN is the SECC id, not the station identity).
 */
export async function verifyCsr(pem: string, expectedCommonName: string | null): Promise<CsrVerdict> {
  const armoured = PEM_CSR.exec(pem);
  if (armoured === null) return { ok: false, reason: 'not a PEM-encoded certificate signing request' };
  const der = Buffer.from((armoured[2] as string).replace(/\s+/g, ''), 'base64');
  let request: x509.Pkcs10CertificateRequest;
  try {
    request = new x509.Pkcs10CertificateRequest(der);
  } catch {
    return { ok: false, reason: 'the CSR is not valid PKCS#10' };
  }
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: Buffer.from(request.publicKey.rawData), format: 'der', type: 'spki' });
  } catch {
    return { ok: false, reason: 'the CSR carries an unreadable public key' };
  }
  const weakness = keyWeakness(publicKey);
  if (weakness !== undefined) return { ok: false, reason: weakness };
  let signatureValid: boolean;
  try {
    signatureValid = await request.verify();
  } catch {
    signatureValid = false;
  }
  if (!signatureValid) return { ok: false, reason: 'the CSR signature does not verify' };
  const commonNames = request.subjectName.getField('CN');
  if (commonNames.length !== 1) return { ok: false, reason: `the CSR subject must have exactly one CN (has ${commonNames.length})` };
  const commonName = commonNames[0] as string;
  if (expectedCommonName !== null && commonName !== expectedCommonName) {
    return { ok: false, reason: `the CSR subject CN "${commonName.slice(0, 64)}" is not the station identity` };
  }
  return { ok: true, request, publicKey, commonName };
}
