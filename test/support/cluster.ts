/**
 * Cluster-mode tests (CONTRACT §6): several CSMS nodes as real child processes (`node dist/src/main.js`, as
 * `npm start` runs it) sharing one PostgreSQL database and one Redis, each with its own ports and node id.
 * Every TestCluster gets a fresh database and a unique Redis key prefix (CSMS_REDIS_PREFIX), so test files
 * never see each other's presence keys or channels.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../../bench/free-port.js';
import { spawnCsms, type RawConfig, type SpawnedCsms } from './csms.js';
import { freshPostgresDatabase, testRedisUrl, type TestDatabase } from './services.js';
import { TestStation, randomPassword, sleep, uniqueIdentity, waitFor, type ConnectOptions } from './station.js';
import type { ApiClient } from './api.js';

export interface ClusterNode {
  nodeId: string;
  ocppPort: number;
  apiPort: number;
  ocppUrl: string;
  api: ApiClient;
  process: SpawnedCsms;
}

export interface Credentials {
  identity: string;
  password: string;
}

export class TestCluster {
  readonly nodes: ClusterNode[] = [];
  /** Every node ever started (also those a test killed or stopped itself), for the logs. */
  private readonly started: ClusterNode[] = [];
  private readonly stations: TestStation[] = [];
  readonly prefix = `stroom-test:${randomBytes(4).toString('hex')}:`;

  private constructor(
    readonly database: TestDatabase,
    readonly redisUrl: string,
    readonly callTimeoutMs: number,
  ) {}

  /** A fresh database and key prefix; `redisUrl` defaults to the suite's Redis. */
  static async create(opts: { redisUrl?: string; callTimeoutMs?: number } = {}): Promise<TestCluster> {
    return new TestCluster(await freshPostgresDatabase(), opts.redisUrl ?? (await testRedisUrl()), opts.callTimeoutMs ?? 10_000);
  }

  /** Starts one node (a child process) and waits for its /health. */
  async startNode(nodeId: string, env: RawConfig = {}, opts: { ocppPort?: number; apiPort?: number } = {}): Promise<ClusterNode> {
    const ocppPort = opts.ocppPort ?? (await freePort());
    const apiPort = opts.apiPort ?? (await freePort());
    const spawned = await spawnCsms(
      {
        CSMS_NODE_ID: nodeId,
        CSMS_OCPP_PORT: ocppPort,
        CSMS_OCPP_HOST: '127.0.0.1',
        CSMS_API_PORT: apiPort,
        DATABASE_URL: this.database.url,
        REDIS_URL: this.redisUrl,
        CSMS_REDIS_PREFIX: this.prefix,
        CSMS_CALL_TIMEOUT_MS: this.callTimeoutMs,
        CSMS_LOG_LEVEL: process.env.STROOM_TEST_LOG_LEVEL ?? 'info',
        ...env,
      },
      { readyTimeoutMs: 30_000 },
    );
    const node: ClusterNode = { nodeId, ocppPort, apiPort, ocppUrl: spawned.ocppUrl, api: spawned.api, process: spawned };
    this.nodes.push(node);
    this.started.push(node);
    return node;
  }

  async startNodes(...nodeIds: string[]): Promise<ClusterNode[]> {
    return Promise.all(nodeIds.map((id) => this.startNode(id)));
  }

  /** Registers a station (profile 1, Accepted) through `via` (any node: the database is shared). */
  async register(via: ClusterNode, prefix = 'CL'): Promise<Credentials> {
    const identity = uniqueIdentity(prefix);
    const password = randomPassword();
    const res = await via.api.putStation(identity, { securityProfile: 1, password, bootPolicy: 'Accepted' });
    if (res.status !== 200 && res.status !== 201) throw new Error(`PUT station ${identity} on ${via.nodeId}: ${res.status} ${res.text}`);
    return { identity, password };
  }

  /** Connects (tracked for cleanup) to `node`'s OCPP port. */
  async connect(node: ClusterNode | string, creds: Credentials, opts: Partial<ConnectOptions> = {}): Promise<TestStation> {
    const url = typeof node === 'string' ? node : node.ocppUrl;
    const station = await TestStation.connect(url, { ...creds, csmsCallTimeoutMs: this.callTimeoutMs, ...opts });
    this.stations.push(station);
    return station;
  }

  /**
   * Connects and sends BootNotification, retrying (like a real station) when the socket drops before the boot
   * is answered. Needed where workers share a port: about one connection in a few hundred is reset right after
   * the upgrade when several uWS processes listen on one port (seen with plain CSMS processes too, no Redis).
   */
  async connectAndBoot(node: ClusterNode, creds: Credentials, attempts = 3): Promise<TestStation> {
    for (let attempt = 1; ; attempt++) {
      const station = await this.connect(node, creds);
      try {
        await station.boot();
        return station;
      } catch (err) {
        if (attempt >= attempts || station.closed?.code !== 1006) throw err;
        this.stations.splice(this.stations.indexOf(station), 1);
      }
    }
  }

  /** Registers, connects to `node` and boots; resolves once presence names `node` (seen from `node` itself). */
  async bootedStation(node: ClusterNode, prefix = 'CL'): Promise<TestStation> {
    const creds = await this.register(node, prefix);
    const station = await this.connect(node, creds);
    await station.booted();
    return station;
  }

  /** Waits until GET station on `via` says the station is connected to `nodeId` (or disconnected, for undefined). */
  async waitForPresence(via: ClusterNode, identity: string, nodeId: string | undefined, timeoutMs = 5000): Promise<void> {
    await waitFor(
      async () => {
        const res = await via.api.getStation(identity);
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-boolean-literal-compare -- res.body is parsed JSON from the API, typed as promised, not checked: this asks for the boolean itself, not any truthy value
        return nodeId === undefined ? res.body.connected === false : res.body.connected === true && res.body.nodeId === nodeId;
      },
      { timeoutMs, intervalMs: 50, what: `${identity} presence = ${nodeId ?? 'none'} as seen by ${via.nodeId}` },
    );
  }

  /** A Redis client for poking at presence keys and channels directly. */
  redis(url = this.redisUrl): Redis {
    const client = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: false });
    client.on('error', () => undefined);
    return client;
  }

  presenceKey(identity: string): string {
    return `${this.prefix}{presence}:${identity}`;
  }

  nodeChannel(nodeId: string): string {
    return `${this.prefix}node:{${nodeId}}`;
  }

  /** Problems seen by every tracked station (protocol violations, overlapping CSMS CALLs). */
  problems(): string[] {
    return this.stations.flatMap((s) => s.problems());
  }

  async stop(): Promise<void> {
    await Promise.all(this.stations.splice(0).map((s) => s.close().catch(() => undefined)));
    await Promise.all(
      this.nodes.splice(0).map(async (node) => {
        try {
          await node.process.stop(12_000);
        } catch {
          node.process.kill();
        }
      }),
    );
    // STROOM_TEST_CLUSTER_LOGS=<dir> keeps every node's output for diagnosis.
    const dir = process.env.STROOM_TEST_CLUSTER_LOGS;
    if (dir !== undefined && dir !== '') {
      mkdirSync(dir, { recursive: true });
      for (const node of this.started) writeFileSync(join(dir, `${this.prefix.replace(/[^a-z0-9]/gi, '_')}${node.nodeId}.log`), node.process.output());
    }
    await this.database.drop().catch(() => undefined);
  }
}

/** A throw-away redis-server on a free loopback port that a test may stop and start again (same port). */
export class ThrowawayRedis {
  private child: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'stroom-redis-cl-'));

  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<ThrowawayRedis> {
    const redis = new ThrowawayRedis(await freePort());
    await redis.start();
    return redis;
  }

  async start(): Promise<void> {
    const binary = onPath('redis-server');
    if (binary === undefined) throw new Error('redis-server is not installed (apt-get install redis-server)');
    this.child = spawn(binary, ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir], {
      stdio: 'ignore',
    });
    await pingUntilUp(this.url);
  }

  /** SIGKILL: the server vanishes with everything in it (no persistence). */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    this.child = undefined;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A throw-away Redis Cluster: three masters (redis-server --cluster-enabled) on free loopback ports, slots
 * assigned by `redis-cli --cluster create`. `url` lists every seed, which makes Stroom talk Redis Cluster.
 */
export class ThrowawayRedisCluster {
  private readonly children: ChildProcess[] = [];
  private readonly dir = mkdtempSync(join(tmpdir(), 'stroom-redis-cluster-'));

  private constructor(readonly ports: number[]) {}

  get url(): string {
    return this.ports.map((port) => `redis://127.0.0.1:${port}`).join(',');
  }

  static async start(masters = 3): Promise<ThrowawayRedisCluster> {
    const ports: number[] = [];
    while (ports.length < masters) {
      const port = await freePort();
      // The cluster bus listens on port + 10000: keep both free and distinct.
      if (port + 10_000 < 65_536 && !ports.includes(port)) ports.push(port);
    }
    const cluster = new ThrowawayRedisCluster(ports);
    try {
      await cluster.boot();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  private async boot(): Promise<void> {
    const server = onPath('redis-server');
    const cli = onPath('redis-cli');
    if (server === undefined || cli === undefined) throw new Error('redis-server / redis-cli are not installed (apt-get install redis-server)');
    for (const port of this.ports) {
      const dir = join(this.dir, String(port));
      mkdirSync(dir);
      const args = [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        'nodes.conf',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
      ];
      this.children.push(spawn(server, args, { stdio: 'ignore' }));
    }
    for (const port of this.ports) await pingUntilUp(`redis://127.0.0.1:${port}`);
    const create = spawnSync(cli, ['--cluster', 'create', ...this.ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout} ${create.stderr}`);
    for (const port of this.ports) {
      const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
      client.on('error', () => undefined);
      try {
        await waitFor(async () => (await client.cluster('INFO')).includes('cluster_state:ok'), {
          timeoutMs: 20_000,
          intervalMs: 100,
          what: `cluster state ok on ${port}`,
        });
      } finally {
        client.disconnect();
      }
    }
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(
        (child) =>
          new Promise((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve(undefined);
            child.once('exit', resolve);
            child.kill('SIGKILL');
          }),
      ),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function pingUntilUp(url: string): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  client.on('error', () => undefined);
  try {
    await waitFor(
      async () => {
        try {
          if (client.status !== 'ready') await client.connect();
          // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- typed as 'PONG', but it is whatever the Redis server answered
          return (await client.ping()) === 'PONG';
        } catch {
          client.disconnect();
          return false;
        }
      },
      { timeoutMs: 10_000, intervalMs: 100, what: `redis-server at ${url}` },
    );
  } finally {
    client.disconnect();
  }
}

function onPath(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, binary);
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/** Counts how often `needle` occurs in `haystack`. */
export function occurrences(haystack: string, needle: string): number {
  let count = 0;
  for (let at = haystack.indexOf(needle); at >= 0; at = haystack.indexOf(needle, at + needle.length)) count += 1;
  return count;
}

export { sleep };
