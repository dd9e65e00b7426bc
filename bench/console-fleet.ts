/**
 * The console at fleet scale (issue 20): `node dist/bench/console-fleet.js [--stations 50000] [--clients 20]`
 * (after `npm run build:bench`; needs DATABASE_URL's server, default postgres://127.0.0.1:5432/test, where it
 * creates a fresh database, and /usr/bin/chromium).
 *
 * Registers the fleet straight in PostgreSQL (connecting 50,000 stations would cost an hour of scrypt on this box,
 * and the list and summary do not care whether a station's first login happened), with two connectors each, starts
 * a CSMS on it in this process, connects a few real stations, and measures: the fleet index's load at start, API
 * latency of the summary and of list pages (first, filtered, searched, deep cursor), the CPU of fanning out a
 * stream of connector changes to 0 and to N SSE clients, and the console's time to the first painted row of the
 * fleet list in Chromium. Prints one JSON document.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import WebSocket from 'ws';
import { chromium } from 'playwright-core';
import { startCsms } from '../src/app.js';
import { withDefaultUser } from '../src/store/pg-database.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const STATIONS = arg('stations', 50_000);
const CLIENTS = arg('clients', 20);
const LIVE_STATIONS = 5;
const CHANGES_PER_SECOND = arg('rate', 500);
const SECONDS = arg('seconds', 10);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function timeRequests(url: string, n: number): Promise<{ p50: number; p99: number; bytes: number }> {
  const ms: number[] = [];
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const res = await fetch(url);
    bytes = (await res.arrayBuffer()).byteLength;
    if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  return { p50: Number(percentile(ms, 50).toFixed(2)), p99: Number(percentile(ms, 99).toFixed(2)), bytes };
}

async function freshDatabase(): Promise<string> {
  const base = withDefaultUser(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/test');
  const name = `stroom_console_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

async function seed(databaseUrl: string): Promise<void> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  await db.query(
    `INSERT INTO stations (id, security_profile, boot_policy, boot_status, charging_station, last_seen)
     SELECT 'BENCH-' || lpad(i::text, 6, '0'), 1, 'Accepted', CASE WHEN i % 50 = 0 THEN 'Pending' ELSE 'Accepted' END,
            jsonb_build_object('vendorName', 'Vendor' || (i % 7), 'model', 'Model-' || (i % 13), 'serialNumber', 'SN' || i, 'firmwareVersion', '1.' || (i % 5)),
            now()
       FROM generate_series(1, $1::int) AS i`,
    [STATIONS],
  );
  await db.query(
    `INSERT INTO connectors (station_id, evse_id, connector_id, status, updated_at)
     SELECT 'BENCH-' || lpad(i::text, 6, '0'), e, 1, CASE WHEN (i + e) % 97 = 0 THEN 'Faulted' WHEN (i + e) % 3 = 0 THEN 'Occupied' ELSE 'Available' END, now()
       FROM generate_series(1, $1::int) AS i, generate_series(1, 2) AS e`,
    [STATIONS],
  );
  await db.end();
}

async function connectStation(ocppPort: number, apiPort: number, id: string): Promise<WebSocket> {
  const password = randomBytes(12).toString('hex');
  await fetch(`http://127.0.0.1:${apiPort}/api/v1/stations/${id}`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ securityProfile: 1, password, bootPolicy: 'Accepted' }),
  });
  const ws = new WebSocket(`ws://127.0.0.1:${ocppPort}/ocpp/${id}`, ['ocpp2.0.1'], {
    headers: { Authorization: `Basic ${Buffer.from(`${id}:${password}`).toString('base64')}` },
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(JSON.stringify([2, 'boot', 'BootNotification', { reason: 'PowerUp', chargingStation: { model: 'Bench', vendorName: 'Bench' } }]));
  await new Promise<void>((resolve) => ws.once('message', () => resolve()));
  return ws;
}

/** Connector changes from the live stations at `rate` per second for `seconds`; resolves with the CSMS process's CPU seconds meanwhile. */
async function changeLoad(stations: WebSocket[], rate: number, seconds: number): Promise<number> {
  const statuses = ['Available', 'Occupied', 'Reserved', 'Unavailable'];
  const cpuBefore = process.cpuUsage();
  const end = Date.now() + seconds * 1000;
  let n = 0;
  while (Date.now() < end) {
    const tickEnd = Date.now() + 100;
    for (let i = 0; i < rate / 10; i++, n++) {
      const ws = stations[n % stations.length] as WebSocket;
      ws.send(JSON.stringify([2, `s${n}`, 'StatusNotification', { timestamp: new Date().toISOString(), connectorStatus: statuses[n % 4], evseId: 1, connectorId: 1 }]));
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, tickEnd - Date.now())));
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  const cpu = process.cpuUsage(cpuBefore);
  return (cpu.user + cpu.system) / 1e6;
}

async function main(): Promise<void> {
  const databaseUrl = await freshDatabase();
  const seedStarted = performance.now();
  const started = performance.now();
  // Migrations first (a CSMS start), then the seed, then the CSMS that is measured.
  const first = await startCsms({ DATABASE_URL: databaseUrl, CSMS_OCPP_PORT: 0, CSMS_API_PORT: 0, CSMS_LOG_LEVEL: 'silent' });
  await first.stop();
  await seed(databaseUrl);
  const seedMs = performance.now() - seedStarted;
  const t0 = performance.now();
  const csms = await startCsms({ DATABASE_URL: databaseUrl, CSMS_OCPP_PORT: 0, CSMS_API_PORT: 0, CSMS_LOG_LEVEL: 'silent' });
  const startMs = performance.now() - t0;
  const api = `http://127.0.0.1:${csms.apiPort}`;
  const results: Record<string, unknown> = { stations: STATIONS, seedMs: Math.round(seedMs), csmsStartWithIndexLoadMs: Math.round(startMs) };
  try {
    await timeRequests(`${api}/api/v1/fleet/summary`, 20);
    results.summary = await timeRequests(`${api}/api/v1/fleet/summary`, 200);
    results.listFirstPage500 = await timeRequests(`${api}/api/v1/stations?limit=500`, 30);
    results.listFirstPage100 = await timeRequests(`${api}/api/v1/stations`, 30);
    results.listFilteredFaulted500 = await timeRequests(`${api}/api/v1/stations?status=Faulted&limit=500`, 30);
    results.listSearchNoMatch = await timeRequests(`${api}/api/v1/stations?q=no-such-station`, 30);
    const deep = (await (await fetch(`${api}/api/v1/stations?limit=500&cursor=${Buffer.from(JSON.stringify(['BENCH-049000'])).toString('base64url')}`)).json()) as {
      items: unknown[];
    };
    results.deepCursorPageItems = deep.items.length;

    const live = await Promise.all(Array.from({ length: LIVE_STATIONS }, (_, i) => connectStation(csms.ocppPort, csms.apiPort, `LIVE-${i}`)));
    const cpuNoClients = await changeLoad(live, CHANGES_PER_SECOND, SECONDS);
    // The readers run in a child process, so this process's CPU is the CSMS's (and the few stations' frames).
    const readers = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `let bytes = 0;
         for (let i = 0; i < ${CLIENTS}; i++) {
           const res = await fetch('${api}/api/v1/stream');
           (async () => { for await (const chunk of res.body) bytes += chunk.byteLength; })().catch(() => {});
         }
         process.stdout.write('ready\\n');
         process.on('SIGTERM', () => { process.stdout.write(String(bytes) + '\\n'); process.exit(0); });`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let readerOutput = '';
    readers.stdout.on('data', (d: Buffer) => (readerOutput += d.toString()));
    while (!readerOutput.includes('ready')) await new Promise((resolve) => setTimeout(resolve, 50));
    const cpuWithClients = await changeLoad(live, CHANGES_PER_SECOND, SECONDS);
    readers.kill('SIGTERM');
    await new Promise((resolve) => readers.once('exit', resolve));
    const received = Number(readerOutput.split('\n')[1]);
    results.sse = {
      clients: CLIENTS,
      changesPerSecond: CHANGES_PER_SECOND,
      seconds: SECONDS,
      csmsCpuSecondsWithoutClients: Number(cpuNoClients.toFixed(2)),
      csmsCpuSecondsWithClients: Number(cpuWithClients.toFixed(2)),
      fanOutCpuShareOfOneCore: Number(((cpuWithClients - cpuNoClients) / SECONDS).toFixed(3)),
      bytesDelivered: received,
    };
    for (const ws of live) ws.close();

    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
    // bypassCSP: the measuring script's own evaluations; the console runs as served.
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 }, bypassCSP: true });
    const paints: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      await page.goto(`${api}/?run=${i}#/`);
      await page.waitForSelector('[data-station]');
      paints.push(performance.now() - t);
    }
    const rowsInDom = await page.locator('[data-station]').count();
    // Scroll to the end of the first page and time until the next page is loaded and drawn.
    const t = performance.now();
    await page.evaluate(`document.getElementById('fleet-list').scrollTop = 500 * 36`);
    await page.waitForFunction(`document.getElementById('fleet-count').textContent.startsWith('1000')`);
    await page.evaluate(`document.getElementById('fleet-list').scrollTop = 520 * 36`);
    await page.waitForSelector('[data-station="BENCH-000530"]');
    results.console = {
      firstRowPaintMs: paints.map((p) => Math.round(p)),
      rowsInDom,
      scrollToSecondPageMs: Math.round(performance.now() - t),
    };
    await browser.close();
  } finally {
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    await csms.stop();
  }
  results.totalMs = Math.round(performance.now() - started);
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

await main();
