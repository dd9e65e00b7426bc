/** The data dir lock on a real file system (CONTRACT §1 "one owner"). */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DataDirInUseError, lockDataDir } from '../../src/store/data-dir-lock.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('data dir lock', () => {
  it('refuses a second holder while the first lives, naming the dir', async () => {
    dir = await mkdtemp(join(tmpdir(), 'stroom-lock-'));
    const lock = await lockDataDir(dir);
    await expect(lockDataDir(dir)).rejects.toThrow(DataDirInUseError);
    await expect(lockDataDir(dir)).rejects.toThrow(dir);
    await lock.release();
    await lock.release(); // idempotent
    await (await lockDataDir(dir)).release();
  });

  it('takes over a lock whose pid now belongs to another process (started at another time)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'stroom-lock-'));
    // pid 1 lives, but it did not write this lock: its start time differs.
    await writeFile(join(dir, 'pglite.lock'), '1 1\n');
    const lock = await lockDataDir(dir);
    expect((await readFile(join(dir, 'pglite.lock'), 'utf8')).split(' ')[0]).toBe(String(process.pid));
    await lock.release();
  });

  it('takes over a lock of a dead process', async () => {
    dir = await mkdtemp(join(tmpdir(), 'stroom-lock-'));
    await writeFile(join(dir, 'pglite.lock'), '2147483646\n');
    await (await lockDataDir(dir)).release();
  });
});
