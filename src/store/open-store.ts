import type { DataDirLock } from './data-dir-lock.js';
import { EmbeddedDatabase } from './embedded-database.js';
import type { GroupCommitOptions } from './group-commit.js';
import { migrate } from './migrations.js';
import { PgDatabase } from './pg-database.js';
import type { SqlDatabase } from './sql.js';
import { SqlStore } from './sql-store.js';
import { GuardedDatabase, type StoreHealth } from './store-guard.js';

export interface OpenStoreOptions extends GroupCommitOptions {
  /** `postgres://…`: a PostgreSQL server. Unset: the embedded PGlite in `dataDir`. */
  databaseUrl?: string | undefined;
  dataDir: string;
  /** The embedded store's data dir lock, when the caller took it already; released by close(). */
  dataDirLock?: DataDirLock | undefined;
  /** Pool size towards PostgreSQL (default 8). */
  maxConnections?: number;
  /** Errors of idle PostgreSQL connections, which no caller would otherwise see. */
  onIdleError?: (error: Error) => void;
  /** CSMS_DB_TIMEOUT_MS (default 5000): see GuardedDatabase and PgDatabase. */
  timeoutMs?: number;
  /** CSMS_MIN_FREE_BYTES (default 64 MiB): the embedded store refuses writes below this much free disk. */
  minFreeBytes?: number;
  /** The store went from up to degraded or back (CONTRACT §1). */
  onHealthChange?: (health: StoreHealth) => void;
}

export interface OpenedStore {
  store: SqlStore;
  /** Up, or degraded and why. */
  health: () => StoreHealth;
}

/** Opens the database, applies missing migrations, and returns the store. */
export async function openStore(options: OpenStoreOptions): Promise<SqlStore> {
  return (await openGuardedStore(options)).store;
}

/** openStore, plus the store's health (CONTRACT §1 "degraded"). */
export async function openGuardedStore(options: OpenStoreOptions): Promise<OpenedStore> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const raw: SqlDatabase = options.databaseUrl
    ? new PgDatabase(options.databaseUrl, {
        ...(options.maxConnections !== undefined && { maxConnections: options.maxConnections }),
        ...(options.onIdleError && { onIdleError: options.onIdleError }),
        timeoutMs,
      })
    : await EmbeddedDatabase.open(options.dataDir, options.dataDirLock ? { lock: options.dataDirLock } : {});
  try {
    // Unguarded: a first start's migrations may take longer than one call's bound, and they must run on a full disk too.
    await migrate(raw);
  } catch (error) {
    await raw.close().catch(() => undefined);
    throw error;
  }
  // A request the embedded engine has not answered for 3 × the guard's bound restarts it (embedded-database.ts).
  if (raw instanceof EmbeddedDatabase) raw.restartWhenStalled(3 * timeoutMs);
  const db = await GuardedDatabase.create(raw, {
    timeoutMs,
    freeSpace: options.databaseUrl ? undefined : { dir: options.dataDir, minFreeBytes: options.minFreeBytes ?? 64 * 1024 * 1024 },
    ...(options.onHealthChange && { onChange: options.onHealthChange }),
  });
  // A pool can commit a batch while the previous one waits for its flush; more than two did not pay on
  // 2 cores (bench steady 3,000 msg/s: p99 10.7 ms with 2, 12.2 with 4, 17.4 with 8). PGlite is one connection.
  // lastSeen reaches the database every 5 s (reads of this process see it at once); other nodes may see it
  // that much later, which is well inside any heartbeat interval.
  const store = new SqlStore(db, {
    ...options,
    maxConcurrentCommits: options.maxConcurrentCommits ?? (options.databaseUrl ? 2 : 1),
    lazyFlushMs: options.lazyFlushMs ?? 5000,
  });
  return { store, health: () => db.health };
}
