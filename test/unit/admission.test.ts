/**
 * The admission decisions of StationGatekeeper.admit(), against a real store (the test PostgreSQL): identity
 * syntax, subprotocol, unknown stations per policy, downgrades, missing and wrong passwords, throttling, and the
 * password rules of open registration (CONTRACT §3.2).
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config.js';
import { CsmsMetrics } from '../../src/metrics.js';
import { OcppProtocols } from '../../src/ocpp/protocol.js';
import { ocpp201 } from '../../src/ocpp/v201/index.js';
import { randomBytes } from 'node:crypto';
import { StationPasswords } from '../../src/security/password-verifier.js';
import { hashPassword } from '../../src/security/passwords.js';
import { LocalAttemptCounter, throttleAddress, verdictFor } from '../../src/security/throttle.js';
import { StationGatekeeper, type Admission, type UpgradeRequest } from '../../src/station/admission.js';
import type { SqlStore } from '../../src/store/sql-store.js';
import { openStore } from '../../src/store/open-store.js';
import { freshPostgresDatabaseUrl } from '../support/services.js';
import { randomPassword, uniqueIdentity } from '../support/station.js';

let store: SqlStore;
const protocols = new OcppProtocols([ocpp201()]);
const clock = {
  t: 1_000_000,
  now(): number {
    return this.t;
  },
};

beforeAll(async () => {
  store = await openStore({ databaseUrl: await freshPostgresDatabaseUrl(), dataDir: '/nonexistent' });
}, 60_000);

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
  await store?.close();
});

const nodeKey = randomBytes(32);

/** A fresh gatekeeper is a freshly started process: nothing in memory. `key`: its password-verifier key. */
function gatekeeper(unknownStations: 'reject' | 'accept' | 'pending' = 'reject', key = nodeKey, metrics = new CsmsMetrics()): StationGatekeeper {
  const config = resolveConfig({ CSMS_UNKNOWN_STATIONS: unknownStations });
  return new StationGatekeeper(config, protocols, store, metrics, pino({ level: 'silent' }), new StationPasswords(key), {
    clock,
    attempts: new LocalAttemptCounter(clock),
    throttle: { identityAddress: { maxAttempts: 3, windowMs: 60_000, cooldownMs: 60_000 }, address: { maxAttempts: 5, windowMs: 60_000, cooldownMs: 60_000 } },
  });
}

function basic(identity: string, password: string): string {
  return `Basic ${Buffer.from(`${identity}:${password}`).toString('base64')}`;
}

function request(identity: string, password: string | undefined, extra: Partial<UpgradeRequest> = {}): UpgradeRequest {
  return {
    rawIdentity: encodeURIComponent(identity),
    authorization: password === undefined ? undefined : basic(identity, password),
    protocols: 'ocpp2.0.1',
    remoteAddress: '192.0.2.1',
    listenerProfile: 1,
    ...extra,
  };
}

/** `password: null` registers the station without one. */
async function registered(securityProfile: 1 | 2 | 3 = 1, password: string | null = randomPassword()): Promise<{ identity: string; password: string | undefined }> {
  const identity = uniqueIdentity('ADM');
  await store.upsertStation(identity, { securityProfile, bootPolicy: 'Accepted', ...(password !== null ? { passwordHash: await hashPassword(password) } : {}) });
  return { identity, password: password ?? undefined };
}

function refusal(admission: Admission): { status: number; result: string } | 'admitted' {
  return admission.ok ? 'admitted' : { status: admission.status, result: admission.result };
}

describe('StationGatekeeper.admit', () => {
  it('identity syntax: empty, too long, with ":" or control characters → 400', async () => {
    const gate = gatekeeper();
    for (const raw of ['', 'a'.repeat(49), 'a%3Ab', 'a%0Ab', '%E0%A4%A']) {
      expect(refusal(await gate.admit({ ...request('x', undefined), rawIdentity: raw }))).toEqual({ status: 400, result: 'bad_request' });
    }
  });

  it('subprotocol: none supported offered → 400; the highest offered is chosen', async () => {
    const gate = gatekeeper();
    const { identity, password } = await registered();
    expect(refusal(await gate.admit(request(identity, password, { protocols: 'ocpp9' })))).toEqual({ status: 400, result: 'bad_subprotocol' });
    const admitted = await gate.admit(request(identity, password));
    expect(admitted.ok && admitted.protocol.subprotocol).toBe('ocpp2.0.1');
  });

  it('unknown station: 404 with reject; registered with accept/pending only with a 16-64 character password', async () => {
    expect(refusal(await gatekeeper('reject').admit(request(uniqueIdentity('ADM'), randomPassword())))).toEqual({ status: 404, result: 'unknown_station' });
    const pending = gatekeeper('pending');
    const fresh = uniqueIdentity('ADM');
    const password = randomPassword();
    const admitted = await pending.admit(request(fresh, password));
    expect(admitted.ok && admitted.station.bootPolicy).toBe('Pending');
    expect((await store.getStation(fresh))?.passwordHash).toMatch(/^scrypt\$32768\$/);
    // No password, or one outside 16-64 characters: refused, and nothing registered.
    for (const bad of [undefined, 'short', 'x'.repeat(65)]) {
      const identity = uniqueIdentity('ADM');
      const outcome = refusal(await pending.admit(request(identity, bad)));
      expect(outcome).toEqual({ status: 401, result: bad === undefined ? 'unauthorized' : 'bad_password' });
      expect(await store.getStation(identity)).toBeUndefined();
    }
  });

  it('a known station without a password is refused until an operator sets one, and the wire never sets it', async () => {
    const gate = gatekeeper('accept');
    const { identity } = await registered(1, null);
    expect(refusal(await gate.admit(request(identity, undefined)))).toEqual({ status: 401, result: 'unauthorized' });
    expect(refusal(await gate.admit(request(identity, randomPassword())))).toEqual({ status: 401, result: 'no_password' });
    expect((await store.getStation(identity))?.passwordHash).toBeUndefined();
  });

  it('downgrade: a profile-2 station on the plain listener → 403; a profile-3 station without its certificate → 401 on TLS', async () => {
    const gate = gatekeeper();
    const sp2 = await registered(2);
    expect(refusal(await gate.admit(request(sp2.identity, sp2.password)))).toEqual({ status: 403, result: 'profile_downgrade' });
    expect((await gate.admit(request(sp2.identity, sp2.password, { listenerProfile: 2 }))).ok).toBe(true);
    const sp3 = await registered(3);
    expect(refusal(await gate.admit(request(sp3.identity, sp3.password, { listenerProfile: 2 })))).toEqual({ status: 401, result: 'unauthorized' });
    const cert = { commonName: sp3.identity, organization: undefined, serialNumber: '01', verifiedBy: 'tls' as const };
    expect((await gate.admit(request(sp3.identity, undefined, { listenerProfile: 2, clientCertificate: cert }))).ok).toBe(true);
  });

  it('missing or wrong credentials → 401; only wrong passwords count, per (identity, address), and the right one from elsewhere gets in', async () => {
    const gate = gatekeeper();
    const { identity, password } = await registered();
    for (let i = 0; i < 10; i++) expect(refusal(await gate.admit(request(identity, undefined)))).toEqual({ status: 401, result: 'unauthorized' });
    for (let i = 0; i < 3; i++) expect(refusal(await gate.admit(request(identity, randomPassword())))).toEqual({ status: 401, result: 'unauthorized' });
    const throttled = await gate.admit(request(identity, password));
    expect(!throttled.ok && throttled.status === 429 && throttled.retryAfterSeconds).toBe(60);
    expect((await gate.admit(request(identity, password, { remoteAddress: '192.0.2.2' }))).ok).toBe(true);
    clock.t += 60_000;
    expect((await gate.admit(request(identity, password))).ok).toBe(true);
  });

  it('the per-address limit counts wrong passwords over all stations of one address (IPv6 by /64)', async () => {
    const gate = gatekeeper();
    const stations = await Promise.all([registered(), registered(), registered()]);
    const statuses: number[] = [];
    for (const [index, station] of stations.entries()) {
      for (let i = 0; i < 2; i++) {
        const outcome = await gate.admit(request(station.identity, randomPassword(), { remoteAddress: `2001:db8:1:2::${index}${i}` }));
        statuses.push(outcome.ok ? 101 : outcome.status);
      }
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    const other = await registered();
    expect(refusal(await gate.admit(request(other.identity, other.password, { remoteAddress: '2001:db8:1:2:ffff::1' })))).toEqual({ status: 429, result: 'throttled' });
    expect((await gate.admit(request(other.identity, other.password, { remoteAddress: '2001:db8:1:3::1' }))).ok).toBe(true);
    clock.t += 60_000;
  });

  it('a password hashed at the old cost is re-hashed at the current cost on the next successful login', async () => {
    const { scrypt } = await import('node:crypto');
    const password = randomPassword();
    const salt = Buffer.from('0123456789abcdef');
    const key = await new Promise<Buffer>((resolve, reject) => scrypt(password, salt, 32, { N: 1024, r: 8, p: 1 }, (e, k) => (e ? reject(e) : resolve(k))));
    const identity = uniqueIdentity('ADM');
    await store.upsertStation(identity, { securityProfile: 1, passwordHash: `scrypt$1024$8$1$${salt.toString('base64')}$${key.toString('base64')}` });
    expect((await gatekeeper().admit(request(identity, password))).ok).toBe(true);
    expect((await store.getStation(identity))?.passwordHash).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect((await gatekeeper().admit(request(identity, password))).ok).toBe(true);
  });

  it('a password that verified once is checked without scrypt afterwards, by any process holding the same key', async () => {
    const { identity, password } = await registered();
    const scryptChecks = async (metrics: CsmsMetrics): Promise<number> => (await metrics.passwordChecksTotal.get()).values.reduce((sum, value) => sum + value.value, 0);
    // Registered by hash alone (as an older version or another key left it): the first login derives.
    const first = new CsmsMetrics();
    expect((await gatekeeper('reject', nodeKey, first).admit(request(identity, password))).ok).toBe(true);
    expect(await scryptChecks(first)).toBe(1);
    expect((await store.getStation(identity))?.passwordVerifier).toHaveLength(32);
    // A newly started process (nothing in memory) with the same key: one HMAC, no derivation.
    const second = new CsmsMetrics();
    expect((await gatekeeper('reject', nodeKey, second).admit(request(identity, password))).ok).toBe(true);
    expect(await scryptChecks(second)).toBe(0);
    // The verifier never vouches for another password: a wrong one is derived and refused.
    const third = new CsmsMetrics();
    expect(refusal(await gatekeeper('reject', nodeKey, third).admit(request(identity, `${password}-not`)))).toEqual({ status: 401, result: 'unauthorized' });
    expect(await scryptChecks(third)).toBe(1);
    // Another key cannot use the verifier, so it derives (and still admits the right password).
    const otherKey = new CsmsMetrics();
    expect((await gatekeeper('reject', randomBytes(32), otherKey).admit(request(identity, password))).ok).toBe(true);
    expect(await scryptChecks(otherKey)).toBe(1);
  });

  it('a new password drops the old verifier: the old password no longer opens, even fast', async () => {
    const { identity, password } = await registered();
    expect((await gatekeeper().admit(request(identity, password))).ok).toBe(true);
    const passwords = new StationPasswords(nodeKey);
    const next = randomPassword();
    await store.upsertStation(identity, await passwords.create(identity, next));
    expect(refusal(await gatekeeper().admit(request(identity, password)))).toEqual({ status: 401, result: 'unauthorized' });
    expect((await gatekeeper().admit(request(identity, next))).ok).toBe(true);
    // A hash set without a verifier (a path that has no plaintext at hand) clears it too.
    await store.upsertStation(identity, { passwordHash: await hashPassword(randomPassword()) });
    expect((await store.getStation(identity))?.passwordVerifier).toBeUndefined();
  });
});

describe('throttle arithmetic', () => {
  it('IPv4-mapped addresses count as IPv4, IPv6 by /64', () => {
    expect(throttleAddress('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(throttleAddress('2001:db8:0:1::5')).toBe('2001:db8:0:1::/64');
    expect(throttleAddress('2001:0db8:0000:0001:ffff:0:0:1')).toBe('2001:db8:0:1::/64');
  });

  it('the attempt after the last allowed one starts the cool-down; a retracted attempt does not count', async () => {
    const counter = new LocalAttemptCounter(clock);
    const limits = { maxAttempts: 2, windowMs: 1000, cooldownMs: 5000 };
    expect((await counter.attempt('k', limits)).allowed).toBe(true);
    await counter.retract('k');
    expect((await counter.attempt('k', limits)).allowed).toBe(true);
    expect((await counter.attempt('k', limits)).allowed).toBe(true);
    expect(await counter.attempt('k', limits)).toEqual({ allowed: false, retryAfterMs: 5000, startedCooldown: true });
    clock.t += 4999;
    expect(await counter.attempt('k', limits)).toEqual({ allowed: false, retryAfterMs: 1, startedCooldown: false });
    clock.t += 1;
    expect((await counter.attempt('k', limits)).allowed).toBe(true);
    expect(verdictFor(3, 10, limits)).toEqual({ allowed: false, retryAfterMs: 10, startedCooldown: true });
  });
});
