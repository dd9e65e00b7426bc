/**
 * Abuse protection at the WebSocket upgrade (CONTRACT §3.2 "Throttling"): only unproven attempts (a password that
 * gets checked and is wrong) count, per (identity, address) and per address; a station that proves itself from
 * another address is never refused because of them; missing credentials and downgrades count nothing; refusals
 * are sampled in the log, never one line each.
 */
import { rm } from 'node:fs/promises';
import { Writable } from 'node:stream';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCsms, type RunningCsms } from '../../src/app.js';
import { ApiClient } from '../support/api.js';
import { freshDataDir } from '../support/csms.js';
import { freshPostgresDatabaseUrl } from '../support/services.js';
import { ConnectRefusedError, TestStation, randomPassword, uniqueIdentity, type ConnectOptions } from '../support/station.js';
import { createTestPki, stationTls, type TestPki } from '../support/tls.js';

interface LogLine {
  event?: string;
  scope?: string;
  stationId?: string;
  remoteAddress?: string;
  msg?: string;
  suppressed?: number;
  [key: string]: unknown;
}

let csms: RunningCsms;
let databaseUrl: string;
let dataDir: string;
let pki: TestPki;
let api: ApiClient;
const logLines: LogLine[] = [];

beforeAll(async () => {
  dataDir = await freshDataDir();
  pki = await createTestPki();
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') logLines.push(JSON.parse(line) as LogLine);
      }
      done();
    },
  });
  csms = await startCsms(
    {
      CSMS_OCPP_PORT: 0,
      CSMS_API_PORT: 0,
      CSMS_DATA_DIR: dataDir,
      DATABASE_URL: (databaseUrl = await freshPostgresDatabaseUrl()),
      // 10.0.0.0/8 is far too wide (checked by the last test); 127.0.0.9 is never used as a station address here.
      CSMS_TRUSTED_PROXIES: '10.0.0.0/8,127.0.0.9',
      ...pki.config(),
    },
    { log: pino({ level: 'info' }, sink) },
  );
  api = new ApiClient(`http://127.0.0.1:${csms.apiPort}`);
}, 60_000);

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
  await csms?.stop();
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
  await pki?.remove();
  await rm(dataDir, { recursive: true, force: true });
}, 30_000);

async function withDatabase(use: (db: pg.Client) => Promise<unknown>): Promise<void> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    await use(db);
  } finally {
    await db.end();
  }
}

async function register(securityProfile: 1 | 3 = 1): Promise<{ identity: string; password: string }> {
  const identity = uniqueIdentity('THR');
  const password = randomPassword();
  expect((await api.putStation(identity, { securityProfile, password, bootPolicy: 'Accepted' })).status).toBe(201);
  return { identity, password };
}

/** An upgrade attempt from `localAddress`: the HTTP status of the refusal, or 101 (then closed again). */
async function attempt(
  opts: ConnectOptions,
  localAddress: string,
  endpoint = `ws://127.0.0.1:${csms.ocppPort}/ocpp`,
  tls = {},
): Promise<{ status: number; retryAfter?: string }> {
  try {
    const station = await TestStation.connectWith(endpoint, { connectTimeoutMs: 20_000, ...opts }, { localAddress, ...tls });
    await station.close();
    return { status: 101 };
  } catch (err) {
    if (!(err instanceof ConnectRefusedError)) throw err;
    const retryAfter = err.headers?.['retry-after'];
    return { status: err.status ?? 0, ...(typeof retryAfter === 'string' ? { retryAfter } : {}) };
  }
}

async function passwordChecks(): Promise<number> {
  const text = await api.metrics();
  return [...text.matchAll(/^csms_password_checks_total\{[^}]*\} (\d+)/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
}

describe('what does not count', () => {
  it('20 upgrades without credentials leave the station free to connect with its password from the same address', async () => {
    const creds = await register();
    for (let i = 0; i < 20; i++) expect((await attempt({ identity: creds.identity }, '127.0.0.2')).status).toBe(401);
    expect((await attempt(creds, '127.0.0.2')).status).toBe(101);
  });

  it('20 plain ws:// attempts at a profile-3 station (downgrades) leave it free to connect with its certificate', async () => {
    const creds = await register(3);
    for (let i = 0; i < 20; i++) expect((await attempt({ identity: creds.identity, password: randomPassword() }, '127.0.0.2')).status).toBe(403);
    const certificate = await pki.stationCertificate(creds.identity);
    const tlsUrl = `wss://127.0.0.1:${String(csms.ocppTlsPort)}/ocpp`;
    expect((await attempt({ identity: creds.identity }, '127.0.0.2', tlsUrl, stationTls(pki, certificate))).status).toBe(101);
  });
});

describe('unproven attempts (wrong passwords)', () => {
  it('per (identity, address): after 10 wrong passwords from A, A gets 429 with Retry-After, the right password from B still gets in', async () => {
    const creds = await register();
    for (let i = 0; i < 10; i++) {
      expect((await attempt({ identity: creds.identity, password: randomPassword() }, '127.0.0.3')).status).toBe(401);
    }
    const throttled = await attempt({ identity: creds.identity, password: randomPassword() }, '127.0.0.3');
    expect(throttled.status).toBe(429);
    expect(Number(throttled.retryAfter)).toBeGreaterThan(0);
    expect(Number(throttled.retryAfter)).toBeLessThanOrEqual(60);
    // The address that failed is cooling down for this station, the right password included (it is not checked)…
    expect((await attempt(creds, '127.0.0.3')).status).toBe(429);
    // …but the station itself, from its own address, is never locked out by someone else's failures.
    expect((await attempt(creds, '127.0.0.6')).status).toBe(101);
    // Other stations at the failing address are not affected either (10 < the per-address limit).
    expect((await attempt(await register(), '127.0.0.3')).status).toBe(101);
    const events = logLines.filter((line) => line.event === 'auth_throttled' && line.stationId === creds.identity);
    expect(events).toEqual([expect.objectContaining({ scope: 'identity_address', remoteAddress: '127.0.0.3', failures: 10, cooldownSeconds: 60 })]);
  }, 60_000);

  it('per address: 30 wrong passwords over many stations from one address throttle that address only', async () => {
    const stations = await Promise.all(Array.from({ length: 11 }, () => register()));
    const statuses: number[] = [];
    for (const station of stations) {
      for (let i = 0; i < 3; i++) statuses.push((await attempt({ identity: station.identity, password: randomPassword() }, '127.0.0.4')).status);
    }
    expect(statuses.slice(0, 30)).toEqual(Array<number>(30).fill(401));
    expect(statuses.slice(30)).toEqual([429, 429, 429]);
    const good = await register();
    expect((await attempt(good, '127.0.0.4')).status).toBe(429);
    expect((await attempt(good, '127.0.0.5')).status).toBe(101);
    expect(logLines.filter((line) => line.event === 'auth_throttled' && line.scope === 'address')).toEqual([
      expect.objectContaining({ remoteAddress: '127.0.0.4', failures: 30 }),
    ]);
  }, 120_000);

  it('300 parallel wrong guesses: at most 10 are checked with scrypt, the rest get 429; the station still gets in from elsewhere', async () => {
    const creds = await register();
    const checksBefore = await passwordChecks();
    const results = await Promise.all(Array.from({ length: 300 }, () => attempt({ identity: creds.identity, password: randomPassword() }, '127.0.0.7')));
    const count = (status: number): number => results.filter((r) => r.status === status).length;
    expect(count(401) + count(429)).toBe(300);
    expect(count(401)).toBeLessThanOrEqual(10);
    expect(count(429)).toBeGreaterThanOrEqual(290);
    expect((await passwordChecks()) - checksBefore).toBeLessThanOrEqual(10);
    expect((await attempt(creds, '127.0.0.8')).status).toBe(101);
  }, 60_000);
});

describe('proven attempts', () => {
  it('a fleet reconnecting at once from one address (a NAT, a proxy) is checked a few at a time and every station gets in', async () => {
    const fleet = await Promise.all(Array.from({ length: 24 }, () => register()));
    // Rows without a password verifier (written before verifiers existed, or by a node with another key): every
    // one of them costs a scrypt check, and they queue a few at a time behind one address.
    await withDatabase((db) => db.query('UPDATE stations SET password_verifier = NULL WHERE id = ANY($1)', [fleet.map((creds) => creds.identity)]));
    let checksBefore = await passwordChecks();
    const results = await Promise.all(fleet.map((creds) => attempt(creds, '127.0.0.9')));
    expect(results.map((r) => r.status)).toEqual(Array<number>(24).fill(101));
    expect((await passwordChecks()) - checksBefore).toBe(24);
    // Each check that succeeded left a verifier: the same fleet reconnecting again costs no derivation at all.
    checksBefore = await passwordChecks();
    const again = await Promise.all(fleet.map((creds) => attempt(creds, '127.0.0.9')));
    expect(again.map((r) => r.status)).toEqual(Array<number>(24).fill(101));
    expect((await passwordChecks()) - checksBefore).toBe(0);
    // Their attempts were taken back: wrong passwords from that address still have the whole allowance.
    const stranger = await register();
    expect((await attempt({ identity: stranger.identity, password: randomPassword() }, '127.0.0.9')).status).toBe(401);
  }, 120_000);
});

describe('logging', () => {
  it('2,000 refused upgrades produce a handful of log lines (first of each kind, then sampled), and every one is counted in metrics', async () => {
    const before = logLines.length;
    const metricBefore = await api.metrics();
    const refusedBefore = Number(/^csms_connections_total\{result="unknown_station"\} (\d+)/m.exec(metricBefore)?.[1] ?? 0);
    for (let batch = 0; batch < 20; batch++) {
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          attempt(i % 2 === 0 ? { identity: uniqueIdentity('FLOOD'), password: randomPassword() } : { identity: `bad:${i}` }, '127.0.0.10'),
        ),
      );
      expect(results.every((r) => r.status === 404 || r.status === 400)).toBe(true);
    }
    const lines = logLines.slice(before);
    expect(lines.length).toBeLessThan(20);
    const refusedAfter = Number(/^csms_connections_total\{result="unknown_station"\} (\d+)/m.exec(await api.metrics())?.[1] ?? 0);
    expect(refusedAfter - refusedBefore).toBe(1000);
  }, 120_000);

  it('warns once at start that CSMS_TRUSTED_PROXIES trusts a wide range, naming it and the risk', () => {
    const warnings = logLines.filter((line) => line.event === 'trusted_proxies_wide');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toEqual(expect.objectContaining({ level: 40, ranges: ['10.0.0.0/8'] }));
    expect(warnings[0]?.msg).toMatch(/10\.0\.0\.0\/8.*forge client-certificate headers/);
  });
});
