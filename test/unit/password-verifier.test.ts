import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadVerifierKey, passwordVerifier, StationPasswords, VERIFIER_KEY_FILE } from '../../src/security/password-verifier.js';
import { verifyPassword } from '../../src/security/passwords.js';

const log = pino({ level: 'silent' });
const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'stroom-verifier-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('passwordVerifier', () => {
  const key = randomBytes(32);

  it('binds station, stored hash and password, and depends on the key', () => {
    const base = passwordVerifier(key, 'CS1', 'hash-1', 'pw');
    expect(base).toHaveLength(32);
    expect(passwordVerifier(key, 'CS1', 'hash-1', 'pw').equals(base)).toBe(true);
    expect(passwordVerifier(key, 'CS2', 'hash-1', 'pw').equals(base)).toBe(false);
    expect(passwordVerifier(key, 'CS1', 'hash-2', 'pw').equals(base)).toBe(false);
    expect(passwordVerifier(key, 'CS1', 'hash-1', 'pw2').equals(base)).toBe(false);
    expect(passwordVerifier(randomBytes(32), 'CS1', 'hash-1', 'pw').equals(base)).toBe(false);
  });

  it('does not confuse the fields across their boundaries', () => {
    expect(passwordVerifier(key, 'CS1', 'ab', 'c').equals(passwordVerifier(key, 'CS1', 'a', 'bc'))).toBe(false);
    expect(passwordVerifier(key, 'CS1a', 'b', 'c').equals(passwordVerifier(key, 'CS1', 'ab', 'c'))).toBe(false);
  });
});

describe('StationPasswords', () => {
  it('creates a real scrypt hash and a verifier that vouches for exactly that password', async () => {
    const passwords = new StationPasswords(randomBytes(32));
    const created = await passwords.create('CS1', 'a-station-password-1');
    expect(await verifyPassword('a-station-password-1', created.passwordHash)).toBe(true);
    expect(passwords.fastMatch('CS1', created, 'a-station-password-1')).toBe(true);
    expect(passwords.fastMatch('CS1', created, 'a-station-password-2')).toBe(false);
    expect(passwords.fastMatch('CS2', created, 'a-station-password-1')).toBe(false);
    expect(passwords.fastMatch('CS1', { passwordHash: created.passwordHash, passwordVerifier: undefined }, 'a-station-password-1')).toBe(false);
    expect(passwords.fastMatch('CS1', { passwordHash: created.passwordHash, passwordVerifier: Buffer.alloc(3) }, 'a-station-password-1')).toBe(false);
    expect(await passwords.slowMatch(created, 'a-station-password-1')).toBe(true);
  });
});

describe('loadVerifierKey', () => {
  it('takes CSMS_PASSWORD_VERIFIER_KEY when given and refuses a short one', async () => {
    const key = randomBytes(32);
    const dataDir = await tempDir();
    expect((await loadVerifierKey({ configured: key.toString('base64'), dataDir, clustered: true, log })).equals(key)).toBe(true);
    await expect(loadVerifierKey({ configured: randomBytes(16).toString('base64'), dataDir, clustered: false, log })).rejects.toThrow(/at least 32/);
  });

  it('otherwise creates one private key file in the data dir, which every later start (and every worker) reads', async () => {
    const dataDir = join(await tempDir(), 'nested');
    const keys = await Promise.all([1, 2, 3, 4].map(() => loadVerifierKey({ configured: undefined, dataDir, clustered: false, log })));
    for (const key of keys) expect(key.equals(keys[0] as Buffer)).toBe(true);
    const file = join(dataDir, VERIFIER_KEY_FILE);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await loadVerifierKey({ configured: undefined, dataDir, clustered: false, log })).equals(keys[0] as Buffer)).toBe(true);
    expect((await readFile(file, 'utf8')).trim()).toBe((keys[0] as Buffer).toString('base64'));
  });

  it('refuses a key file that holds no usable key, saying how to recover', async () => {
    const dataDir = await tempDir();
    await writeFile(join(dataDir, VERIFIER_KEY_FILE), 'short\n');
    await expect(loadVerifierKey({ configured: undefined, dataDir, clustered: false, log })).rejects.toThrow(/delete it/);
  });
});
