import type { RegisterReading, TransactionEventWrite } from './billing-store.js';
import type { JsonObject } from './store.js';

/**
 * What new events contribute to one transaction row, and how contributions combine. Merging is by
 * meaning, not arrival order (offline queues deliver late and out of order):
 *
 * - evseId, connectorId, idToken, remoteStartId: the first value known wins;
 * - startedAt / endedAt: the timestamp of the Started / Ended event; active until an Ended event is seen;
 * - stoppedReason: from the Ended event, else from the highest seqNo that carried one;
 * - chargingState: from the highest seqNo that carried one;
 * - meter start / stop: the register reading taken earliest / latest;
 * - lastSeqNo: the greatest; eventCount: one per stored event; firstEventAt: the earliest timestamp.
 *
 * `foldTransactionDelta` applies these rules to events of one batch; the SQL upsert of billing-sql.ts
 * applies the same rules between the stored row (earlier) and a batch's folded delta (later), so that a
 * batch ends up exactly where the same events written one at a time would.
 */

export interface RankedValue {
  value: string;
  seqNo: number;
}

export interface StoppedReason extends RankedValue {
  /** A reason the Ended event carries beats any other. */
  fromEnded: boolean;
}

export interface TransactionDelta {
  stationId: string;
  transactionId: string;
  evseId: number | undefined;
  connectorId: number | undefined;
  idToken: JsonObject | undefined;
  remoteStartId: number | undefined;
  startedAt: Date | undefined;
  endedAt: Date | undefined;
  stoppedReason: StoppedReason | undefined;
  chargingState: RankedValue | undefined;
  meterStart: RegisterReading | undefined;
  meterStop: RegisterReading | undefined;
  lastSeqNo: number;
  eventCount: number;
  firstEventAt: Date;
}

export function transactionKey(stationId: string, transactionId: string): string {
  return `${stationId}\u0000${transactionId}`;
}

export function transactionDelta(event: TransactionEventWrite): TransactionDelta {
  return {
    stationId: event.stationId,
    transactionId: event.transactionId,
    evseId: event.evseId,
    connectorId: event.connectorId,
    idToken: event.idToken,
    remoteStartId: event.remoteStartId,
    startedAt: event.eventType === 'Started' ? event.timestamp : undefined,
    endedAt: event.eventType === 'Ended' ? event.timestamp : undefined,
    stoppedReason: event.stoppedReason === undefined ? undefined : { value: event.stoppedReason, seqNo: event.seqNo, fromEnded: event.eventType === 'Ended' },
    chargingState: event.chargingState === undefined ? undefined : { value: event.chargingState, seqNo: event.seqNo },
    meterStart: event.firstRegister,
    meterStop: event.lastRegister,
    lastSeqNo: event.seqNo,
    eventCount: 1,
    firstEventAt: event.timestamp,
  };
}

/** Whether `candidate` replaces `current` as the stopped reason. */
export function stoppedReasonWins(candidate: StoppedReason | undefined, current: StoppedReason | undefined): boolean {
  if (candidate === undefined) return false;
  if (current === undefined) return true;
  if (candidate.fromEnded !== current.fromEnded) return candidate.fromEnded;
  return candidate.seqNo > current.seqNo;
}

/** `later` arrived after `earlier`; both are of the same transaction. */
export function foldTransactionDelta(earlier: TransactionDelta, later: TransactionDelta): TransactionDelta {
  const { chargingState: state, meterStart: start, meterStop: stop } = earlier;
  return {
    stationId: earlier.stationId,
    transactionId: earlier.transactionId,
    evseId: earlier.evseId ?? later.evseId,
    connectorId: earlier.connectorId ?? later.connectorId,
    idToken: earlier.idToken ?? later.idToken,
    remoteStartId: earlier.remoteStartId ?? later.remoteStartId,
    startedAt: earlier.startedAt ?? later.startedAt,
    endedAt: earlier.endedAt ?? later.endedAt,
    stoppedReason: stoppedReasonWins(later.stoppedReason, earlier.stoppedReason) ? later.stoppedReason : earlier.stoppedReason,
    chargingState: later.chargingState !== undefined && (state === undefined || later.chargingState.seqNo > state.seqNo) ? later.chargingState : state,
    // Ties: the reading already there stays the start; the one that came later becomes the stop.
    meterStart: later.meterStart !== undefined && (start === undefined || later.meterStart.at < start.at) ? later.meterStart : start,
    meterStop: later.meterStop !== undefined && (stop === undefined || later.meterStop.at >= stop.at) ? later.meterStop : stop,
    lastSeqNo: Math.max(earlier.lastSeqNo, later.lastSeqNo),
    eventCount: earlier.eventCount + later.eventCount,
    firstEventAt: later.firstEventAt < earlier.firstEventAt ? later.firstEventAt : earlier.firstEventAt,
  };
}
