/**
 * The embedded store (PGlite in CSMS_DATA_DIR) as CONTRACT §1 and §3.2 describe it, with real child processes
 * (`node dist/src/main.js`, as `npm start` runs it) and a real small tmpfs:
 *
 * - durable: PostgreSQL inside runs with fsync on (PGlite's default is off);
 * - data dir: created 0700, nothing under it group- or world-writable even under umask 000;
 * - one owner: a second process on a held data dir exits non-zero within 10 s with one line naming the dir, the
 *   first goes on, and a lock left by a SIGKILLed process does not block a restart;
 * - degraded: below CSMS_MIN_FREE_BYTES free, station writes get InternalError while Heartbeat, reads and the API
 *   answer, /health is 503 degraded and csms_store_up 0; freeing the space brings writes back within 10 s.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { lstat, readdir, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../bench/free-port.js';
import { EmbeddedDatabase } from '../../src/store/embedded-database.js';
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
