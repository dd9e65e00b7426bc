import { json, type SqlDatabase } from '../../store/sql.js';
import { withStation } from '../../store/errors.js';
import type { JsonObject } from '../../store/store.js';

/** One token of a list: with its own idTokenInfo, or (without) following the token's register entry. */
export interface LocalListEntry {
  idToken: { idToken: string; type: string };
  idTokenInfo?: JsonObject;
}

/** An entry as the station holds it: always with the idTokenInfo it was sent with. */
export interface ResolvedEntry {
  idToken: { idToken: string; type: string };
  idTokenInfo: JsonObject;
}

export type SyncStatus = 'InSync' | 'Pending' | 'Failed';

export interface LocalListRecord {
  stationId: string;
  /** undefined: the CSMS manages no list for this station (it only recorded what the station answered). */
  entries: LocalListEntry[] | undefined;
  version: number | undefined;
  /** The highest versionNumber ever sent to this station: a new one is always above it. */
  lastSentVersion: number;
  acceptedVersion: number | undefined;
  installed: ResolvedEntry[] | undefined;
  stationVersion: number | undefined;
  forceFull: boolean;
  syncStatus: SyncStatus;
  lastError: JsonObject | undefined;
  updatedAt: Date;
}

interface LocalListRow {
  station_id: string;
  entries: LocalListEntry[] | null;
  version: number | null;
  last_sent_version: number;
  accepted_version: number | null;
  installed: ResolvedEntry[] | null;
  station_version: number | null;
  force_full: boolean;
  sync_status: SyncStatus;
  last_error: JsonObject | null;
  updated_at: Date | string;
}

function toRecord(row: LocalListRow): LocalListRecord {
  return {
    stationId: row.station_id,
    entries: row.entries ?? undefined,
    version: row.version ?? undefined,
    lastSentVersion: row.last_sent_version,
    acceptedVersion: row.accepted_version ?? undefined,
    installed: row.installed ?? undefined,
    stationVersion: row.station_version ?? undefined,
    forceFull: row.force_full,
    syncStatus: row.sync_status,
    lastError: row.last_error ?? undefined,
    updatedAt: new Date(row.updated_at),
  };
}

/** The key of a token in a list: D01.FR.06 makes (type, idToken) unique. */
export function entryKey(idToken: { idToken: string; type: string }): string {
  return `${idToken.type}\u0000${idToken.idToken}`;
}

/**
 * The local lists' durable state (CONTRACT §8.1). Every change of the desired list takes a new version under a
 * row lock, so two API nodes changing one list never hand out the same version.
 */
export class LocalListStore {
  constructor(private readonly db: SqlDatabase) {}

  private readonly listeners: ((stationId: string) => void)[] = [];

  /** Told (after the commit) each time a write changes what the station's GET shows: the change stream follows it. */
  onChange(listener: (stationId: string) => void): void {
    this.listeners.push(listener);
  }

  private changed(stationId: string): void {
    for (const listener of this.listeners) listener(stationId);
  }

  async get(stationId: string): Promise<LocalListRecord | undefined> {
    const rows = await this.db.query<LocalListRow>('SELECT * FROM local_lists WHERE station_id = $1', [stationId]);
    return rows[0] === undefined ? undefined : toRecord(rows[0]);
  }

  /**
   * Changes the desired list: `change` gets the current entries (empty when none are managed) and returns the
   * new ones. The new version is above every version sent or planned so far, with room for `parts(entries)`
   * messages below it (the parts of a split list each take a version of their own).
   */
  async change(
    stationId: string,
    change: (current: LocalListEntry[], record: LocalListRecord | undefined) => LocalListEntry[],
    parts: (entries: LocalListEntry[], record: LocalListRecord | undefined) => number,
  ): Promise<LocalListRecord> {
    const record = await withStation(
      stationId,
      this.db.transaction(async (q) => {
        await q.query('INSERT INTO local_lists (station_id) VALUES ($1) ON CONFLICT (station_id) DO NOTHING', [stationId]);
        const rows = await q.query<LocalListRow>('SELECT * FROM local_lists WHERE station_id = $1 FOR UPDATE', [stationId]);
        const current = toRecord(rows[0] as LocalListRow);
        const entries = change(current.entries ?? [], current.entries === undefined ? undefined : current);
        const version = Math.max(current.version ?? 0, current.lastSentVersion) + Math.max(1, parts(entries, current));
        const updated = await q.query<LocalListRow>(
          `UPDATE local_lists SET entries = $2::jsonb, version = $3, sync_status = 'Pending', last_error = NULL, updated_at = now()
           WHERE station_id = $1 RETURNING *`,
          [stationId, json(entries), version],
        );
        return toRecord(updated[0] as LocalListRow);
      }),
    );
    this.changed(stationId);
    return record;
  }

  /** A new version for the same entries (a register entry changed), unless the version moved since `seen`. */
  async bumpVersion(stationId: string, seen: number, parts: number): Promise<boolean> {
    const rows = await this.db.query<{ station_id: string }>(
      `UPDATE local_lists SET version = greatest(version, last_sent_version) + $3, sync_status = 'Pending', updated_at = now()
       WHERE station_id = $1 AND version = $2 RETURNING station_id`,
      [stationId, seen, Math.max(1, parts)],
    );
    if (rows.length > 0) this.changed(stationId);
    return rows.length > 0;
  }

  /** The parts of a split list need more versions than were planned: the desired version moves up. */
  async reversion(stationId: string, version: number): Promise<void> {
    await this.db.query('UPDATE local_lists SET version = greatest(version, $2), updated_at = now() WHERE station_id = $1', [stationId, version]);
  }

  /** A SendLocalList with `version` is about to leave: that version is used from now on, whatever the answer. */
  async recordSent(stationId: string, version: number): Promise<void> {
    await withStation(
      stationId,
      this.db.query(
        `INSERT INTO local_lists (station_id, last_sent_version) VALUES ($1, $2)
         ON CONFLICT (station_id) DO UPDATE SET last_sent_version = greatest(local_lists.last_sent_version, excluded.last_sent_version)`,
        [stationId, version],
      ),
    );
  }

  /** The station accepted a SendLocalList: it now holds `installed` at `version`. */
  async recordAccepted(stationId: string, version: number, installed: ResolvedEntry[]): Promise<void> {
    await this.db.query(
      `UPDATE local_lists SET accepted_version = $2, station_version = $2, installed = $3::jsonb, force_full = false, updated_at = now()
       WHERE station_id = $1`,
      [stationId, version, json(installed)],
    );
    this.changed(stationId);
  }

  /** What the station answered to GetLocalListVersion (kept also for a station whose list the CSMS does not manage). */
  async recordStationVersion(stationId: string, version: number): Promise<LocalListRecord> {
    const rows = await withStation(
      stationId,
      this.db.query<LocalListRow>(
        `INSERT INTO local_lists (station_id, station_version) VALUES ($1, $2)
         ON CONFLICT (station_id) DO UPDATE SET station_version = excluded.station_version, updated_at = now() RETURNING *`,
        [stationId, version],
      ),
    );
    this.changed(stationId);
    return toRecord(rows[0] as LocalListRow);
  }

  /**
   * A SendLocalList the CSMS's sync did not plan (the raw commands path) was accepted: the station holds that
   * version with content the CSMS does not know, so the next sync sends the whole list.
   */
  async recordForeignList(stationId: string, version: number): Promise<void> {
    await this.db.query(
      `UPDATE local_lists SET station_version = $2, last_sent_version = greatest(last_sent_version, $2), force_full = true,
         sync_status = CASE WHEN entries IS NULL THEN sync_status ELSE 'Pending' END, updated_at = now()
       WHERE station_id = $1`,
      [stationId, version],
    );
    this.changed(stationId);
  }

  async setForceFull(stationId: string): Promise<void> {
    await this.db.query('UPDATE local_lists SET force_full = true, updated_at = now() WHERE station_id = $1', [stationId]);
  }

  async setStatus(stationId: string, status: SyncStatus, error: JsonObject | undefined): Promise<void> {
    await this.db.query('UPDATE local_lists SET sync_status = $2, last_error = $3::jsonb, updated_at = now() WHERE station_id = $1', [
      stationId,
      status,
      error === undefined ? null : json(error),
    ]);
    this.changed(stationId);
  }

  /** Of `stationIds`, those whose managed list is not known to be in sync. */
  async notInSync(stationIds: readonly string[]): Promise<string[]> {
    if (stationIds.length === 0) return [];
    const rows = await this.db.query<{ station_id: string }>(
      `SELECT station_id FROM local_lists WHERE entries IS NOT NULL AND sync_status <> 'InSync' AND station_id = ANY($1::text[])`,
      [stationIds],
    );
    return rows.map((row) => row.station_id);
  }

  /** The stations whose managed list holds the token, with or without an idTokenInfo of its own. */
  async listsHolding(type: string, idToken: string): Promise<string[]> {
    const rows = await this.db.query<{ station_id: string }>('SELECT station_id FROM local_lists WHERE entries @> $1::jsonb', [json([{ idToken: { idToken, type } }])]);
    return rows.map((row) => row.station_id);
  }

  /** The stations whose managed list holds the token as a register entry (no idTokenInfo of its own). */
  async listsFollowing(type: string, idToken: string): Promise<string[]> {
    const rows = await this.db.query<{ station_id: string }>(
      `SELECT station_id FROM local_lists
       WHERE entries @> $1::jsonb AND NOT entries @> $2::jsonb`,
      [json([{ idToken: { idToken, type } }]), json([{ idToken: { idToken, type }, idTokenInfo: {} }])],
    );
    return rows.map((row) => row.station_id);
  }
}
