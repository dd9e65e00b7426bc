/**
 * The texts the tariffs block sends (I04/I05 fallback messages, I06 updatedPersonalMessage): what they say and the
 * OCPP size limits they keep (MessageContentType.content ≤ 512, SetVariableDataType.attributeValue ≤ 1000).
 */
import { describe, expect, it } from 'vitest';
import { fallbackMessages, priceSummary } from '../../src/blocks/tariffs/fallback-messages.js';
import { runningCostMessage } from '../../src/blocks/tariffs/pricing.js';

const full = { id: 't', currency: 'EUR', energyPerKWh: '0.35', timePerHour: '1.20', sessionFee: '0.50', idleFeePerHour: '6.00' };

describe('tariff texts', () => {
  it('the price summary names every part the tariff has, in a fixed order, and 0 for a free tariff', () => {
    expect(priceSummary(full)).toBe('0.35 EUR/kWh + 1.20 EUR/h + 0.50 EUR/session + 6.00 EUR/h idle');
    expect(priceSummary({ id: 't', currency: 'JPY', sessionFee: '100' })).toBe('100 JPY/session');
    expect(priceSummary({ id: 't', currency: 'EUR' })).toBe('0 EUR');
  });

  it('I04/I05: the tariff fallback is the text (en, else the first), else the prices; values stay within 1000 characters', () => {
    expect(fallbackMessages({ ...full, description: { de: 'Tag', en: 'Day' } })).toEqual({ tariff: 'Day', totalCost: priceSummary(full) });
    expect(fallbackMessages({ ...full, description: { de: 'Tag' } }).tariff).toBe('Tag');
    expect(fallbackMessages(full).tariff).toBe(priceSummary(full));
    expect(fallbackMessages({ ...full, description: { en: 'x'.repeat(1500) } }).tariff).toHaveLength(1000);
  });

  it("I06: the amount first, then the text in the token's language; cut to 512 characters, never the amount", () => {
    const tariff = { ...full, description: { nl: '€0,35 per kWh', en: '€0.35 per kWh' } };
    expect(runningCostMessage(tariff, '2.10', { status: 'Accepted', language1: 'nl' })).toEqual({ format: 'UTF8', language: 'nl', content: '2.10 EUR · €0,35 per kWh' });
    expect(runningCostMessage(tariff, '2.10', undefined)?.content).toBe('2.10 EUR · €0.35 per kWh');
    expect(runningCostMessage(full, '2.10', undefined)).toBeUndefined();
    const long = runningCostMessage({ ...full, description: { en: 'y'.repeat(600) } }, '12345.67', undefined);
    expect(long?.content).toHaveLength(512);
    expect(long?.content.startsWith('12345.67 EUR · ')).toBe(true);
  });
});
