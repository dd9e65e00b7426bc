/**
 * CONTRACT §1 "degraded" against a real PostgreSQL behind a TCP proxy in this process (test/support/tcp-proxy.ts):
 * blackholed (connections open, nothing answers) and unreachable (reset, refused) for a while during station traffic.
 *
 * What a station must see: a TransactionEvent that cannot be stored gets CALLERROR InternalError within about
 * CSMS_DB_TIMEOUT_MS (so it keeps and resends it), Heartbeat is still answered, its socket stays open; /health says
 * 503 degraded and csms_store_up is 0; once PostgreSQL is back, writes resume within 10 s; every event that was
 * answered is stored, exactly once.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChargingSession, energyRegister, meterValue, newIdToken, registerIdToken, type IdToken, type SentEvent } from '../support/charging.js';
import { startTestCsms, type TestCsms } from '../support/csms.js';
import { freshPostgresDatabase, type TestDatabase } from '../support/services.js';
import { ConnectRefusedError, OcppCallError, TestStation, sleep, waitFor } from '../support/station.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const DB_TIMEOUT_MS = 1000;
/** "Within about CSMS_DB_TIMEOUT_MS": the bound plus one more for the round trips around it. */
const ERROR_WITHIN_MS = 2 * DB_TIMEOUT_MS;

type Request = SentEvent['request'];

let database: TestDatabase;
let proxy: TcpProxy;
let csms: TestCsms;
let token: IdToken;

beforeAll(async () => {
  database = await freshPostgresDatabase();
  const url = new URL(database.url);
  proxy = await TcpProxy.start({ host: url.hostname, port: Number(url.port || 5432) });
  url.host = `127.0.0.1:${proxy.port}`;
  csms = await startTestCsms({ DATABASE_URL: url.toString(), CSMS_DB_TIMEOUT_MS: DB_TIMEOUT_MS });
  token = await registerIdToken(csms.api, newIdToken('ISO14443'));
});

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
  await csms?.stop();
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
  await proxy?.close();
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
  await database?.drop();
});

async function storeUpGauge(): Promise<number> {
  const line = (await csms.api.metrics()).split('\n').find((l) => l.startsWith('csms_store_up'));
  return Number(line?.split(' ').at(-1));
}

async function health(): Promise<{ status: number; body: { status: string; reason?: string } }> {
  const res = await csms.api.health();
  return { status: res.status, body: res.body };
}

/** (transactionId, seqNo) → copies stored, read from the real database (not through the proxy). */
async function storedEvents(stationIds: string[]): Promise<Map<string, number>> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ transaction_id: string; seq_no: number; copies: string }>(
      `SELECT transaction_id, seq_no, count(*) AS copies FROM transaction_events WHERE station_id = ANY($1) GROUP BY transaction_id, seq_no`,
      [stationIds],
    );
    return new Map(rows.map((r) => [`${r.transaction_id}/${r.seq_no}`, Number(r.copies)]));
  } finally {
    await client.end();
  }
}

/** A TransactionEvent and how it ended: answered, or CALLERROR with its code, and how long that took. */
async function timedCall(station: TestStation, request: Request): Promise<{ ok: boolean; code?: string; ms: number }> {
  const started = Date.now();
  try {
    await station.call('TransactionEvent', request, { timeoutMs: 10_000 });
    return { ok: true, ms: Date.now() - started };
  } catch (err) {
    if (err instanceof OcppCallError) return { ok: false, code: err.code, ms: Date.now() - started };
    throw err;
  }
}

/** Started, then Updated events with a rising register, for as long as the test wants. */
function eventAt(session: ChargingSession, i: number): Request {
  const reading = [meterValue([energyRegister(1000 + 10 * i)])];
  return i === 0
    ? session.build('Started', 'Authorized', { idToken: token, evse: true, chargingState: 'Charging', meterValue: reading })
    : session.build('Updated', 'MeterValuePeriodic', { meterValue: reading });
}

describe('PostgreSQL faults (CONTRACT §1 degraded)', () => {
  it('blackholed PostgreSQL: InternalError within the bound, Heartbeat answered, /health degraded, writes resume after', async () => {
    const station = await csms.bootedStation({ prefix: 'blackhole' });
    const newcomer = await csms.register({ prefix: 'blackhole-new' });
    const session = new ChargingSession(station);
    const first = eventAt(session, 0);
    expect((await timedCall(station, first)).ok).toBe(true);
    expect((await health()).status).toBe(200);
    expect(await storeUpGauge()).toBe(1);

    proxy.blackhole();
    const second = eventAt(session, 1);
    const during = await timedCall(station, second);
    expect(during).toMatchObject({ ok: false, code: 'InternalError' });
    expect(during.ms).toBeLessThanOrEqual(ERROR_WITHIN_MS);
    // The station keeps its socket and its Heartbeat answers.
    expect(typeof (await station.heartbeat()).currentTime).toBe('string');
    expect(station.isOpen).toBe(true);
    await waitFor(async () => (await health()).status === 503, { timeoutMs: 3 * DB_TIMEOUT_MS, what: '/health 503' });
    expect((await health()).body).toMatchObject({ status: 'degraded', reason: expect.any(String) as string });
    expect(await storeUpGauge()).toBe(0);
    // A station that connects now cannot be checked: 503 with a Retry-After, not a 500 (and not admitted unchecked).
    const refused = await TestStation.connectWith(csms.ocppUrl, { identity: newcomer.identity, password: newcomer.password, connectTimeoutMs: 10_000 }, {}).then(
      (s) => (s.close(), undefined),
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(ConnectRefusedError);
    expect((refused as ConnectRefusedError).status).toBe(503);
    expect(Number((refused as ConnectRefusedError).headers?.['retry-after'])).toBeGreaterThanOrEqual(5);
    // So does an operator's write: 503 with a JSON error and Retry-After, nothing changed.
    const write = await csms.api.request<{ error: { code: string } }>('PUT', `/api/v1/id-tokens/ISO14443/${newIdToken('ISO14443').idToken}`, { status: 'Accepted' });
    expect(write.status).toBe(503);
    expect(write.body.error.code).toBe('store_unavailable');
    expect(write.headers.get('retry-after')).toBe('5');
    // A second write while the store is known to be down fails as fast, not after another full timeout each.
    const again = await timedCall(station, second);
    expect(again).toMatchObject({ ok: false, code: 'InternalError' });
    expect(again.ms).toBeLessThanOrEqual(ERROR_WITHIN_MS);

    await proxy.restore();
    await waitFor(async () => (await health()).status === 200, { timeoutMs: 10_000, what: '/health 200 after PostgreSQL came back' });
    expect(await storeUpGauge()).toBe(1);
    // The station resends what was refused: it is taken now, and stored once.
    expect((await timedCall(station, second)).ok).toBe(true);
    expect((await timedCall(station, eventAt(session, 2))).ok).toBe(true);
    const stored = await storedEvents([station.identity]);
    expect([...stored.entries()].sort()).toEqual([0, 1, 2].map((seq) => [`${session.transactionId}/${seq}`, 1]));
    expect(station.isOpen).toBe(true);
  }, 30_000);

  it('PostgreSQL unreachable for 10 s during traffic: nothing answered is lost, stations keep their sockets, writes resume', async () => {
    const stations = await Promise.all([1, 2, 3].map(() => csms.bootedStation({ prefix: 'outage' })));
    let running = true;
    let outage = false;
    const acknowledged = new Set<string>();
    const errors: Array<{ code: string | undefined; ms: number; duringOutage: boolean }> = [];
    let ackedAfterOutage = 0;
    let heartbeatsDuringOutage = 0;
    const traffic = stations.map(async (station) => {
      const session = new ChargingSession(station);
      let i = 0;
      let request = eventAt(session, i);
      while (running) {
        const result = await timedCall(station, request);
        if (result.ok) {
          acknowledged.add(`${session.transactionId}/${String(request.seqNo)}`);
          if (!outage && errors.length > 0) ackedAfterOutage += 1;
          i += 1;
          request = eventAt(session, i);
        } else {
          // As a station does after an InternalError: keep the event, resend it a little later.
          errors.push({ code: result.code, ms: result.ms, duringOutage: outage });
          await sleep(100);
        }
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by another async task, which the checker's narrowing does not see
        if (outage && running) {
          await station.heartbeat();
          heartbeatsDuringOutage += 1;
        }
      }
      return session;
    });

    await waitFor(() => acknowledged.size >= 15, { timeoutMs: 10_000, what: 'traffic before the outage' });
    outage = true;
    await proxy.refuse();
    await waitFor(async () => (await health()).status === 503, { timeoutMs: 3 * DB_TIMEOUT_MS, what: '/health 503' });
    expect((await health()).body.status).toBe('degraded');
    expect(await storeUpGauge()).toBe(0);
    await sleep(10_000);
    const ackedDuringOutage = acknowledged.size;
    outage = false;
    await proxy.restore();
    await waitFor(async () => (await health()).status === 200, { timeoutMs: 10_000, what: '/health 200 after PostgreSQL came back' });
    await waitFor(() => ackedAfterOutage >= 15, { timeoutMs: 10_000, what: 'writes after the outage' });
    running = false;
    const sessions = await Promise.all(traffic);

    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => e.code === 'InternalError')).toBe(true);
    expect(Math.max(...errors.map((e) => e.ms))).toBeLessThanOrEqual(ERROR_WITHIN_MS);
    expect(heartbeatsDuringOutage).toBeGreaterThan(0);
    expect(acknowledged.size).toBeGreaterThan(ackedDuringOutage);
    for (const station of stations) expect(station.isOpen, `${station.identity} kept its socket`).toBe(true);

    const stored = await storedEvents(stations.map((s) => s.identity));
    for (const ack of acknowledged) expect(stored.get(ack), `${ack} was answered`).toBe(1);
    // Nothing stored that a station did not send: every stored event is one of the sessions' events.
    const transactionIds = new Set(sessions.map((s) => s.transactionId));
    for (const key of stored.keys()) expect(transactionIds.has(key.split('/')[0] as string)).toBe(true);
  }, 60_000);
});
