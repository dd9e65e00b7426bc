/**
 * The money arithmetic of Tariff & cost (CONTRACT §8.4, TC_I_01/TC_I_02, DRV-AUI-01): exact fractions, one
 * rounding half-up at the end, and the cost formula over a transaction's events.
 */
import { describe, expect, it } from 'vitest';
import { costOf, durationsOf, energyOf, tariffText, type PricedEvent } from '../../src/blocks/tariffs/cost.js';
import { Exact, InvalidAmountError, minorUnits } from '../../src/blocks/tariffs/money.js';

const T0 = Date.parse('2026-01-01T10:00:00.000Z');
const at = (minutes: number): string => new Date(T0 + minutes * 60_000).toISOString();

function register(wh: number, minutes: number, unit?: { unit: string; multiplier?: number }): PricedEvent['meterValue'] {
  return [{ timestamp: at(minutes), sampledValue: [{ value: wh, measurand: 'Energy.Active.Import.Register', ...(unit !== undefined ? { unitOfMeasure: unit } : {}) }] }];
}

describe('Exact decimal arithmetic', () => {
  it('parses money strings exactly and refuses anything that is not digits with an optional fraction', () => {
    expect(Exact.parseMoney('0.35').roundHalfUp(2)).toBe('0.35');
    expect(Exact.parseMoney('12').roundHalfUp(2)).toBe('12.00');
    expect(Exact.parseMoney('0000.100').roundHalfUp(3)).toBe('0.100');
    for (const bad of ['', '1,5', '1e3', '-1', '+1', '.5', '5.', ' 1', '1 ', 'NaN', '0x10', '1.2.3']) {
      expect(() => Exact.parseMoney(bad), bad).toThrow(InvalidAmountError);
    }
  });

  it('adds 0.1 + 0.2 to exactly 0.3 (no binary float on the way)', () => {
    const sum = Exact.parseMoney('0.1').add(Exact.parseMoney('0.2'));
    expect(sum.compare(Exact.parseMoney('0.3'))).toBe(0);
    expect(Exact.fromNumber(0.1).add(Exact.fromNumber(0.2)).roundHalfUp(20)).toBe('0.30000000000000000000');
  });

  it('rounds half-up once, at the end, to the number of digits asked', () => {
    expect(Exact.of(1n, 8n).roundHalfUp(2)).toBe('0.13'); // 0.125
    expect(Exact.of(1n, 200n).roundHalfUp(2)).toBe('0.01'); // 0.005
    expect(Exact.of(1n, 201n).roundHalfUp(2)).toBe('0.00'); // 0.004975…
    expect(Exact.of(-1n, 8n).roundHalfUp(2)).toBe('-0.13');
    expect(Exact.of(-1n, 1000n).roundHalfUp(2)).toBe('0.00');
    expect(Exact.of(2n, 3n).roundHalfUp(0)).toBe('1');
    expect(Exact.of(123456789n, 1000n).roundHalfUp(2)).toBe('123456.79');
    // Rounding each part would give 0.01 + 0.01 = 0.02; the exact sum 0.008 rounds to 0.01.
    const parts = Exact.parseMoney('0.004').add(Exact.parseMoney('0.004'));
    expect(parts.roundHalfUp(2)).toBe('0.01');
  });

  it('reads a JSON number as the decimal the station wrote, exponents included', () => {
    expect(Exact.fromNumber(6000).roundHalfUp(0)).toBe('6000');
    expect(Exact.fromNumber(1.005).roundHalfUp(3)).toBe('1.005');
    expect(Exact.fromNumber(1e21).roundHalfUp(0)).toBe('1000000000000000000000');
    expect(Exact.fromNumber(1.5e-7).roundHalfUp(8)).toBe('0.00000015');
    expect(() => Exact.fromNumber(Number.NaN)).toThrow(InvalidAmountError);
  });

  it('knows the currencies without two minor digits', () => {
    expect(minorUnits('EUR')).toBe(2);
    expect(minorUnits('JPY')).toBe(0);
    expect(minorUnits('KWD')).toBe(3);
  });
});

describe('Cost of a transaction (CONTRACT §8.4)', () => {
  it('TC_I_02 / DRV-AUI-01: 0.30 per kWh, meter 1000 → 6000 Wh costs exactly 1.50', () => {
    const events: PricedEvent[] = [
      { seqNo: 0, eventType: 'Started', timestamp: at(0), meterValue: register(1000, 0) },
      { seqNo: 1, eventType: 'Ended', timestamp: at(30), meterValue: register(6000, 30) },
    ];
    expect(costOf({ id: 't', currency: 'EUR', energyPerKWh: '0.30' }, events).cost).toBe('1.50');
  });

  it('energy in kWh with multipliers, per-phase samples ignored, earliest and latest by timestamp', () => {
    const events: PricedEvent[] = [
      { seqNo: 0, eventType: 'Started', timestamp: at(0), meterValue: register(1.2345, 0, { unit: 'kWh' }) },
      {
        seqNo: 1,
        eventType: 'Updated',
        timestamp: at(5),
        meterValue: [{ timestamp: at(5), sampledValue: [{ value: 99999, measurand: 'Energy.Active.Import.Register', phase: 'L1' }] }],
      },
      // Arrived late (offline queue), but the latest reading by time.
      { seqNo: 3, eventType: 'Updated', timestamp: at(20), meterValue: register(54321, 20, { unit: 'Wh', multiplier: -1 }) },
      { seqNo: 2, eventType: 'Updated', timestamp: at(10), meterValue: register(3000, 10) },
    ];
    // 5432.1 − 1234.5 Wh = 4197.6 Wh
    expect(energyOf(events).compare(Exact.parseMoney('4197.6'))).toBe(0);
  });

  it('time + energy + session fee, hand-computed to the cent', () => {
    // 1 h 20 min at 1.20/h = 1.60; 12.345 kWh at 0.35 = 4.32075; fee 0.50 → 6.42075 → 6.42
    const events: PricedEvent[] = [
      { seqNo: 0, eventType: 'Started', timestamp: at(0), chargingState: 'Charging', meterValue: register(10_000, 0) },
      { seqNo: 1, eventType: 'Ended', timestamp: at(80), chargingState: 'Idle', meterValue: register(22_345, 80) },
    ];
    const result = costOf({ id: 't', currency: 'EUR', energyPerKWh: '0.35', timePerHour: '1.20', sessionFee: '0.50' }, events);
    expect(result.durationMs).toBe(80 * 60_000);
    expect(result.cost).toBe('6.42');
  });

  it('idle time is what is not Charging after charging began, and costs the idle fee', () => {
    const events: PricedEvent[] = [
      { seqNo: 0, eventType: 'Started', timestamp: at(0), chargingState: 'EVConnected' },
      { seqNo: 1, eventType: 'Updated', timestamp: at(5), chargingState: 'Charging' },
      { seqNo: 2, eventType: 'Updated', timestamp: at(35), chargingState: 'SuspendedEV' },
      { seqNo: 3, eventType: 'Updated', timestamp: at(45), chargingState: 'Charging' },
      { seqNo: 4, eventType: 'Updated', timestamp: at(50), chargingState: 'EVConnected' },
      { seqNo: 5, eventType: 'Ended', timestamp: at(65), chargingState: 'Idle' },
    ];
    expect(durationsOf(events)).toEqual({ durationMs: 65 * 60_000, idleMs: 25 * 60_000 });
    // 25 min at 6.00/h = 2.50
    expect(costOf({ id: 't', currency: 'EUR', idleFeePerHour: '6.00' }, events).cost).toBe('2.50');
    // While running: up to the latest event.
    expect(durationsOf(events.slice(0, 3))).toEqual({ durationMs: 35 * 60_000, idleMs: 0 });
  });

  it('rounds to the currency minor unit, and never bills a meter that ran backwards', () => {
    const events: PricedEvent[] = [
      { seqNo: 0, eventType: 'Started', timestamp: at(0), meterValue: register(5000, 0) },
      { seqNo: 1, eventType: 'Updated', timestamp: at(1), meterValue: register(4000, 1) },
    ];
    expect(costOf({ id: 't', currency: 'EUR', energyPerKWh: '1', sessionFee: '0.5' }, events).cost).toBe('0.50');
    const yen: PricedEvent[] = [
      { seqNo: 0, eventType: 'Started', timestamp: at(0), meterValue: register(0, 0) },
      { seqNo: 1, eventType: 'Ended', timestamp: at(1), meterValue: register(1500, 1) },
    ];
    expect(costOf({ id: 't', currency: 'JPY', energyPerKWh: '35' }, yen).cost).toBe('53'); // 52.5 → 53
  });

  it('picks the tariff text in the asked language, else en, else the first', () => {
    const tariff = { id: 't', currency: 'EUR', description: { nl: '0,35 per kWh', en: '0.35 per kWh' } };
    expect(tariffText(tariff, 'nl')).toEqual({ language: 'nl', content: '0,35 per kWh' });
    expect(tariffText(tariff, 'de')).toEqual({ language: 'en', content: '0.35 per kWh' });
    expect(tariffText({ id: 't', currency: 'EUR', description: { fr: 'x' } }, undefined)).toEqual({ language: 'fr', content: 'x' });
    expect(tariffText({ id: 't', currency: 'EUR' }, 'en')).toBeUndefined();
  });
});
