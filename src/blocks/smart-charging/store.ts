import type { ChargingProfileType, ChargingScheduleType } from '../../ocpp/v201/types.js';
import { json, type SqlDatabase } from '../../store/sql.js';
import type { JsonObject } from '../../store/store.js';

/**
 * The smart-charging block's records (migration 18). Every write is its own committed statement: the station's
 * records (reports, external limits, EV needs) are durable before they are answered, and what the CSMS set
 * survives a restart.
 */

export type ProfileSource = 'CSMS' | 'station';
export type ProfileStatus = 'Accepted' | 'Rejected' | 'Pending' | 'Cleared';

export interface StoredProfile {
  stationId: string;
  source: ProfileSource;
  evseId: number | undefined;
  chargingProfile: ChargingProfileType;
  status: ProfileStatus;
  response: JsonObject | undefined;
  limitSource: string | undefined;
  transactionId: string | undefined;
  remoteStartId: number | undefined;
  updatedAt: Date;
}

export interface ExternalLimit {
  evseId: number;
  chargingLimitSource: string;
  isGridCritical: boolean | undefined;
  chargingSchedule: ChargingScheduleType[];
  updatedAt: Date;
}

export interface ProfileReport {
  requestId: number;
  status: string;
  complete: boolean;
  parts: { evseId: number; chargingLimitSource: string; chargingProfile: ChargingProfileType[]; tbc: boolean }[];
}

export interface SiteDefinition {
  limit: { value: number; unit: 'A' | 'W' };
  phases: 1 | 3;
  voltage: number;
  stations: string[];
  minPerEvse?: { value: number; unit: 'A' | 'W' } | undefined;
}

export interface SiteLimitRow {
  stationId: string;
  evseId: number;
  acceptedAmps: number;
  profileId: number | undefined;
  transactionId: string | undefined;
}

interface ProfileRow {
  station_id: string;
  source: ProfileSource;
  evse_id: number | null;
  charging_profile: ChargingProfileType;
  status: ProfileStatus;
  response: JsonObject | null;
  limit_source: string | null;
  transaction_id: string | null;
  remote_start_id: number | null;
  updated_at: Date;
}

function toProfile(row: ProfileRow): StoredProfile {
  return {
    stationId: row.station_id,
    source: row.source,
    evseId: row.evse_id ?? undefined,
    chargingProfile: row.charging_profile,
    status: row.status,
    response: row.response ?? undefined,
    limitSource: row.limit_source ?? undefined,
    transactionId: row.transaction_id ?? undefined,
    remoteStartId: row.remote_start_id ?? undefined,
    updatedAt: new Date(row.updated_at),
  };
}

const PROFILE_COLUMNS = 'station_id, source, evse_id, charging_profile, status, response, limit_source, transaction_id, remote_start_id, updated_at';

export class SmartChargingStore {
  constructor(private readonly db: SqlDatabase) {}

  async listProfiles(stationId: string): Promise<StoredProfile[]> {
    const rows = await this.db.query<ProfileRow>(`SELECT ${PROFILE_COLUMNS} FROM charging_profiles WHERE station_id = $1 ORDER BY source, profile_id`, [stationId]);
    return rows.map(toProfile);
  }

  async getProfile(stationId: string, source: ProfileSource, profileId: number): Promise<StoredProfile | undefined> {
    const rows = await this.db.query<ProfileRow>(`SELECT ${PROFILE_COLUMNS} FROM charging_profiles WHERE station_id = $1 AND source = $2 AND profile_id = $3`, [
      stationId,
      source,
      profileId,
    ]);
    const row = rows[0];
    return row === undefined ? undefined : toProfile(row);
  }

  /**
   * A profile id no profile of this station holds, from the CSMS or reported by the station (DRV-SC-15: an id
   * learned from a report is never overwritten by accident).
   */
  async nextProfileId(stationId: string): Promise<number> {
    const rows = await this.db.query<{ next: number }>('SELECT (coalesce(max(profile_id), 0) + 1)::int AS next FROM charging_profiles WHERE station_id = $1', [
      stationId,
    ]);
    return rows[0]?.next ?? 1;
  }

  async putProfile(profile: Omit<StoredProfile, 'updatedAt' | 'stationId'> & { stationId: string }): Promise<void> {
    await this.db.query(
      `INSERT INTO charging_profiles (station_id, source, profile_id, evse_id, charging_profile, status, response, limit_source, transaction_id, remote_start_id)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7::jsonb, $8, $9, $10)
       ON CONFLICT (station_id, source, profile_id) DO UPDATE SET
         evse_id = excluded.evse_id, charging_profile = excluded.charging_profile, status = excluded.status,
         response = excluded.response, limit_source = excluded.limit_source, transaction_id = excluded.transaction_id,
         remote_start_id = excluded.remote_start_id, updated_at = now()`,
      [
        profile.stationId,
        profile.source,
        profile.chargingProfile.id,
        profile.evseId ?? null,
        json(profile.chargingProfile),
        profile.status,
        profile.response === undefined ? null : json(profile.response),
        profile.limitSource ?? null,
        profile.transactionId ?? null,
        profile.remoteStartId ?? null,
      ],
    );
  }

  async deleteProfile(stationId: string, source: ProfileSource, profileId: number): Promise<void> {
    await this.db.query('DELETE FROM charging_profiles WHERE station_id = $1 AND source = $2 AND profile_id = $3', [stationId, source, profileId]);
  }

  /** An accepted ClearChargingProfile by criteria: the profiles of every source it matches leave the list. */
  async clearProfiles(stationId: string, criteria: { evseId?: number | undefined; purpose?: string | undefined; stackLevel?: number | undefined }): Promise<number> {
    const rows = await this.db.query<{ profile_id: number }>(
      `DELETE FROM charging_profiles
        WHERE station_id = $1
          AND ($2::int IS NULL OR evse_id = $2::int)
          AND ($3::text IS NULL OR charging_profile->>'chargingProfilePurpose' = $3::text)
          AND ($4::int IS NULL OR (charging_profile->>'stackLevel')::int = $4::int)
          AND coalesce(charging_profile->>'chargingProfilePurpose', '') <> 'ChargingStationExternalConstraints'
        RETURNING profile_id`,
      [stationId, criteria.evseId ?? null, criteria.purpose ?? null, criteria.stackLevel ?? null],
    );
    return rows.length;
  }

  /** K05 / DRV-SC-06: the TxProfile of a remote start now belongs to the transaction that remote start led to. */
  async bindRemoteStartProfile(stationId: string, remoteStartId: number, transactionId: string): Promise<void> {
    await this.db.query(
      `UPDATE charging_profiles
          SET transaction_id = $3, charging_profile = jsonb_set(charging_profile, '{transactionId}', to_jsonb($3::text)), updated_at = now()
        WHERE station_id = $1 AND source = 'CSMS' AND remote_start_id = $2 AND transaction_id IS NULL`,
      [stationId, remoteStartId, transactionId],
    );
  }

  /** A TxProfile disappears from the station when its transaction ends (K01; DRV-SC-06). */
  async endTransactionProfiles(stationId: string, transactionId: string): Promise<void> {
    await this.db.query(`DELETE FROM charging_profiles WHERE station_id = $1 AND transaction_id = $2`, [stationId, transactionId]);
  }

  // GetChargingProfiles / ReportChargingProfiles

  async startReport(stationId: string, requestId: number, status: string): Promise<void> {
    await this.db.query(
      `INSERT INTO charging_profile_requests (station_id, request_id, status, complete) VALUES ($1, $2, $3, $4)
       ON CONFLICT (station_id, request_id) DO UPDATE SET status = excluded.status, complete = charging_profile_requests.complete OR excluded.complete`,
      // NoProfiles: no report follows, so the (empty) report is complete at once.
      [stationId, requestId, status, status !== 'Accepted'],
    );
  }

  /**
   * One ReportChargingProfiles part, and the station's profiles it names (source `station`, replacing what it
   * reported before under the same id). A part without tbc completes the report.
   */
  async recordReportPart(
    stationId: string,
    part: { requestId: number; evseId: number; chargingLimitSource: string; chargingProfile: ChargingProfileType[]; tbc: boolean },
  ): Promise<void> {
    await this.db.transaction(async (q) => {
      await q.query('INSERT INTO charging_profile_report_parts (station_id, request_id, evse_id, limit_source, profiles, tbc) VALUES ($1, $2, $3, $4, $5::jsonb, $6)', [
        stationId,
        part.requestId,
        part.evseId,
        part.chargingLimitSource,
        json(part.chargingProfile),
        part.tbc,
      ]);
      await q.query(
        `INSERT INTO charging_profile_requests (station_id, request_id, status, complete) VALUES ($1, $2, 'Accepted', $3)
         ON CONFLICT (station_id, request_id) DO UPDATE SET complete = charging_profile_requests.complete OR excluded.complete`,
        [stationId, part.requestId, !part.tbc],
      );
      for (const profile of part.chargingProfile) {
        await q.query(
          `INSERT INTO charging_profiles (station_id, source, profile_id, evse_id, charging_profile, status, limit_source, transaction_id)
           VALUES ($1, 'station', $2, $3, $4::jsonb, 'Accepted', $5, $6)
           ON CONFLICT (station_id, source, profile_id) DO UPDATE SET evse_id = excluded.evse_id, charging_profile = excluded.charging_profile,
             status = excluded.status, limit_source = excluded.limit_source, transaction_id = excluded.transaction_id, updated_at = now()`,
          [stationId, profile.id, part.evseId, json(profile), part.chargingLimitSource, profile.transactionId ?? null],
        );
      }
    });
  }

  async getReport(stationId: string, requestId: number): Promise<ProfileReport | undefined> {
    const requests = await this.db.query<{ status: string; complete: boolean }>(
      'SELECT status, complete FROM charging_profile_requests WHERE station_id = $1 AND request_id = $2',
      [stationId, requestId],
    );
    const request = requests[0];
    if (request === undefined) return undefined;
    const parts = await this.db.query<{ evse_id: number; limit_source: string; profiles: ChargingProfileType[]; tbc: boolean }>(
      'SELECT evse_id, limit_source, profiles, tbc FROM charging_profile_report_parts WHERE station_id = $1 AND request_id = $2 ORDER BY id',
      [stationId, requestId],
    );
    return {
      requestId,
      status: request.status,
      complete: request.complete,
      parts: parts.map((row) => ({ evseId: row.evse_id, chargingLimitSource: row.limit_source, chargingProfile: row.profiles, tbc: row.tbc })),
    };
  }

  // External limits (K12 / K13)

  async putExternalLimit(stationId: string, limit: Omit<ExternalLimit, 'updatedAt'>): Promise<void> {
    await this.db.query(
      `INSERT INTO external_charging_limits (station_id, evse_id, limit_source, is_grid_critical, charging_schedule) VALUES ($1, $2, $3, $4, $5::jsonb)
       ON CONFLICT (station_id, evse_id, limit_source) DO UPDATE SET is_grid_critical = excluded.is_grid_critical,
         charging_schedule = excluded.charging_schedule, updated_at = now()`,
      [stationId, limit.evseId, limit.chargingLimitSource, limit.isGridCritical ?? null, json(limit.chargingSchedule)],
    );
  }

  async clearExternalLimit(stationId: string, chargingLimitSource: string, evseId: number | undefined): Promise<void> {
    await this.db.query('DELETE FROM external_charging_limits WHERE station_id = $1 AND limit_source = $2 AND ($3::int IS NULL OR evse_id = $3::int)', [
      stationId,
      chargingLimitSource,
      evseId ?? null,
    ]);
  }

  async listExternalLimits(stationId: string): Promise<ExternalLimit[]> {
    const rows = await this.db.query<{
      evse_id: number;
      limit_source: string;
      is_grid_critical: boolean | null;
      charging_schedule: ChargingScheduleType[];
      updated_at: Date;
    }>(
      'SELECT evse_id, limit_source, is_grid_critical, charging_schedule, updated_at FROM external_charging_limits WHERE station_id = $1 ORDER BY evse_id, limit_source',
      [stationId],
    );
    return rows.map((row) => ({
      evseId: row.evse_id,
      chargingLimitSource: row.limit_source,
      isGridCritical: row.is_grid_critical ?? undefined,
      chargingSchedule: row.charging_schedule,
      updatedAt: new Date(row.updated_at),
    }));
  }

  // ISO 15118 charging needs

  async putChargingNeeds(stationId: string, evseId: number, needs: JsonObject, maxScheduleTuples: number | undefined): Promise<void> {
    await this.db.query(
      `INSERT INTO ev_charging_needs (station_id, evse_id, charging_needs, max_schedule_tuples) VALUES ($1, $2, $3::jsonb, $4)
       ON CONFLICT (station_id, evse_id) DO UPDATE SET charging_needs = excluded.charging_needs, max_schedule_tuples = excluded.max_schedule_tuples,
         ev_schedule = NULL, ev_time_base = NULL, updated_at = now()`,
      [stationId, evseId, json(needs), maxScheduleTuples ?? null],
    );
  }

  async putEvSchedule(stationId: string, evseId: number, schedule: JsonObject, timeBase: string): Promise<void> {
    await this.db.query(
      `INSERT INTO ev_charging_needs (station_id, evse_id, ev_schedule, ev_time_base) VALUES ($1, $2, $3::jsonb, $4)
       ON CONFLICT (station_id, evse_id) DO UPDATE SET ev_schedule = excluded.ev_schedule, ev_time_base = excluded.ev_time_base, updated_at = now()`,
      [stationId, evseId, json(schedule), timeBase],
    );
  }

  async getChargingNeeds(stationId: string): Promise<{ evseId: number; chargingNeeds: JsonObject | null; evSchedule: JsonObject | null; timeBase: string | null }[]> {
    const rows = await this.db.query<{ evse_id: number; charging_needs: JsonObject | null; ev_schedule: JsonObject | null; ev_time_base: string | null }>(
      'SELECT evse_id, charging_needs, ev_schedule, ev_time_base FROM ev_charging_needs WHERE station_id = $1 ORDER BY evse_id',
      [stationId],
    );
    return rows.map((row) => ({ evseId: row.evse_id, chargingNeeds: row.charging_needs, evSchedule: row.ev_schedule, timeBase: row.ev_time_base }));
  }

  // Composite schedules (K08)

  async putCompositeSchedule(stationId: string, evseId: number, schedule: JsonObject): Promise<void> {
    await this.db.query(
      `INSERT INTO composite_schedules (station_id, evse_id, schedule) VALUES ($1, $2, $3::jsonb)
       ON CONFLICT (station_id, evse_id) DO UPDATE SET schedule = excluded.schedule, fetched_at = now()`,
      [stationId, evseId, json(schedule)],
    );
  }

  async listCompositeSchedules(stationId: string): Promise<{ evseId: number; schedule: JsonObject; fetchedAt: Date }[]> {
    const rows = await this.db.query<{ evse_id: number; schedule: JsonObject; fetched_at: Date }>(
      'SELECT evse_id, schedule, fetched_at FROM composite_schedules WHERE station_id = $1 ORDER BY evse_id',
      [stationId],
    );
    return rows.map((row) => ({ evseId: row.evse_id, schedule: row.schedule, fetchedAt: new Date(row.fetched_at) }));
  }

  // Sites

  async putSite(siteId: string, definition: SiteDefinition): Promise<boolean> {
    const rows = await this.db.query<{ created: boolean }>(
      `INSERT INTO sites (id, definition) VALUES ($1, $2::jsonb)
       ON CONFLICT (id) DO UPDATE SET definition = excluded.definition, updated_at = now()
       RETURNING (xmax = 0) AS created`,
      [siteId, json(definition)],
    );
    return rows[0]?.created ?? false;
  }

  async listSites(): Promise<{ id: string; definition: SiteDefinition }[]> {
    const rows = await this.db.query<{ id: string; definition: SiteDefinition }>('SELECT id, definition FROM sites ORDER BY id');
    return rows;
  }

  async deleteSite(siteId: string): Promise<void> {
    await this.db.query('DELETE FROM sites WHERE id = $1', [siteId]);
  }

  async siteLimits(siteId: string): Promise<SiteLimitRow[]> {
    const rows = await this.db.query<{ station_id: string; evse_id: number; accepted_amps: number; profile_id: number | null; transaction_id: string | null }>(
      'SELECT station_id, evse_id, accepted_amps, profile_id, transaction_id FROM site_limits WHERE site_id = $1',
      [siteId],
    );
    return rows.map((row) => ({
      stationId: row.station_id,
      evseId: row.evse_id,
      acceptedAmps: row.accepted_amps,
      profileId: row.profile_id ?? undefined,
      transactionId: row.transaction_id ?? undefined,
    }));
  }

  /** The limit a station accepted for one EVSE of a site (what the invariant counts), kept across restarts. */
  async putSiteLimit(siteId: string, row: SiteLimitRow): Promise<void> {
    await this.db.query(
      `INSERT INTO site_limits (site_id, station_id, evse_id, accepted_amps, profile_id, transaction_id) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (site_id, station_id, evse_id) DO UPDATE SET accepted_amps = excluded.accepted_amps, profile_id = excluded.profile_id,
         transaction_id = excluded.transaction_id, updated_at = now()`,
      [siteId, row.stationId, row.evseId, row.acceptedAmps, row.profileId ?? null, row.transactionId ?? null],
    );
  }

  async deleteSiteLimit(siteId: string, stationId: string, evseId: number): Promise<void> {
    await this.db.query('DELETE FROM site_limits WHERE site_id = $1 AND station_id = $2 AND evse_id = $3', [siteId, stationId, evseId]);
  }
}
