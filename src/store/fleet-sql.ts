import type { IdTokenRecord, TransactionRecord } from './billing-store.js';
import { toIdToken, toTransaction, TRANSACTION_COST_COLUMNS, type IdTokenRow, type TransactionRow } from './rows.js';
import type { Queryable } from './sql.js';
import type { JsonObject } from './store.js';

/** What the fleet index needs of every station at start-up (src/changes/fleet-index.ts). */
export interface FleetSnapshot {
  stations: { id: string; bootStatus: string; chargingStation: JsonObject | undefined; ocppVersion: string | undefined }[];
  connectors: { stationId: string; evseId: number; connectorId: number; status: string }[];
  activeTransactions: { stationId: string; transactionId: string }[];
}

/** CONTRACT §4 `GET /api/v1/transactions`: every filter optional; `from` inclusive, `to` exclusive on the start time. */
export interface FleetTransactionFilter {
  stationId?: string | undefined;
  idToken?: string | undefined;
  active?: boolean | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
}

/** Where the previous page stopped, in the list's order (start time, station, transaction; all descending). */
export interface FleetTransactionCursor {
  /** The start time as PostgreSQL prints it: exact to the microsecond (a JS Date would round it to the millisecond). */
  sortAt: string;
  stationId: string;
  transactionId: string;
}

export interface FleetTransactionPage {
  items: TransactionRecord[];
  /** Where each item sits in the list (same order as `items`), to continue after any of them. */
  positions: FleetTransactionCursor[];
}

/** Reads across the whole fleet: the index's snapshot, and the fleet-wide transaction list in keyset pages. */
export interface FleetStore {
  loadFleet(): Promise<FleetSnapshot>;
  /** Newest start first; `after` continues a previous page. Keyset paging: each page is one indexed range scan. */
  listFleetTransactions(filter: FleetTransactionFilter, after: FleetTransactionCursor | undefined, limit: number): Promise<FleetTransactionPage>;
  /** Registered id tokens by (type, idToken), after `after`; `q` is a case-insensitive substring of the value or group. */
  listIdTokens(q: string | undefined, after: { type: string; idToken: string } | undefined, limit: number): Promise<IdTokenRecord[]>;
}

const TRANSACTION_COLUMNS = `station_id, transaction_id, evse_id, connector_id, id_token, active, started_at, ended_at,
  stopped_reason, charging_state, remote_start_id, meter_start_wh, meter_stop_wh, last_seq_no, event_count, flags,
  updated_at, coalesce(started_at, first_event_at)::text AS sort_at, ${TRANSACTION_COST_COLUMNS}`;

export class SqlFleetStore implements FleetStore {
  constructor(private readonly db: Queryable) {}

  async loadFleet(): Promise<FleetSnapshot> {
    const [stations, connectors, active] = await Promise.all([
      this.db.query<{ id: string; boot_status: string; charging_station: JsonObject | null; ocpp_version: string | null }>(
        'SELECT id, boot_status, charging_station, ocpp_version FROM stations',
      ),
      // EVSE 0 rows from before migration 9 are the station's own status, not a connector.
      this.db.query<{ station_id: string; evse_id: number; connector_id: number; status: string }>(
        'SELECT station_id, evse_id, connector_id, status FROM connectors WHERE evse_id <> 0',
      ),
      this.db.query<{ station_id: string; transaction_id: string }>('SELECT station_id, transaction_id FROM transactions WHERE active'),
    ]);
    return {
      stations: stations.map((row) => ({
        id: row.id,
        bootStatus: row.boot_status,
        chargingStation: row.charging_station ?? undefined,
        ocppVersion: row.ocpp_version ?? undefined,
      })),
      connectors: connectors.map((row) => ({ stationId: row.station_id, evseId: row.evse_id, connectorId: row.connector_id, status: row.status })),
      activeTransactions: active.map((row) => ({ stationId: row.station_id, transactionId: row.transaction_id })),
    };
  }

  async listFleetTransactions(filter: FleetTransactionFilter, after: FleetTransactionCursor | undefined, limit: number): Promise<FleetTransactionPage> {
    const rows = await this.db.query<TransactionRow & { sort_at: string }>(
      `SELECT ${TRANSACTION_COLUMNS} FROM transactions
        WHERE ($1::text IS NULL OR station_id = $1::text)
          AND ($2::text IS NULL OR id_token->>'idToken' = $2::text)
          AND ($3::boolean IS NULL OR active = $3::boolean)
          AND ($4::timestamptz IS NULL OR coalesce(started_at, first_event_at) >= $4::timestamptz)
          AND ($5::timestamptz IS NULL OR coalesce(started_at, first_event_at) < $5::timestamptz)
          AND ($6::timestamptz IS NULL OR (coalesce(started_at, first_event_at), station_id, transaction_id) < ($6::timestamptz, $7::text, $8::text))
        ORDER BY coalesce(started_at, first_event_at) DESC, station_id DESC, transaction_id DESC
        LIMIT $9`,
      [
        filter.stationId ?? null,
        filter.idToken ?? null,
        filter.active ?? null,
        filter.from ?? null,
        filter.to ?? null,
        after?.sortAt ?? null,
        after?.stationId ?? null,
        after?.transactionId ?? null,
        limit,
      ],
    );
    return {
      items: rows.map(toTransaction),
      positions: rows.map((row) => ({ sortAt: row.sort_at, stationId: row.station_id, transactionId: row.transaction_id })),
    };
  }

  async listIdTokens(q: string | undefined, after: { type: string; idToken: string } | undefined, limit: number): Promise<IdTokenRecord[]> {
    const rows = await this.db.query<IdTokenRow>(
      `SELECT type, id_token, status, group_id, expires_at, updated_at FROM id_tokens
        WHERE ($1::text IS NULL OR strpos(lower(id_token), lower($1::text)) > 0 OR strpos(lower(coalesce(group_id, '')), lower($1::text)) > 0)
          AND ($2::text IS NULL OR (type, id_token) > ($2::text, $3::text))
        ORDER BY type, id_token
        LIMIT $4`,
      [q ?? null, after?.type ?? null, after?.idToken ?? null, limit],
    );
    return rows.map(toIdToken);
  }
}
