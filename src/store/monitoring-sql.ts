import type { JsonObject } from '../json.js';
import { json, type Queryable, type SqlDatabase } from './sql.js';
import { withStation } from './errors.js';

/**
 * What the monitoring block keeps (migration 21): the monitor registry per station, monitoring reports per
 * requestId, the monitoring base and level, and monitor events. Every write is its own committed statement
 * (fsync'd like any commit), so what a station sent is durable before it is answered.
 */

export type MonitorSource = 'CSMS' | 'station';

export interface MonitorRecord {
  /** The station's monitor id; null for an element the station refused without giving one. */
  id: number | null;
  component: JsonObject;
  variable: JsonObject;
  type: string;
  value: number;
  severity: number;
  transaction: boolean;
  source: MonitorSource;
  /** CSMS: the SetVariableMonitoring status; station: `Reported`. */
  status: string;
  updatedAt: Date;
}

/** One monitor to store: `key` is the row's identity within (station, source). */
export interface MonitorWrite extends Omit<MonitorRecord, 'source' | 'updatedAt'> {
  key: string;
}

export interface MonitoringReportPart {
  requestId: number;
  seqNo: number;
  tbc: boolean;
  generatedAt: string;
  monitor: JsonObject[];
}

export interface MonitoringReportRequest {
  requestId: number;
  request: JsonObject;
  status: string;
  answeredAt: Date;
}

export interface MonitoringSettings {
  monitoringBase: string | null;
  monitoringBaseAt: Date | null;
  monitoringLevel: number | null;
  monitoringLevelAt: Date | null;
}

export interface MonitorEventWrite {
  generatedAt: string;
  seqNo: number;
  eventId: number;
  timestamp: string;
  trigger: string;
  actualValue: string;
  cleared: boolean;
  severity: number | null;
  variableMonitoringId: number | null;
  eventNotificationType: string;
  component: JsonObject;
  variable: JsonObject;
}

export interface MonitoringStore {
  /** Upserts CSMS-set monitors (one SetVariableMonitoring answer); `replacesKeys` are refused rows an accepted one supersedes. */
  recordSetMonitors(stationId: string, monitors: readonly MonitorWrite[], replacesKeys: readonly string[]): Promise<void>;
  /** An accepted ClearVariableMonitoring: the monitor is gone, whoever set or reported it. */
  removeMonitors(stationId: string, ids: readonly number[]): Promise<void>;
  /**
   * A complete monitoring report: the station-reported monitors `inScope` selects are replaced by `monitors`.
   * `inScope` sees each stored station monitor (a filtered report replaces only what its filters cover).
   */
  replaceReportedMonitors(stationId: string, monitors: readonly MonitorWrite[], inScope: (monitor: MonitorRecord) => boolean): Promise<void>;
  /** SetMonitoringBase FactoryDefault/HardWiredOnly (N03.FR.04/05): the custom monitors the CSMS set are gone. */
  removeCustomMonitors(stationId: string): Promise<void>;
  listMonitors(stationId: string): Promise<MonitorRecord[]>;
  /** The monitor of this id (the CSMS's record first, then the station's report). */
  findMonitor(stationId: string, id: number): Promise<MonitorRecord | undefined>;

  recordReportRequest(stationId: string, request: MonitoringReportRequest): Promise<void>;
  /** Sets the status of a kept request only while it is one of `onlyFrom`; resolves whether it changed. */
  setReportStatus(stationId: string, requestId: number, status: string, onlyFrom: readonly string[]): Promise<boolean>;
  /**
   * N04.FR.19: after a reboot the accepted CSMS-set monitors are exactly `monitors` (re-mapped to the ids the
   * station now reports; those it no longer holds are gone). Refusals (no id) are left as they are.
   */
  replaceAcceptedCsmsMonitors(stationId: string, monitors: readonly MonitorWrite[]): Promise<void>;
  getReportRequest(stationId: string, requestId: number): Promise<MonitoringReportRequest | undefined>;
  recordReportPart(stationId: string, part: MonitoringReportPart): Promise<void>;
  getReportParts(stationId: string, requestId: number): Promise<MonitoringReportPart[]>;
  /** Keeps the parts and requests of the `keepRequests` newest requestIds of a station; resolves to how many requestIds went. */
  pruneReports(stationId: string, keepRequests: number): Promise<number>;

  recordMonitoringBase(stationId: string, base: string, at: Date): Promise<void>;
  recordMonitoringLevel(stationId: string, level: number, at: Date): Promise<void>;
  getSettings(stationId: string): Promise<MonitoringSettings>;

  /** Stores the events not stored before; resolves with those that are new (a resend yields none). */
  recordMonitorEvents(stationId: string, events: readonly MonitorEventWrite[]): Promise<MonitorEventWrite[]>;
}

interface MonitorRow {
  monitor_id: number | null;
  component: JsonObject;
  variable: JsonObject;
  type: string;
  value: number;
  severity: number;
  transaction: boolean;
  source: MonitorSource;
  status: string;
  updated_at: Date;
}

const MONITOR_COLUMNS = 'monitor_id, component, variable, type, value, severity, transaction, source, status, updated_at';

function toMonitor(row: MonitorRow): MonitorRecord {
  return {
    id: row.monitor_id,
    component: row.component,
    variable: row.variable,
    type: row.type,
    value: row.value,
    severity: row.severity,
    transaction: row.transaction,
    source: row.source,
    status: row.status,
    updatedAt: row.updated_at,
  };
}

async function upsertMonitors(q: Queryable, stationId: string, source: MonitorSource, monitors: readonly MonitorWrite[]): Promise<void> {
  if (monitors.length === 0) return;
  await q.query(
    `INSERT INTO monitors (station_id, source, monitor_key, monitor_id, component, variable, type, value, severity, transaction, status)
     SELECT $1, $2, u.monitor_key, u.monitor_id, u.component::jsonb, u.variable::jsonb, u.type, u.value, u.severity, u.transaction, u.status
       FROM unnest($3::text[], $4::int[], $5::text[], $6::text[], $7::text[], $8::float8[], $9::int[], $10::bool[], $11::text[])
            AS u(monitor_key, monitor_id, component, variable, type, value, severity, transaction, status)
     ON CONFLICT (station_id, source, monitor_key) DO UPDATE SET
       monitor_id = excluded.monitor_id, component = excluded.component, variable = excluded.variable, type = excluded.type,
       value = excluded.value, severity = excluded.severity, transaction = excluded.transaction, status = excluded.status,
       updated_at = now()`,
    [
      stationId,
      source,
      monitors.map((m) => m.key),
      monitors.map((m) => m.id),
      monitors.map((m) => json(m.component)),
      monitors.map((m) => json(m.variable)),
      monitors.map((m) => m.type),
      monitors.map((m) => m.value),
      monitors.map((m) => m.severity),
      monitors.map((m) => m.transaction),
      monitors.map((m) => m.status),
    ],
  );
}

export class SqlMonitoringStore implements MonitoringStore {
  constructor(private readonly db: SqlDatabase) {}

  recordSetMonitors(stationId: string, monitors: readonly MonitorWrite[], replacesKeys: readonly string[]): Promise<void> {
    return withStation(
      stationId,
      this.db.transaction(async (q) => {
        if (replacesKeys.length > 0) {
          await q.query(`DELETE FROM monitors WHERE station_id = $1 AND source = 'CSMS' AND monitor_key = ANY($2::text[])`, [stationId, [...replacesKeys]]);
        }
        await upsertMonitors(q, stationId, 'CSMS', monitors);
      }),
    );
  }

  async removeMonitors(stationId: string, ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.query('DELETE FROM monitors WHERE station_id = $1 AND monitor_id = ANY($2::int[])', [stationId, [...ids]]);
  }

  replaceReportedMonitors(stationId: string, monitors: readonly MonitorWrite[], inScope: (monitor: MonitorRecord) => boolean): Promise<void> {
    return withStation(
      stationId,
      this.db.transaction(async (q) => {
        const rows = await q.query<MonitorRow & { monitor_key: string }>(
          `SELECT monitor_key, ${MONITOR_COLUMNS} FROM monitors WHERE station_id = $1 AND source = 'station' FOR UPDATE`,
          [stationId],
        );
        const gone = rows.filter((row) => inScope(toMonitor(row))).map((row) => row.monitor_key);
        if (gone.length > 0) {
          await q.query(`DELETE FROM monitors WHERE station_id = $1 AND source = 'station' AND monitor_key = ANY($2::text[])`, [stationId, gone]);
        }
        await upsertMonitors(q, stationId, 'station', monitors);
      }),
    );
  }

  async removeCustomMonitors(stationId: string): Promise<void> {
    // A station report does not say a monitor's origin; the ids the CSMS set are custom monitors wherever they appear.
    await this.db.query(
      `DELETE FROM monitors m WHERE m.station_id = $1 AND (m.source = 'CSMS' OR m.monitor_id IN (
         SELECT c.monitor_id FROM monitors c WHERE c.station_id = $1 AND c.source = 'CSMS' AND c.monitor_id IS NOT NULL))`,
      [stationId],
    );
  }

  async listMonitors(stationId: string): Promise<MonitorRecord[]> {
    const rows = await this.db.query<MonitorRow>(`SELECT ${MONITOR_COLUMNS} FROM monitors WHERE station_id = $1 ORDER BY source, monitor_id NULLS LAST, monitor_key`, [
      stationId,
    ]);
    return rows.map(toMonitor);
  }

  async findMonitor(stationId: string, id: number): Promise<MonitorRecord | undefined> {
    const rows = await this.db.query<MonitorRow>(`SELECT ${MONITOR_COLUMNS} FROM monitors WHERE station_id = $1 AND monitor_id = $2 ORDER BY source LIMIT 1`, [
      stationId,
      id,
    ]);
    return rows[0] === undefined ? undefined : toMonitor(rows[0]);
  }

  recordReportRequest(stationId: string, request: MonitoringReportRequest): Promise<void> {
    return withStation(
      stationId,
      this.db
        .query(
          `INSERT INTO monitoring_report_requests (station_id, request_id, request, status, answered_at) VALUES ($1, $2, $3::jsonb, $4, $5)
           ON CONFLICT (station_id, request_id) DO UPDATE SET request = excluded.request, status = excluded.status, answered_at = excluded.answered_at`,
          [stationId, request.requestId, json(request.request), request.status, request.answeredAt],
        )
        .then(() => undefined),
    );
  }

  async setReportStatus(stationId: string, requestId: number, status: string, onlyFrom: readonly string[]): Promise<boolean> {
    const rows = await this.db.query<{ request_id: number }>(
      `UPDATE monitoring_report_requests SET status = $3 WHERE station_id = $1 AND request_id = $2 AND status = ANY($4::text[]) RETURNING request_id`,
      [stationId, requestId, status, [...onlyFrom]],
    );
    return rows.length > 0;
  }

  async replaceAcceptedCsmsMonitors(stationId: string, monitors: readonly MonitorWrite[]): Promise<void> {
    await withStation(
      stationId,
      this.db.transaction(async (q) => {
        await q.query(`DELETE FROM monitors WHERE station_id = $1 AND source = 'CSMS' AND monitor_id IS NOT NULL`, [stationId]);
        await upsertMonitors(q, stationId, 'CSMS', monitors);
      }),
    );
  }

  async getReportRequest(stationId: string, requestId: number): Promise<MonitoringReportRequest | undefined> {
    const rows = await this.db.query<{ request_id: number; request: JsonObject; status: string; answered_at: Date }>(
      'SELECT request_id, request, status, answered_at FROM monitoring_report_requests WHERE station_id = $1 AND request_id = $2',
      [stationId, requestId],
    );
    const row = rows[0];
    return row === undefined ? undefined : { requestId: row.request_id, request: row.request, status: row.status, answeredAt: row.answered_at };
  }

  recordReportPart(stationId: string, part: MonitoringReportPart): Promise<void> {
    return withStation(
      stationId,
      this.db
        .query(
          `INSERT INTO monitoring_report_parts (station_id, request_id, seq_no, tbc, generated_at, monitor) VALUES ($1, $2, $3, $4, $5, $6::jsonb)
           ON CONFLICT (station_id, request_id, seq_no) DO UPDATE SET tbc = excluded.tbc, generated_at = excluded.generated_at,
             monitor = excluded.monitor, received_at = now()`,
          [stationId, part.requestId, part.seqNo, part.tbc, part.generatedAt, json(part.monitor)],
        )
        .then(() => undefined),
    );
  }

  async getReportParts(stationId: string, requestId: number): Promise<MonitoringReportPart[]> {
    const rows = await this.db.query<{ request_id: number; seq_no: number; tbc: boolean; generated_at: string; monitor: JsonObject[] }>(
      'SELECT request_id, seq_no, tbc, generated_at, monitor FROM monitoring_report_parts WHERE station_id = $1 AND request_id = $2 ORDER BY seq_no',
      [stationId, requestId],
    );
    return rows.map((row) => ({ requestId: row.request_id, seqNo: row.seq_no, tbc: row.tbc, generatedAt: row.generated_at, monitor: row.monitor }));
  }

  async pruneReports(stationId: string, keepRequests: number): Promise<number> {
    const keep = Math.max(0, Math.floor(keepRequests));
    const parts = await this.db.query<{ request_id: number }>(
      `DELETE FROM monitoring_report_parts
        WHERE station_id = $1
          AND request_id IN (SELECT request_id FROM monitoring_report_parts WHERE station_id = $1
                              GROUP BY request_id ORDER BY max(received_at) DESC, request_id DESC OFFSET $2)
    RETURNING request_id`,
      [stationId, keep],
    );
    await this.db.query(
      `DELETE FROM monitoring_report_requests
        WHERE station_id = $1
          AND request_id IN (SELECT request_id FROM monitoring_report_requests WHERE station_id = $1
                              ORDER BY answered_at DESC, request_id DESC OFFSET $2)`,
      [stationId, keep],
    );
    return new Set(parts.map((row) => row.request_id)).size;
  }

  recordMonitoringBase(stationId: string, base: string, at: Date): Promise<void> {
    return this.recordSetting(stationId, 'monitoring_base', 'base_at', base, at);
  }

  recordMonitoringLevel(stationId: string, level: number, at: Date): Promise<void> {
    return this.recordSetting(stationId, 'monitoring_level', 'level_at', level, at);
  }

  /** One accepted setting and when, beside the other (each of N03, N05 changes only its own). */
  private recordSetting(
    stationId: string,
    column: 'monitoring_base' | 'monitoring_level',
    atColumn: 'base_at' | 'level_at',
    value: string | number,
    at: Date,
  ): Promise<void> {
    return withStation(
      stationId,
      this.db
        .query(
          `INSERT INTO monitoring_settings (station_id, ${column}, ${atColumn}) VALUES ($1, $2, $3)
           ON CONFLICT (station_id) DO UPDATE SET ${column} = excluded.${column}, ${atColumn} = excluded.${atColumn}`,
          [stationId, value, at],
        )
        .then(() => undefined),
    );
  }

  async getSettings(stationId: string): Promise<MonitoringSettings> {
    const rows = await this.db.query<{ monitoring_base: string | null; base_at: Date | null; monitoring_level: number | null; level_at: Date | null }>(
      'SELECT monitoring_base, base_at, monitoring_level, level_at FROM monitoring_settings WHERE station_id = $1',
      [stationId],
    );
    const row = rows[0];
    return {
      monitoringBase: row?.monitoring_base ?? null,
      monitoringBaseAt: row?.base_at ?? null,
      monitoringLevel: row?.monitoring_level ?? null,
      monitoringLevelAt: row?.level_at ?? null,
    };
  }

  async recordMonitorEvents(stationId: string, events: readonly MonitorEventWrite[]): Promise<MonitorEventWrite[]> {
    if (events.length === 0) return [];
    const inserted = await withStation(
      stationId,
      this.db.query<{ generated_at: string; seq_no: number; event_id: number }>(
        `INSERT INTO monitor_events (station_id, generated_at, seq_no, event_id, event_timestamp, trigger, actual_value, cleared, severity,
                                     variable_monitoring_id, event_notification_type, component, variable)
         SELECT $1, u.generated_at, u.seq_no, u.event_id, u.event_timestamp, u.trigger, u.actual_value, u.cleared, u.severity,
                u.variable_monitoring_id, u.event_notification_type, u.component::jsonb, u.variable::jsonb
           FROM unnest($2::text[], $3::int[], $4::int[], $5::text[], $6::text[], $7::text[], $8::bool[], $9::int[], $10::int[], $11::text[], $12::text[], $13::text[])
                AS u(generated_at, seq_no, event_id, event_timestamp, trigger, actual_value, cleared, severity, variable_monitoring_id,
                     event_notification_type, component, variable)
         ON CONFLICT (station_id, generated_at, seq_no, event_id) DO NOTHING
         RETURNING generated_at, seq_no, event_id`,
        [
          stationId,
          events.map((e) => e.generatedAt),
          events.map((e) => e.seqNo),
          events.map((e) => e.eventId),
          events.map((e) => e.timestamp),
          events.map((e) => e.trigger),
          events.map((e) => e.actualValue),
          events.map((e) => e.cleared),
          events.map((e) => e.severity),
          events.map((e) => e.variableMonitoringId),
          events.map((e) => e.eventNotificationType),
          events.map((e) => json(e.component)),
          events.map((e) => json(e.variable)),
        ],
      ),
    );
    const fresh = new Set(inserted.map((row) => `${row.generated_at}\u0000${row.seq_no}\u0000${row.event_id}`));
    return events.filter((e) => fresh.has(`${e.generatedAt}\u0000${e.seqNo}\u0000${e.eventId}`));
  }
}
