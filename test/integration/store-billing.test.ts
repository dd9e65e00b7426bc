import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TransactionEventWrite, TransactionRecord } from '../../src/store/billing-store.js';
import { UnknownStationError } from '../../src/store/errors.js';
import { openStore } from '../../src/store/open-store.js';
import type { SqlStore } from '../../src/store/sql-store.js';
import type { JsonObject } from '../../src/store/store.js';
import { REOPEN_TIMEOUT_MS, STORE_BACKENDS, type StoreLocation } from '../support/store-backends.js';
import { transactionEventWrite } from '../support/store-writes.js';

const backends = STORE_BACKENDS;

const T0 = Date.parse('2026-05-01T10:00:00.000Z');
const at = (seconds: number): Date => new Date(T0 + seconds * 1000);
const idToken: JsonObject = { idToken: '04A2B3C4D5E6F7', type: 'ISO14443' };

function txEvent(
  stationId: string,
  transactionId: string,
  seqNo: number,
  eventType: TransactionEventWrite['eventType'],
  extra: Partial<TransactionEventWrite> = {},
): TransactionEventWrite {
  const triggerReason = eventType === 'Started' ? 'Authorized' : eventType === 'Ended' ? 'EVCommunicationLost' : 'MeterValuePeriodic';
  const payload = { eventType, seqNo, transactionInfo: { transactionId } };
  return transactionEventWrite({ stationId, transactionId, seqNo, eventType, timestamp: at(seqNo * 60), triggerReason, payload }, extra);
}

/** A whole charging session: Started (seq 0), two Updated (1, 2), Ended (3). 1000 Wh → 3000 Wh. */
function session(stationId: string, transactionId: string): TransactionEventWrite[] {
  return [
    txEvent(stationId, transactionId, 0, 'Started', {
      evseId: 1,
      connectorId: 1,
      idToken,
      remoteStartId: 42,
      chargingState: 'EVConnected',
      firstRegister: { at: at(0), wh: 1000 },
      lastRegister: { at: at(0), wh: 1000 },
    }),
    txEvent(stationId, transactionId, 1, 'Updated', {
      chargingState: 'Charging',
      firstRegister: { at: at(30), wh: 1200 },
      lastRegister: { at: at(60), wh: 1500 },
    }),
    txEvent(stationId, transactionId, 2, 'Updated', {
      evseId: 1,
      chargingState: 'SuspendedEV',
      firstRegister: { at: at(120), wh: 2500 },
      lastRegister: { at: at(120), wh: 2500 },
    }),
    txEvent(stationId, transactionId, 3, 'Ended', {
      chargingState: 'Idle',
      stoppedReason: 'EVDisconnected',
      firstRegister: { at: at(150), wh: 2600 },
      lastRegister: { at: at(180), wh: 3000 },
    }),
  ];
}

function sessionSummary(stationId: string, transactionId: string): Omit<TransactionRecord, 'updatedAt'> {
  return {
    stationId,
    transactionId,
    evseId: 1,
    connectorId: 1,
    idToken,
    active: false,
    startedAt: at(0),
    endedAt: at(180),
    stoppedReason: 'EVDisconnected',
    chargingState: 'Idle',
    remoteStartId: 42,
    meterStartWh: 1000,
    meterStopWh: 3000,
    energyWh: 2000,
    lastSeqNo: 3,
    eventCount: 4,
    flags: [],
  };
}

function withoutUpdatedAt(record: TransactionRecord | undefined): Omit<TransactionRecord, 'updatedAt'> | undefined {
  if (record === undefined) return undefined;
  const { updatedAt, ...rest } = record;
  expect(updatedAt).toBeInstanceOf(Date);
  return rest;
}

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

describe.each(backends)('SqlStore billing on $name', (backend) => {
  let location: StoreLocation;
  let store: SqlStore;
  const extraLocations: StoreLocation[] = [];

  beforeAll(async () => {
    location = await backend.newLocation();
    store = await openStore(location.options);
  });

  afterAll(async () => {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
    await store?.close();
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
    await location?.remove();
    for (const extra of extraLocations) await extra.remove();
  });

  describe('id tokens', () => {
    it('registers, reads, updates and deletes a token; ids are kept exactly as given', async () => {
      const expiresAt = new Date('2027-01-01T00:00:00.000Z');
      const put = await store.putIdToken('ISO14443', '04A2B3C4', { status: 'Accepted', groupId: 'FLEET-1', expiresAt });
      expect(put.created).toBe(true);
      expect(put.token).toMatchObject({ idToken: '04A2B3C4', type: 'ISO14443', status: 'Accepted', groupId: 'FLEET-1', expiresAt });
      expect(put.token.updatedAt).toBeInstanceOf(Date);
      expect(await store.getIdToken('ISO14443', '04A2B3C4')).toEqual(put.token);
      // Case is the caller's business: another spelling is another token.
      expect(await store.getIdToken('ISO14443', '04a2b3c4')).toBeUndefined();
      expect(await store.getIdToken('Central', '04A2B3C4')).toBeUndefined();

      const updated = await store.putIdToken('ISO14443', '04A2B3C4', { status: 'Blocked' });
      expect(updated.created).toBe(false);
      expect(updated.token).toMatchObject({ status: 'Blocked', groupId: undefined, expiresAt: undefined });
      expect(await store.getIdToken('ISO14443', '04A2B3C4')).toMatchObject({ status: 'Blocked', groupId: undefined });

      expect(await store.deleteIdToken('ISO14443', '04A2B3C4')).toBe(true);
      expect(await store.getIdToken('ISO14443', '04A2B3C4')).toBeUndefined();
      expect(await store.deleteIdToken('ISO14443', '04A2B3C4')).toBe(false);
    });

    it('keeps tokens of different types apart', async () => {
      await store.putIdToken('eMAID', 'NL-ABC-123', { status: 'Accepted' });
      await store.putIdToken('Central', 'NL-ABC-123', { status: 'Invalid' });
      expect((await store.getIdToken('eMAID', 'NL-ABC-123'))?.status).toBe('Accepted');
      expect((await store.getIdToken('Central', 'NL-ABC-123'))?.status).toBe('Invalid');
    });
  });

  describe('transaction events', () => {
    it('stores an event and its transaction summary', async () => {
      await store.upsertStation('CS-tx', {});
      const [started] = session('CS-tx', 'tx-1');
      expect(await store.recordTransactionEvent(started!)).toEqual({ inserted: true, conflict: false });
      expect(withoutUpdatedAt(await store.getTransaction('CS-tx', 'tx-1'))).toEqual({
        stationId: 'CS-tx',
        transactionId: 'tx-1',
        evseId: 1,
        connectorId: 1,
        idToken,
        active: true,
        startedAt: at(0),
        endedAt: undefined,
        stoppedReason: undefined,
        chargingState: 'EVConnected',
        remoteStartId: 42,
        meterStartWh: 1000,
        meterStopWh: 1000,
        energyWh: 0,
        lastSeqNo: 0,
        eventCount: 1,
        flags: [],
      });
      const events = await store.getTransactionEvents('CS-tx', 'tx-1');
      expect(events).toEqual([
        {
          seqNo: 0,
          eventType: 'Started',
          timestamp: at(0),
          triggerReason: 'Authorized',
          offline: false,
          payload: started!.payload,
          response: {},
          receivedAt: expect.any(Date),
        },
      ]);
      expect(await store.getTransaction('CS-tx', 'tx-unknown')).toBeUndefined();
      expect(await store.openTransactionIds('CS-tx')).toEqual(['tx-1']);
    });

    it('stores a resend once, whether it shares the batch or comes later; the first copy wins', async () => {
      await store.upsertStation('CS-dup', {});
      const first = txEvent('CS-dup', 'tx-dup', 0, 'Started', { evseId: 1, response: { copy: 1 } });
      const second = { ...first, offline: true, response: { copy: 2 }, evseId: 2 };
      const results = await Promise.all([store.recordTransactionEvent(first), store.recordTransactionEvent(second)]);
      expect(results).toEqual([
        { inserted: true, conflict: false },
        { inserted: false, conflict: false },
      ]);

      // A resend is the case the one-statement batch leaves to the careful path.
      const rewrittenBefore = store.commitStats.rewrittenBatches;
      const third = { ...first, response: { copy: 3 }, chargingState: 'Charging' };
      expect(await store.recordTransactionEvent(third)).toEqual({ inserted: false, conflict: false });
      expect(store.commitStats.rewrittenBatches).toBe(rewrittenBefore + 1);

      const events = await store.getTransactionEvents('CS-dup', 'tx-dup');
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ offline: false, response: { copy: 1 } });
      expect(await store.getTransaction('CS-dup', 'tx-dup')).toMatchObject({
        evseId: 1,
        eventCount: 1,
        chargingState: undefined,
      });
    });

    it('merges events that arrive out of order by meaning (Ended first, Started last)', async () => {
      await store.upsertStation('CS-ooo', {});
      const [started, updated1, updated2, ended] = session('CS-ooo', 'tx-ooo');

      expect(await store.recordTransactionEvent(ended!)).toEqual({ inserted: true, conflict: false });
      expect(await store.getTransaction('CS-ooo', 'tx-ooo')).toMatchObject({
        active: false,
        startedAt: undefined,
        endedAt: at(180),
        stoppedReason: 'EVDisconnected',
        chargingState: 'Idle',
        flags: ['startMissing'],
        eventCount: 1,
      });
      expect(await store.openTransactionIds('CS-ooo')).toEqual([]);

      await store.recordTransactionEvent(updated2!);
      await store.recordTransactionEvent(updated1!);
      expect(await store.getTransaction('CS-ooo', 'tx-ooo')).toMatchObject({
        flags: ['startMissing'],
        chargingState: 'Idle',
        meterStartWh: 1200,
        meterStopWh: 3000,
        energyWh: 1800,
        lastSeqNo: 3,
        eventCount: 3,
        evseId: 1,
      });

      await store.recordTransactionEvent(started!);
      expect(withoutUpdatedAt(await store.getTransaction('CS-ooo', 'tx-ooo'))).toEqual(sessionSummary('CS-ooo', 'tx-ooo'));
      expect((await store.getTransactionEvents('CS-ooo', 'tx-ooo')).map((e) => e.seqNo)).toEqual([0, 1, 2, 3]);
    });

    it('ends with the same summary for every arrival order, one at a time or all in one batch', async () => {
      await store.upsertStation('CS-orders', {});
      const orders = permutations([0, 1, 2, 3]);
      let n = 0;
      for (const order of orders) {
        const sequential = `tx-seq-${n}`;
        const batched = `tx-batch-${n}`;
        n += 1;
        const sequentialEvents = session('CS-orders', sequential);
        for (const i of order) await store.recordTransactionEvent(sequentialEvents[i]!);
        const batchedEvents = session('CS-orders', batched);
        const results = await Promise.all(order.map((i) => store.recordTransactionEvent(batchedEvents[i]!)));
        expect(results.every((result) => result.inserted)).toBe(true);
        expect(withoutUpdatedAt(await store.getTransaction('CS-orders', sequential))).toEqual(sessionSummary('CS-orders', sequential));
        expect(withoutUpdatedAt(await store.getTransaction('CS-orders', batched))).toEqual(sessionSummary('CS-orders', batched));
      }
    });

    it('takes the stopped reason of the Ended event over any other, and otherwise the latest', async () => {
      await store.upsertStation('CS-reason', {});
      await store.recordTransactionEvent(txEvent('CS-reason', 'tx-r', 0, 'Started'));
      await store.recordTransactionEvent(txEvent('CS-reason', 'tx-r', 2, 'Updated', { stoppedReason: 'Local' }));
      await store.recordTransactionEvent(txEvent('CS-reason', 'tx-r', 1, 'Updated', { stoppedReason: 'Other' }));
      expect((await store.getTransaction('CS-reason', 'tx-r'))?.stoppedReason).toBe('Local');
      await store.recordTransactionEvent(txEvent('CS-reason', 'tx-r', 3, 'Ended', { stoppedReason: 'EVDisconnected' }));
      await store.recordTransactionEvent(txEvent('CS-reason', 'tx-r', 4, 'Updated', { stoppedReason: 'Remote' }));
      expect(await store.getTransaction('CS-reason', 'tx-r')).toMatchObject({ stoppedReason: 'EVDisconnected', active: false });
    });

    it('flags a transaction whose Started event never came', async () => {
      await store.upsertStation('CS-nostart', {});
      await store.recordTransactionEvent(txEvent('CS-nostart', 'tx-orphan', 5, 'Updated', { evseId: 2, connectorId: 1, chargingState: 'Charging' }));
      expect(withoutUpdatedAt(await store.getTransaction('CS-nostart', 'tx-orphan'))).toMatchObject({
        active: true,
        startedAt: undefined,
        evseId: 2,
        chargingState: 'Charging',
        lastSeqNo: 5,
        eventCount: 1,
        energyWh: undefined,
        flags: ['startMissing'],
      });
      expect(await store.openTransactionIds('CS-nostart')).toEqual(['tx-orphan']);
    });

    it('lists transactions most recent first, with an active filter', async () => {
      await store.upsertStation('CS-list', {});
      await store.recordTransactionEvent(txEvent('CS-list', 'tx-old', 0, 'Started', { timestamp: at(0) }));
      await store.recordTransactionEvent(txEvent('CS-list', 'tx-old', 1, 'Ended', { timestamp: at(100) }));
      await store.recordTransactionEvent(txEvent('CS-list', 'tx-new', 0, 'Started', { timestamp: at(200) }));
      // No Started: ordered by its earliest event.
      await store.recordTransactionEvent(txEvent('CS-list', 'tx-mid', 3, 'Updated', { timestamp: at(150) }));

      const ids = async (filter: { active?: boolean }) => (await store.listTransactions('CS-list', filter)).map((tx) => tx.transactionId);
      expect(await ids({})).toEqual(['tx-new', 'tx-mid', 'tx-old']);
      expect(await ids({ active: true })).toEqual(['tx-new', 'tx-mid']);
      expect(await ids({ active: false })).toEqual(['tx-old']);
      expect(await store.openTransactionIds('CS-list')).toEqual(['tx-mid', 'tx-new']);
      expect(await store.listTransactions('CS-nobody', {})).toEqual([]);
    });

    it('rejects events and meter values of an unknown station; the rest of the batch commits', async () => {
      await store.upsertStation('CS-known', {});
      const results = await Promise.allSettled([
        store.recordTransactionEvent(txEvent('CS-known', 'tx-k', 0, 'Started')),
        store.recordTransactionEvent(txEvent('CS-unknown', 'tx-u', 0, 'Started')),
        store.recordTransactionEvent(txEvent('CS-unknown', 'tx-u', 0, 'Started')),
        store.recordMeterValues({ stationId: 'CS-unknown', evseId: 1, transactionId: undefined, source: 'MeterValues', meterValue: [], receivedAt: at(0) }),
        store.recordMeterValues({ stationId: 'CS-known', evseId: 1, transactionId: 'tx-k', source: 'MeterValues', meterValue: [], receivedAt: at(0) }),
        store.recordTransactionEvent(txEvent('CS-known', 'tx-k', 1, 'Updated')),
      ]);
      expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'rejected', 'fulfilled', 'fulfilled']);
      for (const index of [1, 2, 3]) {
        const result = results[index];
        expect(result?.status === 'rejected' && result.reason).toBeInstanceOf(UnknownStationError);
      }
      expect(await store.getTransaction('CS-known', 'tx-k')).toMatchObject({ eventCount: 2 });
      expect(await store.getTransactionMeterValues('CS-known', 'tx-k')).toHaveLength(1);
    });

    it('commits 300 concurrent events of 30 transactions in far fewer commits, every event included', async () => {
      await store.upsertStation('CS-burst', {});
      const before = store.commitStats;
      const writes: Promise<{ inserted: boolean }>[] = [];
      for (let seqNo = 0; seqNo < 10; seqNo++) {
        for (let t = 0; t < 30; t++) {
          const eventType = seqNo === 0 ? 'Started' : seqNo === 9 ? 'Ended' : 'Updated';
          writes.push(
            store.recordTransactionEvent(
              txEvent('CS-burst', `tx-${t}`, seqNo, eventType, {
                evseId: (t % 4) + 1,
                chargingState: seqNo === 9 ? 'Idle' : 'Charging',
                firstRegister: { at: at(seqNo * 60), wh: seqNo * 100 },
                lastRegister: { at: at(seqNo * 60 + 30), wh: seqNo * 100 + 50 },
              }),
            ),
          );
        }
      }
      const results = await Promise.all(writes);
      const after = store.commitStats;
      expect(results.every((result) => result.inserted)).toBe(true);
      expect(after.writes - before.writes).toBe(300);
      expect(after.commits - before.commits).toBeLessThan(30);
      expect(after.failedBatches).toBe(before.failedBatches);
      // New events of known stations: every batch went in one statement, none was written again.
      expect(after.rewrittenBatches).toBe(before.rewrittenBatches);

      const transactions = await store.listTransactions('CS-burst', {});
      expect(transactions).toHaveLength(30);
      for (const tx of transactions) {
        expect(tx).toMatchObject({ active: false, eventCount: 10, lastSeqNo: 9, chargingState: 'Idle', meterStartWh: 0, meterStopWh: 950, energyWh: 950, flags: [] });
        expect(await store.getTransactionEvents('CS-burst', tx.transactionId)).toHaveLength(10);
      }
    });
  });

  describe('seqNo conflicts (a resend of a seqNo with other content)', () => {
    it('an Ended that reuses the seqNo of Started is kept as a conflict, flags the transaction and still ends it', async () => {
      await store.upsertStation('CS-conflict', {});
      const [started] = session('CS-conflict', 'tx-c');
      await store.recordTransactionEvent(started!);
      // The station's counter restarted: its Ended carries seqNo 0 again.
      const ended = txEvent('CS-conflict', 'tx-c', 0, 'Ended', {
        timestamp: at(600),
        stoppedReason: 'EVDisconnected',
        chargingState: 'Idle',
        firstRegister: { at: at(600), wh: 4000 },
        lastRegister: { at: at(600), wh: 4000 },
        response: { answer: 'ended' },
      });
      expect(await store.recordTransactionEvent(ended)).toEqual({ inserted: true, conflict: true });

      expect(await store.getTransaction('CS-conflict', 'tx-c')).toMatchObject({
        active: false,
        startedAt: at(0),
        endedAt: at(600),
        stoppedReason: 'EVDisconnected',
        meterStartWh: 1000,
        meterStopWh: 4000,
        energyWh: 3000,
        eventCount: 2,
        flags: ['seqNoConflict'],
      });
      expect(await store.openTransactionIds('CS-conflict')).toEqual([]);
      // The events keep the first copy of each seqNo; the other content is listed apart.
      const events = await store.getTransactionEvents('CS-conflict', 'tx-c');
      expect(events.map((event) => [event.seqNo, event.eventType])).toEqual([[0, 'Started']]);
      expect(await store.getTransactionConflicts('CS-conflict', 'tx-c')).toEqual([
        {
          seqNo: 0,
          eventType: 'Ended',
          timestamp: at(600),
          triggerReason: 'EVCommunicationLost',
          offline: false,
          payload: ended.payload,
          response: { answer: 'ended' },
          receivedAt: expect.any(Date),
        },
      ]);

      // A resend of the conflicting event is a duplicate of it: stored once, counted once.
      expect(await store.recordTransactionEvent({ ...ended, response: { answer: 'again' } })).toEqual({ inserted: false, conflict: true });
      expect(await store.getTransactionConflicts('CS-conflict', 'tx-c')).toHaveLength(1);
      expect(await store.getTransaction('CS-conflict', 'tx-c')).toMatchObject({ eventCount: 2, flags: ['seqNoConflict'] });
    });

    it('tells identical resends from conflicts inside one batch, and new events still take the one-statement path', async () => {
      await store.upsertStation('CS-conflict-batch', {});
      const started = txEvent('CS-conflict-batch', 'tx-cb', 0, 'Started', { evseId: 1 });
      await store.recordTransactionEvent(started);
      const updated = txEvent('CS-conflict-batch', 'tx-cb', 0, 'Updated', { chargingState: 'Charging' });
      const results = await Promise.all([
        store.recordTransactionEvent({ ...started }),
        store.recordTransactionEvent(updated),
        store.recordTransactionEvent({ ...updated }),
        store.recordTransactionEvent(txEvent('CS-conflict-batch', 'tx-cb', 1, 'Updated')),
      ]);
      expect(results).toEqual([
        { inserted: false, conflict: false },
        { inserted: true, conflict: true },
        { inserted: false, conflict: true },
        { inserted: true, conflict: false },
      ]);
      expect(await store.getTransactionConflicts('CS-conflict-batch', 'tx-cb')).toHaveLength(1);
      expect(await store.getTransaction('CS-conflict-batch', 'tx-cb')).toMatchObject({
        active: true,
        chargingState: 'Charging',
        eventCount: 3,
        lastSeqNo: 1,
        flags: ['seqNoConflict'],
      });

      const rewrittenBefore = store.commitStats.rewrittenBatches;
      expect(await store.recordTransactionEvent(txEvent('CS-conflict-batch', 'tx-cb', 2, 'Ended'))).toEqual({ inserted: true, conflict: false });
      expect(store.commitStats.rewrittenBatches).toBe(rewrittenBefore);
      expect(await store.getTransaction('CS-conflict-batch', 'tx-cb')).toMatchObject({ active: false, flags: ['seqNoConflict'] });
    });
  });

  describe('meter values', () => {
    it('stores resent MeterValues once, whether the resend shares the batch or comes later', async () => {
      await store.upsertStation('CS-meter-resend', {});
      const meterValue = [{ timestamp: at(10).toISOString(), sampledValue: [{ value: 1234 }] }];
      const write = (receivedAt: Date, evseId = 1) => ({
        stationId: 'CS-meter-resend',
        evseId,
        transactionId: 'tx-mr',
        source: 'MeterValues',
        meterValue,
        receivedAt,
      });
      await Promise.all([store.recordMeterValues(write(at(11))), store.recordMeterValues(write(at(12)))]);
      const rewrittenBefore = store.commitStats.rewrittenBatches;
      await store.recordMeterValues(write(at(13)));
      // A resend needs no second attempt: the one statement leaves it out.
      expect(store.commitStats.rewrittenBatches).toBe(rewrittenBefore);
      // The same samples for another EVSE are another message.
      await store.recordMeterValues(write(at(14), 2));
      const stored = await store.getTransactionMeterValues('CS-meter-resend', 'tx-mr');
      expect(stored.map((m) => [m.evseId, m.receivedAt])).toEqual([
        [1, at(11)],
        [2, at(14)],
      ]);
    });

    it('links MeterValues to their transaction, oldest first', async () => {
      await store.upsertStation('CS-meter', {});
      await store.recordTransactionEvent(txEvent('CS-meter', 'tx-m', 0, 'Started', { evseId: 1 }));
      const sample = (wh: number) => [{ timestamp: at(wh).toISOString(), sampledValue: [{ value: wh }] }];
      await store.recordMeterValues({ stationId: 'CS-meter', evseId: 1, transactionId: 'tx-m', source: 'MeterValues', meterValue: sample(1), receivedAt: at(1) });
      await Promise.all([
        store.recordMeterValues({ stationId: 'CS-meter', evseId: 1, transactionId: 'tx-m', source: 'MeterValues', meterValue: sample(2), receivedAt: at(2) }),
        store.recordMeterValues({ stationId: 'CS-meter', evseId: 0, transactionId: undefined, source: 'MeterValues', meterValue: sample(9), receivedAt: at(2) }),
        store.recordMeterValues({ stationId: 'CS-meter', evseId: 1, transactionId: 'tx-m', source: 'MeterValues', meterValue: sample(3), receivedAt: at(3) }),
      ]);
      const linked = await store.getTransactionMeterValues('CS-meter', 'tx-m');
      expect(linked).toEqual([1, 2, 3].map((n) => ({ evseId: 1, transactionId: 'tx-m', source: 'MeterValues', meterValue: sample(n), receivedAt: at(n) })));
      expect(await store.getTransactionMeterValues('CS-meter', 'tx-other')).toEqual([]);
    });
  });

  describe('lifecycle', () => {
    it('deletes transactions, their events and meter values with the station', async () => {
      await store.upsertStation('CS-cascade', {});
      await store.recordTransactionEvent(txEvent('CS-cascade', 'tx-c', 0, 'Started'));
      await store.recordMeterValues({ stationId: 'CS-cascade', evseId: 1, transactionId: 'tx-c', source: 'MeterValues', meterValue: [], receivedAt: at(0) });
      expect(await store.deleteStation('CS-cascade')).toBe(true);

      await store.upsertStation('CS-cascade', {});
      expect(await store.getTransaction('CS-cascade', 'tx-c')).toBeUndefined();
      expect(await store.listTransactions('CS-cascade', {})).toEqual([]);
      expect(await store.getTransactionEvents('CS-cascade', 'tx-c')).toEqual([]);
      expect(await store.getTransactionMeterValues('CS-cascade', 'tx-c')).toEqual([]);
      // The seqNo is free again: a new station's transaction starts from scratch.
      expect(await store.recordTransactionEvent(txEvent('CS-cascade', 'tx-c', 0, 'Started'))).toEqual({ inserted: true, conflict: false });
    });

    it(
      'keeps tokens, transactions and meter values across close and reopen, including writes pending at close',
      async () => {
        const place = await backend.newLocation();
        extraLocations.push(place);
        const first = await openStore(place.options);
        await first.upsertStation('CS-durable', {});
        await first.putIdToken('ISO15693', 'E0040150ABCDEF', { status: 'Accepted', groupId: 'G' });
        const events = session('CS-durable', 'tx-d');
        // Not awaited: close() must flush them.
        const pending = [
          ...events.slice(0, 3).map((event) => first.recordTransactionEvent(event)),
          first.recordMeterValues({ stationId: 'CS-durable', evseId: 1, transactionId: 'tx-d', source: 'MeterValues', meterValue: [{ x: 1 }], receivedAt: at(5) }),
        ];
        await first.close();
        await Promise.all(pending);

        const second = await openStore(place.options);
        try {
          expect(await second.getIdToken('ISO15693', 'E0040150ABCDEF')).toMatchObject({ status: 'Accepted', groupId: 'G' });
          expect(await second.getTransaction('CS-durable', 'tx-d')).toMatchObject({ active: true, eventCount: 3, startedAt: at(0) });
          expect(await second.openTransactionIds('CS-durable')).toEqual(['tx-d']);
          expect(await second.getTransactionMeterValues('CS-durable', 'tx-d')).toHaveLength(1);
          // A resend after the restart is still recognised.
          expect(await second.recordTransactionEvent(events[2]!)).toEqual({ inserted: false, conflict: false });
          expect(await second.recordTransactionEvent(events[3]!)).toEqual({ inserted: true, conflict: false });
          expect(withoutUpdatedAt(await second.getTransaction('CS-durable', 'tx-d'))).toEqual(sessionSummary('CS-durable', 'tx-d'));
        } finally {
          await second.close();
        }
      },
      REOPEN_TIMEOUT_MS,
    );
  });
});
