import type {
  BillingStore,
  IdTokenInput,
  IdTokenRecord,
  MeterValuesWrite,
  StoredMeterValues,
  StoredTransactionEvent,
  TransactionEventWrite,
  TransactionRecord,
} from './billing-store.js';
import { contentHash } from './content-hash.js';
import type { JsonObject } from './store.js';
import { UnknownStationError, withStation } from './errors.js';
import { batchStatement, type BatchStatement, type BatchWriter, type GroupCommitter, type RowErrors } from './group-commit.js';
import type { RecordCompanions } from './record-companions.js';
import {
  toIdToken,
  toMeterValues,
  toTransaction,
  toTransactionEvent,
  type IdTokenRow,
  type MeterValuesRow,
  type TransactionEventRow,
  type TransactionRow,
  TRANSACTION_COST_COLUMNS,
} from './rows.js';
import { json, storableText, type Queryable, type SqlDatabase, type SqlParam } from './sql.js';
import { foldTransactionDelta, transactionDelta, transactionKey, type TransactionDelta } from './transaction-merge.js';

/** A transaction event on its way through group commit; the writer fills in `inserted` and `conflict`. */
interface TransactionEventEntry {
  event: TransactionEventWrite;
  inserted: boolean;
  conflict: boolean;
}

function jsonOrNull(value: unknown): string | null {
  return value === undefined ? null : json(value);
}

function isoOrNull(value: Date | undefined): string | null {
  return value === undefined ? null : value.toISOString();
}

/** As stored: keys read back from the database match the keys of the writes they came from. */
function eventKey(stationId: string, transactionId: string, seqNo: number): string {
  return `${storableText(stationId)}\u0000${storableText(transactionId)}\u0000${seqNo}`;
}

/**
 * The stations among `ids` that exist, locked against deletion until COMMIT (FOR KEY SHARE, the lock
 * the foreign key check would take anyway): rows of missing stations are refused up front instead of
 * failing the whole batch on the foreign key.
 */
async function existingStations(q: Queryable, ids: readonly string[]): Promise<Set<string>> {
  const rows = await q.query<{ id: string }>('SELECT id FROM stations WHERE id = ANY($1::text[]) FOR KEY SHARE', [[...new Set(ids)]]);
  return new Set(rows.map((row) => row.id));
}

/** `column = CASE WHEN <condition> THEN excluded.column ELSE t.column END`, for each column. */
function takeWhen(condition: string, columns: readonly string[]): string {
  return columns.map((column) => `${column} = CASE WHEN ${condition} THEN excluded.${column} ELSE t.${column} END`).join(',\n             ');
}

/**
 * The merge rules of transaction-merge.ts between the stored row `t` (earlier) and a batch's folded
 * delta `excluded` (later). SET expressions all see the row as it was before this statement.
 */
const UPSERT_TRANSACTIONS = `
  INSERT INTO transactions AS t (
    station_id, transaction_id, evse_id, connector_id, id_token, remote_start_id, active, started_at, ended_at,
    stopped_reason, stopped_reason_ended, stopped_reason_seq, charging_state, charging_state_seq,
    meter_start_wh, meter_start_at, meter_stop_wh, meter_stop_at, last_seq_no, event_count, first_event_at, flags)
  SELECT u.station_id, u.transaction_id, u.evse_id, u.connector_id, u.id_token::jsonb, u.remote_start_id,
         u.ended_at IS NULL, u.started_at::timestamptz, u.ended_at::timestamptz,
         u.stopped_reason, u.stopped_reason_ended, u.stopped_reason_seq, u.charging_state, u.charging_state_seq,
         u.meter_start_wh, u.meter_start_at::timestamptz, u.meter_stop_wh, u.meter_stop_at::timestamptz,
         u.last_seq_no, u.event_count, u.first_event_at::timestamptz,
         CASE WHEN u.started_at IS NULL THEN ARRAY['startMissing'] ELSE ARRAY[]::text[] END
    FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::text[], $6::int[], $7::text[], $8::text[],
                $9::text[], $10::bool[], $11::int[], $12::text[], $13::int[],
                $14::float8[], $15::text[], $16::float8[], $17::text[], $18::int[], $19::int[], $20::text[])
         AS u(station_id, transaction_id, evse_id, connector_id, id_token, remote_start_id, started_at, ended_at,
              stopped_reason, stopped_reason_ended, stopped_reason_seq, charging_state, charging_state_seq,
              meter_start_wh, meter_start_at, meter_stop_wh, meter_stop_at, last_seq_no, event_count, first_event_at)
  ON CONFLICT (station_id, transaction_id) DO UPDATE SET
             evse_id = coalesce(t.evse_id, excluded.evse_id),
             connector_id = coalesce(t.connector_id, excluded.connector_id),
             id_token = coalesce(t.id_token, excluded.id_token),
             remote_start_id = coalesce(t.remote_start_id, excluded.remote_start_id),
             active = t.active AND excluded.active,
             started_at = coalesce(t.started_at, excluded.started_at),
             ended_at = coalesce(t.ended_at, excluded.ended_at),
             ${takeWhen(
               `excluded.stopped_reason IS NOT NULL AND (t.stopped_reason IS NULL
                  OR (excluded.stopped_reason_ended, excluded.stopped_reason_seq) > (t.stopped_reason_ended, t.stopped_reason_seq))`,
               ['stopped_reason', 'stopped_reason_ended', 'stopped_reason_seq'],
             )},
             ${takeWhen('excluded.charging_state IS NOT NULL AND (t.charging_state IS NULL OR excluded.charging_state_seq > t.charging_state_seq)', [
               'charging_state',
               'charging_state_seq',
             ])},
             ${takeWhen('excluded.meter_start_at IS NOT NULL AND (t.meter_start_at IS NULL OR excluded.meter_start_at < t.meter_start_at)', [
               'meter_start_wh',
               'meter_start_at',
             ])},
             ${takeWhen('excluded.meter_stop_at IS NOT NULL AND (t.meter_stop_at IS NULL OR excluded.meter_stop_at >= t.meter_stop_at)', [
               'meter_stop_wh',
               'meter_stop_at',
             ])},
             last_seq_no = greatest(t.last_seq_no, excluded.last_seq_no),
             event_count = t.event_count + excluded.event_count,
             first_event_at = least(t.first_event_at, excluded.first_event_at),
             flags = CASE
               WHEN coalesce(t.started_at, excluded.started_at) IS NOT NULL THEN array_remove(t.flags, 'startMissing')
               WHEN 'startMissing' = ANY (t.flags) THEN t.flags
               ELSE array_append(t.flags, 'startMissing')
             END,
             updated_at = now()`;

function upsertParams(deltas: readonly TransactionDelta[]): SqlParam[] {
  return [
    deltas.map((d) => d.stationId),
    deltas.map((d) => d.transactionId),
    deltas.map((d) => d.evseId ?? null),
    deltas.map((d) => d.connectorId ?? null),
    deltas.map((d) => jsonOrNull(d.idToken)),
    deltas.map((d) => d.remoteStartId ?? null),
    deltas.map((d) => isoOrNull(d.startedAt)),
    deltas.map((d) => isoOrNull(d.endedAt)),
    deltas.map((d) => d.stoppedReason?.value ?? null),
    deltas.map((d) => d.stoppedReason?.fromEnded ?? null),
    deltas.map((d) => d.stoppedReason?.seqNo ?? null),
    deltas.map((d) => d.chargingState?.value ?? null),
    deltas.map((d) => d.chargingState?.seqNo ?? null),
    deltas.map((d) => d.meterStart?.wh ?? null),
    deltas.map((d) => isoOrNull(d.meterStart?.at)),
    deltas.map((d) => d.meterStop?.wh ?? null),
    deltas.map((d) => isoOrNull(d.meterStop?.at)),
    deltas.map((d) => d.lastSeqNo),
    deltas.map((d) => d.eventCount),
    deltas.map((d) => d.firstEventAt.toISOString()),
  ];
}

/** Events of a missing station are left out by the join rather than failing the batch on the foreign key. */
const INSERT_EVENTS = `
  INSERT INTO transaction_events (station_id, transaction_id, seq_no, event_type, "timestamp", trigger_reason,
                                  offline, payload, response)
  SELECT u.station_id, u.transaction_id, u.seq_no, u.event_type, u.ts::timestamptz, u.trigger_reason,
         u.offline, u.payload::jsonb, u.response::jsonb
    FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::bool[], $8::text[], $9::text[])
         AS u(station_id, transaction_id, seq_no, event_type, ts, trigger_reason, offline, payload, response)
    JOIN stations s ON s.id = u.station_id
  ON CONFLICT (station_id, transaction_id, seq_no) DO NOTHING`;

function insertEventsParams(events: readonly TransactionEventWrite[]): SqlParam[] {
  return [
    events.map((event) => event.stationId),
    events.map((event) => event.transactionId),
    events.map((event) => event.seqNo),
    events.map((event) => event.eventType),
    events.map((event) => event.timestamp.toISOString()),
    events.map((event) => event.triggerReason),
    events.map((event) => event.offline),
    events.map((event) => json(event.payload)),
    events.map((event) => json(event.response)),
  ];
}

/** Which not-inserted events (by ordinality) differ from the event stored under their seqNo. */
const DIFFERS_FROM_STORED = `
  SELECT u.ord AS ord, e.payload <> u.payload::jsonb AS differs
    FROM unnest($1::text[], $2::text[], $3::int[], $4::text[]) WITH ORDINALITY AS u(station_id, transaction_id, seq_no, payload, ord)
    JOIN transaction_events e ON e.station_id = u.station_id AND e.transaction_id = u.transaction_id AND e.seq_no = u.seq_no`;

/** A resend of a conflict (same content_hash) is stored once. */
const INSERT_CONFLICTS = `
  INSERT INTO transaction_event_conflicts (station_id, transaction_id, seq_no, content_hash, event_type, "timestamp",
                                           trigger_reason, offline, payload, response)
  SELECT u.station_id, u.transaction_id, u.seq_no, u.content_hash, u.event_type, u.ts::timestamptz, u.trigger_reason,
         u.offline, u.payload::jsonb, u.response::jsonb
    FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::bool[], $8::text[], $9::text[], $10::text[])
         AS u(station_id, transaction_id, seq_no, event_type, ts, trigger_reason, offline, payload, response, content_hash)
  ON CONFLICT (station_id, transaction_id, seq_no, content_hash) DO NOTHING
  RETURNING station_id, transaction_id, seq_no, content_hash`;

/** Run after the upsert, which has locked these rows already (in key order), so it takes no new lock. */
const FLAG_SEQ_NO_CONFLICT = `
  UPDATE transactions SET flags = array_append(flags, 'seqNoConflict'), updated_at = now()
   WHERE (station_id, transaction_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
     AND NOT ('seqNoConflict' = ANY (flags))`;

/** `$n` → `$(n + by)`, to put two statements' parameters side by side in one. */
function shiftParams(text: string, by: number): string {
  return text.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + by}`);
}

/** Both CTEs run to completion whether or not the final SELECT reads them. */
const INSERT_NEW_EVENTS_WITH_TRANSACTIONS = `
  WITH stored AS (${INSERT_EVENTS} RETURNING 1),
       summed AS (${shiftParams(UPSERT_TRANSACTIONS, 9)})
  SELECT stroom_expect((SELECT count(*) FROM stored) = $30, 'a transaction event of the batch is not new, or its station is missing') AS ok`;

const TRANSACTION_COLUMNS = `station_id, transaction_id, evse_id, connector_id, id_token, active, started_at, ended_at,
  stopped_reason, charging_state, remote_start_id, meter_start_wh, meter_stop_wh, last_seq_no, event_count, flags,
  updated_at, ${TRANSACTION_COST_COLUMNS}`;

/** The BillingStore over SQL; SqlStore owns one and shares its database and group committer with it. */
export class SqlBillingStore implements BillingStore {
  private readonly transactionEvents: BatchWriter<TransactionEventEntry>;
  private readonly meterValues: BatchWriter<MeterValuesWrite>;

  constructor(
    private readonly db: SqlDatabase,
    committer: GroupCommitter,
    private readonly companions: () => RecordCompanions | undefined = () => undefined,
  ) {
    this.transactionEvents = committer.writer<TransactionEventEntry>({
      name: 'transaction event',
      // No key: every entry must learn whether its own event was the one stored.
      statement: (entries) => newTransactionEventsStatement(entries),
      write: (q, entries) => this.writeTransactionEvents(q, entries),
    });

    this.meterValues = committer.writer<MeterValuesWrite>({
      name: 'meter values',
      statement: (rows) =>
        // Rows of a missing station are left out by the join and refused; should a station vanish between
        // the join and the insert, the foreign key fails the batch and its writes are retried one by one.
        // ORDER BY ordinality: ids follow the order in which the messages were received. A resend (same
        // content_hash: the EVSE and its samples) is left out, whether it shares the batch or comes later;
        // the known stations are read apart, since a resend inserts nothing.
        batchStatement<{ station_id: string }>(
          `WITH stored AS (
             INSERT INTO meter_values (station_id, evse_id, transaction_id, source, meter_value, received_at, content_hash)
             SELECT u.station_id, u.evse_id, u.transaction_id, u.source, u.meter_value::jsonb, u.received_at::timestamptz,
                    u.content_hash
               FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
                    WITH ORDINALITY AS u(station_id, evse_id, transaction_id, source, meter_value, received_at, content_hash, ord)
               JOIN stations s ON s.id = u.station_id
              ORDER BY u.ord
             ON CONFLICT (station_id, source, content_hash) DO NOTHING)
           SELECT id AS station_id FROM stations WHERE id = ANY($1::text[])`,
          [
            rows.map((row) => row.stationId),
            rows.map((row) => row.evseId),
            rows.map((row) => row.transactionId ?? null),
            rows.map((row) => row.source),
            rows.map((row) => json(row.meterValue)),
            rows.map((row) => row.receivedAt.toISOString()),
            rows.map((row) => contentHash({ evseId: row.evseId, meterValue: row.meterValue })),
          ],
          (stored) => {
            const known = new Set(stored.map((row) => row.station_id));
            const errors = new Map<number, Error>();
            rows.forEach((row, index) => {
              if (!known.has(row.stationId)) errors.set(index, new UnknownStationError(row.stationId));
            });
            return errors.size > 0 ? errors : undefined;
          },
        ),
    });
  }

  // Id tokens (operator writes and authorization reads: direct, not batched)

  async transactionIdFor16Start(stationId: string, timestamp: Date, request: JsonObject): Promise<{ transactionId: number; known: boolean }> {
    // COALESCE stops at the first non-null argument: a known Start takes no number from the sequence. A new number
    // skips any id this station already used (a station that spoke 2.0.1 before may have chosen numeric ids); the
    // numbers skipped are gaps, never reused.
    const rows = await this.db.query<{ transaction_id: number | null; known: boolean }>(
      `SELECT known.id IS NOT NULL AS known,
              coalesce(known.id::integer,
                       (SELECT fresh.n FROM (SELECT nextval('ocpp16_transaction_ids')::integer AS n FROM generate_series(1, 5)) AS fresh
                         WHERE NOT EXISTS (SELECT 1 FROM transactions t WHERE t.station_id = $1 AND t.transaction_id = fresh.n::text)
                         LIMIT 1)) AS transaction_id
         FROM (SELECT (SELECT e.transaction_id FROM transaction_events e
                        WHERE e.station_id = $1 AND e.trigger_reason = 'StartTransaction' AND e."timestamp" = $2::timestamptz AND e.payload = $3::jsonb
                        LIMIT 1) AS id) AS known`,
      [stationId, timestamp.toISOString(), json(request)],
    );
    const row = rows[0];
    if (row === undefined || row.transaction_id === null) throw new Error(`no free 1.6 transactionId for station ${stationId}`);
    return { transactionId: row.transaction_id, known: row.known };
  }

  async findIdTokenByValue(value: string): Promise<IdTokenRecord | undefined> {
    const rows = await this.db.query<IdTokenRow>(
      `SELECT type, id_token, status, group_id, expires_at, updated_at FROM id_tokens
        WHERE upper(id_token) = upper($1)
        ORDER BY array_position(ARRAY['ISO14443', 'ISO15693', 'Central', 'Local', 'KeyCode', 'eMAID', 'MacAddress'], type) NULLS LAST, type
        LIMIT 1`,
      [value],
    );
    const row = rows[0];
    return row ? toIdToken(row) : undefined;
  }

  async getIdToken(type: string, idToken: string): Promise<IdTokenRecord | undefined> {
    const rows = await this.db.query<IdTokenRow>('SELECT type, id_token, status, group_id, expires_at, updated_at FROM id_tokens WHERE type = $1 AND id_token = $2', [
      type,
      idToken,
    ]);
    const row = rows[0];
    return row ? toIdToken(row) : undefined;
  }

  async putIdToken(type: string, idToken: string, input: IdTokenInput): Promise<{ token: IdTokenRecord; created: boolean }> {
    // xmax = 0 only for a row this statement inserted.
    const rows = await this.db.query<IdTokenRow & { created: boolean }>(
      `INSERT INTO id_tokens (type, id_token, status, group_id, expires_at)
       VALUES ($1, $2, $3, $4::text, $5::timestamptz)
       ON CONFLICT (type, id_token) DO UPDATE SET
         status = excluded.status, group_id = excluded.group_id, expires_at = excluded.expires_at, updated_at = now()
       RETURNING type, id_token, status, group_id, expires_at, updated_at, (xmax = 0) AS created`,
      [type, idToken, input.status, input.groupId ?? null, isoOrNull(input.expiresAt)],
    );
    const row = rows[0];
    if (!row) throw new Error(`upsert of id token ${type}/${idToken} returned no row`);
    return { token: toIdToken(row), created: row.created };
  }

  async deleteIdToken(type: string, idToken: string): Promise<boolean> {
    const rows = await this.db.query<{ type: string }>('DELETE FROM id_tokens WHERE type = $1 AND id_token = $2 RETURNING type', [type, idToken]);
    return rows.length > 0;
  }

  // Records of station traffic (group commit)

  async recordTransactionEvent(event: TransactionEventWrite): Promise<{ inserted: boolean; conflict: boolean }> {
    if (Number.isNaN(event.timestamp.getTime())) throw new RangeError(`TransactionEvent ${event.transactionId}/${event.seqNo} has an invalid timestamp`);
    const entry: TransactionEventEntry = { event, inserted: false, conflict: false };
    await withStation(event.stationId, this.transactionEvents.write(entry, this.companions()?.transactionEvent(event)));
    return { inserted: entry.inserted, conflict: entry.conflict };
  }

  recordMeterValues(write: MeterValuesWrite): Promise<void> {
    return withStation(write.stationId, this.meterValues.write(write));
  }

  // Reads

  async getTransaction(stationId: string, transactionId: string): Promise<TransactionRecord | undefined> {
    const rows = await this.db.query<TransactionRow>(`SELECT ${TRANSACTION_COLUMNS} FROM transactions WHERE station_id = $1 AND transaction_id = $2`, [
      stationId,
      transactionId,
    ]);
    const row = rows[0];
    return row ? toTransaction(row) : undefined;
  }

  async listTransactions(stationId: string, filter: { active?: boolean }): Promise<TransactionRecord[]> {
    const rows = await this.db.query<TransactionRow>(
      `SELECT ${TRANSACTION_COLUMNS} FROM transactions
        WHERE station_id = $1 AND ($2::boolean IS NULL OR active = $2::boolean)
        ORDER BY coalesce(started_at, first_event_at) DESC, transaction_id`,
      [stationId, filter.active ?? null],
    );
    return rows.map(toTransaction);
  }

  async getTransactionEvents(stationId: string, transactionId: string): Promise<StoredTransactionEvent[]> {
    const rows = await this.db.query<TransactionEventRow>(
      `SELECT seq_no, event_type, "timestamp", trigger_reason, offline, payload, response, received_at
         FROM transaction_events WHERE station_id = $1 AND transaction_id = $2 ORDER BY seq_no`,
      [stationId, transactionId],
    );
    return rows.map(toTransactionEvent);
  }

  async getTransactionConflicts(stationId: string, transactionId: string): Promise<StoredTransactionEvent[]> {
    const rows = await this.db.query<TransactionEventRow>(
      `SELECT seq_no, event_type, "timestamp", trigger_reason, offline, payload, response, received_at
         FROM transaction_event_conflicts WHERE station_id = $1 AND transaction_id = $2
        ORDER BY received_at, seq_no, content_hash`,
      [stationId, transactionId],
    );
    return rows.map(toTransactionEvent);
  }

  async getTransactionMeterValues(stationId: string, transactionId: string): Promise<StoredMeterValues[]> {
    const rows = await this.db.query<MeterValuesRow>(
      `SELECT evse_id, transaction_id, source, meter_value, received_at
         FROM meter_values WHERE station_id = $1 AND transaction_id = $2 ORDER BY id`,
      [stationId, transactionId],
    );
    return rows.map(toMeterValues);
  }

  async openTransactionIds(stationId: string): Promise<string[]> {
    const rows = await this.db.query<{ transaction_id: string }>(
      `SELECT transaction_id FROM transactions WHERE station_id = $1 AND active
        ORDER BY coalesce(started_at, first_event_at), transaction_id`,
      [stationId],
    );
    return rows.map((row) => row.transaction_id);
  }

  /**
   * One batch of events, the careful way (after `newTransactionEventsStatement` found a resend, a conflict
   * or a missing station): insert the first copy of each (station, transaction, seqNo) of existing
   * stations; of the others, those whose content differs from the event stored under their seqNo are
   * conflicts, stored apart (once per content). What the inserted events and conflicts say is folded into
   * their transactions with one upsert, in arrival order; transactions with a new conflict are flagged.
   */
  private async writeTransactionEvents(q: Queryable, entries: TransactionEventEntry[]): Promise<RowErrors | undefined> {
    // A batch that failed as a whole is written again; nothing of the failed attempt counts.
    for (const entry of entries) {
      entry.inserted = false;
      entry.conflict = false;
    }
    const { unique } = firstCopies(entries);
    const candidates = unique.map(({ entry }) => entry.event);
    const stored = await q.query<{ station_id: string; transaction_id: string; seq_no: number }>(
      `${INSERT_EVENTS} RETURNING station_id, transaction_id, seq_no`,
      insertEventsParams(candidates),
    );
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-conversion -- the row type is what the SQL promises, not checked; Number() keeps the key numeric whatever the driver hands back
    const insertedKeys = new Set(stored.map((row) => eventKey(row.station_id, row.transaction_id, Number(row.seq_no))));

    const errors = new Map<number, Error>();
    const applied: number[] = [];
    for (const { index, entry } of unique) {
      const { event } = entry;
      if (!insertedKeys.has(eventKey(event.stationId, event.transactionId, event.seqNo))) continue;
      entry.inserted = true;
      applied.push(index);
    }
    // Not inserted: a resend, a conflict, or an event of a missing station.
    const others = entries.map((entry, index) => ({ entry, index })).filter(({ entry }) => !entry.inserted);
    if (others.length > 0) {
      const known = await existingStations(
        q,
        others.map(({ entry }) => entry.event.stationId),
      );
      for (const { index, entry } of others) {
        if (!known.has(entry.event.stationId)) errors.set(index, new UnknownStationError(entry.event.stationId));
      }
      const compared = others.filter(({ index }) => !errors.has(index));
      const differing = await q.query<{ ord: string | number; differs: boolean }>(DIFFERS_FROM_STORED, [
        compared.map(({ entry }) => entry.event.stationId),
        compared.map(({ entry }) => entry.event.transactionId),
        compared.map(({ entry }) => entry.event.seqNo),
        compared.map(({ entry }) => json(entry.event.payload)),
      ]);
      const conflicts = differing
        .filter((row) => row.differs)
        .map((row) => compared[Number(row.ord) - 1])
        .filter((other): other is { entry: TransactionEventEntry; index: number } => other !== undefined)
        // Arrival order, so that the first copy of a conflict is the one stored.
        .sort((a, b) => a.index - b.index);
      applied.push(...(await this.storeConflicts(q, conflicts)));
    }

    applied.sort((a, b) => a - b);
    const events = applied.map((index) => (entries[index] as TransactionEventEntry).event);
    if (events.length > 0) await q.query(UPSERT_TRANSACTIONS, upsertParams(foldedDeltas(events)));
    const flagged = [
      ...new Map(
        applied
          .filter((index) => entries[index]?.conflict)
          .map((index) => {
            const { event } = entries[index] as TransactionEventEntry;
            return [transactionKey(event.stationId, event.transactionId), event] as const;
          }),
      ).values(),
    ];
    if (flagged.length > 0) {
      await q.query(FLAG_SEQ_NO_CONFLICT, [flagged.map((event) => event.stationId), flagged.map((event) => event.transactionId)]);
    }
    return errors.size > 0 ? errors : undefined;
  }

  /** Stores the first copy of each conflicting content not stored before; returns the indexes stored. */
  private async storeConflicts(q: Queryable, conflicts: ReadonlyArray<{ entry: TransactionEventEntry; index: number }>): Promise<number[]> {
    const firstByKey = new Map<string, { entry: TransactionEventEntry; index: number; hash: string }>();
    for (const conflict of conflicts) {
      conflict.entry.conflict = true;
      const { event } = conflict.entry;
      const hash = contentHash(event.payload);
      const key = `${eventKey(event.stationId, event.transactionId, event.seqNo)}\u0000${hash}`;
      if (!firstByKey.has(key)) firstByKey.set(key, { ...conflict, hash });
    }
    if (firstByKey.size === 0) return [];
    const firsts = [...firstByKey.values()];
    const stored = await q.query<{ station_id: string; transaction_id: string; seq_no: number; content_hash: string }>(INSERT_CONFLICTS, [
      ...insertEventsParams(firsts.map(({ entry }) => entry.event)),
      firsts.map(({ hash }) => hash),
    ]);
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-conversion -- the row type is what the SQL promises, not checked; Number() keeps the key numeric whatever the driver hands back
    const storedKeys = new Set(stored.map((row) => `${eventKey(row.station_id, row.transaction_id, Number(row.seq_no))}\u0000${row.content_hash}`));
    const indexes: number[] = [];
    for (const [key, { entry, index }] of firstByKey) {
      if (!storedKeys.has(key)) continue;
      entry.inserted = true;
      indexes.push(index);
    }
    return indexes;
  }
}

/** Two copies of one (station, transaction, seqNo) in a batch: only the first goes to the events table. */
function firstCopies(entries: readonly TransactionEventEntry[]): { unique: Array<{ index: number; entry: TransactionEventEntry }> } {
  const seen = new Set<string>();
  const unique: Array<{ index: number; entry: TransactionEventEntry }> = [];
  entries.forEach((entry, index) => {
    const { event } = entry;
    const key = eventKey(event.stationId, event.transactionId, event.seqNo);
    if (seen.has(key)) return;
    seen.add(key);
    unique.push({ index, entry });
  });
  return { unique };
}

/**
 * What the events say of their transactions, folded in arrival order (so a batch ends where the same
 * events one at a time would), one delta per transaction in a fixed order, so that concurrent nodes do not
 * deadlock on the same transactions.
 */
function foldedDeltas(events: readonly TransactionEventWrite[]): TransactionDelta[] {
  const deltas = new Map<string, TransactionDelta>();
  for (const event of events) {
    const key = transactionKey(event.stationId, event.transactionId);
    const delta = transactionDelta(event);
    const earlier = deltas.get(key);
    deltas.set(key, earlier === undefined ? delta : foldTransactionDelta(earlier, delta));
  }
  return [...deltas.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, delta]) => delta);
}

/**
 * The common batch, in one statement: every event is new and its station exists. The events are inserted
 * and their transactions upserted together; should any event not be inserted, the statement raises and
 * the batch is written again with `writeTransactionEvents`, which looks at each event.
 */
function newTransactionEventsStatement(entries: readonly TransactionEventEntry[]): BatchStatement {
  for (const entry of entries) {
    entry.inserted = false;
    entry.conflict = false;
  }
  const { unique } = firstCopies(entries);
  const events = unique.map(({ entry }) => entry.event);
  // Expecting every entry inserted sends a batch with two copies of one seqNo (a resend, or a conflict:
  // only the careful path can tell) the careful way too.
  return batchStatement(INSERT_NEW_EVENTS_WITH_TRANSACTIONS, [...insertEventsParams(events), ...upsertParams(foldedDeltas(events)), entries.length], () => {
    for (const { entry } of unique) entry.inserted = true;
  });
}
