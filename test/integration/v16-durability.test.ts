/**
 * Durability of the 1.6 money path (CONTRACT §1 "durable", §3.1), on PostgreSQL and on the embedded store: a
 * StartTransaction or StopTransaction the CSMS answered is committed, and a transactionId it handed out is never
 * handed out again.
 *
 * Several 1.6 stations run Start/Stop back to back (each waiting for every answer). The CSMS child process (`node
 * dist/src/main.js`, as `npm start` runs it) is SIGKILLed at a random moment. After a restart on the same data every
 * acknowledged Start and Stop is there once; the stations reconnect and resend what was in flight and one Start that
 * was acknowledged (it gets the same transactionId again and is not stored twice), and a new transaction gets a
 * transactionId above every one handed out before the crash.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { StartTransactionRequest, StopTransactionRequest } from '../../src/ocpp/v16/types.js';
import { listTransactions, putIdToken, type TransactionView } from '../support/charging.js';
import { crashChildEnv, spawnCsms, type CleanupSteps, type SpawnedCsms } from '../support/csms.js';
import { Station16 } from '../support/station16.js';
import { randomPassword, sleep, uniqueIdentity, waitFor } from '../support/station.js';

const STATIONS = 4;
const MAX_TX_PER_STATION = 2000;
const WH_PER_TX = 500;

interface Charge {
  start: StartTransactionRequest;
  transactionId?: number;
  stop?: StopTransactionRequest;
  stopAcked: boolean;
}

interface Run {
  identity: string;
  password: string;
  station: Station16;
  connections: Station16[];
  charges: Charge[];
  /** The message written but not answered when the CSMS died. */
  inFlight: { kind: 'start' | 'stop'; charge: Charge } | undefined;
}

function plannedStart(tag: string, index: number): StartTransactionRequest {
  return { connectorId: 1, idTag: tag, meterStart: index * 10_000, timestamp: new Date(Date.now() - 3600_000 + index * 1000).toISOString() };
}

function plannedStop(charge: Charge): StopTransactionRequest {
  return {
    transactionId: charge.transactionId as number,
    meterStop: charge.start.meterStart + WH_PER_TX,
    timestamp: new Date(Date.parse(charge.start.timestamp) + 500).toISOString(),
    reason: 'Local',
  };
}

/** Start, Stop, Start, Stop… until the connection dies under a call. */
async function burst(run: Run, tag: string): Promise<void> {
  for (let t = 0; t < MAX_TX_PER_STATION; t += 1) {
    const charge: Charge = { start: plannedStart(tag, t), stopAcked: false };
    run.charges.push(charge);
    run.inFlight = { kind: 'start', charge };
    try {
      charge.transactionId = (await run.station.call<{ transactionId: number }>('StartTransaction', charge.start)).transactionId;
    } catch {
      return;
    }
    charge.stop = plannedStop(charge);
    run.inFlight = { kind: 'stop', charge };
    try {
      await run.station.call('StopTransaction', charge.stop);
    } catch {
      return;
    }
    charge.stopAcked = true;
    run.inFlight = undefined;
  }
}

async function transactionsOf(csms: SpawnedCsms, identity: string): Promise<Map<string, TransactionView>> {
  const res = await listTransactions(csms.api, identity);
  expect(res.status).toBe(200);
  return new Map(res.body.items.map((item) => [item.transactionId, item]));
}

describe('1.6 durability across a crash', () => {
  const cleanup: CleanupSteps = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  const childEnv = (store: 'PostgreSQL' | 'embedded'): Promise<Record<string, string | number>> => crashChildEnv(store, 'stroom-v16-durability-', cleanup);

  for (const store of ['PostgreSQL', 'embedded'] as const)
    it(
      `${store}: every acknowledged StartTransaction/StopTransaction survives a SIGKILL once, resends are stored once, transactionIds are never reused`,
      async () => {
        const env = await childEnv(store);
        const runs: Run[] = [];
        cleanup.push(async () => {
          for (const run of runs) for (const connection of run.connections) await connection.close();
        });
        let csms = await spawnCsms(env);
        cleanup.push(() => csms.kill());
        const tag = `DUR${Date.now().toString(16).toUpperCase()}`.slice(0, 20);
        expect((await putIdToken(csms.api, { type: 'ISO14443', idToken: tag }, { status: 'Accepted' })).status).toBe(201);
        for (let n = 0; n < STATIONS; n += 1) {
          const identity = uniqueIdentity('v16dur');
          const password = randomPassword();
          expect((await csms.api.putStation(identity, { securityProfile: 1, password, bootPolicy: 'Accepted' })).status).toBe(201);
          const station = await Station16.connect({ url: csms.ocppUrl, identity, password });
          await station.booted(1);
          runs.push({ identity, password, station, connections: [station], charges: [], inFlight: undefined });
        }

        // ---- the crash, mid-burst
        const bursts = runs.map((run) => burst(run, tag));
        await waitFor(() => runs.every((run) => run.charges.filter((c) => c.stopAcked).length >= 2), { timeoutMs: 10_000, what: 'first transactions' });
        const killAfterMs = 50 + Math.floor(Math.random() * 250);
        await sleep(killAfterMs);
        const killed = new Promise<void>((resolve) => csms.child.once('exit', () => resolve()));
        csms.kill();
        await killed;
        await Promise.all(bursts);
        const context = `killed ${killAfterMs} ms into the bursts; transactions per station: ${runs.map((r) => r.charges.length).join(', ')}`;

        // ---- restart: every acknowledged message is stored, nothing invented, every id unique
        csms = await spawnCsms(env);
        const handedOut: number[] = [];
        for (const run of runs) {
          expect(run.inFlight, `${run.identity} had a call in flight (${context})`).toBeDefined();
          const stored = await transactionsOf(csms, run.identity);
          for (const charge of run.charges) {
            if (charge.transactionId === undefined) continue;
            handedOut.push(charge.transactionId);
            const tx = stored.get(String(charge.transactionId));
            expect(tx, `${run.identity}: acknowledged Start ${charge.transactionId} (${context})`).toBeDefined();
            if (charge.stopAcked) expect(tx, `acknowledged Stop ${charge.transactionId}`).toMatchObject({ active: false, energyWh: WH_PER_TX, eventCount: 2 });
            // Its Stop was in flight: stored or not, but never twice.
            else expect([1, 2], `unanswered Stop ${charge.transactionId}`).toContain(tx?.eventCount);
          }
          // At most the unanswered Start may be stored besides what was acknowledged.
          expect(
            stored.size - run.charges.filter((c) => c.transactionId !== undefined).length,
            `${run.identity}: transactions nobody was told about`,
          ).toBeLessThanOrEqual(run.inFlight?.kind === 'start' ? 1 : 0);
          for (const id of stored.keys()) handedOut.push(Number(id));
        }
        const highestBefore = Math.max(...handedOut);
        const perStationIds = runs.flatMap((run) => run.charges.flatMap((c) => (c.transactionId === undefined ? [] : [c.transactionId])));
        expect(new Set(perStationIds).size, 'no transactionId was handed to two transactions').toBe(perStationIds.length);

        // ---- the stations come back (no BootNotification) and resend
        for (const run of runs) {
          run.station = await Station16.connect({ url: csms.ocppUrl, identity: run.identity, password: run.password });
          run.connections.push(run.station);
        }
        for (const run of runs) {
          const first = run.charges[0] as Charge;
          const resent = await run.station.call<{ transactionId: number }>('StartTransaction', first.start);
          expect(resent.transactionId, `${run.identity}: a resent, acknowledged Start keeps its transactionId`).toBe(first.transactionId);
          const { kind, charge } = run.inFlight as { kind: 'start' | 'stop'; charge: Charge };
          if (kind === 'start') {
            const answer = await run.station.call<{ transactionId: number }>('StartTransaction', charge.start);
            charge.transactionId = answer.transactionId;
            charge.stop = plannedStop(charge);
          }
          await run.station.call('StopTransaction', charge.stop as StopTransactionRequest);
          charge.stopAcked = true;
          const fresh: Charge = { start: plannedStart(tag, run.charges.length), stopAcked: false };
          fresh.transactionId = (await run.station.call<{ transactionId: number }>('StartTransaction', fresh.start)).transactionId;
          expect(fresh.transactionId, 'a transactionId after the restart is new').toBeGreaterThan(highestBefore);
          fresh.stop = plannedStop(fresh);
          await run.station.call('StopTransaction', fresh.stop);
          fresh.stopAcked = true;
          run.charges.push(fresh);
        }

        // ---- everything adds up: one transaction per Start sent, each ended once with its energy
        for (const run of runs) {
          const stored = await transactionsOf(csms, run.identity);
          expect([...stored.keys()].sort(), run.identity).toEqual(run.charges.map((c) => String(c.transactionId)).sort());
          for (const tx of stored.values()) expect(tx, `${run.identity} ${tx.transactionId}`).toMatchObject({ active: false, energyWh: WH_PER_TX, eventCount: 2 });
          expect(run.connections.flatMap((c) => c.problems())).toEqual([]);
        }
        const stopped = await csms.stop();
        expect({ code: stopped.code, signal: stopped.signal }, csms.output().slice(-2000)).toEqual({ code: 0, signal: null });
      },
      store === 'embedded' ? 180_000 : 60_000,
    );
});
