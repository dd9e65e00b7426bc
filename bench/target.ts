import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { withDefaultUser } from '../src/store/pg-database.js';
import { HttpClient } from './http.js';
import { freePort } from './free-port.js';
import { cpuOf, machineBusySeconds, processTree, treeUsage, type TreeUsage } from './proc.js';

/**
 * The system under test, started as a child process exactly as an operator would run it: Stroom
 * (`node dist/src/main.js`) or the ocpp-rpc baseline (`node dist/bench/baseline/server.js`), each on
 * free loopback ports, with a fresh PostgreSQL database (or Stroom's embedded store), logs at warn.
 */

export type TargetKind = 'stroom' | 'baseline';

export const TARGET_LABEL: Readonly<Record<TargetKind, string>> = { stroom: 'Stroom', baseline: 'ocpp-rpc baseline' };

const DEFAULT_DATABASE_URL = 'postgres://127.0.0.1:5432/test';
const DATABASE_PREFIX = 'stroom_bench_';
const STALE_DATABASE_SECONDS = 6 * 3600;

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * The PostgreSQL server the benchmark uses: one fresh database per target and run (`stroom_bench_<epoch>_…`),
 * dropped afterwards; leftovers of crashed runs are dropped once they are 6 h old.
 */
export class BenchPostgres {
  private constructor(
    readonly adminUrl: string,
    private readonly admin: pg.Client,
  ) {}

  static async connect(url = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL): Promise<BenchPostgres> {
    const adminUrl = withDefaultUser(url);
    const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
    admin.on('error', () => undefined);
    try {
      await admin.connect();
    } catch (err) {
      throw new Error(`PostgreSQL at ${adminUrl} is not reachable (${(err as Error).message}); set DATABASE_URL, or run with --store embedded --no-baseline`, {
        cause: err,
      });
    }
    const db = new BenchPostgres(adminUrl, admin);
    await db.dropStale();
    return db;
  }

  private async dropStale(): Promise<void> {
    const { rows } = await this.admin.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE 'stroom\\_bench\\_%'`);
    const now = Date.now() / 1000;
    for (const { datname } of rows) {
      const created = Number(/^stroom_bench_(\d+)_/.exec(datname)?.[1]);
      if (Number.isFinite(created) && now - created > STALE_DATABASE_SECONDS) {
        await this.admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(datname)} WITH (FORCE)`).catch(() => undefined);
      }
    }
  }

  async create(tag: string): Promise<{ name: string; url: string }> {
    const name = `${DATABASE_PREFIX}${Math.floor(Date.now() / 1000)}_${tag}_${Math.random().toString(36).slice(2, 8)}`;
    await this.admin.query(`CREATE DATABASE ${quoteIdent(name)}`);
    const url = new URL(this.adminUrl);
    url.pathname = `/${name}`;
    return { name, url: url.toString() };
  }

  async drop(name: string): Promise<void> {
    await this.admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  }

  /** The server processes serving a database (for their CPU time; works when PostgreSQL runs on this machine). */
  async backendPids(name: string): Promise<number[]> {
    const { rows } = await this.admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [name]);
    return rows.map((r) => r.pid);
  }

  async close(): Promise<void> {
    await this.admin.end().catch(() => undefined);
  }
}

export interface TargetOptions {
  kind: TargetKind;
  /** Names the process in messages and its log file (`<name>.log`); default: the kind. A cluster's nodes each have their own. */
  name?: string;
  /** More environment for the process (e.g. CSMS_NODE_ID, CSMS_REDIS_PREFIX of a cluster node). */
  env?: Record<string, string>;
  /** Fresh database; undefined: Stroom's embedded store in a temporary CSMS_DATA_DIR. */
  database: { name: string; url: string } | undefined;
  postgres: BenchPostgres | undefined;
  unknownStations: 'accept' | 'reject';
  heartbeatIntervalSeconds: number;
  callTimeoutMs: number;
  /** Cluster mode, when Stroom has it: CSMS_WORKERS and REDIS_URL are passed through. */
  csmsWorkers: number | undefined;
  redisUrl: string | undefined;
  logDir: string;
  /** Write a V8 CPU profile of the target into logDir (node --cpu-prof). */
  profile: boolean;
}

/** Resource usage of the target between two snapshots. */
export interface UsageSnapshot {
  at: number;
  usage: TreeUsage;
  /** CPU seconds the whole machine was busy so far. */
  machineBusy: number;
  /** CPU seconds of each PostgreSQL backend of the target's database. */
  databaseCpu: Map<number, number>;
}

export class RunningTarget {
  readonly api: HttpClient;
  private exited = false;

  constructor(
    readonly kind: TargetKind,
    readonly child: ChildProcess,
    readonly ocppPort: number,
    readonly apiPort: number,
    readonly logFile: string,
    private readonly options: TargetOptions,
    private readonly dataDir: string | undefined,
  ) {
    this.api = new HttpClient(`http://127.0.0.1:${apiPort}`);
    child.once('exit', () => {
      this.exited = true;
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** Kills the process and its workers without letting them clean up (a node lost: SIGKILL), and waits for its exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    for (const pid of processTree(this.pid).reverse()) {
      try {
        process.kill(pid, signal);
      } catch {
        // gone already
      }
    }
    await exited;
  }

  get storeLabel(): string {
    return this.options.database === undefined ? 'embedded (PGlite)' : 'PostgreSQL';
  }

  async snapshot(): Promise<UsageSnapshot> {
    const { database, postgres } = this.options;
    const pids = database !== undefined && postgres !== undefined ? await postgres.backendPids(database.name).catch(() => []) : [];
    return { at: performance.now(), usage: treeUsage(this.pid), machineBusy: machineBusySeconds(), databaseCpu: cpuOf(pids) };
  }

  /** Gauges from /metrics (summed over label sets), e.g. nodejs_heap_size_used_bytes. */
  async gauges(names: readonly string[]): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    const answer = await this.api.send('GET', '/metrics').catch(() => undefined);
    if (answer === undefined || answer.status !== 200) return out;
    for (const line of answer.text.split('\n')) {
      if (line.startsWith('#')) continue;
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
      if (match === null || !names.includes(match[1] as string)) continue;
      out[match[1] as string] = (out[match[1] as string] ?? 0) + Number(match[3]);
    }
    return out;
  }

  lastLogLines(count = 15): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-count).join('\n');
    } catch {
      return '';
    }
  }

  async stop(): Promise<void> {
    this.api.close();
    if (!this.exited) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
    if (this.dataDir !== undefined) rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** CPU seconds the database backends used between two snapshots (backends that came and went are missed). */
export function databaseCpuBetween(before: UsageSnapshot, after: UsageSnapshot): number {
  let total = 0;
  for (const [pid, cpu] of after.databaseCpu) total += cpu - (before.databaseCpu.get(pid) ?? 0);
  return total;
}

export async function startTarget(options: TargetOptions): Promise<RunningTarget> {
  const [ocppPort, apiPort] = [await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = {};
  // Only what the target needs: a stray CSMS_* or DATABASE_URL of the caller must not leak into a run.
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('CSMS_') || key === 'DATABASE_URL' || key === 'REDIS_URL') continue;
    env[key] = value;
  }
  let dataDir: string | undefined;
  Object.assign(env, {
    CSMS_OCPP_PORT: String(ocppPort),
    CSMS_API_PORT: String(apiPort),
    CSMS_LOG_LEVEL: 'warn',
    CSMS_UNKNOWN_STATIONS: options.unknownStations,
    CSMS_HEARTBEAT_INTERVAL: String(options.heartbeatIntervalSeconds),
    CSMS_CALL_TIMEOUT_MS: String(options.callTimeoutMs),
  });
  if (options.database !== undefined) env.DATABASE_URL = options.database.url;
  if (options.kind === 'stroom') {
    if (options.database === undefined) {
      dataDir = mkdtempSync(join(tmpdir(), 'stroom-bench-data-'));
      env.CSMS_DATA_DIR = dataDir;
    }
    if (options.csmsWorkers !== undefined) env.CSMS_WORKERS = String(options.csmsWorkers);
    if (options.redisUrl !== undefined) env.REDIS_URL = options.redisUrl;
  }
  Object.assign(env, options.env);
  const name = options.name ?? options.kind;
  const label = options.name ?? TARGET_LABEL[options.kind];
  const script = options.kind === 'stroom' ? fileURLToPath(new URL('../src/main.js', import.meta.url)) : fileURLToPath(new URL('./baseline/server.js', import.meta.url));
  const logFile = join(options.logDir, `${name}.log`);
  const log = createWriteStream(logFile, { flags: 'a' });
  const nodeArgs = options.profile ? ['--cpu-prof', `--cpu-prof-dir=${options.logDir}`, `--cpu-prof-name=${name}.cpuprofile`] : [];
  const child = spawn(process.execPath, [...nodeArgs, script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const target = new RunningTarget(options.kind, child, ocppPort, apiPort, logFile, options, dataDir);

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (!target.alive) {
      await target.stop();
      throw new Error(`${label} exited during start-up; its log (${logFile}):\n${target.lastLogLines()}`);
    }
    const health = await target.api.send('GET', '/health', undefined, 2000).catch(() => undefined);
    if (health?.status === 200) return target;
    if (Date.now() > deadline) {
      await target.stop();
      throw new Error(`${label} did not answer /health within 60 s; its log (${logFile}):\n${target.lastLogLines()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function makeLogDir(): string {
  return mkdtempSync(join(tmpdir(), 'stroom-bench-logs-'));
}
