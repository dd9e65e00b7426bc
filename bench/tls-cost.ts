/**
 * What TLS costs per OCPP message: Heartbeat round trips over plain ws:// (uWebSockets.js, profile 1), over
 * wss:// on the CSMS's own TLS listener (Node TLS + ws, profiles 2/3), and over wss:// through HAProxy
 * terminating TLS in front of the plain listener (src/transport/haproxy.example.cfg; skipped when haproxy is
 * not installed).
 *
 * The CSMS runs as a child process exactly as `npm start` runs it, so its CPU time (from /proc) is its own:
 *   - latency: one station, sequential Heartbeats, µs per round trip (mean, p50, p99);
 *   - cost: many stations in a closed loop, CSMS CPU µs per Heartbeat (and HAProxy's, for the proxy path),
 *     and wall-clock µs per Heartbeat at that concurrency.
 *
 *   npm run build:bench && node dist/bench/tls-cost.js [--stations 50] [--messages 100000] [--sequential 5000]
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { processCpuSeconds } from './proc.js';
import { freePort } from './free-port.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = join(REPO_ROOT, 'dist', 'src', 'main.js');
const HAPROXY_CONFIG = join(REPO_ROOT, 'src', 'transport', 'haproxy.example.cfg');

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  const value = index >= 0 ? Number(process.argv[index + 1]) : fallback;
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} must be a positive integer`);
  return value;
}

const STATIONS = option('stations', 50);
const MESSAGES = option('messages', 100_000);
const SEQUENTIAL = option('sequential', 5_000);
const PASSWORD = 'tls-cost-bench-password';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A self-signed server certificate (RSA 2048 or ECDSA P-256) for 127.0.0.1 / localhost, with openssl. */
function serverCertificate(dir: string, kind: 'rsa' | 'ecdsa'): { cert: string; key: string; combined: string } {
  const cert = join(dir, `${kind}.crt`);
  const key = join(dir, `${kind}.key`);
  const algorithm = kind === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      ...algorithm,
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  const combined = join(dir, `${kind}.pem`);
  writeFileSync(combined, `${readFileSync(cert, 'utf8')}${readFileSync(key, 'utf8')}`, { mode: 0o600 });
  return { cert, key, combined };
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/`);
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code !== 'ECONNREFUSED'));
    socket.on('unexpected-response', () => resolve(true));
    socket.on('open', () => {
      socket.terminate();
      resolve(true);
    });
  });
}

/** When the last answer arrived: a watchdog ends a benchmark that has stopped making progress. */
let lastAnswerAt = Date.now();
const STALL_MS = 30_000;

/** A minimal OCPP-J client: CALLs with numeric ids, one promise per outstanding CALL. */
class BenchStation {
  private nextId = 0;
  private readonly waiting = new Map<string, { resolve: () => void; reject: (err: Error) => void }>();

  private constructor(
    private readonly ws: WebSocket,
    readonly identity: string,
  ) {
    ws.on('close', (code: number) => {
      for (const waiting of this.waiting.values()) waiting.reject(new Error(`${identity}: socket closed (${code})`));
      this.waiting.clear();
    });
    ws.on('message', (data: WebSocket.RawData) => {
      // ws delivers a text frame as one Buffer (binaryType 'nodebuffer', its default)
      const frame = JSON.parse((data as Buffer).toString()) as unknown[];
      const waiting = this.waiting.get(String(frame[1]));
      if (waiting === undefined) return;
      lastAnswerAt = Date.now();
      this.waiting.delete(String(frame[1]));
      if (frame[0] === 3) waiting.resolve();
      else waiting.reject(new Error(`CALLERROR: ${JSON.stringify(frame)}`));
    });
  }

  static open(url: string, identity: string, tls: SocketOptions): Promise<BenchStation> {
    const ws = new WebSocket(`${url}/${identity}`, ['ocpp2.0.1'], {
      ...tls,
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
      headers: { Authorization: `Basic ${Buffer.from(`${identity}:${PASSWORD}`).toString('base64')}` },
    });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new BenchStation(ws, identity)));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`${identity}: upgrade refused with ${res.statusCode ?? '?'}`)));
    });
  }

  call(action: string, payload: object): Promise<void> {
    const id = String(++this.nextId);
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.ws.send(JSON.stringify([2, id, action, payload]));
    });
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close(1000);
      // A peer that never completes the closing handshake does not hold the benchmark up.
      setTimeout(() => this.ws.terminate(), 2000).unref();
    });
  }
}

/** ws hands these to tls.connect; `servername` (SNI) passes through although its type does not list it. */
type SocketOptions = WebSocket.ClientOptions & { servername?: string };

interface BenchPath {
  name: string;
  url: string;
  tls: SocketOptions;
  /** Processes whose CPU counts as this path's cost, besides the CSMS. */
  proxyPid?: number;
}

interface PathResult {
  path: string;
  rttMeanUs: number;
  rttP50Us: number;
  rttP99Us: number;
  wallUsPerMessage: number;
  csmsCpuUsPerMessage: number;
  proxyCpuUsPerMessage: number | undefined;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

function progress(line: string): void {
  process.stderr.write(`tls-cost: ${line}\n`);
}

async function measure(path: BenchPath, identities: string[], csmsPid: number, messages: number): Promise<PathResult> {
  progress(`${path.name.trim()}: ${identities.length} stations, ${messages} Heartbeats`);
  const stations = await Promise.all(identities.map((identity) => BenchStation.open(path.url, identity, path.tls)));
  await Promise.all(stations.map((station) => station.call('BootNotification', { reason: 'PowerUp', chargingStation: { model: 'Bench', vendorName: 'Stroom' } })));

  // Latency: one station, one Heartbeat at a time.
  const first = stations[0] as BenchStation;
  for (let i = 0; i < 500; i++) await first.call('Heartbeat', {});
  const rtts: number[] = [];
  for (let i = 0; i < SEQUENTIAL; i++) {
    const started = performance.now();
    await first.call('Heartbeat', {});
    rtts.push((performance.now() - started) * 1000);
  }
  rtts.sort((a, b) => a - b);

  // Cost: every station in a closed loop; CPU of the CSMS (and the proxy) per Heartbeat.
  const perStation = Math.ceil(messages / stations.length);
  const cpuBefore = processCpuSeconds(csmsPid) ?? 0;
  const proxyBefore = path.proxyPid === undefined ? 0 : (processCpuSeconds(path.proxyPid) ?? 0);
  const started = performance.now();
  await Promise.all(
    stations.map(async (station) => {
      for (let i = 0; i < perStation; i++) await station.call('Heartbeat', {});
    }),
  );
  const wallUs = (performance.now() - started) * 1000;
  const total = perStation * stations.length;
  const cpuUs = ((processCpuSeconds(csmsPid) ?? 0) - cpuBefore) * 1e6;
  const proxyUs = path.proxyPid === undefined ? undefined : ((processCpuSeconds(path.proxyPid) ?? 0) - proxyBefore) * 1e6;
  await Promise.all(stations.map((station) => station.close()));
  return {
    path: path.name,
    rttMeanUs: rtts.reduce((sum, v) => sum + v, 0) / rtts.length,
    rttP50Us: percentile(rtts, 0.5),
    rttP99Us: percentile(rtts, 0.99),
    wallUsPerMessage: wallUs / total,
    csmsCpuUsPerMessage: cpuUs / total,
    proxyCpuUsPerMessage: proxyUs === undefined ? undefined : proxyUs / total,
  };
}

function stop(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'stroom-tls-cost-'));
  let csms: ChildProcess | undefined;
  let haproxy: ChildProcess | undefined;
  try {
    const rsa = serverCertificate(dir, 'rsa');
    const ecdsa = serverCertificate(dir, 'ecdsa');
    const [ocppPort, tlsPort, apiPort, proxyPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    csms = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH,
        CSMS_OCPP_PORT: String(ocppPort),
        CSMS_OCPP_TLS_PORT: String(tlsPort),
        CSMS_API_PORT: String(apiPort),
        CSMS_TLS_CERT: `${rsa.cert},${ecdsa.cert}`,
        CSMS_TLS_KEY: `${rsa.key},${ecdsa.key}`,
        CSMS_TRUSTED_PROXIES: '127.0.0.1',
        CSMS_DATA_DIR: join(dir, 'data'),
        CSMS_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const api = `http://127.0.0.1:${apiPort}`;
    await waitFor(async () => (await fetch(`${api}/health`)).status === 200, 'the CSMS /health');
    const csmsPid = csms.pid as number;

    const identities = Array.from({ length: STATIONS }, (_, i) => `TLSCOST-${i}`);
    for (const identity of identities) {
      const res = await fetch(`${api}/api/v1/stations/${identity}`, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ securityProfile: 1, password: PASSWORD, bootPolicy: 'Accepted' }),
      });
      if (res.status !== 200 && res.status !== 201) throw new Error(`registering ${identity}: ${res.status} ${await res.text()}`);
    }

    const trust = [rsa.cert, ecdsa.cert].map((file) => readFileSync(file, 'utf8'));
    const paths: BenchPath[] = [
      { name: 'ws://  uWS (profile 1)', url: `ws://127.0.0.1:${ocppPort}/ocpp`, tls: {} },
      { name: 'wss:// Node TLS listener', url: `wss://127.0.0.1:${tlsPort}/ocpp`, tls: { ca: trust } },
    ];
    if (spawnSync('haproxy', ['-v']).status === 0) {
      haproxy = spawn('haproxy', ['-db', '-f', HAPROXY_CONFIG], {
        env: {
          ...process.env,
          STROOM_TLS_BIND: `127.0.0.1:${proxyPort}`,
          STROOM_TLS_RSA_PEM: rsa.combined,
          STROOM_TLS_ECDSA_PEM: ecdsa.combined,
          // No station certificates in this benchmark; HAProxy still wants a CA file.
          STROOM_CLIENT_CA: rsa.cert,
          STROOM_BACKEND: `127.0.0.1:${ocppPort}`,
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      await waitFor(() => portOpen(proxyPort), 'haproxy');
      paths.push({
        name: 'wss:// HAProxy → uWS',
        url: `wss://127.0.0.1:${proxyPort}/ocpp`,
        tls: { ca: trust, servername: 'localhost' },
        proxyPid: haproxy.pid,
      });
    } else {
      process.stderr.write('haproxy not installed (apt-get install haproxy): the proxy path is skipped\n');
    }

    lastAnswerAt = Date.now();
    const watchdog = setInterval(() => {
      if (Date.now() - lastAnswerAt <= STALL_MS) return;
      progress(`no answer from the CSMS for ${STALL_MS / 1000} s: giving up`);
      haproxy?.kill('SIGKILL');
      csms?.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      process.exit(1);
    }, 1000);
    watchdog.unref();

    // A short unmeasured pass first, so no path pays for the JIT warming up the CSMS.
    for (const path of paths) await measure(path, identities, csmsPid, Math.ceil(MESSAGES / 5));
    const results: PathResult[] = [];
    for (const path of paths) results.push(await measure(path, identities, csmsPid, MESSAGES));

    const f = (v: number | undefined): string => (v === undefined ? '-' : v.toFixed(1)).padStart(9);
    process.stdout.write(
      `\nHeartbeat round trips: ${SEQUENTIAL} sequential on one station; ${MESSAGES} in a closed loop over ${STATIONS} stations (Node ${process.version})\n\n`,
    );
    process.stdout.write(
      `${'path'.padEnd(28)}${'rtt mean'.padStart(9)}${'rtt p50'.padStart(9)}${'rtt p99'.padStart(9)}${'wall/msg'.padStart(9)}${'csms cpu'.padStart(9)}${'proxy cpu'.padStart(10)}   (µs)\n`,
    );
    for (const r of results) {
      process.stdout.write(
        `${r.path.padEnd(28)}${f(r.rttMeanUs)}${f(r.rttP50Us)}${f(r.rttP99Us)}${f(r.wallUsPerMessage)}${f(r.csmsCpuUsPerMessage)} ${f(r.proxyCpuUsPerMessage)}\n`,
      );
    }
    process.stdout.write(`\n${JSON.stringify({ stations: STATIONS, messages: MESSAGES, sequential: SEQUENTIAL, results })}\n`);
  } finally {
    await stop(haproxy);
    await stop(csms);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`tls-cost: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
