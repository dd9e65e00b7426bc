import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { hashPassword, verifyPassword } from './passwords.js';

/**
 * The fast half of a station password check. The stored scrypt hash is what protects a password if the database
 * leaks, and it costs ~0.1 s of a core per check: paid for every station of a fleet that reconnects to a fresh
 * node, that is an hour of CPU for 50,000 stations. So once a password has verified (or been set through the
 * API), the station's row also keeps an HMAC-SHA256 of (station id, stored hash, password) under a key that is
 * **not** in the database (`CSMS_PASSWORD_VERIFIER_KEY`, else a file in the data dir). The next check on any node
 * holding the key is one HMAC. A database leak alone reveals nothing about the password (the HMAC is useless
 * without the key, the scrypt hash as slow as before); only the database and the key together allow fast
 * guessing, which is why the key lives elsewhere.
 *
 * A verifier that does not match (another key, a stale row) never refuses anything: the scrypt check decides.
 */

export const VERIFIER_KEY_BYTES = 32;
export const VERIFIER_KEY_FILE = 'password-verifier.key';

export function passwordVerifier(key: Buffer, stationId: string, storedHash: string, password: string): Buffer {
  // Length-prefixed, so no two (id, hash, password) triples feed the MAC the same bytes.
  return createHmac('sha256', key)
    .update(`${Buffer.byteLength(stationId)}:${stationId}`)
    .update(`${Buffer.byteLength(storedHash)}:${storedHash}`)
    .update(password)
    .digest();
}

/** What a station row says about its password. */
export interface StoredPassword {
  passwordHash: string;
  passwordVerifier: Buffer | undefined;
}

/** Station passwords as the CSMS sets and checks them: scrypt at rest, the keyed verifier beside it. */
export class StationPasswords {
  constructor(private readonly key: Buffer) {}

  /** The columns to store for a new password: its scrypt hash and, as it is at hand, its verifier. */
  async create(stationId: string, password: string): Promise<{ passwordHash: string; passwordVerifier: Buffer }> {
    const passwordHash = await hashPassword(password);
    return { passwordHash, passwordVerifier: this.verifierFor(stationId, passwordHash, password) };
  }

  /** One HMAC: true when the row's verifier vouches for this password. */
  fastMatch(stationId: string, stored: StoredPassword, password: string): boolean {
    const remembered = stored.passwordVerifier;
    if (remembered?.length !== 32) return false;
    return timingSafeEqual(remembered, this.verifierFor(stationId, stored.passwordHash, password));
  }

  /** The scrypt check, for when `fastMatch` could not vouch. */
  slowMatch(stored: StoredPassword, password: string): Promise<boolean> {
    return verifyPassword(password, stored.passwordHash);
  }

  verifierFor(stationId: string, passwordHash: string, password: string): Buffer {
    return passwordVerifier(this.key, stationId, passwordHash, password);
  }
}

/**
 * The verifier key: `CSMS_PASSWORD_VERIFIER_KEY` (base64, at least 32 bytes), else `<data dir>/password-verifier.key`,
 * created (0600) on first start. Every process of one node shares the file; the nodes of a cluster need the same
 * key given to each (without it each node writes verifiers the others cannot use, and stations moving between
 * nodes pay scrypt again, which start-up warns about).
 */
export async function loadVerifierKey(options: { configured: string | undefined; dataDir: string; clustered: boolean; log: Logger }): Promise<Buffer> {
  if (options.configured !== undefined) {
    const key = Buffer.from(options.configured, 'base64');
    if (key.length < VERIFIER_KEY_BYTES) throw new Error(`CSMS_PASSWORD_VERIFIER_KEY must be base64 of at least ${VERIFIER_KEY_BYTES} random bytes`);
    return key;
  }
  if (options.clustered) {
    options.log.warn(
      { event: 'password_verifier_key_per_node', key: 'CSMS_PASSWORD_VERIFIER_KEY' },
      'CSMS_PASSWORD_VERIFIER_KEY is not set: this node uses its own key from its data dir, so a station moving here from another node pays a full scrypt check once; give every node the same key',
    );
  }
  const file = join(options.dataDir, VERIFIER_KEY_FILE);
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  try {
    // 'wx': of several worker processes starting at once, exactly one creates the file; the others read it.
    await writeFile(file, randomBytes(VERIFIER_KEY_BYTES).toString('base64') + '\n', { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  // A reader racing the creator may see the file before its bytes: retry briefly.
  for (let attempt = 0; ; attempt += 1) {
    const key = Buffer.from((await readFile(file, 'utf8')).trim(), 'base64');
    if (key.length >= VERIFIER_KEY_BYTES) return key;
    if (attempt >= 20) throw new Error(`${file} does not hold a key of ${VERIFIER_KEY_BYTES} bytes; delete it to have a new one made`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
