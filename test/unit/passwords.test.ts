import { describe, expect, it } from 'vitest';
import { hashPassword, needsRehash, passwordLengthProblem, verifyPassword } from '../../src/security/passwords.js';

describe('hashPassword / verifyPassword', () => {
  it('produces a self-describing scrypt string with N=2^15, r=8, p=1, 16-byte salt, 32-byte key', async () => {
    const stored = await hashPassword('correct horse battery staple');
    const [scheme, n, r, p, salt, key] = stored.split('$');
    expect(scheme).toBe('scrypt');
    expect([n, r, p]).toEqual(['32768', '8', '1']);
    expect(Buffer.from(salt ?? '', 'base64')).toHaveLength(16);
    expect(Buffer.from(key ?? '', 'base64')).toHaveLength(32);
  });

  it('salts: the same password hashes differently each time', async () => {
    expect(await hashPassword('secret')).not.toBe(await hashPassword('secret'));
  });

  it('verifies the right password and rejects a wrong one', async () => {
    const stored = await hashPassword('s3cret-Passw0rd');
    expect(await verifyPassword('s3cret-Passw0rd', stored)).toBe(true);
    expect(await verifyPassword('s3cret-Passw0rd ', stored)).toBe(false);
    expect(await verifyPassword('', stored)).toBe(false);
  });

  it('handles non-ASCII and empty passwords', async () => {
    const stored = await hashPassword('wachtwoord-ü-€-🔌');
    expect(await verifyPassword('wachtwoord-ü-€-🔌', stored)).toBe(true);
    expect(await verifyPassword('wachtwoord-u-€-🔌', stored)).toBe(false);
    expect(await verifyPassword('', await hashPassword(''))).toBe(true);
  });

  it('honours the parameters written in the stored string', async () => {
    // A hash made with other cost parameters (as a future version might) still verifies.
    const { scrypt } = await import('node:crypto');
    const salt = Buffer.from('0123456789abcdef');
    const key = await new Promise<Buffer>((resolve, reject) =>
      scrypt('pw', salt, 24, { N: 1024, r: 4, p: 2 }, (error, derived) => (error ? reject(error) : resolve(derived))),
    );
    const stored = `scrypt$1024$4$2$${salt.toString('base64')}$${key.toString('base64')}`;
    expect(await verifyPassword('pw', stored)).toBe(true);
    expect(await verifyPassword('pw2', stored)).toBe(false);
  });

  it('returns false, never throws, for malformed stored strings', async () => {
    const good = await hashPassword('pw');
    const [, , , , salt, key] = good.split('$');
    const malformed = [
      '',
      'plain-text-password',
      'scrypt',
      'scrypt$4096$8$1$onlysalt',
      `bcrypt$4096$8$1$${salt}$${key}`,
      `scrypt$4095$8$1$${salt}$${key}`, // not a power of two
      `scrypt$0$8$1$${salt}$${key}`,
      `scrypt$-4096$8$1$${salt}$${key}`,
      `scrypt$4096$0$1$${salt}$${key}`,
      `scrypt$4096$8$1$$${key}`,
      `scrypt$4096$8$1$${salt}$`,
      `scrypt$4096$8$1$not*base64$${key}`,
      `scrypt$1073741824$8$1$${salt}$${key}`, // would need gigabytes
      `scrypt$4096$8$1$${salt}$${key}$extra`,
      `scrypt$4096$abc$1$${salt}$${key}`,
    ];
    for (const stored of malformed) {
      await expect(verifyPassword('pw', stored), stored).resolves.toBe(false);
    }
  });
});

describe('cost upgrades and the length rule', () => {
  it('a hash at the old cost (N=1024) still verifies and needs a rehash; a fresh one does not', async () => {
    const { scrypt } = await import('node:crypto');
    const salt = Buffer.from('0123456789abcdef');
    const key = await new Promise<Buffer>((resolve, reject) =>
      scrypt('pw-of-sixteen-chars', salt, 32, { N: 1024, r: 8, p: 1 }, (error, derived) => (error ? reject(error) : resolve(derived))),
    );
    const old = `scrypt$1024$8$1$${salt.toString('base64')}$${key.toString('base64')}`;
    expect(await verifyPassword('pw-of-sixteen-chars', old)).toBe(true);
    expect(needsRehash(old)).toBe(true);
    expect(needsRehash(await hashPassword('pw-of-sixteen-chars'))).toBe(false);
  });

  it('a station password has 16 to 64 characters', () => {
    expect(passwordLengthProblem('a'.repeat(15))).toMatch(/16-64/);
    expect(passwordLengthProblem('a'.repeat(16))).toBeUndefined();
    expect(passwordLengthProblem('a'.repeat(64))).toBeUndefined();
    expect(passwordLengthProblem('a'.repeat(65))).toMatch(/16-64/);
  });
});
