/**
 * A real HAProxy for the tests that run a shipped configuration (src/transport/haproxy.example.cfg,
 * deploy/haproxy.cfg) as it is: the configuration reads its addresses from the environment.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { sleep } from './station.js';

/** CONTRACT §7: a missing service fails the suite at once, with one line saying what to install. */
export class MissingHaproxyError extends Error {
  constructor() {
    super('haproxy is not installed: apt-get install haproxy');
    this.name = 'MissingHaproxyError';
    this.stack = `${this.name}: ${this.message}`;
  }
}

/** `haproxy` on PATH, or the Debian package's /usr/sbin/haproxy (not on every user's PATH). */
export function haproxyBinary(): string {
  for (const candidate of ['haproxy', '/usr/sbin/haproxy']) {
    if (candidate.startsWith('/') && !existsSync(candidate)) continue;
    const probe = spawnSync(candidate, ['-v'], { encoding: 'utf8' });
    if (probe.error === undefined && probe.status === 0) return candidate;
  }
  throw new MissingHaproxyError();
}

export class RunningHaproxy {
  private log = '';

  private constructor(private readonly child: ChildProcess) {
    child.stdout?.on('data', (d: Buffer) => (this.log += d.toString('utf8')));
    child.stderr?.on('data', (d: Buffer) => (this.log += d.toString('utf8')));
  }

  /** Starts `haproxy -db -f config` with `env` added and waits until every port in `ports` accepts connections. */
  static async start(config: string, env: Record<string, string | number>, ports: number[]): Promise<RunningHaproxy> {
    const child = spawn(haproxyBinary(), ['-db', '-f', config], {
      env: { ...process.env, ...Object.fromEntries(Object.entries(env).map(([key, value]) => [key, String(value)])) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const haproxy = new RunningHaproxy(child);
    try {
      for (const port of ports) await haproxy.waitForPort(port, 10_000);
    } catch (err) {
      await haproxy.stop();
      throw err;
    }
    return haproxy;
  }

  output(): string {
    return this.log;
  }

  private async waitForPort(port: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.child.exitCode !== null) throw new Error(`haproxy exited with ${this.child.exitCode}:\n${this.log}`);
      const open = await new Promise<boolean>((resolve) => {
        const socket = netConnect({ host: '127.0.0.1', port }, () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
      });
      if (open) return;
      if (Date.now() > deadline) throw new Error(`haproxy did not listen on ${port} within ${timeoutMs} ms:\n${this.log}`);
      await sleep(50);
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(5000).then(() => child.kill('SIGKILL'))]);
  }
}
