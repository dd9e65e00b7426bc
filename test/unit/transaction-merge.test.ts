import { describe, expect, it } from 'vitest';
import type { TransactionEventWrite } from '../../src/store/billing-store.js';
import { transactionEventWrite } from '../support/store-writes.js';
import { foldTransactionDelta, stoppedReasonWins, transactionDelta, transactionKey, type TransactionDelta } from '../../src/store/transaction-merge.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const at = (minutes: number): Date => new Date(T0 + minutes * 60_000);

/** One TransactionEvent of CS1/T1 as the store writes it; `minutes` after T0, saying nothing unless told. */
function event(eventType: TransactionEventWrite['eventType'], seqNo: number, minutes: number, contributes: Partial<TransactionEventWrite> = {}): TransactionEventWrite {
  const triggerReason = eventType === 'Started' ? 'Authorized' : eventType === 'Ended' ? 'StopAuthorized' : 'MeterValuePeriodic';
  return transactionEventWrite({ stationId: 'CS1', transactionId: 'T1', seqNo, eventType, timestamp: at(minutes), triggerReason, payload: {} }, contributes);
}

/** Register readings of one event, earliest first. */
function registers(first: [minutes: number, wh: number], last: [minutes: number, wh: number] = first): Partial<TransactionEventWrite> {
  return { firstRegister: { at: at(first[0]), wh: first[1] }, lastRegister: { at: at(last[0]), wh: last[1] } };
}

/** The transaction's contributions from events in arrival order, folded as one batch folds them. */
function merged(...events: TransactionEventWrite[]): TransactionDelta {
  const [first, ...rest] = events.map(transactionDelta);
  if (first === undefined) throw new Error('no events');
  return rest.reduce(foldTransactionDelta, first);
}

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, index) => permutations([...items.slice(0, index), ...items.slice(index + 1)]).map((rest) => [item, ...rest]));
}

/** A session: Started, two updates, Ended — each with its own readings, state and ids where a station sends them. */
const session = [
  event('Started', 0, 0, { evseId: 1, connectorId: 1, idToken: { idToken: 'RFID-1', type: 'ISO14443' }, chargingState: 'EVConnected', ...registers([0, 1_000]) }),
  event('Updated', 1, 10, { chargingState: 'Charging', ...registers([5, 1_500], [10, 2_000]) }),
  event('Updated', 2, 20, { chargingState: 'SuspendedEV', stoppedReason: 'Local', ...registers([20, 3_000]) }),
  event('Ended', 3, 30, { stoppedReason: 'EVDisconnected', ...registers([30, 4_000]) }),
];

describe('transaction merge: what one event contributes', () => {
  it('a Started event gives startedAt, an Ended event endedAt and a stopped reason that beats the others', () => {
    const started = transactionDelta(session[0] as TransactionEventWrite);
    expect(started).toMatchObject({
      startedAt: at(0),
      endedAt: undefined,
      evseId: 1,
      chargingState: { value: 'EVConnected', seqNo: 0 },
      lastSeqNo: 0,
      eventCount: 1,
      firstEventAt: at(0),
    });
    const ended = transactionDelta(session[3] as TransactionEventWrite);
    expect(ended).toMatchObject({ startedAt: undefined, endedAt: at(30), stoppedReason: { value: 'EVDisconnected', seqNo: 3, fromEnded: true } });
    const updated = transactionDelta(session[2] as TransactionEventWrite);
    expect(updated.stoppedReason).toEqual({ value: 'Local', seqNo: 2, fromEnded: false });
  });

  it('keys transactions by station and transaction id without confusing the two', () => {
    expect(transactionKey('CS1', 'T1')).toBe(transactionKey('CS1', 'T1'));
    expect(transactionKey('CS1', 'T1')).not.toBe(transactionKey('CS', '1T1'));
    expect(transactionKey('CS1', 'T1')).not.toBe(transactionKey('CS2', 'T1'));
  });
});

describe('transaction merge: by meaning, not arrival order (offline queues)', () => {
  it('events in any arrival order merge to the same transaction', () => {
    const inOrder = merged(...session);
    expect(inOrder).toEqual({
      stationId: 'CS1',
      transactionId: 'T1',
      evseId: 1,
      connectorId: 1,
      idToken: { idToken: 'RFID-1', type: 'ISO14443' },
      remoteStartId: undefined,
      startedAt: at(0),
      endedAt: at(30),
      stoppedReason: { value: 'EVDisconnected', seqNo: 3, fromEnded: true },
      chargingState: { value: 'SuspendedEV', seqNo: 2 },
      meterStart: { at: at(0), wh: 1_000 },
      meterStop: { at: at(30), wh: 4_000 },
      lastSeqNo: 3,
      eventCount: 4,
      firstEventAt: at(0),
    });
    for (const order of permutations(session)) {
      expect(merged(...order), order.map((e) => e.seqNo).join(',')).toEqual(inOrder);
    }
  });

  it('a late Started event still gives startedAt and the earliest event time', () => {
    const [started, update, , ended] = session as [TransactionEventWrite, TransactionEventWrite, TransactionEventWrite, TransactionEventWrite];
    const beforeStarted = merged(update, ended);
    expect(beforeStarted.startedAt).toBeUndefined();
    expect(beforeStarted.firstEventAt).toEqual(at(10));
    const after = merged(update, ended, started);
    expect(after.startedAt).toEqual(at(0));
    expect(after.firstEventAt).toEqual(at(0));
    expect(after.evseId).toBe(1);
  });

  it('an Ended event is applied, and an Updated event arriving after it does not reopen the transaction', () => {
    const [started, update, , ended] = session as [TransactionEventWrite, TransactionEventWrite, TransactionEventWrite, TransactionEventWrite];
    const closed = merged(started, ended, update);
    expect(closed.endedAt).toEqual(at(30));
    expect(closed.lastSeqNo).toBe(3);
  });

  it('stoppedReason: the Ended event’s reason beats one of a higher seqNo', () => {
    const ended = event('Ended', 3, 30, { stoppedReason: 'Remote' });
    const lateUpdate = event('Updated', 4, 31, { stoppedReason: 'Local' });
    expect(merged(ended, lateUpdate).stoppedReason).toEqual({ value: 'Remote', seqNo: 3, fromEnded: true });
    expect(merged(lateUpdate, ended).stoppedReason).toEqual({ value: 'Remote', seqNo: 3, fromEnded: true });
  });

  it('stoppedReason: without one from the Ended event, the highest seqNo that carried one', () => {
    const early = event('Updated', 1, 10, { stoppedReason: 'Local' });
    const later = event('Updated', 2, 20, { stoppedReason: 'EnergyLimitReached' });
    const endedWithout = event('Ended', 3, 30);
    expect(merged(later, early, endedWithout).stoppedReason).toEqual({ value: 'EnergyLimitReached', seqNo: 2, fromEnded: false });
    expect(merged(early, later).stoppedReason?.value).toBe('EnergyLimitReached');
  });

  it('stoppedReasonWins: a reason beats none, an Ended one beats any other, otherwise the higher seqNo', () => {
    const reason = (seqNo: number, fromEnded: boolean) => ({ value: 'x', seqNo, fromEnded });
    expect(stoppedReasonWins(undefined, reason(1, false))).toBe(false);
    expect(stoppedReasonWins(reason(1, false), undefined)).toBe(true);
    expect(stoppedReasonWins(reason(1, true), reason(9, false))).toBe(true);
    expect(stoppedReasonWins(reason(9, false), reason(1, true))).toBe(false);
    expect(stoppedReasonWins(reason(2, false), reason(1, false))).toBe(true);
    expect(stoppedReasonWins(reason(1, false), reason(2, false))).toBe(false);
  });

  it('chargingState: from the highest seqNo that carried one; an event without one changes nothing', () => {
    const charging = event('Updated', 1, 10, { chargingState: 'Charging' });
    const idle = event('Updated', 2, 20, { chargingState: 'Idle' });
    const silent = event('Updated', 3, 25);
    expect(merged(idle, charging).chargingState).toEqual({ value: 'Idle', seqNo: 2 });
    expect(merged(charging, idle, silent).chargingState).toEqual({ value: 'Idle', seqNo: 2 });
  });

  it('meter start / stop: the register reading taken earliest / latest, whatever the arrival order', () => {
    const middle = event('Updated', 1, 10, registers([10, 2_000], [15, 2_500]));
    const first = event('Started', 0, 0, registers([0, 1_000]));
    const last = event('Updated', 2, 20, registers([20, 3_000]));
    const meter = merged(middle, last, first);
    expect(meter.meterStart).toEqual({ at: at(0), wh: 1_000 });
    expect(meter.meterStop).toEqual({ at: at(20), wh: 3_000 });
    // An event without readings keeps both.
    expect(merged(first, last, event('Updated', 3, 30))).toMatchObject({ meterStart: { wh: 1_000 }, meterStop: { wh: 3_000 } });
  });

  it('meter readings taken at the same time: the one already there stays the start, the later arrival becomes the stop', () => {
    const a = event('Updated', 1, 10, registers([10, 1_000]));
    const b = event('Updated', 2, 10, registers([10, 1_001]));
    const meter = merged(a, b);
    expect(meter.meterStart).toEqual({ at: at(10), wh: 1_000 });
    expect(meter.meterStop).toEqual({ at: at(10), wh: 1_001 });
  });

  it('evseId, connectorId, idToken, remoteStartId: the first value known wins, a later one only fills a gap', () => {
    const first = event('Started', 0, 0, { evseId: 1, idToken: { idToken: 'A', type: 'ISO14443' } });
    const second = event('Updated', 1, 5, { evseId: 2, connectorId: 3, idToken: { idToken: 'B', type: 'ISO14443' }, remoteStartId: 77 });
    expect(merged(first, second)).toMatchObject({ evseId: 1, connectorId: 3, idToken: { idToken: 'A' }, remoteStartId: 77 });
  });

  it('lastSeqNo is the greatest, eventCount one per event, firstEventAt the earliest timestamp', () => {
    const result = merged(event('Updated', 5, 50), event('Updated', 2, 20), event('Updated', 7, 40));
    expect(result).toMatchObject({ lastSeqNo: 7, eventCount: 3, firstEventAt: at(20) });
  });

  it('folding is associative: a batch folded onto the stored row lands where single writes would', () => {
    const [a, b, c, d] = session.map(transactionDelta) as [TransactionDelta, TransactionDelta, TransactionDelta, TransactionDelta];
    const oneByOne = foldTransactionDelta(foldTransactionDelta(foldTransactionDelta(a, b), c), d);
    const storedThenBatch = foldTransactionDelta(foldTransactionDelta(a, b), foldTransactionDelta(c, d));
    const singleThenBatch = foldTransactionDelta(a, foldTransactionDelta(foldTransactionDelta(b, c), d));
    expect(storedThenBatch).toEqual(oneByOne);
    expect(singleThenBatch).toEqual(oneByOne);
  });
});
