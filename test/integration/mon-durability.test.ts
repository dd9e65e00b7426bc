/**
 * CONTRACT §1 "durable" for the monitoring records, on PostgreSQL and on the embedded store: a station sends
 * NotifyMonitoringReport parts (TC_N_47's report) and NotifyEvent alerts of monitors (TC_N_21) one after another;
 * the CSMS child process is SIGKILLed at a random moment; after a restart on the same database every report part
 * and every alert the CSMS acknowledged is there.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { crashChildEnv, spawnCsms, type CleanupSteps, type SpawnedCsms } from '../support/csms.js';
import { TestStation, randomPassword, sleep, uniqueIdentity, waitFor } from '../support/station.js';

/** More rounds than fit before the kill; few enough that every alert fits in one events page (1000). */
const MAX_ROUNDS = 400;

interface Acknowledged {
  reports: number[];
  alerts: number[];
}

async function sendUntilKilled(station: TestStation, acked: Acknowledged): Promise<void> {
  const generatedAt = new Date().toISOString();
  try {
    for (let round = 1; round <= MAX_ROUNDS; round++) {
      const monitor = { id: round, transaction: false, value: 1000 + round, type: 'UpperThreshold', severity: round % 10 };
      await station.call('NotifyMonitoringReport', {
        requestId: round,
        seqNo: 0,
        generatedAt,
        monitor: [{ component: { name: 'ChargingStation' }, variable: { name: 'Power' }, variableMonitoring: [monitor] }],
      });
      acked.reports.push(round);
      const alert = {
        eventId: round,
        timestamp: new Date().toISOString(),
        trigger: 'Alerting',
        actualValue: String(2000 + round),
        eventNotificationType: 'CustomMonitor',
        variableMonitoringId: round,
        component: { name: 'ChargingStation' },
        variable: { name: 'Power' },
      };
      await station.call('NotifyEvent', { generatedAt, seqNo: round, eventData: [alert] });
      acked.alerts.push(round);
    }
  } catch {
    // The kill: the call in flight gets no answer, and nothing after it is sent.
  }
}

describe('monitoring records across a crash', () => {
  const cleanup: CleanupSteps = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  for (const store of ['PostgreSQL', 'embedded'] as const)
    it(`${store}: every acknowledged monitoring report part and monitor alert survives a SIGKILL`, { timeout: 120_000 }, async () => {
      const env = { ...(await crashChildEnv(store, 'stroom-mon-durability-', cleanup)), CSMS_REPORT_MAX_REQUESTS: 10_000 };
      let csms: SpawnedCsms = await spawnCsms(env);
      cleanup.push(() => csms.kill());
      const identity = uniqueIdentity('mon-dur');
      const password = randomPassword();
      expect((await csms.api.putStation(identity, { securityProfile: 1, password, bootPolicy: 'Accepted' })).status).toBe(201);
      const station = await TestStation.connect(csms.ocppUrl, { identity, password });
      cleanup.push(() => station.close());
      await station.booted();

      const acked: Acknowledged = { reports: [], alerts: [] };
      const sending = sendUntilKilled(station, acked);
      await waitFor(() => acked.alerts.length >= 3, { timeoutMs: 10_000, what: 'first acknowledgements' });
      const killAfterMs = 20 + Math.floor(Math.random() * 200);
      await sleep(killAfterMs);
      const killed = new Promise<void>((resolve) => csms.child.once('exit', () => resolve()));
      csms.kill();
      await killed;
      await sending;
      const context = `killed ${killAfterMs} ms in; ${acked.reports.length} reports and ${acked.alerts.length} alerts acknowledged`;
      expect(acked.reports.length, context).toBeLessThan(MAX_ROUNDS);

      csms = await spawnCsms(env);
      for (const requestId of acked.reports) {
        const report = await csms.api.request<{ complete: boolean; monitors: unknown[] }>(
          'GET',
          `/api/v1/stations/${encodeURIComponent(identity)}/monitoring-reports/${requestId}`,
        );
        expect(report.status, `report ${requestId} (${context})`).toBe(200);
        expect(report.body.complete, `report ${requestId} (${context})`).toBe(true);
      }
      const events = await csms.api.request<{ items: { kind: string; payload: { eventData: { eventId: number; severity?: number }[] } }[] }>(
        'GET',
        `/api/v1/stations/${encodeURIComponent(identity)}/events?limit=1000`,
      );
      const stored = new Set(events.body.items.filter((e) => e.kind === 'NotifyEvent').flatMap((e) => e.payload.eventData.map((d) => d.eventId)));
      for (const eventId of acked.alerts) expect(stored.has(eventId), `alert ${eventId} (${context})`).toBe(true);
      await csms.stop();
    });
});
