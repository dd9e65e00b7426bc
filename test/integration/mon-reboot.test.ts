/**
 * Advanced Device Management after the happy path: N04.FR.19 / DRV-ADM-06 (a station that rebooted has its
 * monitors re-read, the CSMS's monitors re-mapped to the ids it now gives them, the ones that did not survive
 * dropped) and DRV-ADM-09 (a monitoring report that stops after `tbc:true` is marked Incomplete after the
 * deadline instead of being under way for ever; a late last part still completes it).
 */
import { describe, expect, it } from 'vitest';
import { withCsms } from '../support/csms.js';
import { now, sendCommand } from '../support/device.js';
import { Reply, waitFor, type Payload, type TestStation } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 5000, CSMS_MONITORING_REPORT_TIMEOUT_SECONDS: 1 });

const POWER = { component: { name: 'ChargingStation' }, variable: { name: 'Power' } };
const EVSE1_AVAILABILITY = { component: { name: 'EVSE', evse: { id: 1 } }, variable: { name: 'AvailabilityState' } };

interface MonitorView {
  id: number | null;
  component: Payload;
  variable: Payload;
  type: string;
  value: number;
  severity: number;
  source: 'CSMS' | 'station';
  status: string;
}

interface ReportView {
  requestId: number;
  complete: boolean;
  status: string | null;
  parts: number;
  monitors: Payload[];
}

async function monitorsOf(identity: string): Promise<MonitorView[]> {
  const res = await h.csms.api.request<{ items: MonitorView[] }>('GET', `/api/v1/stations/${encodeURIComponent(identity)}/monitors`);
  expect(res.status, res.text.slice(0, 300)).toBe(200);
  return res.body.items;
}

async function reportOf(identity: string, requestId: number): Promise<ReportView> {
  const res = await h.csms.api.request<ReportView>('GET', `/api/v1/stations/${encodeURIComponent(identity)}/monitoring-reports/${requestId}`);
  expect(res.status, res.text.slice(0, 300)).toBe(200);
  return res.body;
}

function reportPart(
  requestId: number,
  seqNo: number,
  tbc: boolean,
  monitors: Array<{ id: number; target: { component: Payload; variable: Payload }; type: string; value: number; severity: number }>,
): Payload {
  return {
    requestId,
    seqNo,
    generatedAt: now(),
    ...(tbc ? { tbc: true } : {}),
    monitor: monitors.map((m) => ({
      ...m.target,
      variableMonitoring: [{ id: m.id, transaction: false, value: m.value, type: m.type, severity: m.severity }],
    })),
  };
}

describe('N04.FR.19 / DRV-ADM-06: monitors are re-read after a reboot', () => {
  it('re-maps the CSMS monitors to the ids the station reports after its reboot and drops those that did not survive', async () => {
    const creds = await h.csms.register({ prefix: 'MONRB' });
    const first = await h.csms.connect(creds);
    await first.booted();
    // The station allocates ids 1 and 2 (N04.FR.11).
    first.onCall('SetVariableMonitoring', (p) => ({
      setMonitoringResult: (p.setMonitoringData as Payload[]).map((d, i) => ({
        type: d.type,
        severity: d.severity,
        component: d.component,
        variable: d.variable,
        id: i + 1,
        status: 'Accepted',
      })),
    }));
    const set = await sendCommand(h.csms, creds.identity, 'SetVariableMonitoring', {
      setMonitoringData: [
        { ...POWER, type: 'UpperThreshold', value: 22000, severity: 4 },
        { ...EVSE1_AVAILABILITY, type: 'Delta', value: 1, severity: 6 },
      ],
    });
    expect(set.status, set.text).toBe(200);
    expect((await monitorsOf(creds.identity)).map((m) => m.id).sort()).toEqual([1, 2]);
    await first.close();

    // After the reboot the Power threshold survived under id 7 (and a new value); the Delta monitor is gone.
    const second = await h.csms.connect(creds);
    let asked: Payload | undefined;
    second.onCall('GetMonitoringReport', (p) => {
      asked = p;
      return Reply.then({ status: 'Accepted' }, async () => {
        const requestId = p.requestId as number;
        expect(
          await second.call('NotifyMonitoringReport', reportPart(requestId, 0, false, [{ id: 7, target: POWER, type: 'UpperThreshold', value: 11000, severity: 4 }])),
        ).toEqual({});
      });
    });
    await second.boot({ reason: 'RemoteReset' });
    const call = await second.waitForCall('GetMonitoringReport');
    // All monitors: no filters, and a requestId of the CSMS's own range.
    expect(call.payload).toEqual({ requestId: expect.any(Number) as number });
    expect(call.payload.requestId as number).toBeGreaterThanOrEqual(1_000_000_000);
    expect(asked).toBeDefined();
    const requestId = call.payload.requestId as number;
    await waitFor(async () => (await reportOf(creds.identity, requestId)).complete, { what: 'the re-read report to complete' });
    const csmsMonitors = await waitFor(
      async () => {
        const mine = (await monitorsOf(creds.identity)).filter((m) => m.source === 'CSMS');
        return mine.length === 1 && mine[0]?.id === 7 ? mine : undefined;
      },
      { what: 'the CSMS monitors re-mapped' },
    );
    expect(csmsMonitors[0]).toMatchObject({ id: 7, type: 'UpperThreshold', severity: 4, value: 11000, component: POWER.component, status: 'Accepted' });
    const reported = (await monitorsOf(creds.identity)).filter((m) => m.source === 'station');
    expect(reported.map((m) => m.id)).toEqual([7]);
  });

  it('a station the CSMS knows no monitor of is not asked after its boot', async () => {
    const station = await h.csms.bootedStation({ prefix: 'MONRB' });
    // The boot's follow-ups run after its answer; a Heartbeat round trip later any CALL would have been queued.
    await station.call('Heartbeat', {});
    await station.call('Heartbeat', {});
    expect(station.callsOf('GetMonitoringReport')).toEqual([]);
  });
});

describe('DRV-ADM-09: a monitoring report that never completes', () => {
  async function acceptedReport(station: TestStation, requestId: number, firstPart: Payload): Promise<void> {
    station.onCall('GetMonitoringReport', () =>
      Reply.then({ status: 'Accepted' }, async () => {
        expect(await station.call('NotifyMonitoringReport', firstPart)).toEqual({});
      }),
    );
    const res = await sendCommand(h.csms, station.identity, 'GetMonitoringReport', { requestId });
    expect(res.status, res.text).toBe(200);
  }

  it('is marked Incomplete once no part came within the deadline; a late last part still completes it', async () => {
    const station = await h.csms.bootedStation({ prefix: 'MONRB' });
    const monitor = { id: 3, target: POWER, type: 'UpperThreshold', value: 5000, severity: 2 };
    await acceptedReport(station, 41, reportPart(41, 0, true, [monitor]));
    expect(await reportOf(station.identity, 41)).toMatchObject({ complete: false, status: 'Accepted', parts: 1 });
    const overdue = await waitFor(
      async () => {
        const report = await reportOf(station.identity, 41);
        return report.status === 'Incomplete' ? report : undefined;
      },
      { timeoutMs: 10_000, what: 'the report marked Incomplete' },
    );
    expect(overdue).toMatchObject({ complete: false, parts: 1 });

    expect(await station.call('NotifyMonitoringReport', reportPart(41, 1, false, [{ ...monitor, id: 4, type: 'LowerThreshold' }]))).toEqual({});
    expect(await reportOf(station.identity, 41)).toMatchObject({ complete: true, status: 'Accepted', parts: 2 });
  });

  it('a report that completes in time is never marked Incomplete', async () => {
    const station = await h.csms.bootedStation({ prefix: 'MONRB' });
    await acceptedReport(station, 42, reportPart(42, 0, false, [{ id: 5, target: POWER, type: 'UpperThreshold', value: 5000, severity: 2 }]));
    await waitFor(async () => (await reportOf(station.identity, 42)).complete, { what: 'the report to complete' });
    // Past the 1 s deadline: still complete, still Accepted.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await reportOf(station.identity, 42)).toMatchObject({ complete: true, status: 'Accepted' });
  });
});
