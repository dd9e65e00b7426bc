import { readFileSync } from 'node:fs';
import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** PGlite is one process's database: a second process on the same files would corrupt them. */
export class DataDirInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(`data directory ${dataDir} is in use by process ${pid}; stop it or use another CSMS_DATA_DIR`);
    this.name = 'DataDirInUseError';
  }
}

export interface DataDirLock {
  readonly path: string;
  release(): Promise<void>;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return typeof error === 'object' && error !== null && 'code' in error && error.code === 'EPERM';
  }
}

/**
 * When a process started (clock ticks since boot, /proc/<pid>/stat field 22), on Linux: with the pid it names one
 * process for good, so a lock left by a killed process is not taken for live when its pid was reused meanwhile.
 */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its closing ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function errorCode(error: unknown): unknown {
  return typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
}

/** Lock files this process holds, to tell its own live lock from one left by an earlier process with the same pid. */
const heldByThisProcess = new Set<string>();

/**
 * Takes `<dir>/<name>` with our pid inside. A lock left by a dead process is taken over; a lock held by a
 * live one (this process included: two stores on one directory are as bad as two processes) fails.
 */
export async function lockDataDir(dir: string, name = 'pglite.lock'): Promise<DataDirLock> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, name);
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const handle = await open(path, 'wx');
      try {
        await handle.writeFile(`${process.pid} ${startTime(process.pid) ?? ''}\n`);
      } finally {
        await handle.close();
      }
      heldByThisProcess.add(path);
      let released = false;
      return {
        path,
        // Idempotent: a second release must not delete a lock another process took meanwhile.
        async release() {
          if (released) return;
          released = true;
          heldByThisProcess.delete(path);
          await unlink(path).catch(() => undefined);
        },
      };
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') throw error;
    }
    const [pidText = '', started] = (await readFile(path, 'utf8').catch(() => '')).trim().split(' ');
    const holder = Number.parseInt(pidText, 10);
    // Our own pid in a lock we do not hold: a container restarted its process under the same pid (often 1).
    const ownStale = holder === process.pid && !heldByThisProcess.has(path);
    // The pid lives, but it is another process than the one that wrote the lock (pid reused after a kill).
    const reused = started !== undefined && started !== '' && startTime(holder) !== undefined && startTime(holder) !== started;
    if (Number.isInteger(holder) && holder > 0 && !ownStale && !reused && isAlive(holder)) {
      throw new DataDirInUseError(dir, holder);
    }
    // Stale (dead pid) or half-written by a process that died between create and write.
    await unlink(path).catch((error: unknown) => {
      if (errorCode(error) !== 'ENOENT') throw error;
    });
  }
  throw new Error(`could not take the lock ${path}: another process keeps replacing it`);
}
