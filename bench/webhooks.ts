/**
 * Webhook delivery latency (issue 21's closing note): Stroom on PostgreSQL with one webhook to a local HTTP receiver,
 * stations running `--tx-per-min` transactions (TransactionEvent Started, then Ended) for `--steady` seconds; then the
 * receiver goes away for `--outage` seconds (connections refused) while the load goes on, comes back, and the run
 * waits until every event is there.
 *
 * Latency of an event = its first arrival at the receiver − its commit, measured two ways on the one machine clock:
 * `fromAt` from the event's `data.at` (the time the CSMS stamped the record as it took it, just before its group
 * commit: an upper bound of the delay) and `fromAck` from when the station got the CALLRESULT (which leaves after
 * the commit: a lower bound). Checked: nothing lost (every acknowledged event arrives), order per station kept,
 * duplicates (same webhook-id) counted.
 *
 *   npm run build:bench && node dist/bench/webhooks.js [--stations 50] [--tx-per-min 1000] [--steady 120] [--outage 30]
 *                                                       [--retry-schedule <CSMS_WEBHOOK_RETRY_SCHEDULE>]
 *
 * Writes bench/results/<UTC time>-webhooks.json.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { freePort } from './free-port.js';
import { basicAuthorization, stationPassword } from './generator/fleet-data.js';
import { Histogram, type LatencySummary } from './histogram.js';
import { BenchPostgres, makeLogDir, startTarget, type RunningTarget } from './target.js';

const { values: args } = parseArgs({
  options: {
    stations: { type: 'string', default: '50' },
    'tx-per-min': { type: 'string', default: '1000' },
    steady: { type: 'string', default: '120' },
    outage: { type: 'string', default: '30' },
    'retry-schedule': { type: 'string' },
    'drain-limit': { type: 'string', default: '900' },
  },
});
const STATIONS = Number(args.stations);
const TX_PER_MIN = Number(args['tx-per-min']);
const STEADY_S = Number(args.steady);
const OUTAGE_S = Number(args.outage);
const DRAIN_LIMIT_S = Number(args['drain-limit']);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ------------------------------------------------------------------------------------------------ receiver

interface Arrival {
  eventId: string;
  type: string;
  stationId: string;
  key: number;
  at: number;
  committedAt: number;
}

/** The back office: answers 204 to every delivery while up; while down, the port refuses connections. */
class Receiver {
  private server: Server | undefined;
  readonly arrivals: Arrival[] = [];
  readonly seen = new Set<string>();
  duplicates = 0;
  constructor(readonly port: number) {}

  async up(): Promise<void> {
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const at = Date.now();
        const id = String(req.headers['webhook-id']);
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          type: string;
          data: { stationId: string; at: string; transactionId: string; seqNo: number };
        };
        if (this.seen.has(id)) this.duplicates += 1;
        else {
          this.seen.add(id);
          const n = Number(body.data.transactionId.split('-').pop());
          this.arrivals.push({ eventId: id, type: body.type, stationId: body.data.stationId, key: n * 2 + body.data.seqNo, at, committedAt: Date.parse(body.data.at) });
        }
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

// ------------------------------------------------------------------------------------------------ stations

interface Sent {
  stationId: string;
  key: number;
  ackAt: number;
}

/** A 2.0.1 station that runs one transaction after another: Started, then Ended half a period later. */
class Station {
  private ws!: WebSocket;
  private readonly waiting = new Map<string, (payload: unknown) => void>();
  private n = 0;
  running = true;
  constructor(
    readonly id: string,
    private readonly url: string,
    private readonly sent: Map<string, Sent>,
    private readonly errors: { count: number },
  ) {}

  async connect(): Promise<void> {
    const password = stationPassword(this.id);
    this.ws = new WebSocket(`${this.url}/${this.id}`, ['ocpp2.0.1'], { headers: { authorization: basicAuthorization(this.id, password) } });
    this.ws.on('message', (raw: Buffer) => {
      const frame = JSON.parse(raw.toString('utf8')) as unknown[];
      if (frame[0] === 3) this.waiting.get(String(frame[1]))?.(frame[2]);
      else if (frame[0] === 4) this.waiting.get(String(frame[1]))?.(undefined);
      else if (frame[0] === 2) this.ws.send(JSON.stringify([3, frame[1], { status: 'Accepted' }])); // GetBaseReport and the like
    });
    await new Promise<void>((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    const boot = (await this.call('BootNotification', { reason: 'PowerUp', chargingStation: { model: 'Bench', vendorName: 'Stroom' } })) as
      { status?: string } | undefined;
    if (boot?.status !== 'Accepted') throw new Error(`${this.id}: boot ${JSON.stringify(boot)}`);
  }

  private call(action: string, payload: object): Promise<unknown> {
    const id = randomUUID();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(undefined);
      }, 30_000);
      this.waiting.set(id, (answer) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(answer);
      });
      this.ws.send(JSON.stringify([2, id, action, payload]));
    });
  }

  private async event(eventType: 'Started' | 'Ended', seqNo: number, transactionId: string): Promise<void> {
    const answer = await this.call('TransactionEvent', {
      eventType,
      timestamp: new Date().toISOString(),
      triggerReason: eventType === 'Started' ? 'CablePluggedIn' : 'EVCommunicationLost',
      seqNo,
      transactionInfo: { transactionId, ...(eventType === 'Ended' ? { stoppedReason: 'EVDisconnected' } : {}) },
      evse: { id: 1, connectorId: 1 },
    });
    if (answer === undefined) {
      this.errors.count += 1;
      return;
    }
    this.sent.set(`${this.id}/${transactionId}/${seqNo}`, { stationId: this.id, key: Number(transactionId.split('-').pop()) * 2 + seqNo, ackAt: Date.now() });
  }

  /** One transaction every `periodMs`, starting after `offsetMs` (stations spread over the period). */
  async run(periodMs: number, offsetMs: number): Promise<void> {
    await sleep(offsetMs);
    let next = Date.now();
    while (this.running) {
      const transactionId = `${this.id}-${this.n++}`;
      await this.event('Started', 0, transactionId);
      await sleep(periodMs / 2);
      await this.event('Ended', 1, transactionId);
      next += periodMs;
      await sleep(Math.max(0, next - Date.now()));
    }
  }

  close(): void {
    this.ws.close();
  }
}

// ------------------------------------------------------------------------------------------------ run

function latencies(arrivals: readonly Arrival[], sent: Map<string, Sent>, from: number, to: number): { fromAt: LatencySummary; fromAck: LatencySummary } {
  const fromAt = new Histogram();
  const fromAck = new Histogram();
  const ackByKey = new Map<string, number>();
  for (const s of sent.values()) ackByKey.set(`${s.stationId}#${s.key}`, s.ackAt);
  for (const a of arrivals) {
    if (a.committedAt < from || a.committedAt >= to) continue;
    fromAt.record((a.at - a.committedAt) * 1000);
    const ack = ackByKey.get(`${a.stationId}#${a.key}`);
    if (ack !== undefined) fromAck.record(Math.max(0, a.at - ack) * 1000);
  }
  return { fromAt: fromAt.summary(), fromAck: fromAck.summary() };
}

function orderViolations(arrivals: readonly Arrival[]): number {
  const last = new Map<string, number>();
  let violations = 0;
  for (const a of arrivals) {
    if ((last.get(a.stationId) ?? -1) >= a.key) violations += 1;
    last.set(a.stationId, a.key);
  }
  return violations;
}

async function main(): Promise<void> {
  const postgres = await BenchPostgres.connect();
  const database = await postgres.create('webhooks');
  const logDir = makeLogDir();
  const receiver = new Receiver(await freePort());
  await receiver.up();
  let target: RunningTarget | undefined;
  const stations: Station[] = [];
  try {
    target = await startTarget({
      kind: 'stroom',
      database,
      postgres,
      unknownStations: 'accept',
      heartbeatIntervalSeconds: 3600,
      callTimeoutMs: 30_000,
      csmsWorkers: undefined,
      redisUrl: undefined,
      logDir,
      profile: false,
      env: args['retry-schedule'] !== undefined ? { CSMS_WEBHOOK_RETRY_SCHEDULE: args['retry-schedule'] } : {},
    });
    const put = await target.api.send('PUT', '/api/v1/webhooks/bench', {
      url: `http://127.0.0.1:${receiver.port}/hook`,
      events: ['transaction.started', 'transaction.ended'],
    });
    if (put.status !== 201) throw new Error(`webhook PUT: ${put.status} ${put.text}`);

    const sent = new Map<string, Sent>();
    const errors = { count: 0 };
    for (let i = 0; i < STATIONS; i += 1) {
      const station = new Station(`WHB${String(i).padStart(4, '0')}`, `ws://127.0.0.1:${target.ocppPort}/ocpp`, sent, errors);
      await station.connect();
      stations.push(station);
    }
    const periodMs = (60_000 * STATIONS) / TX_PER_MIN;
    console.log(`${STATIONS} stations, one transaction each per ${periodMs} ms (${TX_PER_MIN}/min, ${(TX_PER_MIN * 2) / 60} events/s)`);
    const runs = stations.map((s, i) => s.run(periodMs, (periodMs * i) / STATIONS));

    const steadyFrom = Date.now();
    await sleep(STEADY_S * 1000);
    const steadyTo = Date.now();
    console.log(`steady: ${receiver.arrivals.length} events delivered`);

    await receiver.down();
    const outageFrom = Date.now();
    console.log(`receiver down at +${((outageFrom - steadyFrom) / 1000).toFixed(0)} s`);
    await sleep(OUTAGE_S * 1000);
    await receiver.up();
    const outageTo = Date.now();
    console.log('receiver back');
    // The load goes on for as long again, then stops; the run waits until every acknowledged event arrived.
    await sleep(OUTAGE_S * 1000);
    for (const s of stations) s.running = false;
    await Promise.all(runs);
    const loadEnd = Date.now();
    let drainedAt: number | undefined;
    let backlogDeliveredAt: number | undefined;
    const outageEvents = (): Sent[] => [...sent.values()].filter((s) => s.ackAt >= outageFrom && s.ackAt < outageTo);
    while (Date.now() - loadEnd < DRAIN_LIMIT_S * 1000) {
      const arrivedKeys = new Set(receiver.arrivals.map((a) => `${a.stationId}#${a.key}`));
      if (backlogDeliveredAt === undefined && outageEvents().every((s) => arrivedKeys.has(`${s.stationId}#${s.key}`))) backlogDeliveredAt = Date.now();
      if (receiver.arrivals.length >= sent.size) {
        drainedAt = Date.now();
        break;
      }
      await sleep(250);
    }
    const arrivedKeys = new Set(receiver.arrivals.map((a) => `${a.stationId}#${a.key}`));
    const lost = [...sent.values()].filter((s) => !arrivedKeys.has(`${s.stationId}#${s.key}`)).length;
    const outageArrivals = receiver.arrivals.filter((a) => a.at >= outageTo);
    const result = {
      scenario: 'webhooks',
      at: new Date().toISOString(),
      machine: { cpus: cpus().length, loadAverage1m: loadavg()[0], note: 'shared machine (other engineers building and testing at the same time)' },
      settings: {
        stations: STATIONS,
        txPerMin: TX_PER_MIN,
        eventsPerSecond: (TX_PER_MIN * 2) / 60,
        steadySeconds: STEADY_S,
        outageSeconds: OUTAGE_S,
        retrySchedule: args['retry-schedule'] ?? 'default (5s,5m,30m,2h,5h,10h,10h)',
        store: 'postgres',
      },
      // The last 5 s before the outage are left out: those events may still be in flight when the receiver goes.
      steady: {
        events: receiver.arrivals.filter((a) => a.committedAt >= steadyFrom && a.committedAt < steadyTo - 5000).length,
        ...latencies(receiver.arrivals, sent, steadyFrom, steadyTo - 5000),
      },
      outage: {
        eventsCommittedWhileDown: outageEvents().length,
        backlogDeliveredSecondsAfterReceiverBack: backlogDeliveredAt === undefined ? null : (backlogDeliveredAt - outageTo) / 1000,
        firstArrivalSecondsAfterReceiverBack: outageArrivals.length > 0 ? (Math.min(...outageArrivals.map((a) => a.at)) - outageTo) / 1000 : null,
        allDeliveredSecondsAfterReceiverBack: drainedAt === undefined ? null : (drainedAt - outageTo) / 1000,
        latencyOfEventsCommittedWhileDown: latencies(receiver.arrivals, sent, outageFrom, outageTo),
      },
      totals: {
        acknowledged: sent.size,
        delivered: receiver.arrivals.length,
        lost,
        duplicates: receiver.duplicates,
        orderViolations: orderViolations(receiver.arrivals),
        stationErrors: errors.count,
      },
    };
    console.log(JSON.stringify(result, null, 2));
    const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${result.at.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')}-webhooks.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`written ${file}`);
  } finally {
    for (const s of stations) s.close();
    await receiver.down();
    await target?.stop();
    await postgres.drop(database.name).catch(() => undefined);
    await postgres.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
