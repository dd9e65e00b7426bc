import type { Json, JsonObject } from './store.js';

/**
 * The money path's records: id tokens (who may charge) and transactions (what was charged). Kept apart
 * from store.ts so the billing truth has one obvious home; SqlStore implements both.
 */

export type IdTokenStatus = 'Accepted' | 'Blocked' | 'Expired' | 'Invalid';

export interface IdTokenRecord {
  /** As registered; for ISO14443/ISO15693 the hex UID in upper case. */
  idToken: string;
  type: string;
  status: IdTokenStatus;
  groupId: string | undefined;
  expiresAt: Date | undefined;
  updatedAt: Date;
}

export interface IdTokenInput {
  status: IdTokenStatus;
  groupId?: string | undefined;
  expiresAt?: Date | undefined;
}

/** One Energy.Active.Import.Register reading in Wh, with the time it was taken. */
export interface RegisterReading {
  at: Date;
  wh: number;
}

/**
 * What one TransactionEvent contributes to its transaction. The store merges it into the transaction row
 * only if the event itself was new (a resend of the same seqNo changes nothing), and merges by meaning,
 * not arrival order: events may arrive late and out of order (offline queues).
 */
export interface TransactionEventWrite {
  stationId: string;
  transactionId: string;
  seqNo: number;
  eventType: 'Started' | 'Updated' | 'Ended';
  timestamp: Date;
  triggerReason: string;
  /** The 2.0.1 offline flag; null for a 1.6 message, which has none. */
  offline: boolean | null;
  /** The request, verbatim (signed meter values included). */
  payload: JsonObject;
  /** The answer we gave, so an operator sees exactly what the station was told. */
  response: JsonObject;
  // Contributions to the transaction summary (undefined = this event says nothing about it)
  evseId: number | undefined;
  connectorId: number | undefined;
  idToken: JsonObject | undefined;
  chargingState: string | undefined;
  stoppedReason: string | undefined;
  remoteStartId: number | undefined;
  /** Earliest and latest register readings carried by this event. */
  firstRegister: RegisterReading | undefined;
  lastRegister: RegisterReading | undefined;
}

export interface TransactionRecord {
  stationId: string;
  transactionId: string;
  evseId: number | undefined;
  connectorId: number | undefined;
  idToken: JsonObject | undefined;
  active: boolean;
  /** Timestamp of the Started event (as the station stamped it, so offline starts keep their real time). */
  startedAt: Date | undefined;
  endedAt: Date | undefined;
  stoppedReason: string | undefined;
  /** From the event with the highest seqNo that carried one. */
  chargingState: string | undefined;
  remoteStartId: number | undefined;
  meterStartWh: number | undefined;
  meterStopWh: number | undefined;
  /** meterStop − meterStart, from the Energy.Active.Import.Register samples. */
  energyWh: number | undefined;
  lastSeqNo: number;
  eventCount: number;
  /**
   * Anomalies an operator should see: `startMissing` (events arrived for a transaction whose Started
   * event we never got), `seqNoConflict` (an event reused a stored seqNo with other content).
   */
  flags: string[];
  updatedAt: Date;
  /** CONTRACT §8.4: the cost (decimal string, rounded to the minor unit) and its currency, when a tariff priced it. */
  cost?: string | undefined;
  currency?: string | undefined;
}

export interface StoredTransactionEvent {
  seqNo: number;
  eventType: string;
  timestamp: Date;
  triggerReason: string;
  /** The 2.0.1 offline flag; null for a 1.6 message, which has none. */
  offline: boolean | null;
  payload: JsonObject;
  response: JsonObject;
  receivedAt: Date;
}

export interface MeterValuesWrite {
  stationId: string;
  evseId: number;
  /** Set when the samples belong to a transaction (TransactionEvent, or MeterValues during one). */
  transactionId: string | undefined;
  /** `MeterValues` or `TransactionEvent`. */
  source: string;
  /** The meterValue array, verbatim. */
  meterValue: Json[];
  receivedAt: Date;
}

export interface StoredMeterValues {
  evseId: number;
  transactionId: string | undefined;
  source: string;
  meterValue: Json[];
  receivedAt: Date;
}

export interface BillingStore {
  getIdToken(type: string, idToken: string): Promise<IdTokenRecord | undefined>;
  /**
   * CONTRACT §3.1: the token a 1.6 idTag names: same value, case-insensitively, whatever its type; of several,
   * the first type of ISO14443, ISO15693, Central, Local, KeyCode, eMAID, MacAddress.
   */
  findIdTokenByValue(value: string): Promise<IdTokenRecord | undefined>;
  putIdToken(type: string, idToken: string, input: IdTokenInput): Promise<{ token: IdTokenRecord; created: boolean }>;
  deleteIdToken(type: string, idToken: string): Promise<boolean>;

  /**
   * Group commit. `conflict`: an event with the same (station, transactionId, seqNo) but other content was
   * stored before (a station whose counter restarted); such an event is kept apart (getTransactionConflicts),
   * flags the transaction `seqNoConflict` and is applied to it all the same. `inserted`: stored now (as an
   * event or as a conflict); false for a resend of content already stored, which changes nothing.
   */
  recordTransactionEvent(event: TransactionEventWrite): Promise<{ inserted: boolean; conflict: boolean }>;
  /**
   * The transactionId for a 1.6 StartTransaction: the one it got before when the same request (a resend after a
   * lost answer) is stored already, else a new one from the CSMS-wide sequence (never handed out twice). The id is
   * durable once the Start event carrying it is recorded, which its answer waits for.
   */
  transactionIdFor16Start(stationId: string, timestamp: Date, request: JsonObject): Promise<{ transactionId: number; known: boolean }>;
  /** Group commit. MeterValues messages (TransactionEvent samples are stored with their event). */
  recordMeterValues(write: MeterValuesWrite): Promise<void>;

  getTransaction(stationId: string, transactionId: string): Promise<TransactionRecord | undefined>;
  listTransactions(stationId: string, filter: { active?: boolean }): Promise<TransactionRecord[]>;
  /** Every event of the transaction in seqNo order. */
  getTransactionEvents(stationId: string, transactionId: string): Promise<StoredTransactionEvent[]>;
  /** Events that reused a stored seqNo with other content, in the order they were received. */
  getTransactionConflicts(stationId: string, transactionId: string): Promise<StoredTransactionEvent[]>;
  /** MeterValues messages linked to the transaction, oldest first. */
  getTransactionMeterValues(stationId: string, transactionId: string): Promise<StoredMeterValues[]>;
  /** Transactions of the station that are still open, for the actor after a reconnect or restart. */
  openTransactionIds(stationId: string): Promise<string[]>;
}
