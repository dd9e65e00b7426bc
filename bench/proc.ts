import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU and memory of other processes, from Linux /proc: `utime + stime` of /proc/<pid>/stat (clock ticks,
 * USER_HZ = 100 on every Linux ABI Node runs on) and VmRSS / VmHWM of /proc/<pid>/status. A CSMS started
 * with several workers is a process tree, so the helpers below add up a process and its descendants.
 */

const TICKS_PER_SECOND = 100;

interface StatLine {
  ppid: number;
  /** utime + stime, seconds: this process's own CPU (all of its threads). */
  cpuSeconds: number;
  /** cutime + cstime: CPU of children that exited and were waited for. */
  childrenCpuSeconds: number;
}

function readStat(pid: number): StatLine | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: the fields after the last ')' are fixed.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const n = (i: number): number => Number(fields[i] ?? 0);
  return {
    ppid: n(1),
    cpuSeconds: (n(11) + n(12)) / TICKS_PER_SECOND,
    childrenCpuSeconds: (n(13) + n(14)) / TICKS_PER_SECOND,
  };
}

export function processCpuSeconds(pid: number): number | undefined {
  return readStat(pid)?.cpuSeconds;
}

function statusField(pid: number, field: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return undefined;
  }
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return match === null ? undefined : Number(match[1]) * 1024;
}

/** The process and all its descendants. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    const stat = readStat(pid);
    if (stat === undefined) continue;
    let list = children.get(stat.ppid);
    if (list === undefined) children.set(stat.ppid, (list = []));
    list.push(pid);
  }
  const tree: number[] = [];
  const pending = [root];
  while (pending.length > 0) {
    const pid = pending.pop() as number;
    tree.push(pid);
    for (const child of children.get(pid) ?? []) pending.push(child);
  }
  return tree;
}

export interface TreeUsage {
  /** CPU seconds of the live tree plus what exited children of the root used. */
  cpuSeconds: number;
  rssBytes: number;
  /** Sum of each process's peak RSS (VmHWM). */
  peakRssBytes: number;
  processes: number;
}

export function treeUsage(root: number): TreeUsage {
  let cpuSeconds = 0;
  let rssBytes = 0;
  let peakRssBytes = 0;
  const tree = processTree(root);
  for (const pid of tree) {
    const stat = readStat(pid);
    if (stat === undefined) continue;
    cpuSeconds += stat.cpuSeconds + (pid === root ? stat.childrenCpuSeconds : 0);
    rssBytes += statusField(pid, 'VmRSS') ?? 0;
    peakRssBytes += statusField(pid, 'VmHWM') ?? 0;
  }
  return { cpuSeconds, rssBytes, peakRssBytes, processes: tree.length };
}

/** CPU seconds the whole machine has been busy (all cores; /proc/stat, idle and iowait excluded). */
export function machineBusySeconds(): number {
  try {
    const fields = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
    const total = fields.slice(0, 8).reduce((sum, value) => sum + value, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    return (total - idle) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

export function loadAverage(): number {
  try {
    return Number(readFileSync('/proc/loadavg', 'latin1').split(' ')[0]);
  } catch {
    return 0;
  }
}

/** CPU seconds of a set of processes (e.g. the PostgreSQL backends serving one database). */
export function cpuOf(pids: readonly number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of pids) {
    const cpu = processCpuSeconds(pid);
    if (cpu !== undefined) out.set(pid, cpu);
  }
  return out;
}
