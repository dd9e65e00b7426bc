/**
 * Cross-node command latency vs local (issue 6): two CSMS nodes (`node dist/src/main.js`) sharing one Redis and
 * one fresh PostgreSQL database; stations connect to node A; the same operator command is sent through node A's
 * API (local: API → actor → station) and through node B's API (routed: API → Redis → node A → actor → station
 * → node A → Redis → node B). Prints p50/p90/p99 of both, sequential and concurrent, and node B's
 * csms_routing_seconds (the hop itself, without the station's time).
 *
 *   npm run build:bench && node dist/bench/routing-latency.js [--commands 2000] [--stations 20] [--concurrency 20] [--seconds 5]
 *
 * Needs REDIS_URL (default redis://127.0.0.1:6379) and DATABASE_URL (default postgres://127.0.0.1:5432/test).
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { HttpClient, forEachLimited } from './http.js';
import { BenchPostgres, makeLogDir, startTarget, type RunningTarget } from './target.js';

/** One node of the pair: a Stroom process sharing the database and Redis (key prefix) with the other. */
function startNode(
  id: string,
  postgres: BenchPostgres,
  database: { name: string; url: string },
  redisUrl: string,
  prefix: string,
  logDir: string,
): Promise<RunningTarget> {
  return startTarget({
    kind: 'stroom',
    name: id,
    env: { CSMS_NODE_ID: id, CSMS_REDIS_PREFIX: prefix },
    database,
    postgres,
    unknownStations: 'accept',
    heartbeatIntervalSeconds: 300,
    callTimeoutMs: 30_000,
    csmsWorkers: undefined,
    redisUrl,
    logDir,
    profile: false,
  });
}

/** A minimal station: boots, then answers every CALL with an empty-but-valid ClearCache answer. */
function connectStation(port: number, identity: string): Promise<WebSocket> {
  return new Promise((resolvePromise, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ocpp/${identity}`, ['ocpp2.0.1']);
    ws.on('error', reject);
    ws.on('open', () => ws.send(JSON.stringify([2, 'boot', 'BootNotification', { reason: 'PowerUp', chargingStation: { model: 'bench', vendorName: 'stroom' } }])));
    ws.on('message', (data) => {
      // ws delivers a text frame as one Buffer (binaryType 'nodebuffer', its default)
      const frame = JSON.parse((data as Buffer).toString()) as unknown[];
      if (frame[0] === 3 && frame[1] === 'boot') resolvePromise(ws);
      else if (frame[0] === 2) ws.send(JSON.stringify([3, frame[1], { status: 'Accepted' }]));
    });
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function summary(label: string, samples: number[], seconds?: number): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const fmt = (ms: number): string => `${ms.toFixed(2)} ms`;
  const rate = seconds === undefined ? '' : `, ${(samples.length / seconds).toFixed(0)} commands/s`;
  return `${label.padEnd(30)} n=${String(samples.length).padStart(6)}  p50 ${fmt(percentile(sorted, 50))}  p90 ${fmt(percentile(sorted, 90))}  p99 ${fmt(percentile(sorted, 99))}  max ${fmt(sorted[sorted.length - 1] ?? NaN)}${rate}`;
}

async function command(api: HttpClient, station: string): Promise<number> {
  const started = performance.now();
  const answer = await api.send('POST', `/api/v1/stations/${station}/commands/ClearCache`, {});
  if (answer.status !== 200) throw new Error(`ClearCache on ${station}: ${answer.status} ${answer.text}`);
  return performance.now() - started;
}

async function sequential(api: HttpClient, stations: string[], count: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) samples.push(await command(api, stations[i % stations.length] as string));
  return samples;
}

async function concurrent(api: HttpClient, stations: string[], concurrency: number, seconds: number): Promise<number[]> {
  const samples: number[] = [];
  const until = performance.now() + seconds * 1000;
  await forEachLimited(concurrency, concurrency, async (lane) => {
    // One lane per station: a station takes one CSMS CALL at a time anyway.
    const station = stations[lane % stations.length] as string;
    while (performance.now() < until) samples.push(await command(api, station));
  });
  return samples;
}

function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? NaN : Number(line.split(' ')[1]);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      commands: { type: 'string', default: '2000' },
      stations: { type: 'string', default: '20' },
      concurrency: { type: 'string', default: '20' },
      seconds: { type: 'string', default: '5' },
    },
  });
  const commands = Number(values.commands);
  const stationCount = Number(values.stations);
  const concurrency = Number(values.concurrency);
  const seconds = Number(values.seconds);
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const postgres = await BenchPostgres.connect();
  const database = await postgres.create('routing');
  const prefix = `stroom-bench:${randomBytes(4).toString('hex')}:`;
  const logDir = makeLogDir();
  const nodes: RunningTarget[] = [];
  const sockets: WebSocket[] = [];
  try {
    const [a, b] = await Promise.all([
      startNode('bench-a', postgres, database, redisUrl, prefix, logDir),
      startNode('bench-b', postgres, database, redisUrl, prefix, logDir),
    ]);
    nodes.push(a, b);
    const stations = Array.from({ length: stationCount }, (_, i) => `RL${i}-${randomBytes(3).toString('hex')}`);
    for (const id of stations) sockets.push(await connectStation(a.ocppPort, id));
    // Presence is claimed within a turn of node A's loop; let it settle, then warm both paths up.
    await new Promise((r) => setTimeout(r, 500));
    await sequential(a.api, stations, 200);
    await sequential(b.api, stations, 200);

    console.log(`routing latency: ${stationCount} stations on node A, Redis ${redisUrl}, node ${process.version}`);
    console.log(summary('sequential, local (via A)', await sequential(a.api, stations, commands)));
    console.log(summary('sequential, routed (via B)', await sequential(b.api, stations, commands)));
    console.log(summary(`concurrent ${concurrency}, local (via A)`, await concurrent(a.api, stations, concurrency, seconds), seconds));
    console.log(summary(`concurrent ${concurrency}, routed (via B)`, await concurrent(b.api, stations, concurrency, seconds), seconds));
    const scrape = (await b.api.send('GET', '/metrics')).text;
    const count = metric(scrape, 'csms_routing_seconds_count');
    const sum = metric(scrape, 'csms_routing_seconds_sum');
    console.log(`csms_routing_seconds on node B (hop overhead, station time excluded): ${count} samples, mean ${((sum / count) * 1000).toFixed(3)} ms`);
  } finally {
    for (const ws of sockets) ws.terminate();
    await Promise.all(nodes.map((node) => node.stop()));
    rmSync(logDir, { recursive: true, force: true });
    await postgres.drop(database.name).catch(() => undefined);
    await postgres.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
