import type { DeviceVariable } from '../../store/store.js';
import { verifyCsr, type CsrVerdict } from '../../security/csr.js';

/** ISO 15118-2 (§7.9.2, Annex F): SECC keys are ECDSA on secp256r1; we take that curve or a stronger NIST one. */
const V2G_CURVES = new Set(['prime256v1', 'secp384r1', 'secp521r1']);
/** ISO 15118-2 Annex F: the SECC certificate's CN (its SECC id) is at most 64 characters. */
const MAX_SECC_ID_LENGTH = 64;

/**
 * The SECC ids the station reported for its ISO15118Ctrlr components (TC_A_12: a V2G CSR's CN is
 * ISO15118Ctrlr.SeccId). Empty when it never reported one.
 */
export function reportedSeccIds(variables: readonly DeviceVariable[]): Set<string> {
  const ids = new Set<string>();
  for (const entry of variables) {
    if (entry.component.name !== 'ISO15118Ctrlr' || entry.variable.name !== 'SeccId') continue;
    for (const attribute of entry.attributes) {
      if (attribute.type === 'Actual' && typeof attribute.value === 'string' && attribute.value !== '') ids.add(attribute.value);
    }
  }
  return ids;
}

/**
 * Checks a V2GCertificate CSR (DRV-ISO-03, A02.FR.12): PEM PKCS#10 whose signature verifies, an EC key on a curve
 * ISO 15118 allows (RSA is refused), exactly one CN of at most 64 characters — and, when the station reported its
 * SECC id(s) in the device model, the CN must be one of them.
 */
export async function verifyV2gCsr(pem: string, seccIds: ReadonlySet<string>): Promise<CsrVerdict> {
  const verdict = await verifyCsr(pem, null);
  if (!verdict.ok) return verdict;
  const curve = verdict.publicKey.asymmetricKeyType === 'ec' ? verdict.publicKey.asymmetricKeyDetails?.namedCurve : undefined;
  if (curve === undefined || !V2G_CURVES.has(curve)) {
    const kind = verdict.publicKey.asymmetricKeyType === 'ec' ? `EC ${curve ?? '?'}` : (verdict.publicKey.asymmetricKeyType ?? 'unknown').toUpperCase();
    return { ok: false, reason: `a V2G certificate needs an ECDSA key on secp256r1 or stronger (ISO 15118-2); the CSR has ${kind}` };
  }
  const commonName = verdict.commonName;
  if (commonName.length === 0 || commonName.length > MAX_SECC_ID_LENGTH) {
    return { ok: false, reason: `the CSR subject CN must be the SECC id (1 to ${MAX_SECC_ID_LENGTH} characters)` };
  }
  if (seccIds.size > 0 && !seccIds.has(commonName)) {
    return { ok: false, reason: `the CSR subject CN "${commonName}" is not the SECC id the station reported (ISO15118Ctrlr.SeccId)` };
  }
  return verdict;
}
