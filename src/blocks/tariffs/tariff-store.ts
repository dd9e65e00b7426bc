import type { Queryable } from '../../store/sql.js';
import { json } from '../../store/sql.js';
import type { TariffTerms } from './cost.js';

export interface TariffRecord extends TariffTerms {
  groups: string[];
  updatedAt: Date;
}

export interface TariffInput {
  currency: string;
  energyPerKWh?: string | undefined;
  timePerHour?: string | undefined;
  sessionFee?: string | undefined;
  idleFeePerHour?: string | undefined;
  description?: Record<string, string> | undefined;
  groups?: string[] | undefined;
}

/** How a transaction is priced: the tariff copied onto it at its first priced event, and where it came from. */
export interface AppliedTariff {
  source: 'transaction' | 'group' | 'station';
  tariff: TariffTerms;
}

export interface TransactionCost {
  stationId: string;
  transactionId: string;
  tariffId: string;
  cost: string;
  currency: string;
}

interface TariffRow {
  id: string;
  currency: string;
  energy_per_kwh: string | null;
  time_per_hour: string | null;
  session_fee: string | null;
  idle_fee_per_hour: string | null;
  description: Record<string, string> | null;
  groups: string[];
  updated_at: Date;
}

const COLUMNS = 'id, currency, energy_per_kwh, time_per_hour, session_fee, idle_fee_per_hour, description, groups, updated_at';

function toRecord(row: TariffRow): TariffRecord {
  return {
    id: row.id,
    currency: row.currency,
    energyPerKWh: row.energy_per_kwh ?? undefined,
    timePerHour: row.time_per_hour ?? undefined,
    sessionFee: row.session_fee ?? undefined,
    idleFeePerHour: row.idle_fee_per_hour ?? undefined,
    description: row.description ?? undefined,
    groups: row.groups,
    updatedAt: row.updated_at,
  };
}

/** Tariffs, stations' tariffs and transactions' costs: one read per priced message, every node sees the same. */
export class TariffStore {
  constructor(private readonly db: Queryable) {}

  async put(id: string, input: TariffInput, at: Date): Promise<{ tariff: TariffRecord; created: boolean }> {
    const rows = await this.db.query<TariffRow & { created: boolean }>(
      `INSERT INTO tariffs AS t (id, currency, energy_per_kwh, time_per_hour, session_fee, idle_fee_per_hour, description, groups, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::text[], $9)
       ON CONFLICT (id) DO UPDATE SET currency = excluded.currency, energy_per_kwh = excluded.energy_per_kwh,
         time_per_hour = excluded.time_per_hour, session_fee = excluded.session_fee, idle_fee_per_hour = excluded.idle_fee_per_hour,
         description = excluded.description, groups = excluded.groups, updated_at = excluded.updated_at
       RETURNING ${COLUMNS}, (xmax = 0) AS created`,
      [
        id,
        input.currency,
        input.energyPerKWh ?? null,
        input.timePerHour ?? null,
        input.sessionFee ?? null,
        input.idleFeePerHour ?? null,
        input.description === undefined ? null : json(input.description),
        input.groups ?? [],
        at,
      ],
    );
    const row = rows[0] as TariffRow & { created: boolean };
    return { tariff: toRecord(row), created: row.created };
  }

  async get(id: string): Promise<TariffRecord | undefined> {
    const rows = await this.db.query<TariffRow>(`SELECT ${COLUMNS} FROM tariffs WHERE id = $1`, [id]);
    return rows[0] === undefined ? undefined : toRecord(rows[0]);
  }

  /** Whether any tariff exists at all (the hot path skips pricing while none does). */
  async any(): Promise<boolean> {
    return (await this.db.query<{ id: string }>('SELECT id FROM tariffs LIMIT 1')).length > 0;
  }

  async exists(id: string): Promise<boolean> {
    return (await this.db.query<{ id: string }>('SELECT id FROM tariffs WHERE id = $1', [id])).length > 0;
  }

  async list(): Promise<TariffRecord[]> {
    return (await this.db.query<TariffRow>(`SELECT ${COLUMNS} FROM tariffs ORDER BY id`)).map(toRecord);
  }

  /** Stations that held it lose it; transactions keep the copy they were priced with. */
  async delete(id: string): Promise<boolean> {
    return (await this.db.query<{ id: string }>('DELETE FROM tariffs WHERE id = $1 RETURNING id', [id])).length > 0;
  }

  /** The other tariffs that already name one of `groups` (a group has one tariff). */
  async groupOwners(id: string, groups: readonly string[]): Promise<{ id: string; group: string }[]> {
    if (groups.length === 0) return [];
    return this.db.query<{ id: string; group: string }>(
      'SELECT t.id, g AS "group" FROM tariffs t, unnest(t.groups) AS g WHERE t.id <> $1 AND g = ANY($2::text[]) ORDER BY t.id, g',
      [id, [...groups]],
    );
  }

  async assignStation(stationId: string, tariffId: string | null): Promise<void> {
    if (tariffId === null) await this.db.query('DELETE FROM station_tariffs WHERE station_id = $1', [stationId]);
    else
      await this.db.query('INSERT INTO station_tariffs (station_id, tariff_id) VALUES ($1, $2) ON CONFLICT (station_id) DO UPDATE SET tariff_id = excluded.tariff_id', [
        stationId,
        tariffId,
      ]);
  }

  /** The stations that hold a tariff (I04/I05: they get its new fallback texts when it changes). */
  async stationsOf(tariffId: string): Promise<string[]> {
    const rows = await this.db.query<{ station_id: string }>('SELECT station_id FROM station_tariffs WHERE tariff_id = $1 ORDER BY station_id', [tariffId]);
    return rows.map((row) => row.station_id);
  }

  async stationTariff(stationId: string): Promise<string | undefined> {
    const rows = await this.db.query<{ tariff_id: string }>('SELECT tariff_id FROM station_tariffs WHERE station_id = $1', [stationId]);
    return rows[0]?.tariff_id;
  }

  /**
   * The tariff that prices a transaction, in one round trip: the copy the transaction already has, else its
   * token group's tariff (CONTRACT §8.4: it wins), else the station's. `transactionId` undefined: no transaction
   * yet (Authorize).
   */
  async applicable(stationId: string, transactionId: string | undefined, groupId: string | undefined): Promise<AppliedTariff | undefined> {
    const terms = `jsonb_build_object('id', t.id, 'currency', t.currency, 'energyPerKWh', t.energy_per_kwh, 'timePerHour', t.time_per_hour,
                   'sessionFee', t.session_fee, 'idleFeePerHour', t.idle_fee_per_hour, 'description', t.description)`;
    const rows = await this.db.query<{ source: AppliedTariff['source']; tariff: Record<string, unknown> }>(
      `SELECT source, tariff FROM (
         SELECT 1 AS rank, 'transaction' AS source, c.tariff FROM transaction_costs c WHERE c.station_id = $1 AND c.transaction_id = $2
         UNION ALL
         SELECT 2, 'group', ${terms} FROM tariffs t WHERE $3::text IS NOT NULL AND $3::text = ANY(t.groups)
         UNION ALL
         SELECT 3, 'station', ${terms} FROM station_tariffs s JOIN tariffs t ON t.id = s.tariff_id WHERE s.station_id = $1
       ) AS candidates ORDER BY rank LIMIT 1`,
      [stationId, transactionId ?? null, groupId ?? null],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    const tariff = Object.fromEntries(Object.entries(row.tariff).filter(([, value]) => value !== null)) as unknown as TariffTerms;
    return { source: row.source, tariff };
  }

  /** The cost as of the latest event; the tariff copy is written once (the first priced event) and kept. */
  async recordCost(stationId: string, transactionId: string, tariff: TariffTerms, cost: string, at: Date): Promise<void> {
    await this.db.query(
      `INSERT INTO transaction_costs (station_id, transaction_id, tariff_id, tariff, currency, cost, updated_at)
       VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)
       ON CONFLICT (station_id, transaction_id) DO UPDATE SET cost = excluded.cost, updated_at = excluded.updated_at`,
      [stationId, transactionId, tariff.id, json(tariff), tariff.currency, cost, at],
    );
  }

  /** The costs of the given transactions (for views, lists and the CSV), by `stationId\u0000transactionId`. */
  async costs(keys: readonly { stationId: string; transactionId: string }[]): Promise<Map<string, TransactionCost>> {
    const found = new Map<string, TransactionCost>();
    if (keys.length === 0) return found;
    const rows = await this.db.query<{ station_id: string; transaction_id: string; tariff_id: string; cost: string; currency: string }>(
      `SELECT c.station_id, c.transaction_id, c.tariff_id, c.cost, c.currency
         FROM transaction_costs c JOIN unnest($1::text[], $2::text[]) AS k(station_id, transaction_id)
           ON c.station_id = k.station_id AND c.transaction_id = k.transaction_id`,
      [keys.map((k) => k.stationId), keys.map((k) => k.transactionId)],
    );
    for (const row of rows) {
      found.set(costKey(row.station_id, row.transaction_id), {
        stationId: row.station_id,
        transactionId: row.transaction_id,
        tariffId: row.tariff_id,
        cost: row.cost,
        currency: row.currency,
      });
    }
    return found;
  }
}

export function costKey(stationId: string, transactionId: string): string {
  return `${stationId}\u0000${transactionId}`;
}
