/**
 * Real Redis and PostgreSQL for the test suite (CONTRACT §7).
 *
 * As vitest `globalSetup` (`setup` / `teardown`): checks that `REDIS_URL` and `DATABASE_URL` (defaults
 * below) answer. When one does not and its server is installed, starts a throw-away instance on a free
 * loopback port in a temporary directory; when it is not installed, fails at once with one line saying
 * what to install. The URLs in use reach the test files through `process.env` and `inject()`.
 *
 * In test files: `freshPostgresDatabase()` / `freshPostgresDatabaseUrl()` create an empty database of
 * their own on that server (dropped by `drop()`, and in any case at teardown), `testRedisUrl()` gives
 * the Redis URL.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, chownSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { withDefaultUser } from '../../src/store/pg-database.js';
import { freePort } from '../../bench/free-port.js';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  interface ProvidedContext {
    redisUrl: string;
    databaseUrl: string;
    testRunId: string;
  }
}

const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
const DEFAULT_DATABASE_URL = 'postgres://127.0.0.1:5432/test';
/** Databases this suite creates are named `stroom_test_<epoch seconds>_<random>_<random>`. */
const DATABASE_PREFIX = 'stroom_test_';
/** Leftovers of runs that died without teardown are dropped once they are this old. */
const STALE_DATABASE_SECONDS = 6 * 3600;

const RUN_ID_ENV = 'STROOM_TEST_RUN_ID';

// State of the globalSetup process only.
const cleanups: Array<() => Promise<void> | void> = [];

function log(line: string): void {
  process.stderr.write(`[services] ${line}\n`);
}

/** The one line a developer needs when a service cannot be had. */
class MissingServiceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MissingServiceError';
    // One line, not a stack: the fix is an install, not a debugging session.
    this.stack = `${this.name}: ${message}`;
  }
}

function describeError(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return describeError(error.errors[0]);
  if (error instanceof Error) return 'code' in error && typeof error.code === 'string' ? error.code : error.message;
  return String(error);
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, binary))) return join(dir, binary);
  }
  return undefined;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------- Redis

async function pingRedis(url: string): Promise<string | undefined> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 2000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const answer = await client.ping();
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- typed as 'PONG', but it is whatever the Redis server answered
    return answer === 'PONG' ? undefined : `answered ${String(answer)}`;
  } catch (error) {
    return describeError(error);
  } finally {
    client.disconnect();
  }
}

async function startRedis(): Promise<string> {
  const binary = onPath('redis-server');
  if (!binary) {
    throw new MissingServiceError('Redis is not reachable and redis-server is not installed: install Redis (apt-get install redis-server) or set REDIS_URL');
  }
  const dir = mkdtempSync(join(tmpdir(), 'stroom-redis-'));
  const port = await freePort();
  const child: ChildProcess = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  cleanups.push(() => {
    if (!exited) child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });
  const url = `redis://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 100; attempt++) {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by another async task, which the checker's narrowing does not see
    if (exited) break;
    if ((await pingRedis(url)) === undefined) return url;
    await sleep(100);
  }
  throw new Error(`the throw-away redis-server on port ${port} did not come up`);
}

async function ensureRedis(): Promise<string> {
  const url = process.env.REDIS_URL || DEFAULT_REDIS_URL;
  const problem = await pingRedis(url);
  if (problem === undefined) return url;
  const started = await startRedis();
  log(`Redis not reachable at ${url} (${problem}); started a throw-away redis-server at ${started}`);
  return started;
}

// ----------------------------------------------------------------------------------------- PostgreSQL

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Undefined when usable; creates the URL's database when only that is missing. */
async function checkPostgres(url: string): Promise<string | undefined> {
  try {
    await withClient(url, (client) => client.query('SELECT 1'));
    return undefined;
  } catch (error) {
    // 3D000: the server is there, the database is not (a fresh cluster has no "test").
    if (typeof error === 'object' && error !== null && 'code' in error && error.code === '3D000') {
      const database = decodeURIComponent(new URL(url).pathname.slice(1));
      try {
        await withClient(withDatabase(url, 'postgres'), (client) => client.query(`CREATE DATABASE ${quoteIdent(database)}`));
        return undefined;
      } catch (createError) {
        return `database ${database} is missing and could not be created: ${describeError(createError)}`;
      }
    }
    return describeError(error);
  }
}

/** Directory holding initdb and pg_ctl: PATH first, then Debian's versioned directories, newest first. */
function findPostgresBin(): string | undefined {
  const initdb = onPath('initdb');
  if (initdb && onPath('pg_ctl')) return join(initdb, '..');
  let versions: string[];
  try {
    versions = readdirSync('/usr/lib/postgresql');
  } catch {
    return undefined;
  }
  versions.sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const bin = join('/usr/lib/postgresql', version, 'bin');
    if (isExecutable(join(bin, 'initdb')) && isExecutable(join(bin, 'pg_ctl'))) return bin;
  }
  return undefined;
}

async function startPostgres(): Promise<string> {
  const bin = findPostgresBin();
  if (!bin) {
    throw new MissingServiceError('PostgreSQL is not reachable and initdb/pg_ctl are not installed: install PostgreSQL (apt-get install postgresql) or set DATABASE_URL');
  }
  const dir = mkdtempSync(join(tmpdir(), 'stroom-pg-'));
  const data = join(dir, 'data');
  const port = await freePort();
  // PostgreSQL refuses to run as root: as root, run it as the postgres user the package created.
  let run = (command: string, args: string[]): void => {
    execFileSync(command, args, { stdio: 'pipe' });
  };
  if (process.getuid?.() === 0) {
    let uid: number;
    let gid: number;
    try {
      uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    } catch {
      throw new MissingServiceError('PostgreSQL cannot run as root and there is no postgres user: run the tests as another user or set DATABASE_URL');
    }
    chownSync(dir, uid, gid);
    run = (command, args) => {
      execFileSync('runuser', ['-u', 'postgres', '--', command, ...args], { stdio: 'pipe' });
    };
  }
  const pgCtl = join(bin, 'pg_ctl');
  try {
    run(join(bin, 'initdb'), ['-D', data, '-U', 'stroom', '-A', 'trust', '-E', 'UTF8', '--no-sync']);
    // Durability is worthless for a database that is deleted after the run.
    const serverOptions = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
    run(pgCtl, ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '60', '-o', serverOptions, 'start']);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    const stderr = typeof error === 'object' && error !== null && 'stderr' in error ? String(error.stderr).trim() : '';
    throw new Error(`could not start a throw-away PostgreSQL: ${stderr || describeError(error)}`, { cause: error });
  }
  cleanups.push(() => {
    try {
      run(pgCtl, ['-D', data, '-m', 'immediate', '-w', 'stop']);
    } catch {
      // Already gone; the directory goes anyway.
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const url = `postgres://stroom@127.0.0.1:${port}/test`;
  const problem = await checkPostgres(url);
  if (problem !== undefined) throw new Error(`the throw-away PostgreSQL at ${url} is not usable: ${problem}`);
  return url;
}

async function ensurePostgres(): Promise<string> {
  // With the user spelled out, every client (pg, psql, other processes) means the same role.
  const url = withDefaultUser(process.env.DATABASE_URL || DEFAULT_DATABASE_URL);
  const problem = await checkPostgres(url);
  if (problem === undefined) return url;
  const started = await startPostgres();
  log(`PostgreSQL not reachable at ${url} (${problem}); started a throw-away server at ${started}`);
  return started;
}

async function dropDatabases(url: string, shouldDrop: (name: string) => boolean): Promise<void> {
  await withClient(url, async (client) => {
    const { rows } = await client.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE 'stroom\\_test\\_%'`);
    for (const { datname } of rows) {
      if (!shouldDrop(datname)) continue;
      await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(datname)} WITH (FORCE)`).catch(() => undefined);
    }
  });
}

function createdAtSeconds(database: string): number | undefined {
  const match = /^stroom_test_(\d+)_/.exec(database);
  return match ? Number(match[1]) : undefined;
}

// ------------------------------------------------------------------------------ vitest globalSetup

let runDatabasePrefix: string | undefined;
let adminUrl: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  const [redisUrl, databaseUrl] = await Promise.all([ensureRedis(), ensurePostgres()]);
  const runId = `${Math.floor(Date.now() / 1000)}_${randomBytes(4).toString('hex')}`;
  runDatabasePrefix = `${DATABASE_PREFIX}${runId}_`;
  adminUrl = databaseUrl;
  const now = Date.now() / 1000;
  await dropDatabases(databaseUrl, (name) => {
    const created = createdAtSeconds(name);
    return created !== undefined && now - created > STALE_DATABASE_SECONDS;
  }).catch(() => undefined);

  process.env.REDIS_URL = redisUrl;
  process.env.DATABASE_URL = databaseUrl;
  process.env[RUN_ID_ENV] = runId;
  project.provide('redisUrl', redisUrl);
  project.provide('databaseUrl', databaseUrl);
  project.provide('testRunId', runId);
}

export async function teardown(): Promise<void> {
  if (adminUrl !== undefined && runDatabasePrefix !== undefined) {
    const prefix = runDatabasePrefix;
    await dropDatabases(adminUrl, (name) => name.startsWith(prefix)).catch((error: unknown) => {
      log(`could not drop the test databases: ${describeError(error)}`);
    });
  }
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups.length = 0;
}

// ------------------------------------------------------------------------------- in test files

/** What globalSetup settled on; `inject` when running under vitest, the environment otherwise. */
async function provided(): Promise<{ redisUrl: string; databaseUrl: string; testRunId: string }> {
  try {
    const { inject } = await import('vitest');
    return { redisUrl: inject('redisUrl'), databaseUrl: inject('databaseUrl'), testRunId: inject('testRunId') };
  } catch {
    return {
      redisUrl: process.env.REDIS_URL || DEFAULT_REDIS_URL,
      databaseUrl: process.env.DATABASE_URL || DEFAULT_DATABASE_URL,
      testRunId: process.env[RUN_ID_ENV] || `${Math.floor(Date.now() / 1000)}_adhoc`,
    };
  }
}

export async function testRedisUrl(): Promise<string> {
  return (await provided()).redisUrl;
}

export interface TestDatabase {
  url: string;
  name: string;
  /** Drops the database (closing anything still connected); teardown drops forgotten ones. */
  drop(): Promise<void>;
}

/** A new, empty database on the test PostgreSQL server, for one test file or one test. */
export async function freshPostgresDatabase(): Promise<TestDatabase> {
  const { databaseUrl, testRunId } = await provided();
  const name = `${DATABASE_PREFIX}${testRunId}_${randomBytes(4).toString('hex')}`;
  await withClient(databaseUrl, (client) => client.query(`CREATE DATABASE ${quoteIdent(name)}`));
  return {
    url: withDatabase(databaseUrl, name),
    name,
    async drop() {
      await withClient(databaseUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`));
    },
  };
}

/** Shorthand for `(await freshPostgresDatabase()).url`. */
export async function freshPostgresDatabaseUrl(): Promise<string> {
  return (await freshPostgresDatabase()).url;
}
