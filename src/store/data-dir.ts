import { chmod, lstat, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Group and world write bits: CONTRACT §3.2 "Data dir" allows neither anywhere under CSMS_DATA_DIR. */
const GROUP_OR_WORLD_WRITABLE = 0o022;

/**
 * Before the data dir is used: files this process creates from now on are never group- or world-writable, whatever
 * umask it inherited (PGlite creates its files 0666 and relies on the umask), and the dir exists, created 0700
 * when missing. Returns false when the umask could not be changed (a worker thread cannot): `securePermissions`
 * after the store opened is then the only guard.
 */
export async function prepareDataDir(dir: string): Promise<{ created: boolean; umaskSet: boolean }> {
  let umaskSet = true;
  try {
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- adding bits to the umask needs the current one, which only the no-argument call (or an equivalent double write) reads; this runs once at startup, before any worker thread
    process.umask(process.umask() | GROUP_OR_WORLD_WRITABLE);
  } catch {
    umaskSet = false;
  }
  const created = (await mkdir(dir, { recursive: true, mode: 0o700 })) !== undefined;
  // mkdir's mode passes through the umask; say it once more, exactly.
  if (created) await chmod(dir, 0o700);
  return { created, umaskSet };
}

/** Removes group/world write permission from everything under `dir` (symlinks left alone); returns what it changed. */
export async function securePermissions(dir: string): Promise<string[]> {
  const fixed: string[] = [];
  const visit = async (path: string): Promise<void> => {
    const stat = await lstat(path);
    if (stat.isSymbolicLink()) return;
    if ((stat.mode & GROUP_OR_WORLD_WRITABLE) !== 0) {
      await chmod(path, stat.mode & 0o7777 & ~GROUP_OR_WORLD_WRITABLE);
      fixed.push(path);
    }
    if (stat.isDirectory()) for (const name of await readdir(path)) await visit(join(path, name));
  };
  await visit(dir);
  return fixed;
}
