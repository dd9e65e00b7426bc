/**
 * Advanced Device Management (ocpp-conformance-profiles.md §6): monitors set, cleared and reported, the
 * monitoring base and level, monitoring reports assembled per requestId (CONTRACT §8.5), monitor events as alerts
 * in the events API and in csms_monitor_alerts_total{severity}, and the profile's report cases.
 * TC_N_01, N_02, N_03, N_47, N_60 (GetMonitoringReport), TC_N_05 (SetMonitoringBase), TC_N_08, N_09
 * (SetVariableMonitoring), TC_N_16, N_17 (SetMonitoringLevel), TC_N_18, N_44 (ClearVariableMonitoring), TC_N_21,
 * N_24, N_48, N_49, N_50 (NotifyEvent), TC_B_14, TC_B_18 (reports); plus the 1,000-monitor split.
 */
import { describe, expect, it } from 'vitest';
import { metricValue } from '../support/api.js';
import { withCsms } from '../support/csms.js';
import { expectApiError, eventsOf, named, now, reportEntry, roundTrip, sendCommand, settle } from '../support/device.js';
import { Reply, waitFor, type Payload, type TestStation } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 5000 });

interface Monitor {
  id: number;
  component: Payload;
  variable: Payload;
  type: string;
  value: number;
  severity: number;
  transaction: boolean;
}

interface MonitorView extends Omit<Monitor, 'id'> {
  id: number | null;
  source: 'CSMS' | 'station';
  status: string;
}

interface MonitorsView {
  items: MonitorView[];
  monitoringBase: string | null;
  monitoringLevel: number | null;
}

interface MonitoringReportView {
  requestId: number;
  complete: boolean;
  status: string | null;
  monitors: Payload[];
}

const EVSE1_AVAILABILITY = { component: { name: 'EVSE', evse: { id: 1 } }, variable: { name: 'AvailabilityState' } };
const STATION_AVAILABILITY = { component: { name: 'ChargingStation' }, variable: { name: 'AvailabilityState' } };
const STATION_POWER = { component: { name: 'ChargingStation' }, variable: { name: 'Power' } };

const sameTarget = (a: { component: Payload; variable: Payload }, b: { component: Payload; variable: Payload }): boolean =>
  JSON.stringify([a.component, a.variable]) === JSON.stringify([b.component, b.variable]);

/**
 * The monitors a scripted station holds, and its answers: SetVariableMonitoring allocates ids (N04.FR.11) and
 * replaces by id (N04.FR.12), ClearVariableMonitoring refuses hard-wired monitors (N06) and says NotFound for
 * unknown ids, GetMonitoringReport answers by content and sends the matching monitors in parts.
 */
class StationMonitors {
  readonly monitors = new Map<number, Monitor>();
  readonly hardWired = new Set<number>();
  private nextId = 100;

  constructor(
    readonly station: TestStation,
    private readonly partSize = 2,
  ) {
    station.onCall('SetVariableMonitoring', (p) => this.set(p));
    station.onCall('ClearVariableMonitoring', (p) => this.clear(p));
    station.onCall('GetMonitoringReport', (p) => this.report(p));
  }

  add(monitor: Omit<Monitor, 'id'> & { id?: number }, opts: { hardWired?: boolean } = {}): Monitor {
    const full = { ...monitor, id: monitor.id ?? this.nextId++ };
    this.monitors.set(full.id, full);
    if (opts.hardWired === true) this.hardWired.add(full.id);
    return full;
  }

  private set(payload: Payload): Payload {
    const data = payload.setMonitoringData as Array<Omit<Monitor, 'id' | 'transaction'> & { id?: number; transaction?: boolean }>;
    return {
      setMonitoringResult: data.map((d) => {
        const echo = { type: d.type, severity: d.severity, component: d.component, variable: d.variable };
        if (d.id !== undefined && !this.monitors.has(d.id)) return { ...echo, status: 'Rejected' };
        const monitor = this.add({ ...d, transaction: d.transaction ?? false });
        return { ...echo, id: monitor.id, status: 'Accepted' };
      }),
    };
  }

  private clear(payload: Payload): Payload {
    return {
      clearMonitoringResult: (payload.id as number[]).map((id) => {
        if (this.hardWired.has(id)) return { id, status: 'Rejected' };
        return { id, status: this.monitors.delete(id) ? 'Accepted' : 'NotFound' };
      }),
    };
  }

  private matching(payload: Payload): Monitor[] {
    const criteria = payload.monitoringCriteria as string[] | undefined;
    const types = criteria?.flatMap((c) =>
      c === 'ThresholdMonitoring' ? ['UpperThreshold', 'LowerThreshold'] : c === 'DeltaMonitoring' ? ['Delta'] : ['Periodic', 'PeriodicClockAligned'],
    );
    const pairs = payload.componentVariable as Array<{ component: Payload; variable: Payload }> | undefined;
    return [...this.monitors.values()].filter((m) => (types === undefined || types.includes(m.type)) && (pairs === undefined || pairs.some((p) => sameTarget(p, m))));
  }

  private report(payload: Payload) {
    const found = this.matching(payload);
    if (found.length === 0) return { status: 'EmptyResultSet' };
    return Reply.then({ status: 'Accepted' }, async () => {
      const parts: Monitor[][] = [];
      for (let i = 0; i < found.length; i += this.partSize) parts.push(found.slice(i, i + this.partSize));
      for (const [seqNo, part] of parts.entries()) {
        const answer = await this.station.call('NotifyMonitoringReport', {
          requestId: payload.requestId,
          seqNo,
          generatedAt: now(),
          ...(seqNo < parts.length - 1 ? { tbc: true } : {}),
          monitor: part.map((m) => ({
            component: m.component,
            variable: m.variable,
            variableMonitoring: [{ id: m.id, transaction: m.transaction, value: m.value, type: m.type, severity: m.severity }],
          })),
        });
        expect(answer).toEqual({});
      }
    });
  }
}

async function monitorsOf(identity: string): Promise<MonitorsView> {
  const res = await h.csms.api.request<MonitorsView>('GET', `/api/v1/stations/${encodeURIComponent(identity)}/monitors`);
  expect(res.status, res.text.slice(0, 300)).toBe(200);
  return res.body;
}

async function monitoringReport(identity: string, requestId: number): Promise<{ status: number; body: MonitoringReportView }> {
  const res = await h.csms.api.request<MonitoringReportView>('GET', `/api/v1/stations/${encodeURIComponent(identity)}/monitoring-reports/${requestId}`);
  return { status: res.status, body: res.body };
}

async function completeReport(identity: string, requestId: number): Promise<MonitoringReportView> {
  return waitFor(
    async () => {
      const report = await monitoringReport(identity, requestId);
      return report.status === 200 && report.body.complete ? report.body : undefined;
    },
    { what: `monitoring report ${requestId} complete` },
  );
}

const deltaOn = (target: { component: Payload; variable: Payload }, severity = 8, value = 1): Payload => ({ value, type: 'Delta', severity, ...target });

/** A MonitoringCtrlr / DeviceDataCtrlr limit the station holds, read by the operator first (as TC_N_18 does). */
async function readLimit(station: TestStation, component: string, variable: string, instance: string, value: number): Promise<void> {
  const item = { component: { name: component }, variable: { name: variable, instance } };
  station.setVariable({ ...item, value: String(value) });
  const { response } = await roundTrip(h.csms, station, 'GetVariables', { getVariableData: [item] });
  expect(response.getVariableResult).toEqual([{ ...item, attributeStatus: 'Accepted', attributeValue: String(value) }]);
}

describe('SetVariableMonitoring (N04)', () => {
  it('TC_N_08: one Delta monitor (value 1, severity 8) on EVSE 1 AvailabilityState is sent as given, without id, and listed with the id the station gave it', async () => {
    const station = await h.csms.bootedStation({ prefix: 'N08' });
    new StationMonitors(station);
    const element = deltaOn(EVSE1_AVAILABILITY);
    const { call, response } = await roundTrip(h.csms, station, 'SetVariableMonitoring', { setMonitoringData: [element] });
    expect(call.payload).toEqual({ setMonitoringData: [element] });
    const result = (response.setMonitoringResult as Payload[])[0] as Payload;
    expect(result).toMatchObject({ status: 'Accepted', id: expect.any(Number) as number });
    const { items } = await monitorsOf(station.identity);
    expect(items).toEqual([
      expect.objectContaining({ id: result.id, ...EVSE1_AVAILABILITY, type: 'Delta', value: 1, severity: 8, transaction: false, source: 'CSMS', status: 'Accepted' }),
    ]);
  });

  it('TC_N_09: two elements in one request; answers given in another order are matched by component/variable, never by position', async () => {
    const station = await h.csms.bootedStation({ prefix: 'N09' });
    new StationMonitors(station);
    const first = deltaOn(EVSE1_AVAILABILITY, 8, 1);
    const second = { value: 2500, type: 'UpperThreshold', severity: 4, ...STATION_POWER, transaction: true };
    station.onCall('SetVariableMonitoring', (p) => {
      const [a, b] = p.setMonitoringData as Payload[];
      const echo = (d: Payload, id: number): Payload => ({ id, status: 'Accepted', type: d.type, severity: d.severity, component: d.component, variable: d.variable });
      return { setMonitoringResult: [echo(b!, 12), echo(a!, 11)] };
    });
    const { call } = await roundTrip(h.csms, station, 'SetVariableMonitoring', { setMonitoringData: [first, second] });
    expect(call.payload.setMonitoringData).toEqual([first, second]);
    const { items } = await monitorsOf(station.identity);
    expect(items.find((m) => m.id === 11)).toMatchObject({ ...EVSE1_AVAILABILITY, type: 'Delta', value: 1, severity: 8, transaction: false });
    expect(items.find((m) => m.id === 12)).toMatchObject({ ...STATION_POWER, type: 'UpperThreshold', value: 2500, severity: 4, transaction: true });
  });

  it('a refused element is listed with its status and no id; it never overwrites a monitor the station holds; a later acceptance replaces it', async () => {
    const station = await h.csms.bootedStation({ prefix: 'N04-ref' });
    const fake = new StationMonitors(station);
    // N04.FR.13: an id the station does not know is Rejected.
    const { response } = await roundTrip(h.csms, station, 'SetVariableMonitoring', { setMonitoringData: [{ ...deltaOn(EVSE1_AVAILABILITY), id: 999 }] });
    expect((response.setMonitoringResult as Payload[])[0]).toMatchObject({ status: 'Rejected' });
    expect((await monitorsOf(station.identity)).items).toEqual([expect.objectContaining({ id: null, status: 'Rejected', source: 'CSMS', ...EVSE1_AVAILABILITY })]);
    await roundTrip(h.csms, station, 'SetVariableMonitoring', { setMonitoringData: [deltaOn(EVSE1_AVAILABILITY)] });
    const [only] = (await monitorsOf(station.identity)).items;
    expect(only).toMatchObject({ status: 'Accepted', id: [...fake.monitors.keys()][0] });
    expect((await monitorsOf(station.identity)).items).toHaveLength(1);
  });

  it('N04.FR.12: setting an existing id again replaces that monitor in the list', async () => {
    const station = await h.csms.bootedStation({ prefix: 'N04-repl' });
    new StationMonitors(station);
    const { response } = await roundTrip(h.csms, station, 'SetVariableMonitoring', {
      setMonitoringData: [{ value: 10, type: 'UpperThreshold', severity: 5, ...STATION_POWER }],
    });
    const id = (response.setMonitoringResult as Payload[])[0]!.id as number;
    await roundTrip(h.csms, station, 'SetVariableMonitoring', { setMonitoringData: [{ id, value: 20, type: 'UpperThreshold', severity: 5, ...STATION_POWER }] });
    expect((await monitorsOf(station.identity)).items).toEqual([expect.objectContaining({ id, value: 20, source: 'CSMS', status: 'Accepted' })]);
  });

  it('1,000 monitors are split into messages of the station’s ItemsPerMessage[SetVariableMonitoring] and every one is listed with its id', async () => {
    const station = await h.csms.bootedStation({ prefix: 'N04-1000' });
    const fake = new StationMonitors(station);
    await readLimit(station, 'MonitoringCtrlr', 'ItemsPerMessage', 'SetVariableMonitoring', 64);
    const data = Array.from({ length: 1000 }, (_, i) => ({
      value: i,
      type: 'UpperThreshold',
      severity: i % 10,
      component: { name: 'StroomSensor', instance: `s${i}` },
      variable: { name: 'Temperature' },
    }));
    const mark = station.mark();
    const res = await sendCommand(h.csms, station.identity, 'SetVariableMonitoring', { setMonitoringData: data });
    expect(res.status, res.text.slice(0, 300)).toBe(200);
    const calls = station.callsOf('SetVariableMonitoring').filter((c) => c.seq > mark);
    expect(calls.map((c) => (c.payload.setMonitoringData as Payload[]).length)).toEqual([...Array<number>(15).fill(64), 1000 - 15 * 64]);
    expect(calls.flatMap((c) => c.payload.setMonitoringData as Payload[])).toEqual(data);
    const results = res.body.response.setMonitoringResult as Payload[];
    expect(results).toHaveLength(1000);
    expect(results.every((r) => r.status === 'Accepted')).toBe(true);
    expect(fake.monitors.size).toBe(1000);
    const { items } = await monitorsOf(station.identity);
    expect(items.filter((m) => m.source === 'CSMS' && m.status === 'Accepted')).toHaveLength(1000);
    expect(items.find((m) => (m.component as { instance?: string }).instance === 's737')).toMatchObject({ value: 737, severity: 7 });
  });

  it('N04.FR.09: BytesPerMessage[SetVariableMonitoring] bounds each message too', async () => {
    const station = await h.csms.bootedStation({ prefix: 'N04-bytes' });
    new StationMonitors(station);
    await readLimit(station, 'MonitoringCtrlr', 'BytesPerMessage', 'SetVariableMonitoring', 600);
    const data = Array.from({ length: 12 }, (_, i) => deltaOn({ component: { name: 'StroomSensor', instance: `b${i}` }, variable: { name: 'Temperature' } }));
    const mark = station.mark();
    const res = await sendCommand(h.csms, station.identity, 'SetVariableMonitoring', { setMonitoringData: data });
    expect(res.status).toBe(200);
    const frames = station.callsOf('SetVariableMonitoring').filter((c) => c.seq > mark);
    expect(frames.length).toBeGreaterThan(1);
    for (const frame of frames) expect(JSON.stringify([2, frame.messageId, 'SetVariableMonitoring', frame.payload]).length).toBeLessThanOrEqual(600);
    expect(frames.flatMap((c) => c.payload.setMonitoringData as Payload[])).toEqual(data);
  });

  it.each(
    named(
      [
        { what: 'a severity above 9', element: deltaOn(EVSE1_AVAILABILITY, 10), rule: 'N04.severity' },
        { what: 'a negative Delta value', element: deltaOn(EVSE1_AVAILABILITY, 8, -1), rule: 'N04.FR.14' },
      ],
      (c) => `${c.what} is refused with 400 naming ${c.rule}, and nothing is sent`,
    ),
  )('%s', async (_, c) => {
    const station = await h.csms.bootedStation({ prefix: 'N04-bad' });
    const mark = station.mark();
    const res = await sendCommand(h.csms, station.identity, 'SetVariableMonitoring', { setMonitoringData: [c.element] });
    expectApiError(res, 400);
    expect((res.body.error?.details as { rule?: string }).rule).toBe(c.rule);
    await settle(station, 50);
    expect(station.callsOf('SetVariableMonitoring').filter((x) => x.seq > mark)).toEqual([]);
  });
});

describe('ClearVariableMonitoring (N06)', () => {
  it('TC_N_18: after the operator read ItemsPerMessage[ClearVariableMonitoring] = 3, seven ids go out in messages of at most 3, their union the set asked for', async () => {
    const station = await h.csms.bootedStation({ prefix: 'N18' });
    new StationMonitors(station);
    await readLimit(station, 'MonitoringCtrlr', 'ItemsPerMessage', 'ClearVariableMonitoring', 3);
    const ids = [1, 2, 3, 4, 5, 6, 7];
    const mark = station.mark();
    const res = await sendCommand(h.csms, station.identity, 'ClearVariableMonitoring', { id: ids });
    expect(res.status).toBe(200);
    const calls = station.callsOf('ClearVariableMonitoring').filter((c) => c.seq > mark);
    expect(calls.length).toBeGreaterThanOrEqual(2);
    for (const call of calls) expect((call.payload.id as number[]).length).toBeLessThanOrEqual(3);
    expect(calls.flatMap((c) => c.payload.id as number[]).sort((a, b) => a - b)).toEqual(ids);
    expect((res.body.response.clearMonitoringResult as Payload[]).map((r) => r.id)).toEqual(ids);
  });

  it('TC_N_44: a hard-wired monitor answered Rejected stays listed and the operator sees the per-id status; an accepted clear removes the monitor', async () => {
    const station = await h.csms.bootedStation({ prefix: 'N44' });
    const fake = new StationMonitors(station);
    const hardWired = fake.add({ ...STATION_POWER, type: 'UpperThreshold', value: 50000, severity: 2, transaction: false }, { hardWired: true });
    const reportAll = await roundTrip(h.csms, station, 'GetMonitoringReport', {}, { status: 'Accepted' });
    await completeReport(station.identity, reportAll.request.requestId as number);
    const { response: set } = await roundTrip(h.csms, station, 'SetVariableMonitoring', { setMonitoringData: [deltaOn(EVSE1_AVAILABILITY)] });
    const custom = (set.setMonitoringResult as Payload[])[0]!.id as number;
    expect((await monitorsOf(station.identity)).items.map((m) => m.id).sort()).toEqual([hardWired.id, custom].sort());

    await roundTrip(h.csms, station, 'ClearVariableMonitoring', { id: [hardWired.id] }, { clearMonitoringResult: [{ id: hardWired.id, status: 'Rejected' }] });
    expect((await monitorsOf(station.identity)).items.map((m) => m.id)).toContain(hardWired.id);

    await roundTrip(h.csms, station, 'ClearVariableMonitoring', { id: [custom] }, { clearMonitoringResult: [{ id: custom, status: 'Accepted' }] });
    expect((await monitorsOf(station.identity)).items.map((m) => m.id)).toEqual([hardWired.id]);
  });
});

describe('SetMonitoringBase (N03) and SetMonitoringLevel (N05)', () => {
  it('TC_N_05: All, FactoryDefault and HardWiredOnly go out with these spellings; after FactoryDefault the custom monitors are gone from the list', async () => {
    const station = await h.csms.bootedStation({ prefix: 'N05' });
    new StationMonitors(station);
    await roundTrip(h.csms, station, 'SetVariableMonitoring', { setMonitoringData: [deltaOn(EVSE1_AVAILABILITY)] });
    const { call } = await roundTrip(h.csms, station, 'SetMonitoringBase', { monitoringBase: 'All' }, { status: 'Accepted' });
    expect(call.payload).toEqual({ monitoringBase: 'All' });
    let view = await monitorsOf(station.identity);
    expect(view.monitoringBase).toBe('All');
    expect(view.items).toHaveLength(1);

    for (const base of ['FactoryDefault', 'HardWiredOnly']) {
      const sent = await roundTrip(h.csms, station, 'SetMonitoringBase', { monitoringBase: base }, { status: 'Accepted' });
      expect(sent.call.payload).toEqual({ monitoringBase: base });
      view = await monitorsOf(station.identity);
      expect(view.monitoringBase).toBe(base);
      expect(view.items).toEqual([]);
    }
  });

  it('TC_N_16 / TC_N_17: level 4 accepted is the active level; a rejected level keeps it; 10 is refused with 400 (N05.FR.02) and not sent', async () => {
    const station = await h.csms.bootedStation({ prefix: 'N16' });
    const { call } = await roundTrip(h.csms, station, 'SetMonitoringLevel', { severity: 4 }, { status: 'Accepted' });
    expect(call.payload).toEqual({ severity: 4 });
    expect((await monitorsOf(station.identity)).monitoringLevel).toBe(4);

    station.onCall('SetMonitoringLevel', () => ({ status: 'Rejected' }));
    await roundTrip(h.csms, station, 'SetMonitoringLevel', { severity: 6 }, { status: 'Rejected' });
    expect((await monitorsOf(station.identity)).monitoringLevel).toBe(4);

    const mark = station.mark();
    const res = await sendCommand(h.csms, station.identity, 'SetMonitoringLevel', { severity: 10 });
    expectApiError(res, 400);
    expect((res.body.error?.details as { rule?: string }).rule).toBe('N05.FR.02');
    await settle(station, 50);
    expect(station.callsOf('SetMonitoringLevel').filter((c) => c.seq > mark)).toEqual([]);
  });
});

describe('GetMonitoringReport (N02)', () => {
  /** EVSE 1 AvailabilityState Delta, ChargingStation AvailabilityState Delta, ChargingStation Power thresholds. */
  function seed(fake: StationMonitors): Monitor[] {
    return [
      fake.add({ ...EVSE1_AVAILABILITY, type: 'Delta', value: 1, severity: 8, transaction: false }),
      fake.add({ ...STATION_AVAILABILITY, type: 'Delta', value: 1, severity: 8, transaction: false }),
      fake.add({ ...STATION_POWER, type: 'UpperThreshold', value: 22000, severity: 4, transaction: false }),
      fake.add({ ...STATION_POWER, type: 'LowerThreshold', value: 10, severity: 6, transaction: true }),
    ];
  }

  const reportedIds = async (identity: string): Promise<number[]> =>
    (await monitorsOf(identity)).items
      .filter((m) => m.source === 'station')
      .map((m) => m.id as number)
      .sort((a, b) => a - b);

  it('TC_N_47: no filters at all; every part is answered, the report is assembled and complete:false until the last part', async () => {
    const station = await h.csms.bootedStation({ prefix: 'N47' });
    const fake = new StationMonitors(station, 1);
    const seeded = seed(fake);
    let requestId = -1;
    let midway: MonitoringReportView | undefined;
    station.onCall('GetMonitoringReport', (p) =>
      Reply.then({ status: 'Accepted' }, async () => {
        requestId = p.requestId as number;
        for (const [seqNo, m] of seeded.entries()) {
          const part = {
            requestId,
            seqNo,
            generatedAt: now(),
            ...(seqNo < seeded.length - 1 ? { tbc: true } : {}),
            monitor: [
              {
                component: m.component,
                variable: m.variable,
                variableMonitoring: [{ id: m.id, transaction: m.transaction, value: m.value, type: m.type, severity: m.severity }],
              },
            ],
          };
          expect(await station.call('NotifyMonitoringReport', part)).toEqual({});
          if (seqNo === 1) midway = (await monitoringReport(station.identity, requestId)).body;
        }
      }),
    );
    const { call } = await roundTrip(h.csms, station, 'GetMonitoringReport', {}, { status: 'Accepted' });
    expect(Object.keys(call.payload)).toEqual(['requestId']);
    const report = await completeReport(station.identity, call.payload.requestId as number);
    expect(midway).toMatchObject({ complete: false });
    expect(report.monitors).toHaveLength(4);
    expect(await reportedIds(station.identity)).toEqual(seeded.map((m) => m.id));
    expect((await monitorsOf(station.identity)).items.find((m) => m.id === seeded[3]!.id)).toMatchObject({
      type: 'LowerThreshold',
      value: 10,
      severity: 6,
      transaction: true,
      status: 'Reported',
    });
  });

  it('the report is complete:false from the moment the station accepted it, before any part', async () => {
    const station = await h.csms.bootedStation({ prefix: 'N02-acc' });
    station.onCall('GetMonitoringReport', () => ({ status: 'Accepted' }));
    const { request } = await roundTrip(h.csms, station, 'GetMonitoringReport', {}, { status: 'Accepted' });
    const report = await monitoringReport(station.identity, request.requestId as number);
    expect(report).toMatchObject({ status: 200, body: { requestId: request.requestId, complete: false, monitors: [] } });
    expectApiError(await h.csms.api.request('GET', `/api/v1/stations/${encodeURIComponent(station.identity)}/monitoring-reports/424242`), 404);
  });

  it('TC_N_01: DeltaMonitoring alone is EmptyResultSet (no wait, no report), ThresholdMonitoring alone is Accepted and its monitors are shown; no componentVariable is sent', async () => {
    const station = await h.csms.bootedStation({ prefix: 'N01' });
    const fake = new StationMonitors(station);
    const seeded = seed(fake).filter((m) => m.type !== 'Delta');
    for (const m of [...fake.monitors.values()]) if (m.type === 'Delta') fake.monitors.delete(m.id);
    const empty = await roundTrip(h.csms, station, 'GetMonitoringReport', { monitoringCriteria: ['DeltaMonitoring'] }, { status: 'EmptyResultSet' });
    expect(empty.call.payload).toEqual({ requestId: empty.request.requestId, monitoringCriteria: ['DeltaMonitoring'] });
    expect((await monitoringReport(station.identity, empty.request.requestId as number)).body).toMatchObject({ complete: true, status: 'EmptyResultSet', monitors: [] });
    const found = await roundTrip(h.csms, station, 'GetMonitoringReport', { monitoringCriteria: ['ThresholdMonitoring'] }, { status: 'Accepted' });
    expect(found.call.payload).not.toHaveProperty('componentVariable');
    await completeReport(station.identity, found.request.requestId as number);
    expect(await reportedIds(station.identity)).toEqual(seeded.map((m) => m.id));
  });

  it('TC_N_02: by component/variable only (no monitoringCriteria, no instance): ChargingStation Power empty, EVSE 1 AvailabilityState shown', async () => {
    const station = await h.csms.bootedStation({ prefix: 'N02' });
    const fake = new StationMonitors(station);
    const evse = fake.add({ ...EVSE1_AVAILABILITY, type: 'Delta', value: 1, severity: 8, transaction: false });
    const power = { componentVariable: [STATION_POWER] };
    const first = await roundTrip(h.csms, station, 'GetMonitoringReport', power, { status: 'EmptyResultSet' });
    expect(first.call.payload).toEqual({ requestId: first.request.requestId, componentVariable: [STATION_POWER] });
    const second = await roundTrip(h.csms, station, 'GetMonitoringReport', { componentVariable: [EVSE1_AVAILABILITY] }, { status: 'Accepted' });
    expect(second.call.payload).not.toHaveProperty('monitoringCriteria');
    const report = await completeReport(station.identity, second.request.requestId as number);
    expect(report.monitors).toEqual([{ ...EVSE1_AVAILABILITY, variableMonitoring: [{ id: evse.id, transaction: false, value: 1, type: 'Delta', severity: 8 }] }]);
    expect(await reportedIds(station.identity)).toEqual([evse.id]);
  });

  it('TC_N_03: criteria and component/variable together; a filtered report replaces only the monitors it covers', async () => {
    const station = await h.csms.bootedStation({ prefix: 'N03' });
    const fake = new StationMonitors(station);
    const seeded = seed(fake);
    const all = await roundTrip(h.csms, station, 'GetMonitoringReport', {}, { status: 'Accepted' });
    await completeReport(station.identity, all.request.requestId as number);
    expect(await reportedIds(station.identity)).toEqual(seeded.map((m) => m.id));

    // The upper threshold on Power goes away at the station; a report of Power thresholds says so.
    fake.monitors.delete(seeded[2]!.id);
    await roundTrip(h.csms, station, 'GetMonitoringReport', { monitoringCriteria: ['DeltaMonitoring'], componentVariable: [EVSE1_AVAILABILITY] }, { status: 'Accepted' });
    const threshold = await roundTrip(
      h.csms,
      station,
      'GetMonitoringReport',
      { monitoringCriteria: ['ThresholdMonitoring'], componentVariable: [STATION_POWER] },
      { status: 'Accepted' },
    );
    expect(threshold.call.payload).toMatchObject({ monitoringCriteria: ['ThresholdMonitoring'], componentVariable: [STATION_POWER] });
    await completeReport(station.identity, threshold.request.requestId as number);
    expect(await reportedIds(station.identity)).toEqual([seeded[0]!.id, seeded[1]!.id, seeded[3]!.id]);
  });

  it.each(
    named(
      [
        { order: 'Delta first', criteria: [['DeltaMonitoring'], ['ThresholdMonitoring']] },
        { order: 'Threshold first', criteria: [['ThresholdMonitoring'], ['DeltaMonitoring']] },
      ],
      (c) => `TC_N_60 (${c.order}): criteria plus a list of two component/variables in one request, in the order given; the Delta AvailabilityState monitors are shown`,
    ),
  )('%s', async (_, c) => {
    const station = await h.csms.bootedStation({ prefix: 'N60' });
    const fake = new StationMonitors(station);
    const delta = [
      fake.add({ ...STATION_AVAILABILITY, type: 'Delta', value: 1, severity: 8, transaction: false }),
      fake.add({ ...EVSE1_AVAILABILITY, type: 'Delta', value: 1, severity: 8, transaction: false }),
    ];
    const pairs = [STATION_AVAILABILITY, EVSE1_AVAILABILITY];
    for (const criteria of c.criteria) {
      const expected = criteria[0] === 'DeltaMonitoring' ? 'Accepted' : 'EmptyResultSet';
      const { call, request } = await roundTrip(h.csms, station, 'GetMonitoringReport', { monitoringCriteria: criteria, componentVariable: pairs }, { status: expected });
      expect(call.payload.componentVariable).toEqual(pairs);
      if (expected === 'Accepted') await completeReport(station.identity, request.requestId as number);
    }
    expect(await reportedIds(station.identity)).toEqual(delta.map((m) => m.id).sort((a, b) => a - b));
  });

  it('N02.FR.07: more component/variables than the station’s ItemsPerMessage[GetReport] are refused with 400 before anything is sent', async () => {
    const station = await h.csms.bootedStation({ prefix: 'N02-fr07' });
    await readLimit(station, 'DeviceDataCtrlr', 'ItemsPerMessage', 'GetReport', 1);
    const mark = station.mark();
    const res = await sendCommand(h.csms, station.identity, 'GetMonitoringReport', { componentVariable: [STATION_POWER, EVSE1_AVAILABILITY] });
    expectApiError(res, 400);
    expect((res.body.error?.details as { rule?: string }).rule).toBe('N02.FR.07');
    await settle(station, 50);
    expect(station.callsOf('GetMonitoringReport').filter((c) => c.seq > mark)).toEqual([]);
  });
});

describe('NotifyEvent from monitors (N07, N08)', () => {
  async function alertsCount(severity: string): Promise<number> {
    return metricValue(await h.csms.api.metrics(), 'csms_monitor_alerts_total', { severity });
  }

  function eventData(fields: Payload): Payload {
    return { eventId: 1, timestamp: now(), trigger: 'Alerting', actualValue: '23000', eventNotificationType: 'CustomMonitor', ...STATION_POWER, ...fields };
  }

  it('an alert of a monitor the CSMS set is answered {}, listed with the monitor’s severity, trigger, actualValue and id, and counted once by severity (a resend too)', async () => {
    const station = await h.csms.bootedStation({ prefix: 'N07-alert' });
    new StationMonitors(station);
    const { response } = await roundTrip(h.csms, station, 'SetVariableMonitoring', {
      setMonitoringData: [{ value: 22000, type: 'UpperThreshold', severity: 3, ...STATION_POWER }],
    });
    const monitorId = (response.setMonitoringResult as Payload[])[0]!.id as number;
    const before = await alertsCount('3');
    const notify = { generatedAt: now(), seqNo: 0, eventData: [eventData({ variableMonitoringId: monitorId })] };
    expect(await station.call('NotifyEvent', notify)).toEqual({});
    // Resent with a new messageId after a lost answer: the same alert.
    expect(await station.call('NotifyEvent', notify)).toEqual({});
    expect(await alertsCount('3')).toBe(before + 1);
    const metrics = await h.csms.api.metrics();
    expect(metrics).not.toMatch(/csms_monitor_alerts_total\{[^}]*station/);
    const events = await eventsOf(h.csms.api, station.identity, 'NotifyEvent');
    expect(events).toHaveLength(1);
    expect((events[0]!.payload.eventData as Payload[])[0]).toMatchObject({ severity: 3, trigger: 'Alerting', actualValue: '23000', variableMonitoringId: monitorId });
    // The item itself names the alert too (one monitor event in the message).
    expect(events[0]).toMatchObject({ severity: 3, trigger: 'Alerting', actualValue: '23000', variableMonitoringId: monitorId });
    expect((events[0] as unknown as { alerts: Payload[] }).alerts).toEqual([expect.objectContaining({ severity: 3, eventId: 1, cleared: false, ...STATION_POWER })]);
  });

  it('TC_N_21: an alert of a hard-wired monitor the CSMS does not know is answered {}, listed, and counted under severity "unknown"', async () => {
    const station = await h.csms.bootedStation({ prefix: 'N21' });
    const before = await alertsCount('unknown');
    const data = eventData({ eventNotificationType: 'HardWiredMonitor', variableMonitoringId: 4711 });
    expect(await station.call('NotifyEvent', { generatedAt: now(), seqNo: 0, eventData: [data] })).toEqual({});
    expect(await alertsCount('unknown')).toBe(before + 1);
    const [event] = await eventsOf(h.csms.api, station.identity, 'NotifyEvent');
    expect((event!.payload.eventData as Payload[])[0]).toEqual(data);
    expect(event).toMatchObject({ severity: null, trigger: 'Alerting', variableMonitoringId: 4711 });
  });

  it.each(
    named(
      [
        { id: 'TC_N_24', fields: { trigger: 'Periodic', actualValue: '7100' }, what: 'a periodic event' },
        {
          id: 'TC_N_50',
          fields: { trigger: 'Periodic', actualValue: '7200', eventNotificationType: 'PreconfiguredMonitor' },
          what: 'a periodic sample of a preconfigured monitor',
        },
        { id: 'TC_N_49', fields: { cleared: true, actualValue: '21000' }, what: 'a threshold cleared after a reboot, with no open alert' },
      ],
      (c) => `${c.id}: ${c.what} is answered {}, listed, and is not counted as an alert`,
    ),
  )('%s', async (_, c) => {
    const station = await h.csms.bootedStation({ prefix: c.id.replace('TC_', '') });
    new StationMonitors(station);
    const { response } = await roundTrip(h.csms, station, 'SetVariableMonitoring', {
      setMonitoringData: [{ value: 60, type: 'Periodic', severity: 7, ...STATION_POWER }],
    });
    const monitorId = (response.setMonitoringResult as Payload[])[0]!.id as number;
    const before = await alertsCount('7');
    for (let seqNo = 0; seqNo < 3; seqNo++) {
      const notify = { generatedAt: now(), seqNo, eventData: [eventData({ ...c.fields, eventId: 10 + seqNo, variableMonitoringId: monitorId })] };
      expect(await station.call('NotifyEvent', notify)).toEqual({});
    }
    expect(await alertsCount('7')).toBe(before);
    const events = await eventsOf(h.csms.api, station.identity, 'NotifyEvent');
    expect(events).toHaveLength(3);
    expect((events[0]!.payload.eventData as Payload[])[0]).toMatchObject({ ...c.fields, severity: 7, variableMonitoringId: monitorId });
  });

  it('TC_N_48: an alert with an empty actualValue (a write-only variable) is answered {} and stored as sent', async () => {
    const station = await h.csms.bootedStation({ prefix: 'N48' });
    const data = eventData({ actualValue: '', variable: { name: 'BasicAuthPassword' }, component: { name: 'SecurityCtrlr' }, eventNotificationType: 'HardWiredMonitor' });
    expect(await station.call('NotifyEvent', { generatedAt: now(), seqNo: 0, eventData: [data] })).toEqual({});
    const [event] = await eventsOf(h.csms.api, station.identity, 'NotifyEvent');
    expect((event!.payload.eventData as Payload[])[0]).toEqual(data);
  });

  it('a Connector AvailabilityState event still updates the connector as a StatusNotification would', async () => {
    const station = await h.csms.bootedStation({ prefix: 'N07-conn' });
    expect(await station.notifyConnectorEvent(1, 1, 'Unavailable')).toEqual({});
    const view = await h.csms.api.getStation(station.identity);
    expect(view.body.evses?.[0]?.connectors[0]?.status).toBe('Unavailable');
  });
});

describe('reports of the Advanced Device Management profile (B07, B08)', () => {
  it('TC_B_14: GetBaseReport SummaryInventory goes out as such and every NotifyReport part is assembled', async () => {
    const station = await h.csms.bootedStation({ prefix: 'B14', connectOptions: { autoReport: false } });
    const entries = [
      reportEntry({ name: 'EVSE', evse: { id: 1 } }, { name: 'AvailabilityState' }, 'Available'),
      reportEntry({ name: 'ChargingStation' }, { name: 'Problem' }, 'false'),
    ];
    station.onCall('GetBaseReport', (p) =>
      Reply.then({ status: 'Accepted' }, async () => {
        await station.notifyReportPart(p.requestId as number, 0, [entries[0]!], true);
        await station.notifyReportPart(p.requestId as number, 1, [entries[1]!], false);
      }),
    );
    const { call, request } = await roundTrip(h.csms, station, 'GetBaseReport', { reportBase: 'SummaryInventory' }, { status: 'Accepted' });
    expect(call.payload).toEqual({ requestId: request.requestId, reportBase: 'SummaryInventory' });
    const report = await waitFor(
      async () => {
        const r = await h.csms.api.getReport(station.identity, request.requestId as number);
        return r.body.complete ? r.body : undefined;
      },
      { what: 'summary inventory assembled' },
    );
    expect(report.reportData).toEqual(entries);
  });

  it('TC_B_18: GetReport Problem + EVSE 1 AvailabilityState is EmptyResultSet (no report), Available + the same is Accepted and assembled', async () => {
    const station = await h.csms.bootedStation({ prefix: 'B18', connectOptions: { autoReport: false } });
    const entry = reportEntry({ name: 'EVSE', evse: { id: 1 } }, { name: 'AvailabilityState' }, 'Available');
    station.onCall('GetReport', (p) =>
      (p.componentCriteria as string[]).includes('Problem')
        ? { status: 'EmptyResultSet' }
        : Reply.then({ status: 'Accepted' }, async () => {
            await station.notifyReportPart(p.requestId as number, 0, [entry], false);
          }),
    );
    const problem = { componentCriteria: ['Problem'], componentVariable: [EVSE1_AVAILABILITY] };
    const empty = await roundTrip(h.csms, station, 'GetReport', problem, { status: 'EmptyResultSet' });
    expect(empty.call.payload).toEqual({ requestId: empty.request.requestId, ...problem });
    expect((await h.csms.api.getReport(station.identity, empty.request.requestId as number)).status).toBe(404);
    const available = await roundTrip(
      h.csms,
      station,
      'GetReport',
      { componentCriteria: ['Available'], componentVariable: [EVSE1_AVAILABILITY] },
      { status: 'Accepted' },
    );
    const report = await waitFor(
      async () => {
        const r = await h.csms.api.getReport(station.identity, available.request.requestId as number);
        return r.status === 200 && r.body.complete ? r.body : undefined;
      },
      { what: 'GetReport assembled' },
    );
    expect(report.reportData).toEqual([entry]);
  });
});

describe('monitors API', () => {
  it('an unknown station is 404 for monitors and monitoring reports; a viewer route is listed in the OpenAPI document', async () => {
    expectApiError(await h.csms.api.request('GET', '/api/v1/stations/no-such-station-mon/monitors'), 404);
    expectApiError(await h.csms.api.request('GET', '/api/v1/stations/no-such-station-mon/monitoring-reports/1'), 404);
    const doc = (await h.csms.api.openapi()).body as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/v1/stations/{id}/monitors', '/api/v1/stations/{id}/monitoring-reports/{requestId}']));
  });
});
