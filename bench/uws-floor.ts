/**
 * The floor under every per-message number of the bench: a bare uWebSockets.js server that parses a
 * Heartbeat CALL and answers it (JSON.parse, a fresh currentTime, JSON.stringify, send), nothing else. Its
 * CPU per message on the day, at the same connections and rates as `npm run bench -- cost`, tells how
 * much of Stroom's cost is the socket and the kernel rather than Stroom (on these VMs what a wake-up and a
 * loopback send cost varies from day to day).
 *
 * The server is a child process (its CPU from /proc is its own); the client is `ws` in this process.
 *
 *   npm run build:bench && node dist/bench/uws-floor.js [--stations 500] [--rates 2000,8000] [--seconds 8]
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { listen, loadNativeUws } from '../src/transport/uws.js';
import { processCpuSeconds } from './proc.js';

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? (process.argv[index + 1] ?? fallback) : fallback;
}

function serve(): void {
  const uws = loadNativeUws();
  const app = uws.App();
  app.ws('/*', {
    message: (ws, message) => {
      const frame = JSON.parse(Buffer.from(message).toString('utf8')) as [number, string, string, object];
      ws.send(JSON.stringify([3, frame[1], { currentTime: new Date().toISOString() }]));
    },
  });
  void listen(uws, app, '127.0.0.1', 0).then(({ port }) => process.send?.({ port }));
}

async function measure(): Promise<void> {
  const stations = Number(option('stations', '500'));
  const rates = option('rates', '2000,8000').split(',').map(Number);
  const seconds = Number(option('seconds', '8'));
  const server = fork(fileURLToPath(import.meta.url), ['--serve']);
  const port = await new Promise<number>((resolve) => server.once('message', (m: { port: number }) => resolve(m.port)));
  const sockets: WebSocket[] = [];
  let answered = 0;
  for (let i = 0; i < stations; i++) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ocpp/floor-${i}`, 'ocpp2.0.1');
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.on('message', () => answered++);
    sockets.push(ws);
  }
  const pid = server.pid as number;
  let next = 0;
  for (const rate of rates) {
    // Every millisecond, as the bench's generator sends (each CALL at its due time): how many frames the
    // server finds per wake-up changes its cost per message more than anything it does with them.
    let owed = 0;
    let last = performance.now();
    const cpuBefore = processCpuSeconds(pid) ?? 0;
    const answeredBefore = answered;
    const timer = setInterval(() => {
      const now = performance.now();
      owed += ((now - last) * rate) / 1000;
      last = now;
      for (; owed >= 1; owed--) sockets[next++ % stations]?.send(JSON.stringify([2, `m${next}`, 'Heartbeat', {}]));
    }, 1);
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    clearInterval(timer);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const messages = answered - answeredBefore;
    const cpu = (processCpuSeconds(pid) ?? 0) - cpuBefore;
    console.log(
      `bare uWS, ${stations} connections, ${rate.toLocaleString('en-US')} Heartbeats/s offered: ${messages.toLocaleString('en-US')} answered, ` +
        `server CPU ${((cpu * 1e6) / Math.max(1, messages)).toFixed(1)} µs per message`,
    );
  }
  for (const ws of sockets) ws.terminate();
  server.kill();
}

if (process.argv.includes('--serve')) serve();
else await measure();
