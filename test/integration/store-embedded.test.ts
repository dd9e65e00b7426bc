/**
 * The embedded store (PGlite in CSMS_DATA_DIR) as CONTRACT §1 and §3.2 describe it, with real child processes
 * (`node dist/src/main.js`, as `npm start` runs it) and a real small tmpfs:
 *
 * - durable: PostgreSQL inside runs with fsync on (PGlite's default is off);
 * - data dir: created 0700, nothing under it group- or world-writable even under umask 000;
 * - one owner: a second process on a held data dir exits non-zero within 10 s with one line naming the dir, the
 *   first goes on, and a lock left by a SIGKILLed process does not block a restart;
 * - degraded: below CSMS_MIN_FREE_BYTES free, station writes get InternalError while Heartbeat, reads and the API
 *   answer, /health is 503 degraded and csms_store_up 0; freeing the space brings writes back within 10 s;
 * - the engine (PGlite) runs in a worker thread: the event loop keeps turning while a statement runs, values and
 *   SQLSTATE errors cross intact, and a stalled engine is terminated mid-write and restarted on the same files
 *   with everything committed kept.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { lstat, readdir, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../bench/free-port.js';
import { EmbeddedDatabase, EmbeddedEngineError } from '../../src/store/embedded-database.js';
import { sqlState } from '../../src/store/sql.js';
import { GuardedDatabase, StoreUnavailableError, isUnavailable } from '../../src/store/store-guard.js';
import { ChargingSession, getTransaction, newIdToken, registerIdToken } from '../support/charging.js';
import { REPO_ROOT, freshDataDir, spawnCsms, startTestCsms, type TestCsms } from '../support/csms.js';
import { OcppCallError, waitFor } from '../support/station.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
});

/** Every path under `dir` (itself included) whose mode has a group or world write bit. */
async function groupOrWorldWritable(dir: string): Promise<string[]> {
  const found: string[] = [];
  const visit = async (path: string): Promise<void> => {
    const stat = await lstat(path);
    if (stat.isSymbolicLink()) return;
    if ((stat.mode & 0o022) !== 0) found.push(`${path} ${(stat.mode & 0o777).toString(8)}`);
    if (stat.isDirectory()) for (const name of await readdir(path)) await visit(join(path, name));
  };
  await visit(dir);
  return found;
}

/** `node dist/src/main.js` expected to stop by itself: its exit code, stderr, and how long it ran. */
async function runToExit(env: Record<string, string | number>, timeoutMs: number): Promise<{ code: number | null; stderr: string; ms: number }> {
  const childEnv: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CSMS_') && k !== 'DATABASE_URL' && k !== 'REDIS_URL') childEnv[k] = v;
  for (const [k, v] of Object.entries(env)) childEnv[k] = String(v);
  const started = Date.now();
  const child = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'main.js')], { cwd: REPO_ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  child.stdout.resume();
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  clearTimeout(timer);
  return { code, stderr, ms: Date.now() - started };
}

describe('embedded store: durable, one owner, private data dir', () => {
  it('creates the data dir 0700 under umask 000, refuses a second owner with one line, restarts after a SIGKILL, runs with fsync on', async () => {
    const parent = await freshDataDir('stroom-owner-');
    cleanup.push(() => rm(parent, { recursive: true, force: true }));
    const dataDir = join(parent, 'data'); // missing: the CSMS creates it
    const envFor = async (): Promise<Record<string, string | number>> => ({
      CSMS_OCPP_PORT: await freePort(),
      CSMS_API_PORT: await freePort(),
      CSMS_DATA_DIR: dataDir,
      CSMS_LOG_LEVEL: 'warn',
    });

    // The children inherit the most permissive umask there is.
    const umask = process.umask(0);
    const first = await spawnCsms(await envFor()).finally(() => process.umask(umask));
    cleanup.push(() => first.kill());
    expect(((await lstat(dataDir)).mode & 0o777).toString(8)).toBe('700');
    expect(await groupOrWorldWritable(dataDir)).toEqual([]);

    const second = await runToExit(await envFor(), 10_000);
    expect(second.code, second.stderr).not.toBe(0);
    expect(second.code).not.toBeNull(); // exited by itself, not killed by the 10 s guard
    const lines = second.stderr.trim().split('\n');
    expect(lines, second.stderr).toHaveLength(1);
    expect(lines[0]).toContain(dataDir);
    expect((await first.api.health()).status).toBe(200);

    // SIGKILL leaves the lock file behind; the next start takes it over.
    const killed = new Promise<void>((resolve) => first.child.once('exit', () => resolve()));
    first.kill();
    await killed;
    const third = await spawnCsms(await envFor());
    cleanup.push(() => third.kill());
    expect((await third.api.health()).status).toBe(200);
    const stopped = await third.stop();
    expect(stopped.code).toBe(0);
    expect(await groupOrWorldWritable(dataDir)).toEqual([]);

    // The same files opened in-process: PostgreSQL inside syncs its commits.
    const db = await EmbeddedDatabase.open(dataDir);
    try {
      expect(await db.query('SHOW fsync')).toEqual([{ fsync: 'on' }]);
      expect(await db.query('SHOW synchronous_commit')).toEqual([{ synchronous_commit: 'on' }]);
      expect(await db.query('SHOW wal_sync_method')).toEqual([{ wal_sync_method: 'fsync' }]);
    } finally {
      await db.close();
    }
  }, 180_000);
});

describe('embedded store on a nearly full disk (a real tmpfs)', () => {
  const MIN_FREE = 64 * 1024 * 1024;

  it('refuses station writes below CSMS_MIN_FREE_BYTES with InternalError, keeps answering the rest, recovers when space is freed', async () => {
    const mountPoint = await freshDataDir('stroom-tmpfs-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=192m,mode=0700', 'tmpfs', mountPoint]);
    cleanup.push(async () => {
      execFileSync('umount', [mountPoint]);
      await rm(mountPoint, { recursive: true, force: true });
    });
    const dataDir = join(mountPoint, 'data');
    const csms: TestCsms = await startTestCsms({ CSMS_DATA_DIR: dataDir, CSMS_MIN_FREE_BYTES: MIN_FREE });
    cleanup.push(() => csms.stop());
    const token = await registerIdToken(csms.api, newIdToken('ISO14443'));
    const station = await csms.bootedStation({ prefix: 'diskfull' });
    const session = new ChargingSession(station);
    const started = session.build('Started', 'Authorized', { idToken: token, evse: true, chargingState: 'Charging' });
    await station.call('TransactionEvent', started);
    expect((await csms.api.health()).status).toBe(200);

    // Fill the file system until 32 MiB are left: below the 64 MiB threshold, with room for PostgreSQL to live.
    const fs = await statfs(mountPoint);
    const fill = fs.bavail * fs.bsize - 32 * 1024 * 1024;
    expect(fill).toBeGreaterThan(0);
    const filler = join(mountPoint, 'filler');
    await new Promise<void>((resolve, reject) => {
      const out = createWriteStream(filler);
      out.on('error', reject);
      const chunk = Buffer.alloc(1024 * 1024);
      for (let left = fill; left > 0; left -= chunk.length) out.write(left >= chunk.length ? chunk : chunk.subarray(0, left));
      out.end(() => resolve());
    });

    await waitFor(async () => (await csms.api.health()).status === 503, { timeoutMs: 5_000, what: '/health 503 on a full disk' });
    const health = (await csms.api.health()).body as { status: string; reason?: string };
    expect(health).toMatchObject({ status: 'degraded' });
    expect(health.reason).toContain('CSMS_MIN_FREE_BYTES');
    expect((await csms.api.metrics()).split('\n')).toContain('csms_store_up 0');

    const updated = session.build('Updated', 'MeterValuePeriodic', {});
    const refused = await station.call('TransactionEvent', updated).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(OcppCallError);
    expect((refused as OcppCallError).code).toBe('InternalError');
    expect(typeof (await station.heartbeat()).currentTime).toBe('string');
    expect((await csms.api.getStation(station.identity)).status).toBe(200);
    expect((await getTransaction(csms.api, station.identity, session.transactionId)).events.map((e) => e.seqNo)).toEqual([0]);
    expect(station.isOpen).toBe(true);

    await rm(filler);
    await waitFor(async () => (await csms.api.health()).status === 200, { timeoutMs: 10_000, what: '/health 200 after space was freed' });
    expect((await csms.api.metrics()).split('\n')).toContain('csms_store_up 1');
    // The station resends the refused event: taken now.
    expect(await station.call('TransactionEvent', updated)).toEqual({});
    expect((await getTransaction(csms.api, station.identity, session.transactionId)).events.map((e) => e.seqNo)).toEqual([0, 1]);
  }, 180_000);
});

/** Counts the turns of the main event loop (a 10 ms interval) while `work` runs. */
async function ticksDuring<T>(work: () => Promise<T>): Promise<{ value: T; ticks: number }> {
  let ticks = 0;
  const interval = setInterval(() => (ticks += 1), 10);
  try {
    const value = await work();
    return { value, ticks };
  } finally {
    clearInterval(interval);
  }
}

describe('embedded engine in a worker thread', () => {
  it('keeps the event loop turning while a statement runs; values, errors and transactions cross intact', async () => {
    const dataDir = await freshDataDir('stroom-engine-');
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const db = await EmbeddedDatabase.open(dataDir);
    try {
      // One second inside PostgreSQL: on the main thread this blocked every timer and socket for that second.
      const slept = await ticksDuring(() => db.query('SELECT pg_sleep(1)'));
      expect(slept.ticks).toBeGreaterThan(10);

      await db.exec(`CREATE TABLE t (id int PRIMARY KEY, at timestamptz, doc jsonb, bytes bytea, big bigint, tags text[])`);
      const at = new Date('2026-01-02T03:04:05.678Z');
      const [row] = await db.query<{ at: Date; doc: unknown; bytes: Uint8Array; big: number; tags: string[] }>(
        `INSERT INTO t VALUES (1, $1, $2::jsonb, '\\x00ff10'::bytea, 9007199254740991, $3) RETURNING at, doc, bytes, big, tags`,
        [at, JSON.stringify({ a: [1, 'x', null], b: { c: true } }), ['p', 'q']],
      );
      expect(row?.at).toBeInstanceOf(Date);
      expect(row?.at.getTime()).toBe(at.getTime());
      expect(row?.doc).toEqual({ a: [1, 'x', null], b: { c: true } });
      expect(row?.bytes).toBeInstanceOf(Uint8Array);
      expect([...(row?.bytes ?? [])]).toEqual([0, 255, 16]);
      expect(Number(row?.big)).toBe(9007199254740991);
      expect(row?.tags).toEqual(['p', 'q']);

      // PostgreSQL's error fields cross as they are: the store decides on sqlState() (23505, 23503, SR001, …).
      const duplicate = await db.query('INSERT INTO t (id) VALUES (1)').then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(duplicate).toBeInstanceOf(Error);
      expect(sqlState(duplicate)).toBe('23505');
      expect(duplicate).toMatchObject({ constraint: 't_pkey', table: 't', severity: 'ERROR' });
      expect(isUnavailable(duplicate)).toBe(false);
      const raised = await db.query(`DO $$ BEGIN RAISE EXCEPTION 'not new' USING ERRCODE = 'SR001'; END $$`).catch((error: unknown) => error);
      expect(sqlState(raised)).toBe('SR001');
      expect((raised as Error).message).toBe('not new');

      // batch: one transaction, rolled back whole by its failing statement.
      await expect(
        db.batch([
          { text: 'INSERT INTO t (id) VALUES (2)', params: [] },
          { text: 'INSERT INTO t (id) VALUES (1)', params: [] },
        ]),
      ).rejects.toMatchObject({ code: '23505' });
      expect(
        await db.batch([
          { text: 'INSERT INTO t (id) VALUES (2) RETURNING id', params: [] },
          { text: 'SELECT count(*)::int AS n FROM t', params: [] },
        ]),
      ).toEqual([[{ id: 2 }], [{ n: 2 }]]);

      // transaction: a request from outside waits for the open transaction and sees its commit.
      let outsideDone = false;
      let outside: Promise<Array<{ n: number }>> | undefined;
      const committed = await db.transaction(async (q) => {
        await q.query('INSERT INTO t (id) VALUES (3)');
        outside = db.query<{ n: number }>('SELECT count(*)::int AS n FROM t');
        void outside.then(() => (outsideDone = true));
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect(outsideDone).toBe(false);
        await q.exec('INSERT INTO t (id) VALUES (4)');
        return q.query<{ id: number }>('SELECT id FROM t ORDER BY id');
      });
      expect(committed.map((r) => r.id)).toEqual([1, 2, 3, 4]);
      expect(await outside).toEqual([{ n: 4 }]);
      // fn throws: rolled back, the error is fn's own.
      await expect(
        db.transaction(async (q) => {
          await q.query('INSERT INTO t (id) VALUES (5)');
          throw new Error('changed my mind');
        }),
      ).rejects.toThrow('changed my mind');
      expect(await db.query('SELECT count(*)::int AS n FROM t')).toEqual([{ n: 4 }]);
    } finally {
      await db.close();
    }
    // The thread has ended and the lock is free: the files open again.
    const again = await EmbeddedDatabase.open(dataDir);
    expect(await again.query('SELECT count(*)::int AS n FROM t')).toEqual([{ n: 4 }]);
    await again.close();
  }, 180_000);

  it('a stalled engine: the store is degraded while the loop turns; the engine is terminated mid-write and restarted, nothing committed lost', async () => {
    const dataDir = await freshDataDir('stroom-stall-');
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const raw = await EmbeddedDatabase.open(dataDir);
    const timeoutMs = 1000;
    const db = await GuardedDatabase.create(raw, { timeoutMs, checkIntervalMs: 100 });
    raw.restartWhenStalled(3 * timeoutMs);
    try {
      // Set-up and checks go to the engine directly: on a loaded machine they may take longer than the guard's bound.
      await raw.exec('CREATE TABLE kept (id int PRIMARY KEY); CREATE TABLE big (id int, pad text)');
      await raw.batch([{ text: 'INSERT INTO kept SELECT generate_series(1, 100)', params: [] }]);

      // A statement that writes for far longer than the stall limit: terminated in the middle of its writes.
      // (Three small series joined: rows stream into the table at once, where one big series would first be materialised.)
      const stalled = raw
        .query(
          `INSERT INTO big SELECT a * 1000000 + b * 1000 + c, repeat('x', 100) FROM generate_series(1, 1000) a, generate_series(1, 1000) b, generate_series(1, 1000) c`,
        )
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      const { value: timedOut, ticks } = await ticksDuring(() => db.query('SELECT count(*) FROM kept').catch((error: unknown) => error));
      // The guard gave up after its bound while the loop kept turning: the engine never held the main thread.
      expect(timedOut).toBeInstanceOf(StoreUnavailableError);
      expect(ticks).toBeGreaterThan(5);
      expect(db.health.up).toBe(false);

      const error = await stalled;
      expect(error).toBeInstanceOf(EmbeddedEngineError);
      expect((error as Error).message).toContain('did not answer');
      expect(isUnavailable(error)).toBe(true);

      // The guard's probe starts a new engine on the same files (WAL recovery): the store comes back by itself.
      await waitFor(() => db.health.up, { timeoutMs: 120_000, what: 'the store up again after the engine restart' });
      expect(await raw.query('SELECT count(*)::int AS n FROM kept')).toEqual([{ n: 100 }]);
      expect(await raw.query('SELECT count(*)::int AS n FROM big')).toEqual([{ n: 0 }]);
      // The terminated statement had written pages (recovered from the WAL, its rows invisible): it died mid-write.
      const [size] = await raw.query<{ bytes: number }>(`SELECT pg_relation_size('big')::int AS bytes`);
      expect(size?.bytes).toBeGreaterThan(0);
      await raw.query('INSERT INTO kept VALUES (101)');
    } finally {
      await db.close();
    }
    const again = await EmbeddedDatabase.open(dataDir);
    try {
      expect(await again.query('SELECT count(*)::int AS n FROM kept')).toEqual([{ n: 101 }]);
      expect(await again.query('SHOW fsync')).toEqual([{ fsync: 'on' }]);
    } finally {
      await again.close();
    }
  }, 240_000);
});
