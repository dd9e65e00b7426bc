/**
 * The pure rules of the monitoring block: mapping SetVariableMonitoring answers onto their request by
 * component/variable (TC_N_09, N04.FR.02), what a filtered monitoring report covers (N02.FR.05/06), report
 * completeness, and splitting to ItemsPerMessage / BytesPerMessage (N04.FR.09, N06.FR.04, TC_N_18).
 */
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/json.js';
import { deviceLimit, planSetMonitoringLevel, splitToLimits } from '../../src/blocks/monitoring/monitoring-plans.js';
import { inReportScope, monitorsFromSetResult, refusedKey, reportComplete } from '../../src/blocks/monitoring/monitors.js';
import type { SetMonitoringDataType, SetMonitoringResultType } from '../../src/ocpp/v201/types.js';
import type { MonitorRecord } from '../../src/store/monitoring-sql.js';
import { CommandRefusal } from '../../src/station/types.js';

const EVSE1 = { component: { name: 'EVSE', evse: { id: 1 } }, variable: { name: 'AvailabilityState' } };
const STATION = { component: { name: 'ChargingStation' }, variable: { name: 'AvailabilityState' } };
const POWER = { component: { name: 'ChargingStation' }, variable: { name: 'Power' } };

function result(element: SetMonitoringDataType, status: SetMonitoringResultType['status'], id?: number): SetMonitoringResultType {
  return { status, type: element.type, severity: element.severity, component: element.component, variable: element.variable, ...(id !== undefined ? { id } : {}) };
}

function monitor(target: { component: JsonObject; variable: JsonObject }, type: string): MonitorRecord {
  return { id: 1, ...target, type, value: 1, severity: 5, transaction: false, source: 'station', status: 'Reported', updatedAt: new Date(0) };
}

describe('monitorsFromSetResult', () => {
  it('TC_N_09: results in another order are matched to their elements by component/variable, with the value and transaction flag of each', () => {
    const a: SetMonitoringDataType = { value: 1, type: 'Delta', severity: 8, ...EVSE1 };
    const b: SetMonitoringDataType = { value: 7, type: 'Delta', severity: 8, transaction: true, ...STATION };
    const { monitors, supersededKeys } = monitorsFromSetResult([a, b], [result(b, 'Accepted', 2), result(a, 'Accepted', 1)]);
    expect(monitors).toEqual([
      expect.objectContaining({ id: 2, key: '2', value: 7, transaction: true, ...STATION }),
      expect.objectContaining({ id: 1, key: '1', value: 1, transaction: false, ...EVSE1 }),
    ]);
    expect(supersededKeys).toEqual([refusedKey(b), refusedKey(a)]);
  });

  it('elements that share component, variable, type and severity are matched in order; a refusal gets no id and its own key', () => {
    const first: SetMonitoringDataType = { value: 10, type: 'UpperThreshold', severity: 4, ...POWER };
    const second: SetMonitoringDataType = { value: 20, type: 'UpperThreshold', severity: 4, ...POWER };
    const { monitors } = monitorsFromSetResult([first, second], [result(first, 'Accepted', 5), result(second, 'Duplicate', 9)]);
    expect(monitors[0]).toMatchObject({ id: 5, value: 10, status: 'Accepted' });
    expect(monitors[1]).toMatchObject({ id: null, key: refusedKey(second), value: 20, status: 'Duplicate' });
  });
});

describe('inReportScope', () => {
  const all = [monitor(EVSE1, 'Delta'), monitor(STATION, 'Delta'), monitor(POWER, 'UpperThreshold'), monitor(POWER, 'PeriodicClockAligned')];
  const scoped = (request: Parameters<typeof inReportScope>[0]): string[] => all.filter(inReportScope(request)).map((m) => `${m.variable.name as string}/${m.type}`);

  it('no filter covers every monitor (TC_N_47)', () => {
    expect(scoped({})).toHaveLength(4);
  });

  it('criteria select monitor types (ThresholdMonitoring: upper and lower; PeriodicMonitoring: both periodic kinds)', () => {
    expect(scoped({ monitoringCriteria: ['ThresholdMonitoring'] })).toEqual(['Power/UpperThreshold']);
    expect(scoped({ monitoringCriteria: ['DeltaMonitoring', 'PeriodicMonitoring'] })).toEqual([
      'AvailabilityState/Delta',
      'AvailabilityState/Delta',
      'Power/PeriodicClockAligned',
    ]);
  });

  it('component/variables narrow by component (and EVSE when given) and variable; both filters together intersect', () => {
    expect(scoped({ componentVariable: [EVSE1] })).toEqual(['AvailabilityState/Delta']);
    expect(scoped({ componentVariable: [{ component: { name: 'ChargingStation' } }] })).toEqual([
      'AvailabilityState/Delta',
      'Power/UpperThreshold',
      'Power/PeriodicClockAligned',
    ]);
    expect(scoped({ monitoringCriteria: ['ThresholdMonitoring'], componentVariable: [STATION] })).toEqual([]);
  });
});

describe('reportComplete', () => {
  it('needs every seqNo from 0 and a last part without tbc', () => {
    expect(reportComplete([])).toBe(false);
    expect(reportComplete([{ seqNo: 0, tbc: false }])).toBe(true);
    expect(reportComplete([{ seqNo: 0, tbc: true }])).toBe(false);
    expect(
      reportComplete([
        { seqNo: 0, tbc: true },
        { seqNo: 2, tbc: false },
      ]),
    ).toBe(false);
    expect(
      reportComplete([
        { seqNo: 0, tbc: true },
        { seqNo: 1, tbc: true },
        { seqNo: 2, tbc: false },
      ]),
    ).toBe(true);
  });
});

describe('splitToLimits', () => {
  const ids = (n: number): JsonObject => ({ id: Array.from({ length: n }, (_, i) => i + 1) });
  const sizes = (plan: ReturnType<typeof splitToLimits>): number[] => plan.requests.map((r) => (r.id as number[]).length);

  it('TC_N_18: no message holds more ids than ItemsPerMessage; together they hold all, in order; answers merge in order', () => {
    const plan = splitToLimits('ClearVariableMonitoring', ids(7), 'id', 'clearMonitoringResult', 3, undefined);
    expect(sizes(plan)).toEqual([3, 3, 1]);
    expect(plan.requests.flatMap((r) => r.id as number[])).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const merged = plan.merge(plan.requests.map((r) => ({ clearMonitoringResult: (r.id as number[]).map((id) => ({ id, status: 'Accepted' })) })));
    expect((merged.clearMonitoringResult as JsonObject[]).map((r) => r.id)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('unknown limits send one message', () => {
    expect(sizes(splitToLimits('ClearVariableMonitoring', ids(40), 'id', 'clearMonitoringResult', undefined, undefined))).toEqual([40]);
  });

  it('BytesPerMessage bounds the whole CALL frame; an element too big on its own still goes, alone', () => {
    const plan = splitToLimits('ClearVariableMonitoring', ids(30), 'id', 'clearMonitoringResult', undefined, 80);
    for (const request of plan.requests) expect(JSON.stringify([2, 'x'.repeat(36), 'ClearVariableMonitoring', request]).length).toBeLessThanOrEqual(80);
    expect(plan.requests.flatMap((r) => r.id as number[])).toHaveLength(30);
    expect(sizes(splitToLimits('ClearVariableMonitoring', ids(3), 'id', 'clearMonitoringResult', undefined, 10))).toEqual([1, 1, 1]);
  });
});

describe('limits and levels', () => {
  it('deviceLimit reads the Actual value of the instance asked for, and ignores anything not a positive integer', () => {
    const model = [
      { component: { name: 'MonitoringCtrlr' }, variable: { name: 'ItemsPerMessage', instance: 'SetVariableMonitoring' }, attributes: [{ type: 'Actual', value: '25' }] },
      {
        component: { name: 'MonitoringCtrlr' },
        variable: { name: 'ItemsPerMessage', instance: 'ClearVariableMonitoring' },
        attributes: [{ type: 'Actual', value: '0' }],
      },
    ];
    expect(deviceLimit(model, 'MonitoringCtrlr', 'ItemsPerMessage', 'SetVariableMonitoring')).toBe(25);
    expect(deviceLimit(model, 'MonitoringCtrlr', 'ItemsPerMessage', 'ClearVariableMonitoring')).toBeUndefined();
    expect(deviceLimit(model, 'MonitoringCtrlr', 'BytesPerMessage', 'SetVariableMonitoring')).toBeUndefined();
  });

  it('N05.FR.02: a monitoring level outside 0-9 is refused before anything is sent', () => {
    expect(planSetMonitoringLevel({ severity: 9 }).requests).toEqual([{ severity: 9 }]);
    expect(() => planSetMonitoringLevel({ severity: -1 })).toThrow(CommandRefusal);
  });
});
