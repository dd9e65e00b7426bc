import type { JsonObject } from '../../json.js';
import type { Queryable } from '../../store/sql.js';
import { json } from '../../store/sql.js';

/**
 * CONTRACT §8.2 statuses: `Pending` while ReserveNow is in flight, then the station's ReserveNow status, then
 * what became of an accepted reservation. Only `Accepted` is live (the station holds the EVSE).
 */
export type ReservationStatus = 'Pending' | 'Accepted' | 'Faulted' | 'Occupied' | 'Rejected' | 'Unavailable' | 'Used' | 'Expired' | 'Removed' | 'Cancelled';

export interface ReservationRecord {
  id: number;
  stationId: string;
  evseId: number | undefined;
  connectorType: string | undefined;
  idToken: JsonObject;
  groupIdToken: JsonObject | undefined;
  expiresAt: Date;
  status: ReservationStatus;
  /** The station's last answer about it (ReserveNow, then CancelReservation). */
  response: JsonObject | undefined;
  /** The transaction that used it. */
  transactionId: string | undefined;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewReservation {
  stationId: string;
  evseId: number | undefined;
  connectorType: string | undefined;
  idToken: JsonObject;
  groupIdToken: JsonObject | undefined;
  expiresAt: Date;
  createdAt: Date;
}

interface ReservationRow {
  id: number;
  station_id: string;
  evse_id: number | null;
  connector_type: string | null;
  id_token: JsonObject;
  group_id_token: JsonObject | null;
  expires_at: Date;
  status: ReservationStatus;
  response: JsonObject | null;
  transaction_id: string | null;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'id, station_id, evse_id, connector_type, id_token, group_id_token, expires_at, status, response, transaction_id, created_at, updated_at';

function toRecord(row: ReservationRow): ReservationRecord {
  return {
    id: row.id,
    stationId: row.station_id,
    evseId: row.evse_id ?? undefined,
    connectorType: row.connector_type ?? undefined,
    idToken: row.id_token,
    groupIdToken: row.group_id_token ?? undefined,
    expiresAt: row.expires_at,
    status: row.status,
    response: row.response ?? undefined,
    transactionId: row.transaction_id ?? undefined,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/**
 * The reservations' durable state. Every status change is one conditional UPDATE (`from` lists the statuses it
 * may leave), so two nodes, a late station message and the expiry sweep never close a reservation twice: the one
 * statement that matched returns the row, the others return nothing.
 */
export class ReservationStore {
  constructor(private readonly db: Queryable) {}

  /** Stored before ReserveNow leaves, so the id is the CSMS's for good and a crash never reuses it. */
  async create(input: NewReservation): Promise<ReservationRecord> {
    const rows = await this.db.query<ReservationRow>(
      `INSERT INTO reservations (id, station_id, evse_id, connector_type, id_token, group_id_token, expires_at, status, created_at, updated_at)
       VALUES (nextval('reservation_ids'), $1, $2, $3, $4::jsonb, $5::jsonb, $6, 'Pending', $7, $7)
       RETURNING ${COLUMNS}`,
      [
        input.stationId,
        input.evseId ?? null,
        input.connectorType ?? null,
        json(input.idToken),
        input.groupIdToken === undefined ? null : json(input.groupIdToken),
        input.expiresAt,
        input.createdAt,
      ],
    );
    return toRecord(rows[0] as ReservationRow);
  }

  /** A reservation the station never saw (not connected, refused by the schema) is not kept. */
  async discard(id: number): Promise<void> {
    await this.db.query('DELETE FROM reservations WHERE id = $1', [id]);
  }

  async get(stationId: string, id: number): Promise<ReservationRecord | undefined> {
    const rows = await this.db.query<ReservationRow>(`SELECT ${COLUMNS} FROM reservations WHERE station_id = $1 AND id = $2`, [stationId, id]);
    return rows[0] === undefined ? undefined : toRecord(rows[0]);
  }

  async list(stationId: string): Promise<ReservationRecord[]> {
    const rows = await this.db.query<ReservationRow>(`SELECT ${COLUMNS} FROM reservations WHERE station_id = $1 ORDER BY id`, [stationId]);
    return rows.map(toRecord);
  }

  /**
   * Moves the reservation to `status` when it is in one of `from`; undefined when it was not (already closed,
   * unknown id, another station's).
   */
  async transition(
    stationId: string,
    id: number,
    from: readonly ReservationStatus[],
    status: ReservationStatus,
    at: Date,
    extra: { response?: JsonObject; transactionId?: string } = {},
  ): Promise<ReservationRecord | undefined> {
    const rows = await this.db.query<ReservationRow>(
      `UPDATE reservations
          SET status = $4, updated_at = $5,
              response = coalesce($6::jsonb, response),
              transaction_id = coalesce($7, transaction_id)
        WHERE station_id = $1 AND id = $2 AND status = ANY($3::text[])
        RETURNING ${COLUMNS}`,
      [stationId, id, [...from], status, at, extra.response === undefined ? null : json(extra.response), extra.transactionId ?? null],
    );
    return rows[0] === undefined ? undefined : toRecord(rows[0]);
  }

  /** Records the latest station answer without changing the status (a refused CancelReservation). */
  async setResponse(stationId: string, id: number, response: JsonObject, at: Date): Promise<ReservationRecord | undefined> {
    const rows = await this.db.query<ReservationRow>(
      `UPDATE reservations SET response = $3::jsonb, updated_at = $4 WHERE station_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
      [stationId, id, json(response), at],
    );
    return rows[0] === undefined ? undefined : toRecord(rows[0]);
  }

  /**
   * Closes every live reservation whose expiry has passed by `now` (the CSMS's clock), at most `limit` at a time.
   * One statement: whichever node runs it first closes a reservation; the others find nothing left.
   */
  async expireDue(now: Date, limit: number): Promise<ReservationRecord[]> {
    const rows = await this.db.query<ReservationRow>(
      `UPDATE reservations SET status = 'Expired', updated_at = $1
        WHERE id IN (SELECT id FROM reservations WHERE status = 'Accepted' AND expires_at <= $1 ORDER BY expires_at LIMIT $2)
          AND status = 'Accepted'
        RETURNING ${COLUMNS}`,
      [now, limit],
    );
    return rows.map(toRecord);
  }
}
