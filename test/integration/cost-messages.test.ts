/**
 * Tariff & cost messages (Advanced User Interface, I): I06 / DRV-AUI-12 (updatedPersonalMessage with the running and
 * final cost in TransactionEventResponse) and I04/I05 / DRV-AUI-05 (TariffCostCtrlr.TariffFallbackMessage and
 * TotalCostFallbackMessage set with SetVariables when a station takes a tariff, and again when the tariff changes).
 */
import { describe, expect, it } from 'vitest';
import { withCsms } from '../support/csms.js';
import { ChargingSession, newIdToken, registerIdToken, registerReading } from '../support/charging.js';
import { randomPassword, uniqueIdentity, waitFor, type Payload } from '../support/station.js';
import { Station16 } from '../support/station16.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 3000 });

let counter = 0;
const newTariffId = (): string => `msg-${process.pid}-${Date.now()}-${++counter}`;

async function tariff(body: Payload, id = newTariffId()): Promise<string> {
  const res = await h.csms.api.request('PUT', `/api/v1/tariffs/${id}`, body);
  expect([200, 201], res.text).toContain(res.status);
  return id;
}

async function assign(stationId: string, tariffId: string): Promise<void> {
  const res = await h.csms.api.request('PATCH', `/api/v1/stations/${stationId}`, { tariffId });
  expect(res.status, res.text).toBe(200);
}

interface SetVariableData {
  component: { name: string };
  variable: { name: string };
  attributeValue: string;
}

function fallbackValues(payload: Payload): Record<string, string> {
  const data = payload.setVariableData as SetVariableData[];
  return Object.fromEntries(data.filter((d) => d.component.name === 'TariffCostCtrlr').map((d) => [d.variable.name, d.attributeValue]));
}

describe('I06: updatedPersonalMessage', () => {
  it('DRV-AUI-12: after the answer that gives the tariff text, every answer carries the running cost with that text; Ended the total', async () => {
    const id = await tariff({ currency: 'EUR', energyPerKWh: '0.30', description: { de: '0,30 € pro kWh', en: '€0.30 per kWh' } });
    const station = await h.csms.bootedStation({ prefix: 'I06' });
    await assign(station.identity, id);
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const tx = new ChargingSession(station);

    const started = await tx.event('Started', 'Authorized', { idToken: token, evse: true, meterValue: registerReading(1000) });
    expect(started.response.idTokenInfo).toMatchObject({ personalMessage: { content: '€0.30 per kWh' } });
    // The text was just given; saying it twice in one answer would be noise.
    expect(started.response).not.toHaveProperty('updatedPersonalMessage');

    const updated = await tx.event('Updated', 'MeterValuePeriodic', { meterValue: registerReading(3500) });
    expect(updated.response).toMatchObject({ totalCost: 0.75, updatedPersonalMessage: { format: 'UTF8', language: 'en', content: '0.75 EUR · €0.30 per kWh' } });

    const ended = await tx.event('Ended', 'StopAuthorized', { idToken: token, stoppedReason: 'Local', meterValue: registerReading(6000) });
    expect(ended.response.totalCost).toBe(1.5);
    expect(ended.response.updatedPersonalMessage).toEqual({ format: 'UTF8', language: 'en', content: '1.50 EUR · €0.30 per kWh' });
  });

  it('a tariff without text gives the running cost but no updatedPersonalMessage', async () => {
    const id = await tariff({ currency: 'EUR', timePerHour: '1.20' });
    const station = await h.csms.bootedStation({ prefix: 'I06-plain' });
    await assign(station.identity, id);
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const tx = new ChargingSession(station);
    await tx.event('Started', 'Authorized', { idToken: token, evse: true });
    const updated = await tx.event('Updated', 'MeterValuePeriodic', { meterValue: registerReading(10) });
    expect(typeof updated.response.totalCost).toBe('number');
    expect(updated.response).not.toHaveProperty('updatedPersonalMessage');
  });
});

describe('I04/I05: fallback messages', () => {
  it('DRV-AUI-05: a station that takes a tariff gets TariffFallbackMessage (its text) and TotalCostFallbackMessage (its prices)', async () => {
    const id = await tariff({ currency: 'EUR', energyPerKWh: '0.35', timePerHour: '1.20', sessionFee: '0.50', description: { en: 'Standard tariff' } });
    const station = await h.csms.bootedStation({ prefix: 'I04' });
    const mark = station.mark();
    await assign(station.identity, id);
    const call = await station.waitForCall('SetVariables', { afterSeq: mark, timeoutMs: 5000 });
    expect(fallbackValues(call.payload)).toEqual({
      TariffFallbackMessage: 'Standard tariff',
      TotalCostFallbackMessage: '0.35 EUR/kWh + 1.20 EUR/h + 0.50 EUR/session',
    });
    // The accepted values are the station's device model as the CSMS knows it.
    await waitFor(
      async () => {
        const vars = await h.csms.api.request<Array<{ component: { name: string }; variable: { name: string }; attributes: Array<{ value?: string }> }>>(
          'GET',
          `/api/v1/stations/${station.identity}/variables`,
        );
        const found = vars.body.find((v) => v.component.name === 'TariffCostCtrlr' && v.variable.name === 'TariffFallbackMessage');
        return found?.attributes.some((a) => a.value === 'Standard tariff') ?? false;
      },
      { what: 'TariffFallbackMessage in the device model' },
    );

    // A changed tariff reaches the stations that hold it.
    const changed = station.mark();
    await tariff({ currency: 'EUR', energyPerKWh: '0.40', description: { en: 'New tariff' } }, id);
    const again = await station.waitForCall('SetVariables', { afterSeq: changed, timeoutMs: 5000 });
    expect(fallbackValues(again.payload)).toEqual({ TariffFallbackMessage: 'New tariff', TotalCostFallbackMessage: '0.40 EUR/kWh' });
  });

  it('a tariff without text falls back to its prices; removing the tariff sends nothing', async () => {
    const id = await tariff({ currency: 'JPY', energyPerKWh: '40' });
    const station = await h.csms.bootedStation({ prefix: 'I05' });
    const mark = station.mark();
    await assign(station.identity, id);
    const call = await station.waitForCall('SetVariables', { afterSeq: mark, timeoutMs: 5000 });
    expect(fallbackValues(call.payload)).toEqual({ TariffFallbackMessage: '40 JPY/kWh', TotalCostFallbackMessage: '40 JPY/kWh' });
    const removed = station.mark();
    expect((await h.csms.api.request('PATCH', `/api/v1/stations/${station.identity}`, { tariffId: null })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(station.callsOf('SetVariables').filter((c) => c.seq > removed)).toEqual([]);
  });

  it('DRV-AUI-05 onboarding: a station offline when it took the tariff gets the texts after its Accepted boot', async () => {
    const id = await tariff({ currency: 'EUR', energyPerKWh: '0.30', description: { en: 'Night tariff' } });
    const creds = await h.csms.register({ prefix: 'I04-off' });
    await assign(creds.identity, id);
    const station = await h.csms.connect(creds);
    expect(station.callsOf('SetVariables')).toEqual([]);
    await station.booted();
    const call = await station.waitForCall('SetVariables', { timeoutMs: 5000 });
    expect(fallbackValues(call.payload)).toEqual({ TariffFallbackMessage: 'Night tariff', TotalCostFallbackMessage: '0.30 EUR/kWh' });
    // It came after the boot answer: the station saw its Accepted boot first.
    expect(station.problems()).toEqual([]);
  });

  it('a station without a tariff gets nothing at boot; a 1.6 station gets no 2.0.1 SetVariables', async () => {
    const plain = await h.csms.bootedStation({ prefix: 'I04-none' });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(plain.callsOf('SetVariables')).toEqual([]);
    const id = await tariff({ currency: 'EUR', energyPerKWh: '0.30' });
    const identity = uniqueIdentity('I04-16');
    const password = randomPassword();
    expect((await h.csms.api.putStation(identity, { securityProfile: 1, password, bootPolicy: 'Accepted' })).status).toBe(201);
    const station = await Station16.connect({ url: h.csms.ocppUrl, identity, password });
    try {
      await station.booted(1);
      const before = station.received.length;
      await assign(identity, id);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(station.received.slice(before)).toEqual([]);
      expect(station.problems()).toEqual([]);
    } finally {
      await station.close();
    }
  });
});
