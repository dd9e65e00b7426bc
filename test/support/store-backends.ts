/**
 * The two places a store can live, for tests that run the same suite against both: a temporary data
 * directory (embedded PGlite) and a fresh PostgreSQL database.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OpenStoreOptions } from '../../src/store/open-store.js';
import { freshPostgresDatabase } from './services.js';

export interface StoreLocation {
  options: OpenStoreOptions;
  remove(): Promise<void>;
}

export interface StoreBackend {
  name: 'embedded' | 'postgres';
  newLocation(): Promise<StoreLocation>;
}

export const STORE_BACKENDS: StoreBackend[] = [
  {
    name: 'embedded',
    async newLocation() {
      const dataDir = await mkdtemp(join(tmpdir(), 'stroom-store-'));
      return { options: { dataDir }, remove: () => rm(dataDir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'postgres',
    async newLocation() {
      const database = await freshPostgresDatabase();
      const dataDir = await mkdtemp(join(tmpdir(), 'stroom-store-pg-'));
      return {
        options: { databaseUrl: database.url, dataDir },
        async remove() {
          await database.drop();
          await rm(dataDir, { recursive: true, force: true });
        },
      };
    },
  },
];

/** Opening PGlite takes a few seconds; tests that open stores of their own get more time. */
export const REOPEN_TIMEOUT_MS = 60_000;
