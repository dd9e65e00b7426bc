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
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { probeConsole } from './console-probe.js';
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
    const cpu0 = process.cpuUsage();
    Object.assign(
      results,
      await probeConsole({
        apiUrl: api,
        ocppUrl: `ws://127.0.0.1:${csms.ocppPort}/ocpp`,
        // The CSMS runs in this process; the SSE readers run in a child, so this is the CSMS's (and a few stations' frames).
        cpuSeconds: () => {
          const used = process.cpuUsage(cpu0);
          return (used.user + used.system) / 1e6;
        },
        clients: CLIENTS,
        changesPerSecond: CHANGES_PER_SECOND,
        seconds: SECONDS,
        liveStations: LIVE_STATIONS,
        deepCursorId: `BENCH-${String(Math.floor(STATIONS * 0.98)).padStart(6, '0')}`,
      }),
    );
  } finally {
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    await csms.stop();
  }
  results.totalMs = Math.round(performance.now() - started);
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

await main();
