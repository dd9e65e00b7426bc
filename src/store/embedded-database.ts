import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { lockDataDir, type DataDirLock } from './data-dir-lock.js';
import type { Queryable, SqlDatabase, SqlParam, Statement } from './sql.js';

/** PGlite (PostgreSQL compiled to WASM) in `<dataDir>/pglite`, guarded by a pid lock file in `dataDir`. */
export class EmbeddedDatabase implements SqlDatabase {
  readonly kind = 'embedded';

  private constructor(
    private readonly db: PGlite,
    private readonly lock: DataDirLock,
  ) {}

  static async open(dataDir: string): Promise<EmbeddedDatabase> {
    const lock = await lockDataDir(dataDir);
    try {
      const db = await PGlite.create(join(dataDir, 'pglite'));
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
