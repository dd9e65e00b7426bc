/**
 * Abuse protection at the WebSocket upgrade: repeated failures from one address or against one identity are
 * answered 429 for a cool-down (sliding window, bounded memory), and the start of each cool-down is logged as a
 * security event (`event: "auth_throttled"`).
 */
import { rm } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCsms, type RunningCsms } from '../../src/app.js';
import { FailureThrottle, type ThrottleLimits } from '../../src/security/throttle.js';
import { ApiClient } from '../support/api.js';
import { freshDataDir } from '../support/csms.js';
import { ConnectRefusedError, TestStation, randomPassword, uniqueIdentity, type ConnectOptions } from '../support/station.js';

describe('FailureThrottle (sliding window, bounded memory)', () => {
  const limits: ThrottleLimits = { maxFailures: 3, windowMs: 1000, cooldownMs: 5000, maxKeys: 4 };
  const clock = { t: 0, now(): number {
    return this.t;
  } };

  it('starts a cool-down at the Nth failure inside the window, and only then', () => {
    clock.t = 0;
    const throttle = new FailureThrottle(limits, clock);
    expect(throttle.fail('a')).toBe(false);
    clock.t = 600;
    expect(throttle.fail('a')).toBe(false);
    clock.t = 1100; // the first failure has left the window
    expect(throttle.fail('a')).toBe(false);
    expect(throttle.remainingCooldown('a')).toBe(0);
    clock.t = 1200;
    expect(throttle.fail('a')).toBe(true);
    expect(throttle.remainingCooldown('a')).toBe(5000);
    clock.t = 6199;
    expect(throttle.remainingCooldown('a')).toBe(1);
    clock.t = 6200;
    expect(throttle.remainingCooldown('a')).toBe(0);
  });

  it('a success forgets earlier failures but does not cut a running cool-down short', () => {
    clock.t = 0;
    const throttle = new FailureThrottle(limits, clock);
    throttle.fail('a');
    throttle.fail('a');
    throttle.succeed('a');
    expect(throttle.fail('a')).toBe(false);
    throttle.fail('a');
    expect(throttle.fail('a')).toBe(true);
    throttle.succeed('a');
    expect(throttle.remainingCooldown('a')).toBe(5000);
  });

  it('remembers at most maxKeys keys, forgetting the least recently failed', () => {
    clock.t = 0;
    const throttle = new FailureThrottle(limits, clock);
    for (const key of ['a', 'b', 'c', 'd', 'e', 'f']) throttle.fail(key);
    expect(throttle.size).toBe(4);
    throttle.fail('c');
    throttle.fail('g');
    throttle.fail('h');
    expect(throttle.size).toBe(4);
    // c failed again recently, so it survived; d (older) did not.
    throttle.fail('c');
    expect(throttle.remainingCooldown('c')).toBe(5000);
  });
});

interface LogLine {
  event?: string;
  scope?: string;
  stationId?: string;
  remoteAddress?: string;
  [key: string]: unknown;
}

let csms: RunningCsms;
let dataDir: string;
let api: ApiClient;
const logLines: LogLine[] = [];

beforeAll(async () => {
  dataDir = await freshDataDir();
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') logLines.push(JSON.parse(line) as LogLine);
      }
      done();
    },
  });
  csms = await startCsms({ CSMS_OCPP_PORT: 0, CSMS_API_PORT: 0, CSMS_DATA_DIR: dataDir }, { log: pino({ level: 'info' }, sink) });
  api = new ApiClient(`http://127.0.0.1:${csms.apiPort}`);
}, 60_000);

afterAll(async () => {
  await csms?.stop();
  await rm(dataDir, { recursive: true, force: true });
}, 30_000);

async function register(): Promise<{ identity: string; password: string }> {
  const identity = uniqueIdentity('THR');
  const password = randomPassword();
  expect((await api.putStation(identity, { securityProfile: 1, password, bootPolicy: 'Accepted' })).status).toBe(201);
  return { identity, password };
}

/** An upgrade attempt from `localAddress`: the HTTP status of the refusal, or 101 (then closed again). */
async function attempt(opts: ConnectOptions, localAddress: string): Promise<{ status: number; retryAfter?: string }> {
  try {
    const station = await TestStation.connectWith(`ws://127.0.0.1:${csms.ocppPort}/ocpp`, opts, { localAddress });
    await station.close();
    return { status: 101 };
  } catch (err) {
    if (!(err instanceof ConnectRefusedError)) throw err;
    const retryAfter = err.headers?.['retry-after'];
    return { status: err.status ?? 0, ...(typeof retryAfter === 'string' ? { retryAfter } : {}) };
  }
}

describe('throttling failed upgrades', () => {
  it('per identity: after 10 failures in a minute even the right password gets 429 (Retry-After), and a security event is logged', async () => {
    const creds = await register();
    for (let i = 0; i < 10; i++) {
      expect((await attempt({ identity: creds.identity, password: randomPassword() }, '127.0.0.3')).status).toBe(401);
    }
    const throttled = await attempt(creds, '127.0.0.3');
    expect(throttled.status).toBe(429);
    expect(Number(throttled.retryAfter)).toBeGreaterThan(0);
    expect(Number(throttled.retryAfter)).toBeLessThanOrEqual(60);
    // The identity is locked wherever the attempt comes from…
    expect((await attempt(creds, '127.0.0.6')).status).toBe(429);
    // …and other stations at the same address are not.
    expect((await attempt(await register(), '127.0.0.3')).status).toBe(101);
    const events = logLines.filter((line) => line.event === 'auth_throttled');
    expect(events).toEqual([expect.objectContaining({ scope: 'identity', stationId: creds.identity, remoteAddress: '127.0.0.3', failures: 10, cooldownSeconds: 60 })]);
  });

  it('per address: after 30 failed upgrades from one address every upgrade from it gets 429, while other addresses get in', async () => {
    for (let i = 0; i < 30; i++) {
      // Unknown identities: a scan of the address space of station ids.
      expect((await attempt({ identity: uniqueIdentity('SCAN'), password: randomPassword() }, '127.0.0.4')).status).toBe(404);
    }
    const good = await register();
    expect((await attempt(good, '127.0.0.4')).status).toBe(429);
    expect((await attempt(good, '127.0.0.5')).status).toBe(101);
    expect(logLines.filter((line) => line.event === 'auth_throttled' && line.scope === 'address')).toEqual([
      expect.objectContaining({ remoteAddress: '127.0.0.4', failures: 30 }),
    ]);
  });
});
