import { fsyncSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite, type PGliteOptions } from '@electric-sql/pglite';
import { NodeFS } from '@electric-sql/pglite/nodefs';
import { lockDataDir, type DataDirLock } from './data-dir-lock.js';
import type { Queryable, SqlDatabase, SqlParam, Statement } from './sql.js';

/**
 * PGlite's own start parameters (0.5.16, `defaultStartParams`) minus `-F`, which turns fsync off. The rest keep
 * the single-user WASM backend working (no worker processes, synchronous I/O).
 */
const START_PARAMS = [
  '--single',
  '-O',
  '-j',
  '-c',
  'search_path=public',
  '-c',
  'exit_on_error=false',
  '-c',
  'log_checkpoints=false',
  '-c',
  'max_worker_processes=0',
  '-c',
  'max_parallel_workers=0',
  '-c',
  'max_parallel_workers_per_gather=0',
  '-c',
  'io_method=sync',
  '-c',
  'max_parallel_maintenance_workers=0',
  // CONTRACT §1 "durable": a COMMIT returns only after its WAL is on disk.
  '-c',
  'fsync=on',
  '-c',
  'synchronous_commit=on',
  '-c',
  'full_page_writes=on',
  // Emscripten's fdatasync() is a no-op that returns 0; fsync() reaches the file system's stream_ops.fsync,
  // which DurableNodeFS below makes a real fsync(2). So the WAL is flushed with fsync, not fdatasync.
  '-c',
  'wal_sync_method=fsync',
];

/** The part of an Emscripten NODEFS stream this file touches: the host file descriptor behind it. */
interface NodeFsStream {
  nfd?: unknown;
}
interface StreamOps {
  fsync?: (stream: NodeFsStream) => number;
}

/**
 * Emscripten's NODEFS (the file system PGlite uses on Node) has no `fsync` stream operation, so PostgreSQL's
 * fsync() of a WAL segment or a data file silently did nothing: a COMMIT was in the page cache only. This adds
 * the operation: fsync(2) on the host descriptor.
 */
class DurableNodeFS extends NodeFS {
  override async init(pg: PGlite, opts: Parameters<NodeFS['init']>[1]): ReturnType<NodeFS['init']> {
    const result = await super.init(pg, opts);
    const preRun = result.emscriptenOpts.preRun ?? [];
    result.emscriptenOpts.preRun = [
      ...preRun,
      (mod) => {
        const nodefs = mod.NODEFS as unknown as { stream_ops?: StreamOps };
        const ops = nodefs.stream_ops;
        if (ops === undefined) throw new Error('PGlite NODEFS has no stream_ops: cannot make commits durable');
        ops.fsync = (stream) => {
          if (typeof stream.nfd === 'number') fsyncSync(stream.nfd);
          return 0;
        };
      },
    ];
    return result;
  }
}

export interface EmbeddedDatabaseOptions {
  /** The data dir's lock, when the caller took it already (start-up takes it before anything slow). */
  lock?: DataDirLock;
  /** Test and bench only: the PGlite default (no fsync). Never set in production. */
  unsafeNoSync?: boolean;
}

/** PGlite (PostgreSQL compiled to WASM) in `<dataDir>/pglite`, guarded by a pid lock file in `dataDir`. */
export class EmbeddedDatabase implements SqlDatabase {
  readonly kind = 'embedded';

  private constructor(
    private readonly db: PGlite,
    private readonly lock: DataDirLock,
  ) {}

  static async open(dataDir: string, options: EmbeddedDatabaseOptions = {}): Promise<EmbeddedDatabase> {
    const lock = options.lock ?? (await lockDataDir(dataDir));
    try {
      const path = join(dataDir, 'pglite');
      const pgliteOptions: PGliteOptions = options.unsafeNoSync ? { dataDir: path } : { fs: new DurableNodeFS(path), startParams: START_PARAMS };
      const db = await PGlite.create(pgliteOptions);
      return new EmbeddedDatabase(db, lock);
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  async query<T extends object>(text: string, params: readonly SqlParam[] = []): Promise<T[]> {
    const result = await this.db.query<T>(text, [...params]);
    return result.rows;
  }

  async exec(script: string): Promise<void> {
    await this.db.exec(script);
  }

  /** PGlite has one connection; its own `transaction()` queues other queries behind the open transaction. */
  async transaction<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) =>
      fn({
        async query<R extends object>(text: string, params: readonly SqlParam[] = []): Promise<R[]> {
          const result = await tx.query<R>(text, [...params]);
          return result.rows;
        },
        async exec(script: string): Promise<void> {
          await tx.exec(script);
        },
      }),
    );
  }

  /** In-process, a round trip costs little: the statements simply run one after the other. */
  async batch(statements: readonly Statement[]): Promise<object[][]> {
    return this.db.transaction(async (tx) => {
      const results: object[][] = [];
      for (const statement of statements) results.push((await tx.query<object>(statement.text, [...statement.params])).rows);
      return results;
    });
  }

  async close(): Promise<void> {
    try {
      await this.db.close();
    } finally {
      await this.lock.release();
    }
  }
}
