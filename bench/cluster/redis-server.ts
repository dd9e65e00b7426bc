import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort } from '../free-port.js';

/**
 * A private `redis-server` for one benchmark run, on a free loopback port, with nothing persisted (`--save ''
 * --appendonly no`): the run may measure its memory and kill and restart it without touching anybody's Redis.
 * A restart comes back on the same port, empty, as a Redis that lost its memory does.
 */
export class BenchRedis {
  private child: ChildProcess | undefined;
  private binary = 'redis-server';
  /** The bench's own connection (INFO, presence reads); it reconnects by itself after a restart. */
  readonly client: Redis;

  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly logFile: string,
  ) {
    this.client = new Redis(this.url, { lazyConnect: true, connectTimeout: 2000, retryStrategy: () => 200, maxRetriesPerRequest: 2 });
    this.client.on('error', () => undefined);
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(logDir: string, binary = process.env.BENCH_REDIS_SERVER ?? 'redis-server'): Promise<BenchRedis> {
    const redis = new BenchRedis(await freePort(), mkdtempSync(join(tmpdir(), 'stroom-bench-redis-')), join(logDir, 'redis.log'));
    await redis.launch(binary);
    await redis.client.connect();
    return redis;
  }

  private async launch(binary: string): Promise<void> {
    this.binary = binary;
    const child = spawn(
      binary,
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--logfile', this.logFile, '--protected-mode', 'no'],
      { stdio: 'ignore' },
    );
    this.child = child;
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (err) => reject(new Error(`${binary} did not start: ${err.message}`)));
      child.once('exit', (code) => reject(new Error(`${binary} exited at start-up (${code}); see ${this.logFile}`)));
    });
    failed.catch(() => undefined);
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (await Promise.race([this.ping(), failed])) return;
      if (Date.now() > deadline) throw new Error(`${binary} on port ${this.port} did not answer PING within 10 s; see ${this.logFile}`);
      await sleep(50);
    }
  }

  /** A short-lived connection of its own: the long-lived client may still be waiting to reconnect. */
  private async ping(): Promise<boolean> {
    const probe = new Redis(this.url, { lazyConnect: true, connectTimeout: 500, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      await probe.ping();
      return true;
    } catch {
      return false;
    } finally {
      probe.disconnect();
    }
  }

  get pid(): number {
    return this.child?.pid ?? 0;
  }

  /** `INFO memory`'s used_memory: what Redis's allocator holds for data and overhead, bytes. */
  async usedMemory(): Promise<number> {
    const info = await this.client.info('memory');
    const match = /^used_memory:(\d+)/m.exec(info);
    if (match === null) throw new Error('INFO memory without used_memory');
    return Number(match[1]);
  }

  /** MEMORY USAGE of one key, counted exactly (SAMPLES 0); 0 when it does not exist. */
  async keyBytes(key: string): Promise<number> {
    const reply = await this.client.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
    return typeof reply === 'number' ? reply : 0;
  }

  async keyCount(): Promise<number> {
    return this.client.dbsize();
  }

  /** Gone as a crashed server is: SIGKILL, nothing saved. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }

  /** Starts again on the same port (empty) and resolves once it answers PING. */
  async restart(): Promise<void> {
    await this.kill();
    await this.launch(this.binary);
  }

  async stop(): Promise<void> {
    this.client.disconnect();
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
