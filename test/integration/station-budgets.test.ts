/**
 * CONTRACT §1 "fair": what one station can make the CSMS keep is bounded per station (README "Budgets and
 * retention"), and each refusal is counted in csms_station_budget_refusals_total{budget} (no station label):
 *
 * - bytes per second of incoming frames (token bucket): over budget, the station's CALLs get CALLERROR
 *   RpcFrameworkError "rate limit"; still sending another burst's worth, it is closed with 1008 — and a light
 *   station next to it has nothing refused and every Heartbeat answered;
 * - CSMS calls queued per station: beyond the bound a command is refused at once (409, a clear message);
 * - stored report parts: parts beyond CSMS_REPORT_MAX_PARTS per requestId are answered {} and dropped, and
 *   only the newest CSMS_REPORT_MAX_REQUESTS requestIds keep their parts;
 * - retention: events and meter values without a transaction older than CSMS_RETENTION_DAYS are deleted by a
 *   bounded sweep; those of transactions stay.
 */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { openStore } from '../../src/store/open-store.js';
import { RetentionSweeper } from '../../src/store/retention.js';
import { metricValue } from '../support/api.js';
import { startTestCsms, type TestCsms } from '../support/csms.js';
import { sendCommand } from '../support/device.js';
import { freshPostgresDatabase } from '../support/services.js';
import { waitFor, type Json, type Payload } from '../support/station.js';

async function withTestCsms(raw: Record<string, string | number>, body: (csms: TestCsms) => Promise<void>): Promise<void> {
  const csms = await startTestCsms(raw);
  try {
    await body(csms);
    expect(await csms.closeStations(), 'protocol problems seen by the test stations').toEqual([]);
  } finally {
    await csms.stop();
  }
}

async function refusals(csms: TestCsms, budget: string): Promise<number> {
  return metricValue(await csms.api.metrics(), 'csms_station_budget_refusals_total', { budget });
}

/** NotifyReport reportData of about `bytes` bytes once serialized (entries of ~1 kB). */
function bulkyReportData(bytes: number): Payload[] {
  const entries: Payload[] = [];
  for (let i = 0; entries.length * 1000 < bytes; i++) {
    entries.push({
      component: { name: 'BulkCtrlr', instance: `i${i}` },
      variable: { name: 'Blob' },
      variableAttribute: [{ type: 'Actual', value: 'x'.repeat(880), mutability: 'ReadOnly' }],
      variableCharacteristics: { dataType: 'string', supportsMonitoring: false },
    });
  }
  return entries;
}

interface HeavyOutcome {
  answered: number;
  rateLimited: number;
  otherErrors: string[];
  closeCode: number | undefined;
}

/**
 * A raw station that sends `parallel` big NotifyReports at once, waits for every answer, and does it again,
 * until it is closed or `rounds` are done.
 */
async function heavyStation(csms: TestCsms, identity: string, password: string, parallel: number, rounds: number, frameBytes: number): Promise<HeavyOutcome> {
  const ws = new WebSocket(`${csms.ocppUrl}/${identity}`, ['ocpp2.0.1'], {
    headers: { authorization: `Basic ${Buffer.from(`${identity}:${password}`).toString('base64')}` },
  });
  const outcome: HeavyOutcome = { answered: 0, rateLimited: 0, otherErrors: [], closeCode: undefined };
  const waiting = new Map<string, () => void>();
  const closed = new Promise<void>((resolve) =>
    ws.on('close', (code) => {
      outcome.closeCode = code;
      for (const done of waiting.values()) done();
      waiting.clear();
      resolve();
    }),
  );
  ws.on('message', (data: Buffer) => {
    const frame = JSON.parse(data.toString('utf8')) as unknown[];
    const messageId = String(frame[1]);
    if (frame[0] === 3) outcome.answered++;
    else if (frame[0] === 4 && frame[2] === 'RpcFrameworkError' && String(frame[3]).includes('rate limit')) outcome.rateLimited++;
    else if (frame[0] === 4) outcome.otherErrors.push(`${String(frame[2])}: ${String(frame[3])}`);
    else return;
    waiting.get(messageId)?.();
    waiting.delete(messageId);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const send = (action: string, payload: Payload): Promise<void> => {
    const messageId = `${action}-${Math.random().toString(36).slice(2)}`;
    const answered = new Promise<void>((resolve) => waiting.set(messageId, resolve));
    ws.send(JSON.stringify([2, messageId, action, payload]));
    return answered;
  };
  await send('BootNotification', { reason: 'PowerUp', chargingStation: { model: 'Heavy', vendorName: 'Stroom' } });
  const reportData = bulkyReportData(frameBytes);
  let requestId = 1;
  for (let round = 0; round < rounds && outcome.closeCode === undefined; round++) {
    const parts: Promise<void>[] = [];
    for (let i = 0; i < parallel; i++) {
      parts.push(send('NotifyReport', { requestId: requestId++, generatedAt: new Date().toISOString(), seqNo: 0, tbc: false, reportData }));
    }
    await Promise.race([Promise.all(parts), closed]);
  }
  if (outcome.closeCode === undefined) ws.close();
  await closed;
  return outcome;
}

describe('bytes per second per station', () => {
  it('a station sending 8 × 0.9 MB NotifyReports in a loop is refused, then closed with 1008; a light station next to it has every Heartbeat answered', async () => {
    await withTestCsms({}, async (csms) => {
      const heavy = await csms.register({ prefix: 'HEAVY' });
      const light = await csms.bootedStation({ prefix: 'LIGHT' });
      let heavyDone = false;
      const heavyRun = heavyStation(csms, heavy.identity, heavy.password, 8, 6, 900_000).finally(() => (heavyDone = true));

      // The light station heartbeats for as long as the heavy one runs, and a few times after.
      let heartbeats = 0;
      let after = 0;
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by another async task, which the checker's narrowing does not see
      while (!heavyDone || after < 3) {
        const answer = await light.heartbeat();
        expect(Number.isNaN(Date.parse(answer.currentTime))).toBe(false);
        heartbeats++;
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by another async task, which the checker's narrowing does not see
        if (heavyDone) after++;
      }
      const outcome = await heavyRun;

      expect(outcome.otherErrors).toEqual([]);
      expect(outcome.answered, 'the heavy station got its burst stored').toBeGreaterThan(0);
      expect(outcome.rateLimited, 'then its CALLs were refused').toBeGreaterThan(0);
      expect(outcome.closeCode, 'and, as it went on, it was closed').toBe(1008);
      expect(heartbeats).toBeGreaterThan(3);
      expect(light.problems()).toEqual([]);
      expect(light.isOpen).toBe(true);
      expect(await refusals(csms, 'bytes')).toBe(outcome.rateLimited);
      expect(await refusals(csms, 'bytes_closed')).toBe(1);
    });
  }, 120_000);
});

describe('queued CSMS calls per station', () => {
  it('beyond CSMS_STATION_MAX_QUEUED_CALLS a command is refused at once with 409 and a clear message; the queued ones are sent', async () => {
    await withTestCsms({ CSMS_STATION_MAX_QUEUED_CALLS: 3 }, async (csms) => {
      const station = await csms.bootedStation({ prefix: 'QUEUE' });
      let release: () => void = () => undefined;
      const released = new Promise<void>((resolve) => (release = resolve));
      station.onCall('ClearCache', async () => {
        await released;
        return { status: 'Accepted' };
      });
      // One in flight, three queued: the fifth and sixth have no room.
      const first = sendCommand(csms, station.identity, 'ClearCache', {});
      await waitFor(() => station.callsOf('ClearCache').length === 1, { what: 'the first ClearCache in flight' });
      // One in flight and three queued: of five more, whichever come last have no room.
      const more = [1, 2, 3, 4, 5].map(() => sendCommand(csms, station.identity, 'ClearCache', {}));
      await waitFor(async () => (await refusals(csms, 'queued_calls')) === 2, { what: 'two refusals' });
      release();
      const answers = await Promise.all([first, ...more]);
      expect(answers.map((res) => res.status).sort()).toEqual([200, 200, 200, 200, 409, 409]);
      for (const res of answers.filter((r) => r.status === 409)) {
        expect(res.text).toContain('3 calls already wait for this station');
      }
      expect(station.callsOf('ClearCache')).toHaveLength(4);
      expect(await refusals(csms, 'queued_calls')).toBe(2);
    });
  }, 60_000);
});

describe('stored report parts per station', () => {
  it('parts beyond CSMS_REPORT_MAX_PARTS are answered {} and dropped; only the newest CSMS_REPORT_MAX_REQUESTS reports keep their parts', async () => {
    await withTestCsms({ CSMS_REPORT_MAX_PARTS: 5, CSMS_REPORT_MAX_REQUESTS: 2 }, async (csms) => {
      const station = await csms.bootedStation({ prefix: 'REPORTS' });
      const entry = (i: number): Payload => ({
        component: { name: 'PartCtrlr', instance: `p${i}` },
        variable: { name: 'Value' },
        variableAttribute: [{ type: 'Actual', value: String(i) }],
      });
      const generatedAt = new Date().toISOString();
      for (let seqNo = 0; seqNo < 8; seqNo++) {
        expect(await station.notifyReportPart(101, seqNo, [entry(seqNo)], seqNo < 7, generatedAt)).toEqual({});
      }
      expect(await station.notifyReportPart(101, -1, [entry(99)], true, generatedAt)).toEqual({});
      const report = await csms.api.request<{ parts: number; complete: boolean; reportData: Payload[] }>('GET', `/api/v1/stations/${station.identity}/reports/101`);
      expect(report.status).toBe(200);
      expect(report.body.parts).toBe(5);
      expect(report.body.reportData).toHaveLength(5);
      expect(await refusals(csms, 'report_parts')).toBe(4);

      // Two newer reports: the oldest (101) goes.
      expect(await station.notifyReportPart(102, 0, [entry(1)], false)).toEqual({});
      expect(await station.notifyReportPart(103, 0, [entry(2)], false)).toEqual({});
      await waitFor(async () => (await csms.api.request('GET', `/api/v1/stations/${station.identity}/reports/101`)).status === 404, {
        what: 'report 101 pruned',
      });
      for (const requestId of [102, 103]) {
        expect((await csms.api.request('GET', `/api/v1/stations/${station.identity}/reports/${requestId}`)).status).toBe(200);
      }
      expect(await refusals(csms, 'report_requests')).toBe(1);
    });
  }, 60_000);
});

describe('retention', () => {
  it('deletes events and meter values without a transaction older than CSMS_RETENTION_DAYS, keeps newer ones and those of transactions', async () => {
    const database = await freshPostgresDatabase();
    const store = await openStore({ databaseUrl: database.url, dataDir: '/nonexistent-unused' });
    try {
      await store.upsertStation('RET-1', {});
      const now = new Date();
      await store.recordEvent('RET-1', 'NotifyEvent', { generatedAt: 'old', seqNo: 0 }, now);
      await store.recordEvent('RET-1', 'NotifyEvent', { generatedAt: 'new', seqNo: 1 }, now);
      const meterValue = (value: number): Json[] => [{ timestamp: now.toISOString(), sampledValue: [{ value }] }];
      await store.recordMeterValues({ stationId: 'RET-1', evseId: 1, transactionId: undefined, source: 'MeterValues', meterValue: meterValue(1), receivedAt: now });
      await store.recordMeterValues({ stationId: 'RET-1', evseId: 1, transactionId: 'TX-1', source: 'MeterValues', meterValue: meterValue(2), receivedAt: now });
      await store.transaction(async (q) => {
        await q.query(`UPDATE station_events SET received_at = now() - interval '40 days' WHERE payload->>'generatedAt' = 'old'`);
        await q.query(`UPDATE meter_values SET received_at = now() - interval '40 days'`);
      });

      const deleted: Record<string, number> = {};
      const sweeper = new RetentionSweeper({
        store,
        retentionDays: 30,
        now: () => Date.now(),
        onDeleted: (table, rows) => (deleted[table] = (deleted[table] ?? 0) + rows),
      });
      await sweeper.sweep();
      expect(deleted).toEqual({ station_events: 1, meter_values: 1 });
      expect((await store.listEvents('RET-1', 10)).map((e) => e.payload.generatedAt)).toEqual(['new']);
      const left = await store.transaction((q) => q.query<{ transaction_id: string | null }>('SELECT transaction_id FROM meter_values'));
      expect(left).toEqual([{ transaction_id: 'TX-1' }]);
    } finally {
      await store.close();
      await database.drop();
    }
  }, 60_000);
});
