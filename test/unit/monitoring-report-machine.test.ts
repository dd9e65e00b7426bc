/**
 * DRV-ADM-09 (a monitoring report that stops after tbc:true gets a deadline) as a pure machine on a hand clock, and
 * N04.FR.19 / DRV-ADM-06 (the re-map of the CSMS's monitors after a reboot) as a pure rule.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createActor } from 'xstate';
import { monitoringReportMachine } from '../../machines/monitoring-report.machine.js';
import { isRebootReread, rebootRereadRequestId, remapAfterReboot } from '../../src/blocks/monitoring/monitors.js';
import type { MonitorRecord, MonitorWrite } from '../../src/store/monitoring-sql.js';

/** The hand clock: `after` timers run on vitest's fake timers. */
const advance = (ms: number): void => void vi.advanceTimersByTime(ms);

function harness(deadlineMs = 1000) {
  const marked: Array<{ stationId: string; requestId: number }> = [];
  const actor = createActor(monitoringReportMachine.provide({ actions: { markIncomplete: (_, params) => void marked.push(params) } }), {
    input: { stationId: 'CS1', requestId: 9, deadlineMs },
  });
  actor.start();
  return { actor, marked };
}

describe('monitoring-report machine (DRV-ADM-09)', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('marks the report incomplete once the deadline passes without a part, and only once', () => {
    const { actor, marked } = harness();
    advance(999);
    expect(marked).toEqual([]);
    advance(1);
    expect(marked).toEqual([{ stationId: 'CS1', requestId: 9 }]);
    expect(actor.getSnapshot().status).toBe('done');
    advance(5000);
    expect(marked).toHaveLength(1);
  });

  it('each part starts the wait again: a long report that keeps coming is not cut short', () => {
    const { actor, marked } = harness();
    for (let i = 0; i < 5; i++) {
      advance(800);
      actor.send({ type: 'PART' });
    }
    expect(marked).toEqual([]);
    advance(1000);
    expect(marked).toHaveLength(1);
  });

  it('a complete report ends the wait for good', () => {
    const { actor, marked } = harness();
    advance(500);
    actor.send({ type: 'COMPLETE' });
    expect(actor.getSnapshot().value).toBe('complete');
    advance(10_000);
    expect(marked).toEqual([]);
  });
});

const POWER = { component: { name: 'ChargingStation' }, variable: { name: 'Power' } };
const AVAILABILITY = { component: { name: 'EVSE', evse: { id: 1 } }, variable: { name: 'AvailabilityState' } };

function known(id: number | null, target: typeof POWER | typeof AVAILABILITY, type: string, severity: number, status = 'Accepted'): MonitorRecord {
  return { id, ...target, type, value: 10, severity, transaction: false, source: 'CSMS', status, updatedAt: new Date(0) };
}

function reported(id: number, target: typeof POWER | typeof AVAILABILITY, type: string, severity: number, value = 20): MonitorWrite {
  return { key: String(id), id, ...target, type, value, severity, transaction: false, status: 'Reported' };
}

describe('remapAfterReboot (N04.FR.19, DRV-ADM-06)', () => {
  it('gives each surviving monitor the id and value the station reports, matched by component, variable, type and severity', () => {
    const survivors = remapAfterReboot(
      [known(1, POWER, 'UpperThreshold', 4), known(2, AVAILABILITY, 'Delta', 6), known(3, POWER, 'UpperThreshold', 2)],
      [reported(17, POWER, 'UpperThreshold', 2, 50), reported(12, POWER, 'UpperThreshold', 4, 40), reported(30, AVAILABILITY, 'Delta', 5)],
    );
    expect(survivors.map((m) => [m.id, m.key, m.severity, m.value, m.status])).toEqual([
      [12, '12', 4, 40, 'Accepted'],
      [17, '17', 2, 50, 'Accepted'],
    ]);
  });

  it('one reported monitor answers for one known monitor only; refusals without an id are not re-mapped', () => {
    const survivors = remapAfterReboot(
      [known(1, POWER, 'UpperThreshold', 4), known(5, POWER, 'UpperThreshold', 4), known(null, POWER, 'LowerThreshold', 4, 'Rejected')],
      [reported(9, POWER, 'UpperThreshold', 4), reported(10, POWER, 'LowerThreshold', 4)],
    );
    expect(survivors.map((m) => m.id)).toEqual([9]);
  });

  it('only an unfiltered report with a requestId of the CSMS range is a reboot re-read', () => {
    const id = rebootRereadRequestId(Date.UTC(2026, 0, 1));
    expect(id).toBeGreaterThanOrEqual(1_000_000_000);
    expect(id).toBeLessThan(2 ** 31);
    expect(isRebootReread(id, {})).toBe(true);
    expect(isRebootReread(id, { monitoringCriteria: ['DeltaMonitoring'] })).toBe(false);
    expect(isRebootReread(41, {})).toBe(false);
  });
});
