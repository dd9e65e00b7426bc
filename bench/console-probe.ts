/**
 * What an operator opening the console meets on a large fleet (issue 20), measured against a running Stroom over
 * HTTP, WebSocket and a real Chromium: API latency of the summary and of list pages (first, sorted, filtered,
 * searched, deep cursor), the CSMS CPU of fanning a stream of connector changes out to N SSE clients against none,
 * and the time until the fleet list's first row is painted. Used by `npm run bench -- fleet --console` (a fleet of
 * real connected stations) and by bench/console-fleet.ts (a fleet registered straight in PostgreSQL).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';

export interface ConsoleProbeOptions {
  apiUrl: string;
  ocppUrl: string;
  /** CPU seconds the CSMS (all its processes) has used so far. */
  cpuSeconds: () => number;
  /** SSE clients reading the stream during the second load window. */
  clients: number;
  /** Connector changes per second (StatusNotification from a few live stations), and how long each window lasts. */
  changesPerSecond: number;
  seconds: number;
  liveStations: number;
  /** An id in the middle of the fleet, for the deep-cursor page. */
  deepCursorId: string;
  /** Bearer token for the API, when the CSMS has one. */
  apiToken?: string | undefined;
}

export interface LatencySummary {
  p50: number;
  p99: number;
  bytes: number;
}

export interface ConsoleProbeReport {
  summary: LatencySummary;
  listFirstPage100: LatencySummary;
  listFirstPage500: LatencySummary;
  listSortedByVendor500: LatencySummary;
  listFilteredFaulted500: LatencySummary;
  listSearchNoMatch: LatencySummary;
  deepCursorPage500: LatencySummary;
  sse: {
    clients: number;
    changesPerSecond: number;
    seconds: number;
    csmsCpuSecondsWithoutClients: number;
    csmsCpuSecondsWithClients: number;
    /** (CPU with clients − CPU without) ÷ window: the share of one core the fan-out costs. */
    fanOutCpuShareOfOneCore: number;
    bytesDelivered: number;
  };
  console: {
    /** Navigation to the first painted row of the fleet list, three loads (the first one cold). */
    firstRowPaintMs: number[];
    rowsInDom: number;
    /** null when the fleet fits on one page. */
    scrollToSecondPageMs: number | null;
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

export async function probeConsole(o: ConsoleProbeOptions): Promise<ConsoleProbeReport> {
  const headers: Record<string, string> = o.apiToken !== undefined ? { Authorization: `Bearer ${o.apiToken}` } : {};
  const timeRequests = async (path: string, n: number): Promise<LatencySummary> => {
    const ms: number[] = [];
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      const res = await fetch(`${o.apiUrl}${path}`, { headers });
      bytes = (await res.arrayBuffer()).byteLength;
      if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
      ms.push(performance.now() - t);
    }
    ms.sort((a, b) => a - b);
    return { p50: Number(percentile(ms, 50).toFixed(2)), p99: Number(percentile(ms, 99).toFixed(2)), bytes };
  };

  await timeRequests('/api/v1/fleet/summary', 20);
  const deepCursor = Buffer.from(JSON.stringify([o.deepCursorId, o.deepCursorId])).toString('base64url');
  const latency = {
    summary: await timeRequests('/api/v1/fleet/summary', 200),
    listFirstPage100: await timeRequests('/api/v1/stations', 30),
    listFirstPage500: await timeRequests('/api/v1/stations?limit=500', 30),
    listSortedByVendor500: await timeRequests('/api/v1/stations?limit=500&sort=vendor', 30),
    listFilteredFaulted500: await timeRequests('/api/v1/stations?status=Faulted&limit=500', 30),
    listSearchNoMatch: await timeRequests('/api/v1/stations?q=no-such-station', 30),
    deepCursorPage500: await timeRequests(`/api/v1/stations?limit=500&cursor=${deepCursor}`, 30),
  };

  const prefix = `CONSOLE-PROBE-${randomBytes(3).toString('hex')}`;
  const live = await Promise.all(Array.from({ length: o.liveStations }, (_, i) => connectStation(o, headers, `${prefix}-${i}`)));
  let sse: ConsoleProbeReport['sse'];
  try {
    const cpuNoClients = await changeLoad(live, o);
    const readers = await startReaders(o, headers);
    const cpuWithClients = await changeLoad(live, o);
    const bytesDelivered = await readers.stop();
    sse = {
      clients: o.clients,
      changesPerSecond: o.changesPerSecond,
      seconds: o.seconds,
      csmsCpuSecondsWithoutClients: Number(cpuNoClients.toFixed(2)),
      csmsCpuSecondsWithClients: Number(cpuWithClients.toFixed(2)),
      fanOutCpuShareOfOneCore: Number(((cpuWithClients - cpuNoClients) / o.seconds).toFixed(3)),
      bytesDelivered,
    };
  } finally {
    for (const ws of live) ws.close();
  }

  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
  try {
    // bypassCSP: this script's own evaluations; the console itself runs as served.
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 }, bypassCSP: true });
    if (o.apiToken !== undefined) {
      // The console keeps the token in sessionStorage (never in a URL): put it there before the first load.
      await page.goto(`${o.apiUrl}/health`);
      await page.evaluate(`sessionStorage.setItem('stroom.apiToken', ${JSON.stringify(o.apiToken)})`);
    }
    const paints: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      await page.goto(`${o.apiUrl}/?run=${i}#/`);
      await page.waitForSelector('[data-station]');
      paints.push(performance.now() - t);
    }
    const rowsInDom = await page.locator('[data-station]').count();
    // Scroll to the end of the first page and time until the next page is loaded and drawn (a fleet of more than one page).
    let scrollToSecondPageMs: number | null = null;
    const countText = (await page.textContent('#fleet-count')) ?? '';
    const rowsLoaded = parseInt(countText, 10);
    if (countText.includes('+')) {
      const t = performance.now();
      await page.evaluate(`document.getElementById('fleet-list').scrollTop = 500 * 36`);
      await page.waitForFunction(`parseInt(document.getElementById('fleet-count').textContent, 10) > ${rowsLoaded}`);
      scrollToSecondPageMs = Math.round(performance.now() - t);
    }
    return { ...latency, sse, console: { firstRowPaintMs: paints.map((p) => Math.round(p)), rowsInDom, scrollToSecondPageMs } };
  } finally {
    await browser.close();
  }
}

async function connectStation(o: ConsoleProbeOptions, headers: Record<string, string>, id: string): Promise<WebSocket> {
  const password = randomBytes(12).toString('hex');
  const put = await fetch(`${o.apiUrl}/api/v1/stations/${id}`, {
    method: 'PUT',
    headers: { ...headers, 'Content-Type': 'application/json' },
    body: JSON.stringify({ securityProfile: 1, password, bootPolicy: 'Accepted' }),
  });
  if (put.status !== 200 && put.status !== 201) throw new Error(`PUT station ${id}: ${put.status}`);
  const ws = new WebSocket(`${o.ocppUrl}/${id}`, ['ocpp2.0.1'], {
    headers: { Authorization: `Basic ${Buffer.from(`${id}:${password}`).toString('base64')}` },
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(JSON.stringify([2, 'boot', 'BootNotification', { reason: 'PowerUp', chargingStation: { model: 'Probe', vendorName: 'Probe' } }]));
  await new Promise<void>((resolve) => ws.once('message', () => resolve()));
  return ws;
}

/** Connector changes from the live stations for one window; resolves with the CSMS's CPU seconds meanwhile. */
async function changeLoad(stations: WebSocket[], o: ConsoleProbeOptions): Promise<number> {
  const statuses = ['Available', 'Occupied', 'Reserved', 'Unavailable'];
  const cpuBefore = o.cpuSeconds();
  const end = Date.now() + o.seconds * 1000;
  let n = 0;
  while (Date.now() < end) {
    const tickEnd = Date.now() + 100;
    for (let i = 0; i < o.changesPerSecond / 10; i++, n++) {
      const ws = stations[n % stations.length] as WebSocket;
      ws.send(JSON.stringify([2, `s${n}`, 'StatusNotification', { timestamp: new Date().toISOString(), connectorStatus: statuses[n % 4], evseId: 1, connectorId: 1 }]));
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, tickEnd - Date.now())));
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  return o.cpuSeconds() - cpuBefore;
}

/** N stream readers in a child process, so their CPU is neither the CSMS's nor this process's. */
async function startReaders(o: ConsoleProbeOptions, headers: Record<string, string>): Promise<{ stop: () => Promise<number> }> {
  const readers = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `let bytes = 0;
       for (let i = 0; i < ${o.clients}; i++) {
         const res = await fetch(${JSON.stringify(`${o.apiUrl}/api/v1/stream`)}, { headers: ${JSON.stringify(headers)} });
         (async () => { for await (const chunk of res.body) bytes += chunk.byteLength; })().catch(() => {});
       }
       process.stdout.write('ready\\n');
       process.on('SIGTERM', () => { process.stdout.write(String(bytes) + '\\n'); process.exit(0); });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  readers.stdout.on('data', (d: Buffer) => (output += d.toString()));
  while (!output.includes('ready')) await new Promise((resolve) => setTimeout(resolve, 50));
  return {
    stop: async () => {
      readers.kill('SIGTERM');
      await new Promise((resolve) => readers.once('exit', resolve));
      return Number(output.split('\n')[1]);
    },
  };
}
