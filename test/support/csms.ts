/**
 * Starting a CSMS for black-box tests: in-process (`startTestCsms` / `withCsms`) or as a child process running the
 * built `dist/src/main.js` exactly as `npm start` does (`spawnCsms`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { startCsms, type RunningCsms } from '../../src/app.js';
import { ApiClient, type BootPolicy } from './api.js';
import { freePort } from '../../bench/free-port.js';
import { freshPostgresDatabase, freshPostgresDatabaseUrl } from './services.js';
import { TestStation, randomPassword, uniqueIdentity, sleep, type ConnectOptions } from './station.js';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export type RawConfig = Record<string, string | number | undefined>;

export interface NewStationOptions {
  identity?: string;
  /** Prefix of a generated identity (the case id reads well here). */
  prefix?: string;
  password?: string;
  bootPolicy?: BootPolicy;
  /** Register only; do not connect. */
  connect?: boolean;
  connectOptions?: Partial<ConnectOptions>;
}

export interface StationCredentials {
  identity: string;
  password: string;
}

/** A running CSMS plus what a test needs to talk to it. Stations opened through it are tracked for cleanup. */
export class TestCsms {
  readonly ocppUrl: string;
  readonly apiUrl: string;
  readonly api: ApiClient;
  readonly callTimeoutMs: number;
  private readonly stations: TestStation[] = [];

  constructor(
    readonly csms: RunningCsms,
    readonly dataDir: string,
    readonly config: RawConfig,
  ) {
    this.ocppUrl = `ws://127.0.0.1:${csms.ocppPort}/ocpp`;
    this.apiUrl = `http://127.0.0.1:${csms.apiPort}`;
    this.api = new ApiClient(this.apiUrl, config.CSMS_API_TOKEN === undefined ? undefined : String(config.CSMS_API_TOKEN));
    this.callTimeoutMs = Number(config.CSMS_CALL_TIMEOUT_MS ?? 30_000);
  }

  /** Registers a station (profile 1, Basic Auth) through the API. */
  async register(opts: Omit<NewStationOptions, 'connect' | 'connectOptions'> = {}): Promise<StationCredentials> {
    const identity = opts.identity ?? uniqueIdentity(opts.prefix);
    const password = opts.password ?? randomPassword();
    const res = await this.api.putStation(identity, { securityProfile: 1, password, bootPolicy: opts.bootPolicy ?? 'Accepted' });
    if (res.status !== 200 && res.status !== 201) {
      throw new Error(`PUT /api/v1/stations/${identity} answered ${res.status}: ${res.text.slice(0, 300)}`);
    }
    return { identity, password };
  }

  /** Opens a station connection (tracked: closed and checked for protocol problems after each test). */
  async connect(opts: ConnectOptions): Promise<TestStation> {
    const station = await TestStation.connect(this.ocppUrl, { csmsCallTimeoutMs: this.callTimeoutMs, ...opts });
    this.stations.push(station);
    return station;
  }

  /** Registers and connects a station; boot is up to the test. */
  async newStation(opts: NewStationOptions = {}): Promise<TestStation> {
    const creds = await this.register(opts);
    return this.connect({ ...creds, ...opts.connectOptions });
  }

  /** Registers, connects and runs RS-Booted. */
  async bootedStation(opts: NewStationOptions = {}): Promise<TestStation> {
    const station = await this.newStation(opts);
    await station.booted();
    return station;
  }

  /** Problems seen by every station opened since the last call; closes them all. */
  async closeStations(): Promise<string[]> {
    const stations = this.stations.splice(0);
    const problems = stations.flatMap((s) => s.problems());
    await Promise.all(stations.map((s) => s.close()));
    return problems;
  }

  async stop(): Promise<void> {
    await this.closeStations();
    try {
      await this.csms.stop();
    } finally {
      await rm(this.dataDir, { recursive: true, force: true });
    }
  }
}

export async function freshDataDir(prefix = 'stroom-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Undo steps a test file collects and runs in reverse order after its tests. */
export type CleanupSteps = (() => Promise<void> | void)[];

/**
 * The environment of a CSMS child process that a durability test kills and restarts: fresh ports, a fresh data
 * dir, and a fresh PostgreSQL database unless it runs on the embedded store. Removing them joins `cleanup`.
 */
export async function crashChildEnv(store: 'PostgreSQL' | 'embedded', dataDirPrefix: string, cleanup: CleanupSteps): Promise<Record<string, string | number>> {
  const database = store === 'PostgreSQL' ? await freshPostgresDatabase() : undefined;
  if (database) cleanup.push(() => database.drop());
  const dataDir = await freshDataDir(dataDirPrefix);
  cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
  return {
    CSMS_OCPP_PORT: await freePort(),
    CSMS_API_PORT: await freePort(),
    CSMS_DATA_DIR: dataDir,
    ...(database && { DATABASE_URL: database.url }),
    // STROOM_TEST_LOG_LEVEL=debug shows the child's logs in a failure message.
    CSMS_LOG_LEVEL: process.env.STROOM_TEST_LOG_LEVEL ?? 'warn',
  };
}

/**
 * Starts a whole CSMS node in-process on ephemeral ports. Its store is a fresh PostgreSQL database (fast to
 * create, and the production system of record) unless the test asks for the embedded store with
 * `CSMS_DATA_DIR` / `STROOM_TEST_STORE=embedded`: a fresh PGlite costs seconds of initdb per instance.
 */
export async function startTestCsms(raw: RawConfig = {}): Promise<TestCsms> {
  const dataDir = await freshDataDir();
  const embedded = process.env.STROOM_TEST_STORE === 'embedded' || raw.CSMS_DATA_DIR !== undefined || raw.DATABASE_URL !== undefined;
  const config: RawConfig = {
    CSMS_OCPP_PORT: 0,
    CSMS_API_PORT: 0,
    CSMS_DATA_DIR: dataDir,
    ...(embedded ? {} : { DATABASE_URL: await freshPostgresDatabaseUrl() }),
    // STROOM_TEST_LOG_LEVEL=debug shows the in-process CSMS logs when a test needs diagnosing.
    CSMS_LOG_LEVEL: process.env.STROOM_TEST_LOG_LEVEL ?? 'silent',
    ...raw,
  };
  try {
    return new TestCsms(await startCsms(config), dataDir, config);
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Vitest wiring: starts a CSMS before the tests of the enclosing describe/file, stops it after them, and after
 * each test closes the stations it opened and fails the test if any of them saw a protocol problem.
 * Access `.csms` inside tests/hooks only.
 */
export function withCsms(raw: RawConfig = {}): { readonly csms: TestCsms } {
  let csms: TestCsms | undefined;
  beforeAll(async () => {
    csms = await startTestCsms(raw);
  }, 180_000); // a fresh embedded store takes a while on a loaded machine
  afterEach(async () => {
    if (csms === undefined) return;
    const problems = await csms.closeStations();
    if (problems.length > 0) throw new Error(`protocol problems seen by the test station(s):\n  ${problems.join('\n  ')}`);
  });
  afterAll(async () => {
    await csms?.stop();
  }, 30_000);
  return {
    get csms(): TestCsms {
      if (csms === undefined) throw new Error('the CSMS is not running (beforeAll failed or not yet run)');
      return csms;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Child process: `node dist/src/main.js`, as `npm start` runs it
// ---------------------------------------------------------------------------------------------------------------

export interface SpawnedCsms {
  child: ChildProcess;
  ocppUrl: string;
  api: ApiClient;
  /** stdout + stderr so far (for failure messages). */
  output(): string;
  /** Sends SIGTERM; resolves with the exit code (or signal) and how long it took. Rejects after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
  /** SIGKILL, for cleanup after a failure. */
  kill(): void;
}

/**
 * Spawns `node dist/src/main.js` with the given CSMS_* variables. The child gets no DATABASE_URL / REDIS_URL /
 * CSMS_* from the test process's environment, so it uses the embedded store in CSMS_DATA_DIR unless told otherwise.
 * Resolves once GET /health answers 200.
 */
export async function spawnCsms(env: RawConfig, opts: { readyTimeoutMs?: number } = {}): Promise<SpawnedCsms> {
  const childEnv: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('CSMS_') || k === 'DATABASE_URL' || k === 'REDIS_URL') continue;
    childEnv[k] = v;
  }
  for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = String(v);
  const child = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'main.js')], {
    cwd: REPO_ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (output += d.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) =>
    child.once('exit', (code, signal) => resolveExit({ code, signal })),
  );
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void exited.then((e) => (exitInfo = e));

  const api = new ApiClient(`http://127.0.0.1:${String(env.CSMS_API_PORT ?? 8080)}`);
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 90_000);
  for (;;) {
    if (exitInfo !== undefined) {
      throw new Error(`CSMS child exited early (${JSON.stringify(exitInfo)}); output:\n${output.slice(-3000)}`);
    }
    const ok = await api.health().then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`CSMS child not healthy within ${opts.readyTimeoutMs ?? 90_000} ms; output:\n${output.slice(-3000)}`);
    }
    await sleep(100);
  }

  return {
    child,
    ocppUrl: `ws://127.0.0.1:${String(env.CSMS_OCPP_PORT ?? 9000)}/ocpp`,
    api,
    output: () => output,
    async stop(timeoutMs = 15_000) {
      const started = Date.now();
      if (exitInfo === undefined) child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const result = await Promise.race([
        exited,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            child.kill('SIGKILL');
            reject(new Error(`CSMS child did not exit within ${timeoutMs} ms of SIGTERM; output:\n${output.slice(-3000)}`));
          }, timeoutMs);
        }),
      ]).finally(() => clearTimeout(timer));
      return { ...result, ms: Date.now() - started };
    },
    kill() {
      if (exitInfo === undefined) child.kill('SIGKILL');
    },
  };
}
