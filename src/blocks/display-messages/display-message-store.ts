import { withStation } from '../../store/errors.js';
import { json, type SqlDatabase } from '../../store/sql.js';
import type { JsonObject } from '../../store/store.js';

export interface DisplayMessageRecord {
  id: number;
  source: 'CSMS' | 'station';
  message: JsonObject;
  status: string;
  response: JsonObject | undefined;
  requestId: number | undefined;
  updatedAt: Date;
}

interface DisplayMessageRow {
  id: number;
  source: 'CSMS' | 'station';
  message: JsonObject;
  status: string;
  response: JsonObject | null;
  request_id: number | null;
  updated_at: Date | string;
}

/**
 * Display messages per station (CONTRACT §8.5): what the CSMS set (kept once the station accepted it) and what
 * the station last reported through NotifyDisplayMessages, assembled per GetDisplayMessages requestId.
 */
export class DisplayMessageStore {
  constructor(private readonly db: SqlDatabase) {}

  private readonly listeners: ((stationId: string) => void)[] = [];

  /** Told (after the commit) each time a write changes what the station's GET shows: the change stream follows it. */
  onChange(listener: (stationId: string) => void): void {
    this.listeners.push(listener);
  }

  private changed(stationId: string): void {
    for (const listener of this.listeners) listener(stationId);
  }

  /** A message id for this station: from one CSMS-wide sequence, and above every id the station already holds. */
  async nextId(stationId: string): Promise<number> {
    const rows = await this.db.query<{ id: number }>(
      `SELECT greatest(nextval('display_message_ids'), coalesce((SELECT max(id) FROM display_messages WHERE station_id = $1), 0) + 1)::integer AS id`,
      [stationId],
    );
    return (rows[0] as { id: number }).id;
  }

  /**
   * The station's answer to SetDisplayMessage. Accepted: the message is on it (a message with the same id is
   * replaced whole, O06.FR.01). Any other answer is kept with its status (TC_O_17/18/19/26: shown, never active),
   * but never overwrites an accepted message of the same id: the station still shows that one.
   */
  async recordSet(stationId: string, message: JsonObject, response: JsonObject): Promise<void> {
    await withStation(
      stationId,
      this.db.query(
        `INSERT INTO display_messages (station_id, source, id, message, status, response) VALUES ($1, 'CSMS', $2, $3::jsonb, $4, $5::jsonb)
         ON CONFLICT (station_id, source, id) DO UPDATE SET message = excluded.message, status = excluded.status, response = excluded.response, updated_at = now()
         WHERE excluded.status = 'Accepted' OR display_messages.status <> 'Accepted'`,
        [stationId, message.id as number, json(message), typeof response.status === 'string' ? response.status : 'Accepted', json(response)],
      ),
    );
    this.changed(stationId);
  }

  /** The station accepted ClearDisplayMessage, or said it has no such message (TC_O_05): it leaves both views. */
  async recordCleared(stationId: string, id: number): Promise<void> {
    await this.db.query('DELETE FROM display_messages WHERE station_id = $1 AND id = $2', [stationId, id]);
    this.changed(stationId);
  }

  /**
   * The station accepted GetDisplayMessages (or has none: `complete`): its earlier report is replaced by this one.
   * The station may send its first NotifyDisplayMessages right behind the answer, so this can run after parts of
   * the same requestId were stored: those stay (the report has begun already).
   */
  async startReport(stationId: string, requestId: number, complete: boolean): Promise<void> {
    await withStation(
      stationId,
      this.db.transaction(async (q) => {
        const current = await q.query<{ request_id: number }>('SELECT request_id FROM display_message_reports WHERE station_id = $1 FOR UPDATE', [stationId]);
        if (current[0]?.request_id === requestId) return;
        await q.query(`DELETE FROM display_messages WHERE station_id = $1 AND source = 'station'`, [stationId]);
        await q.query(
          `INSERT INTO display_message_reports (station_id, request_id, complete) VALUES ($1, $2, $3)
           ON CONFLICT (station_id) DO UPDATE SET request_id = excluded.request_id, complete = excluded.complete, received_at = now()
           WHERE display_message_reports.request_id <> excluded.request_id`,
          [stationId, requestId, complete],
        );
      }),
    );
    this.changed(stationId);
  }

  /** One NotifyDisplayMessages part; a part of another requestId than the current report starts a new report. */
  async recordReported(stationId: string, requestId: number, messages: readonly JsonObject[], tbc: boolean): Promise<void> {
    await withStation(
      stationId,
      this.db.transaction(async (q) => {
        const current = await q.query<{ request_id: number }>('SELECT request_id FROM display_message_reports WHERE station_id = $1 FOR UPDATE', [stationId]);
        if (current[0]?.request_id !== requestId) {
          await q.query(`DELETE FROM display_messages WHERE station_id = $1 AND source = 'station'`, [stationId]);
        }
        await q.query(
          `INSERT INTO display_message_reports (station_id, request_id, complete) VALUES ($1, $2, $3)
           ON CONFLICT (station_id) DO UPDATE SET request_id = excluded.request_id, complete = excluded.complete, received_at = now()`,
          [stationId, requestId, !tbc],
        );
        for (const message of messages) {
          await q.query(
            `INSERT INTO display_messages (station_id, source, id, message, status, request_id) VALUES ($1, 'station', $2, $3::jsonb, 'Reported', $4)
             ON CONFLICT (station_id, source, id) DO UPDATE SET message = excluded.message, request_id = excluded.request_id, updated_at = now()`,
            [stationId, message.id as number, json(message), requestId],
          );
        }
      }),
    );
    this.changed(stationId);
  }

  async list(stationId: string): Promise<DisplayMessageRecord[]> {
    const rows = await this.db.query<DisplayMessageRow>(
      `SELECT id, source, message, status, response, request_id, updated_at FROM display_messages WHERE station_id = $1 ORDER BY source, id`,
      [stationId],
    );
    return rows.map((row) => ({
      id: row.id,
      source: row.source,
      message: row.message,
      status: row.status,
      response: row.response ?? undefined,
      requestId: row.request_id ?? undefined,
      updatedAt: new Date(row.updated_at),
    }));
  }

  async report(stationId: string): Promise<{ requestId: number; complete: boolean } | undefined> {
    const rows = await this.db.query<{ request_id: number; complete: boolean }>('SELECT request_id, complete FROM display_message_reports WHERE station_id = $1', [
      stationId,
    ]);
    return rows[0] === undefined ? undefined : { requestId: rows[0].request_id, complete: rows[0].complete };
  }
}
