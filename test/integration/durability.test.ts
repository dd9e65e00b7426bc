/**
 * Durability of the money path, on PostgreSQL and on the embedded store (PGlite in CSMS_DATA_DIR, the `npm start`
 * default): a TransactionEvent the CSMS acknowledged is committed.
 *
 * Several stations send bursts of TransactionEvents in parallel (each station one at a time, waiting for every
 * answer, as OCPP-J requires). The CSMS child process (`node dist/src/main.js`, as `npm start` runs it) is
 * SIGKILLed at a random moment. After a restart on the same database every acknowledged (transactionId, seqNo)
 * must be stored exactly once; the stations then reconnect (no BootNotification) and resend what was not
 * acknowledged, plus one event that was: all are answered, nothing is stored twice, no energy counted twice.
 *
 * The second test pins a transport fault seen while writing the first: right after a restart on PostgreSQL, the
 * last of several stations reconnecting one after another is dropped by the CSMS about 1 ms after its 101
 * (no close frame, 1006). The first test reconnects and resends like a real station, so that fault does not hide
 * behind a durability failure or the other way round.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ChargingSession,
  energyRegister,
  getTransaction,
  getTransactionRes,
  listTransactions,
  meterValue,
  newIdToken,
  registerIdToken,
  type IdToken,
  type SentEvent,
} from '../support/charging.js';
import { crashChildEnv, spawnCsms, type CleanupSteps, type SpawnedCsms } from '../support/csms.js';
import { TestStation, randomPassword, sleep, uniqueIdentity, waitFor, type Payload } from '../support/station.js';

const STATIONS = 5;
/** Events per transaction: Started, Updated × (n − 2), Ended. */
const EVENTS_PER_TX = 10;
/** More than a station can send before the kill: the burst is cut by the kill, not by running out. */
const MAX_TX_PER_STATION = 500;
const WH_PER_EVENT = 100;

type Request = SentEvent['request'];

interface PlannedTransaction {
  transactionId: string;
  requests: Request[];
  /** How many of `requests` (from the start) were acknowledged. */
  acked: number;
}

interface StationRun {
  identity: string;
  password: string;
  station: TestStation;
  /** Every connection this station opened (for the protocol-problem check at the end). */
  connections: TestStation[];
  /** Connections the restarted CSMS dropped under the station, which then reconnected (see the test below). */
  drops: number;
  transactions: PlannedTransaction[];
  /** The event written but not answered when the connection died. */
  inFlight: { tx: PlannedTransaction; index: number } | undefined;
  /** `${transactionId}/${seqNo}` of every event whose answer the station received. */
  acknowledged: Set<string>;
}

const key = (transactionId: string, seqNo: number): string => `${transactionId}/${seqNo}`;

/** One transaction of EVENTS_PER_TX events, the register rising WH_PER_EVENT per event, one second apart. */
function planTransaction(station: TestStation, token: IdToken, index: number): PlannedTransaction {
  const session = new ChargingSession(station);
  const t0 = Date.now() - 3600_000 + index * 60_000;
  const at = (i: number): Date => new Date(t0 + i * 1000);
  const reading = (i: number, context: 'Transaction.Begin' | 'Sample.Periodic' | 'Transaction.End') => [
    meterValue([energyRegister(10_000 * index + WH_PER_EVENT * i, { context })], at(i)),
  ];
  const requests: Request[] = [
    session.build('Started', 'Authorized', { timestamp: at(0), idToken: token, evse: true, chargingState: 'Charging', meterValue: reading(0, 'Transaction.Begin') }),
  ];
  for (let i = 1; i < EVENTS_PER_TX - 1; i += 1) {
    requests.push(session.build('Updated', 'MeterValuePeriodic', { timestamp: at(i), meterValue: reading(i, 'Sample.Periodic') }));
  }
  requests.push(
    session.build('Ended', 'StopAuthorized', {
      timestamp: at(EVENTS_PER_TX - 1),
      idToken: token,
      stoppedReason: 'Local',
      chargingState: 'EVConnected',
      meterValue: reading(EVENTS_PER_TX - 1, 'Transaction.End'),
    }),
  );
  return { transactionId: session.transactionId, requests, acked: 0 };
}

/** Sends transactions back to back, one event at a time, until the connection dies. */
async function burst(run: StationRun, token: IdToken): Promise<void> {
  for (let t = 0; t < MAX_TX_PER_STATION; t += 1) {
    const tx = planTransaction(run.station, token, t);
    run.transactions.push(tx);
    for (let i = 0; i < tx.requests.length; i += 1) {
      run.inFlight = { tx, index: i };
      try {
        await run.station.call('TransactionEvent', tx.requests[i] as Request, { timeoutMs: 10_000 });
      } catch {
        return; // the CSMS died under us: this event stays in flight
      }
      run.acknowledged.add(key(tx.transactionId, i));
      tx.acked = i + 1;
      run.inFlight = undefined;
    }
  }
}

/**
 * A TransactionEvent as a real station sends it after the restart: when the connection is gone (before or during
 * the call) it reconnects and sends the same event again, a few times at most. A resend must be stored once.
 */
async function sendReliably(run: StationRun, ocppUrl: string, request: Request): Promise<Payload> {
  for (let attempt = 1; ; attempt += 1) {
    if (!run.station.isOpen) {
      run.drops += 1;
      run.station = await TestStation.connect(ocppUrl, { identity: run.identity, password: run.password });
      run.connections.push(run.station);
    }
    try {
      return await run.station.call('TransactionEvent', request);
    } catch (err) {
      if (run.station.isOpen || attempt >= 4) throw err;
    }
  }
}

async function storedInPostgres(databaseUrl: string, stationIds: string[]): Promise<Map<string, number>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ station_id: string; transaction_id: string; seq_no: number; copies: string }>(
      `SELECT station_id, transaction_id, seq_no, count(*) AS copies
         FROM transaction_events WHERE station_id = ANY($1)
        GROUP BY station_id, transaction_id, seq_no`,
      [stationIds],
    );
    return new Map(rows.map((r) => [`${r.station_id}|${key(r.transaction_id, r.seq_no)}`, Number(r.copies)]));
  } finally {
    await client.end();
  }
}

/**
 * `${stationId}|${transactionId}/${seqNo}` → copies stored. PostgreSQL is read directly; the embedded store belongs
 * to the running child (one owner), so it is read through the API, transaction by transaction.
 */
async function storedEvents(env: Record<string, string | number>, csms: SpawnedCsms, runs: StationRun[]): Promise<Map<string, number>> {
  if (env.DATABASE_URL !== undefined)
    return storedInPostgres(
      String(env.DATABASE_URL),
      runs.map((r) => r.identity),
    );
  const stored = new Map<string, number>();
  for (const run of runs) {
    for (const tx of run.transactions) {
      const res = await getTransactionRes(csms.api, run.identity, tx.transactionId);
      if (res.status === 404) continue;
      expect(res.status, `GET transaction ${tx.transactionId}`).toBe(200);
      for (const event of res.body.events) {
        const k = `${run.identity}|${key(tx.transactionId, event.seqNo)}`;
        stored.set(k, (stored.get(k) ?? 0) + 1);
      }
    }
  }
  return stored;
}

describe('durability across a crash', () => {
  const cleanup: CleanupSteps = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  const childEnv = (store: 'PostgreSQL' | 'embedded' = 'PostgreSQL'): Promise<Record<string, string | number>> => crashChildEnv(store, 'stroom-durability-', cleanup);

  // The embedded store runs inside the killed process itself: what it acknowledged must be in its files.
  for (const store of ['PostgreSQL', 'embedded'] as const)
    it(
      `${store}: keeps every acknowledged TransactionEvent exactly once across a SIGKILL, and takes the resends of the rest`,
      async () => {
        const env = await childEnv(store);
        const runs: StationRun[] = [];
        cleanup.push(async () => {
          for (const run of runs) for (const connection of run.connections) await connection.close();
        });

        let csms: SpawnedCsms = await spawnCsms(env);
        cleanup.push(() => csms.kill());
        const token = await registerIdToken(csms.api, newIdToken('ISO14443'));
        for (let n = 0; n < STATIONS; n += 1) {
          const identity = uniqueIdentity('dur');
          const password = randomPassword();
          expect((await csms.api.putStation(identity, { securityProfile: 1, password, bootPolicy: 'Accepted' })).status).toBe(201);
          const station = await TestStation.connect(csms.ocppUrl, { identity, password });
          await station.booted();
          runs.push({ identity, password, station, connections: [station], drops: 0, transactions: [], inFlight: undefined, acknowledged: new Set() });
        }

        // ---- the crash: all stations mid-burst, killed at a random moment once each has had a few answers
        const bursts = runs.map((run) => burst(run, token));
        await waitFor(() => runs.every((run) => run.acknowledged.size >= 3), { timeoutMs: 10_000, what: 'first acknowledgements' });
        const killAfterMs = 50 + Math.floor(Math.random() * 250);
        await sleep(killAfterMs);
        const killed = new Promise<void>((resolve) => csms.child.once('exit', () => resolve()));
        csms.kill();
        await killed;
        await Promise.all(bursts);
        const context = `killed ${killAfterMs} ms into the bursts; acknowledged per station: ${runs.map((r) => r.acknowledged.size).join(', ')}`;
        for (const run of runs) expect(run.inFlight, `${run.identity} had a call in flight (${context})`).toBeDefined();

        // ---- restart on the same database: every acknowledged event is there exactly once, nothing invented
        csms = await spawnCsms(env);
        const afterCrash = await storedEvents(env, csms, runs);
        for (const run of runs) {
          for (const ack of run.acknowledged) {
            expect(afterCrash.get(`${run.identity}|${ack}`), `${run.identity} ${ack} was acknowledged before the crash (${context})`).toBe(1);
          }
          const sentKeys = new Set(run.transactions.flatMap((tx) => tx.requests.slice(0, tx.acked + 1).map((_, i) => key(tx.transactionId, i))));
          for (const stored of afterCrash.keys()) {
            const [identity, what] = stored.split('|') as [string, string];
            if (identity === run.identity) expect(sentKeys.has(what), `${stored} is stored but was never sent`).toBe(true);
          }
        }

        // ---- the stations come back (no BootNotification) and resend: the unacknowledged rest, and one acknowledged event
        for (const run of runs) {
          run.station = await TestStation.connect(csms.ocppUrl, { identity: run.identity, password: run.password });
          run.connections.push(run.station);
        }
        const ocppUrl = csms.ocppUrl;
        const resent = Promise.all(
          runs.map(async (run) => {
            const first = run.transactions[0] as PlannedTransaction;
            const already = await sendReliably(run, ocppUrl, first.requests[0] as Request);
            expect(already, `${run.identity}: resend of an acknowledged Started`).toMatchObject({ idTokenInfo: { status: 'Accepted' } });
            const { tx, index } = run.inFlight as { tx: PlannedTransaction; index: number };
            for (let i = index; i < tx.requests.length; i += 1) {
              const request = tx.requests[i] as Request;
              const answer = await sendReliably(run, ocppUrl, request);
              if (request.idToken !== undefined) expect(answer).toMatchObject({ idTokenInfo: { status: 'Accepted' } });
              else expect(answer).toEqual({});
              tx.acked = i + 1;
            }
          }),
        );
        await resent.catch((err: unknown) => {
          const exit = csms.child.exitCode ?? csms.child.signalCode;
          throw new Error(
            `${(err as Error).message}\n(${context}; CSMS child ${exit === null ? 'running' : `exited: ${String(exit)}`}; ` +
              `reconnects after a drop: ${runs.map((r) => r.drops).join(', ')}; closes: ${JSON.stringify(runs.map((r) => r.station.closed ?? null))})\nCSMS output:\n${csms.output().slice(-5000)}`,
          );
        });

        // ---- everything sent is stored exactly once, and every transaction adds up
        const final = await storedEvents(env, csms, runs);
        let expectedCount = 0;
        for (const run of runs) {
          for (const tx of run.transactions) {
            expect(tx.acked, `${run.identity} ${tx.transactionId} fully sent`).toBe(EVENTS_PER_TX);
            for (let i = 0; i < EVENTS_PER_TX; i += 1) {
              expect(final.get(`${run.identity}|${key(tx.transactionId, i)}`), `${run.identity} ${key(tx.transactionId, i)}`).toBe(1);
              expectedCount += 1;
            }
          }
        }
        expect(final.size).toBe(expectedCount);

        for (const run of runs) {
          const listed = await listTransactions(csms.api, run.identity);
          expect(listed.body.items.map((t) => t.transactionId).sort()).toEqual(run.transactions.map((t) => t.transactionId).sort());
          for (const tx of [run.transactions[0] as PlannedTransaction, run.inFlight?.tx as PlannedTransaction]) {
            const view = await getTransaction(csms.api, run.identity, tx.transactionId);
            expect(view.events.map((e) => e.seqNo)).toEqual(Array.from({ length: EVENTS_PER_TX }, (_, i) => i));
            expect(view).toMatchObject({ active: false, stoppedReason: 'Local', energyWh: WH_PER_EVENT * (EVENTS_PER_TX - 1) });
          }
          expect(run.connections.flatMap((c) => c.problems())).toEqual([]);
        }

        const stopped = await csms.stop();
        expect({ code: stopped.code, signal: stopped.signal }, csms.output().slice(-2000)).toEqual({ code: 0, signal: null });
      },
      store === 'embedded' ? 180_000 : 30_000,
    ); // a fresh embedded store runs initdb (seconds to tens of seconds on a loaded machine)

  it('stations that reconnect one after another to a restarted CSMS keep their connections (DRV-RPC-21 after a crash)', async () => {
    const env = await childEnv();
    const opened: TestStation[] = [];
    cleanup.push(async () => {
      for (const connection of opened) await connection.close();
    });
    let csms: SpawnedCsms = await spawnCsms(env);
    cleanup.push(() => csms.kill());
    const credentials: Array<{ identity: string; password: string }> = [];
    for (let n = 0; n < STATIONS; n += 1) {
      const identity = uniqueIdentity('reconn');
      const password = randomPassword();
      expect((await csms.api.putStation(identity, { securityProfile: 1, password, bootPolicy: 'Accepted' })).status).toBe(201);
      const station = await TestStation.connect(csms.ocppUrl, { identity, password });
      opened.push(station);
      await station.booted();
      credentials.push({ identity, password });
    }

    // A crash drops every station at once; they all come back as soon as the CSMS listens again.
    for (let round = 1; round <= 3; round += 1) {
      const killed = new Promise<void>((resolve) => csms.child.once('exit', () => resolve()));
      csms.kill();
      await killed;
      csms = await spawnCsms(env);
      const stations: TestStation[] = [];
      for (const creds of credentials) {
        const station = await TestStation.connect(csms.ocppUrl, creds);
        opened.push(station);
        stations.push(station);
      }
      await sleep(100);
      const dropped = stations
        .filter((s) => !s.isOpen)
        .map((s) => `${s.identity} closed ${JSON.stringify(s.closed)} (connected as #${stations.indexOf(s) + 1} of ${stations.length})`);
      expect(dropped, `round ${round}: connections the restarted CSMS dropped right after the upgrade\n${csms.output().slice(-3000)}`).toEqual([]);
      for (const station of stations) expect(typeof (await station.heartbeat()).currentTime).toBe('string');
      for (const station of stations) await station.close();
    }
    const stopped = await csms.stop();
    expect({ code: stopped.code, signal: stopped.signal }).toEqual({ code: 0, signal: null });
    expect(opened.flatMap((s) => s.problems())).toEqual([]);
  }, 30_000);
});
