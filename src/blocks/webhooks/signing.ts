import { createHmac, randomBytes } from 'node:crypto';

/**
 * Standard Webhooks signing (CONTRACT §8.7): `v1,<base64 HMAC-SHA256 over "<id>.<timestamp>.<body>">`, keyed with
 * the bytes the secret's base64 part (after `whsec_`) stands for.
 */

const SECRET_PREFIX = 'whsec_';
/** Standard Webhooks recommends 24 to 64 bytes of key; a generated secret has 32. */
const GENERATED_SECRET_BYTES = 32;
const MAX_SECRET_BYTES = 64;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(GENERATED_SECRET_BYTES).toString('base64');
}

/** Why a given secret is not usable; undefined when it is `whsec_` + padded base64 of 1 to 64 bytes. */
export function secretProblem(secret: string): string | undefined {
  if (!secret.startsWith(SECRET_PREFIX)) return 'a secret has the form whsec_<base64>';
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (encoded.length === 0 || !BASE64.test(encoded)) return 'the part after whsec_ must be standard base64 (with its padding)';
  if (Buffer.from(encoded, 'base64').length > MAX_SECRET_BYTES) return `the key is at most ${MAX_SECRET_BYTES} bytes`;
  return undefined;
}

export function signatureHeader(secret: string, id: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
  const mac = createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64');
  return `v1,${mac}`;
}
