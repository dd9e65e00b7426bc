/**
 * The cost-update machine (I02.FR.01, TC_I_01, DRV-AUI-02): CostUpdated only between events, at the interval,
 * none after Ended; and where the interval comes from.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createActor } from 'xstate';
import { costUpdateMachine } from '../../machines/cost-update.machine.js';
import { costIntervalMs, DEFAULT_COST_INTERVAL_MS } from '../../src/blocks/tariffs/cost-updates.js';
import type { DeviceVariable } from '../../src/store/store.js';

/** A hand-held clock: the machine's `after` timers run on vitest's fake timers, so nothing depends on load. */
const sleep = (ms: number): void => void vi.advanceTimersByTime(ms);

function harness(intervalMs = 40) {
  const sent: number[] = [];
  const machine = costUpdateMachine.provide({
    actions: { sendCostUpdated: (_, params) => void sent.push(params.totalCost) },
  });
  const actor = createActor(machine, { input: { stationId: 'CS1', transactionId: 'tx1', totalCost: 1.5, intervalMs } });
  actor.start();
  return { actor, sent };
}

describe('cost-update machine', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('sends the running cost once the interval passes without an event, and again after each interval', () => {
    const { actor, sent } = harness();
    expect(sent).toEqual([]);
    sleep(60);
    expect(sent).toEqual([1.5]);
    expect(actor.getSnapshot().value).toBe('sending');
    actor.send({ type: 'DELIVERED' });
    sleep(60);
    expect(sent).toEqual([1.5, 1.5]);
  });

  it('an event resets the wait and carries the new cost', () => {
    const { actor, sent } = harness(80);
    sleep(50);
    actor.send({ type: 'PRICED', totalCost: 2 });
    sleep(50);
    expect(sent).toEqual([]);
    sleep(60);
    expect(sent).toEqual([2]);
  });

  it('sends nothing after Ended, and stops when a CostUpdated could not be delivered', () => {
    const ended = harness();
    ended.actor.send({ type: 'ENDED' });
    expect(ended.actor.getSnapshot().status).toBe('done');
    sleep(60);
    expect(ended.sent).toEqual([]);

    const gone = harness();
    sleep(60);
    gone.actor.send({ type: 'UNDELIVERED' });
    expect(gone.actor.getSnapshot().status).toBe('done');
  });
});

function variable(component: string, name: string, value: string, instance?: string): DeviceVariable {
  return { component: { name: component }, variable: { name, ...(instance !== undefined ? { instance } : {}) }, attributes: [{ type: 'Actual', value }] };
}

describe('CostUpdated interval from the device model', () => {
  it('TariffCostCtrlr.Interval, else SampledDataCtrlr.TxUpdatedInterval, else the default; Enabled[Cost]=false turns it off', () => {
    expect(costIntervalMs([])).toBe(DEFAULT_COST_INTERVAL_MS);
    expect(costIntervalMs([variable('SampledDataCtrlr', 'TxUpdatedInterval', '30')])).toBe(30_000);
    expect(costIntervalMs([variable('SampledDataCtrlr', 'TxUpdatedInterval', '30'), variable('TariffCostCtrlr', 'Interval', '5')])).toBe(5000);
    expect(costIntervalMs([variable('SampledDataCtrlr', 'TxUpdatedInterval', '0')])).toBe(DEFAULT_COST_INTERVAL_MS);
    expect(costIntervalMs([variable('TariffCostCtrlr', 'Interval', 'soon')])).toBe(DEFAULT_COST_INTERVAL_MS);
    expect(costIntervalMs([variable('TariffCostCtrlr', 'Enabled', 'false', 'Cost')])).toBeUndefined();
    expect(costIntervalMs([variable('TariffCostCtrlr', 'Enabled', 'false', 'Tariff')])).toBe(DEFAULT_COST_INTERVAL_MS);
  });
});
