import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Station passwords (security profiles 1 and 2), stored as a self-describing string
 * `scrypt$N$r$p$saltB64$hashB64`, so the cost parameters can be raised later without breaking old hashes.
 */

/**
 * 2^15 × r=8: 32 MiB and some tens of milliseconds per derivation (OWASP's scrypt floor is N=2^17 with r=8 for
 * interactive logins; stations log in rarely, and the keyed verifier of password-verifier.ts spares a station that
 * proved its password once the derivation on every later connection, on any node). Hashes written at a lower cost still verify and
 * are rewritten at this cost on the station's next successful login (`needsRehash`).
 */
export const COST = 1 << 15;
const BLOCK_SIZE = 8;
const PARALLELISM = 1;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** Bounds for parameters read back from a stored string: a tampered row must not make us allocate gigabytes (at most 256 MiB here). */
const MAX_COST = 1 << 17;
const MAX_BLOCK_SIZE = 16;
const MAX_PARALLELISM = 16;
const MAX_KEY_BYTES = 128;

/** Node's default limit (32 MiB) is exactly what N=2^15, r=8 needs, and scrypt wants strictly more. */
function maxmemFor(N: number, r: number): number {
  return 256 * N * r + 1024 * 1024;
}

/** OCPP BasicAuthPassword (passwordString): 16 to 64 characters (also the SetVariables rule, CONTRACT §3.2). */
export const MIN_PASSWORD_LENGTH = 16;
export const MAX_PASSWORD_LENGTH = 64;

/** Undefined when `password` may be a station password; else why not. */
export function passwordLengthProblem(password: string): string | undefined {
  // eslint-disable-next-line @typescript-eslint/no-misused-spread -- the limits count characters as code points (a surrogate pair is one), which is what spreading a string gives
  const length = [...password].length;
  if (length < MIN_PASSWORD_LENGTH || length > MAX_PASSWORD_LENGTH) {
    return `a station password has ${MIN_PASSWORD_LENGTH}-${MAX_PASSWORD_LENGTH} characters (this one has ${length})`;
  }
  return undefined;
}

/** True when `stored` was written with weaker parameters than `hashPassword` uses today. */
export function needsRehash(stored: string): boolean {
  const parsed = parseHash(stored);
  return parsed === undefined || parsed.N < COST || parsed.r < BLOCK_SIZE || parsed.key.length < KEY_BYTES;
}

function derive(password: string, salt: Buffer, keyLength: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keyLength, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

export async function hashPassword(plain: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(plain, salt, KEY_BYTES, { N: COST, r: BLOCK_SIZE, p: PARALLELISM, maxmem: maxmemFor(COST, BLOCK_SIZE) });
  return ['scrypt', COST, BLOCK_SIZE, PARALLELISM, salt.toString('base64'), key.toString('base64')].join('$');
}

interface ParsedHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function parsePositiveInt(text: string | undefined, max: number): number | undefined {
  if (text === undefined || !/^[1-9]\d{0,9}$/.test(text)) return undefined;
  const value = Number(text);
  return value <= max ? value : undefined;
}

function parseHash(stored: string): ParsedHash | undefined {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const N = parsePositiveInt(parts[1], MAX_COST);
  const r = parsePositiveInt(parts[2], MAX_BLOCK_SIZE);
  const p = parsePositiveInt(parts[3], MAX_PARALLELISM);
  const [saltText, keyText] = [parts[4] ?? '', parts[5] ?? ''];
  if (N === undefined || r === undefined || p === undefined) return undefined;
  // scrypt wants N to be a power of two greater than 1.
  if (N < 2 || (N & (N - 1)) !== 0) return undefined;
  if (!BASE64.test(saltText) || !BASE64.test(keyText)) return undefined;
  const salt = Buffer.from(saltText, 'base64');
  const key = Buffer.from(keyText, 'base64');
  if (salt.length === 0 || key.length === 0 || key.length > MAX_KEY_BYTES) return undefined;
  return { N, r, p, salt, key };
}

/** False for a wrong password and for a stored string that is not one of ours; never throws. */
export async function verifyPassword(plain: string, stored: string): Promise<boolean> {
  const parsed = parseHash(stored);
  if (!parsed) return false;
  try {
    const key = await derive(plain, parsed.salt, parsed.key.length, {
      N: parsed.N,
      r: parsed.r,
      p: parsed.p,
      maxmem: maxmemFor(parsed.N, parsed.r),
    });
    return timingSafeEqual(key, parsed.key);
  } catch {
    return false;
  }
}
