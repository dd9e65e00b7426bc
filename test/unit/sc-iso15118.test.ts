/**
 * The EV-schedule comparison and the EV maximum behind ISO 15118 smart charging (K15.FR.12, K17.FR.12;
 * TC_K_55: "exceeding the sent limit at any instant" is Rejected, whatever the units).
 */
import { describe, expect, it } from 'vitest';
import { evMaximum, firstExcess } from '../../src/blocks/smart-charging/iso15118.js';
import type { ChargingScheduleType } from '../../src/ocpp/v201/types.js';

const T0 = '2026-01-01T10:00:00.000Z';

function schedule(unit: 'A' | 'W', periods: [number, number][], extra: Partial<ChargingScheduleType> = {}): ChargingScheduleType {
  const [first, ...rest] = periods.map(([startPeriod, limit]) => ({ startPeriod, limit }));
  if (first === undefined) throw new Error('a schedule has at least one period');
  return { id: 1, chargingRateUnit: unit, chargingSchedulePeriod: [first, ...rest], ...extra };
}

describe('firstExcess (TC_K_55)', () => {
  it('an equal schedule and a lower one stay within; one above in the first period does not', () => {
    const csms = schedule('A', [[0, 16]]);
    expect(firstExcess(schedule('A', [[0, 16]]), T0, csms)).toBeUndefined();
    expect(firstExcess(schedule('A', [[0, 6]]), T0, csms)).toBeUndefined();
    expect(firstExcess(schedule('A', [[0, 16.5]]), T0, csms)).toMatchObject({ at: T0, ev: 16.5, csms: 16, unit: 'A' });
  });

  it('compares period by period: an EV step that lands in a lower CSMS period exceeds it at that instant', () => {
    const csms = schedule('A', [
      [0, 16],
      [600, 8],
    ]);
    expect(
      firstExcess(
        schedule('A', [
          [0, 16],
          [600, 8],
        ]),
        T0,
        csms,
      ),
    ).toBeUndefined();
    expect(
      firstExcess(
        schedule('A', [
          [0, 8],
          [900, 12],
        ]),
        T0,
        csms,
      ),
    ).toMatchObject({ at: '2026-01-01T10:15:00.000Z', ev: 12, csms: 8 });
    // The EV lowering before the CSMS does is fine; keeping 16 A past 600 s is not.
    expect(firstExcess(schedule('A', [[0, 16]]), T0, csms)?.at).toBe('2026-01-01T10:10:00.000Z');
  });

  it('is unit-aware: A against W at 230 V per phase (three unless the period says)', () => {
    const watts = schedule('W', [[0, 11040]]);
    expect(firstExcess(schedule('A', [[0, 16]]), T0, watts)).toBeUndefined();
    expect(firstExcess(schedule('A', [[0, 17]]), T0, watts)).toBeDefined();
    const onePhase = { id: 1, chargingRateUnit: 'A' as const, chargingSchedulePeriod: [{ startPeriod: 0, limit: 40, numberPhases: 1 }] } satisfies ChargingScheduleType;
    expect(firstExcess(onePhase, T0, watts)).toBeUndefined();
    expect(firstExcess(schedule('W', [[0, 12000]]), T0, schedule('A', [[0, 16]]))).toBeDefined();
  });

  it('an Absolute CSMS schedule counts from its startSchedule and ends with its duration', () => {
    const csms = schedule('A', [[0, 10]], { startSchedule: '2026-01-01T10:30:00.000Z', duration: 1800 });
    // Before 10:30 and after 11:00 the CSMS schedule sets nothing.
    expect(
      firstExcess(
        schedule('A', [
          [0, 32],
          [1800, 10],
          [3600, 32],
        ]),
        T0,
        csms,
      ),
    ).toBeUndefined();
    expect(firstExcess(schedule('A', [[0, 32]]), T0, csms)?.at).toBe('2026-01-01T10:30:00.000Z');
  });
});

describe('evMaximum', () => {
  it('AC: evMaxCurrent in A, × 230 V × 3 in W; DC: evMaxCurrent in A, evMaxPower (else current × voltage) in W', () => {
    const ac = { acChargingParameters: { energyAmount: 1, evMinCurrent: 6, evMaxCurrent: 16, evMaxVoltage: 400 } };
    expect(evMaximum(ac, 'A')).toBe(16);
    expect(evMaximum(ac, 'W')).toBe(11040);
    const dc = { dcChargingParameters: { evMaxCurrent: 125, evMaxVoltage: 400, evMaxPower: 50000 } };
    expect(evMaximum(dc, 'A')).toBe(125);
    expect(evMaximum(dc, 'W')).toBe(50000);
    expect(evMaximum({ dcChargingParameters: { evMaxCurrent: 100, evMaxVoltage: 400 } }, 'W')).toBe(40000);
  });

  it('needs without a maximum leave the EVSE default of 32 A', () => {
    expect(evMaximum({ requestedEnergyTransfer: 'AC_single_phase' }, 'A')).toBe(32);
    expect(evMaximum(null, 'A')).toBe(32);
  });
});
