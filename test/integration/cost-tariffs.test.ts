/**
 * Tariff & cost (CONTRACT §8.4; Advanced User Interface, I): TC_I_01 (running cost in every TransactionEventResponse),
 * TC_I_02 / DRV-AUI-01 (final cost in the answer to Ended, 0.30/kWh × 5 kWh = 1.50), DRV-AUI-03 (never decreasing),
 * DRV-AUI-04 (personalMessage), tariffs as data, station and group tariffs, cost in the view, list and CSV.
 */
import { describe, expect, it } from 'vitest';
import { withCsms } from '../support/csms.js';
import { ChargingSession, getTransaction, newIdToken, registerIdToken, registerReading, type IdToken } from '../support/charging.js';
import { randomPassword, uniqueIdentity, waitFor, type Payload, type TestStation } from '../support/station.js';
import { Station16 } from '../support/station16.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 3000 });

interface TariffView {
  id: string;
  currency: string;
  energyPerKWh: string | null;
  timePerHour: string | null;
  sessionFee: string | null;
  idleFeePerHour: string | null;
  description: Record<string, string>;
  groups: string[];
  error?: { code: string };
}

let tariffCounter = 0;
const newTariffId = (): string => `tariff-${process.pid}-${Date.now()}-${++tariffCounter}`;

function putTariff(id: string, body: unknown) {
  return h.csms.api.request<TariffView>('PUT', `/api/v1/tariffs/${id}`, body);
}

async function tariff(body: Payload): Promise<string> {
  const id = newTariffId();
  const res = await putTariff(id, body);
  expect(res.status, res.text).toBe(201);
  return id;
}

async function pricedStation(tariffId: string, prefix: string): Promise<TestStation> {
  const station = await h.csms.bootedStation({ prefix });
  const res = await h.csms.api.request<{ tariffId: string | null }>('PATCH', `/api/v1/stations/${station.identity}`, { tariffId });
  expect(res.status, res.text).toBe(200);
  expect(res.body.tariffId).toBe(tariffId);
  return station;
}

const T0 = Date.parse('2026-03-01T09:00:00.000Z');
const at = (minutes: number): string => new Date(T0 + minutes * 60_000).toISOString();

describe('Tariffs as data (CONTRACT §8.4)', () => {
  it('PUT creates then replaces, GET reads, DELETE removes', async () => {
    const id = newTariffId();
    const body = { currency: 'EUR', energyPerKWh: '0.35', timePerHour: '1.20', sessionFee: '0.50', idleFeePerHour: '6.00', description: { en: '0.35/kWh' } };
    const created = await putTariff(id, body);
    expect(created.status, created.text).toBe(201);
    expect(created.body).toMatchObject({ id, ...body, groups: [] });
    const replaced = await putTariff(id, { currency: 'EUR', energyPerKWh: '0.40' });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({ energyPerKWh: '0.40', timePerHour: null, sessionFee: null, description: {} });
    expect((await h.csms.api.request<TariffView>('GET', `/api/v1/tariffs/${id}`)).body.energyPerKWh).toBe('0.40');
    expect((await h.csms.api.request('DELETE', `/api/v1/tariffs/${id}`)).status).toBe(204);
    expect((await h.csms.api.request('GET', `/api/v1/tariffs/${id}`)).status).toBe(404);
    expect((await h.csms.api.request('DELETE', `/api/v1/tariffs/${id}`)).status).toBe(404);
  });

  it('refuses money that is not a decimal string with 400, and stores nothing', async () => {
    const id = newTariffId();
    for (const energyPerKWh of [0.35, '1e3', '0,35', '', '-1', '.5', ' 1']) {
      const res = await putTariff(id, { currency: 'EUR', energyPerKWh });
      expect(res.status, JSON.stringify(energyPerKWh)).toBe(400);
    }
    expect((await putTariff(id, { currency: 'euro', energyPerKWh: '1' })).status).toBe(400);
    expect((await h.csms.api.request('GET', `/api/v1/tariffs/${id}`)).status).toBe(404);
  });

  it('a group has one tariff: naming it in a second one → 409', async () => {
    const group = `G-${Date.now()}`;
    await tariff({ currency: 'EUR', energyPerKWh: '0.10', groups: [group] });
    const res = await putTariff(newTariffId(), { currency: 'EUR', energyPerKWh: '0.20', groups: [group] });
    expect(res.status).toBe(409);
  });

  it('a station takes a tariff with tariffId on PUT/PATCH; an unknown one is refused with 400; null removes it', async () => {
    const id = await tariff({ currency: 'EUR', energyPerKWh: '0.30' });
    const creds = await h.csms.register({ prefix: 'I-assign' });
    const unknown = await h.csms.api.request('PATCH', `/api/v1/stations/${creds.identity}`, { tariffId: 'no-such-tariff' });
    expect(unknown.status).toBe(400);
    const put = await h.csms.api.request<{ tariffId: string | null }>('PUT', `/api/v1/stations/${creds.identity}`, { securityProfile: 1, tariffId: id });
    expect(put.status, put.text).toBe(200);
    expect(put.body.tariffId).toBe(id);
    expect((await h.csms.api.request<{ tariffId: string | null }>('GET', `/api/v1/stations/${creds.identity}`)).body.tariffId).toBe(id);
    const cleared = await h.csms.api.request<{ tariffId: string | null }>('PATCH', `/api/v1/stations/${creds.identity}`, { tariffId: null });
    expect(cleared.body.tariffId).toBeNull();
  });
});

describe('Cost of transactions (I02, I03)', () => {
  it('TC_I_02 / DRV-AUI-01: 0.30 per kWh, meter 1000 → 6000 Wh: totalCost 1.50 in the answer to Ended, and on the transaction', async () => {
    const id = await tariff({ currency: 'EUR', energyPerKWh: '0.30' });
    const station = await pricedStation(id, 'I02');
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const tx = new ChargingSession(station);
    const begin = await tx.evConnectedPreSession({ meterValue: registerReading(1000, { context: 'Transaction.Begin' }) });
    expect(begin.response.totalCost).toBe(0);
    await tx.authorized(token);
    await tx.energyTransferStarted();
    await tx.stopAuthorized(token);
    await tx.evConnectedPostSession();
    const ended = await tx.evDisconnected({ meterValue: registerReading(6000, { context: 'Transaction.End' }) });
    expect(ended.response.totalCost).toBe(1.5);

    const view = await getTransaction(h.csms.api, station.identity, tx.transactionId);
    expect(view).toMatchObject({ energyWh: 5000, cost: '1.50', currency: 'EUR' });
    // The answer stored with the Ended event is the one the station got.
    expect(view.events[view.events.length - 1]?.response.totalCost).toBe(1.5);

    const list = await h.csms.api.request<{ items: Array<{ transactionId: string; cost: string | null; currency: string | null }> }>(
      'GET',
      `/api/v1/transactions?stationId=${station.identity}`,
    );
    expect(list.body.items.find((t) => t.transactionId === tx.transactionId)).toMatchObject({ cost: '1.50', currency: 'EUR' });
    const stationList = await h.csms.api.request<{ items: Array<{ transactionId: string; cost: string | null }> }>(
      'GET',
      `/api/v1/stations/${station.identity}/transactions`,
    );
    expect(stationList.body.items[0]?.cost).toBe('1.50');

    const csv = await h.csms.api.request<string>('GET', `/api/v1/transactions.csv?stationId=${station.identity}`);
    const [header, row] = csv.text.trim().split('\r\n');
    const columns = (header ?? '').split(',');
    const cells = (row ?? '').split(',');
    expect(cells[columns.indexOf('cost')]).toBe('1.50');
    expect(cells[columns.indexOf('currency')]).toBe('EUR');
  });

  it('TC_I_01 / DRV-AUI-03: every answer of a priced transaction carries the running totalCost, never decreasing', async () => {
    const id = await tariff({ currency: 'EUR', energyPerKWh: '0.25', sessionFee: '1' });
    const station = await pricedStation(id, 'I01');
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const tx = new ChargingSession(station);
    const totals: unknown[] = [];
    totals.push(
      (await tx.event('Started', 'Authorized', { idToken: token, evse: true, timestamp: at(0), meterValue: registerReading(0, { at: at(0) }) })).response.totalCost,
    );
    for (const [minute, wh] of [
      [1, 1000],
      [2, 2000],
      [4, 4000],
    ] as const) {
      const meterValue = registerReading(wh, { context: 'Sample.Periodic', at: at(minute) });
      totals.push((await tx.event('Updated', 'MeterValuePeriodic', { timestamp: at(minute), meterValue })).response.totalCost);
    }
    // An offline batch delivers a reading taken in between, late: the cost stays (latest reading by time wins).
    totals.push(
      (await tx.event('Updated', 'MeterValuePeriodic', { timestamp: at(3), offline: true, meterValue: registerReading(3000, { at: at(3) }) })).response.totalCost,
    );
    expect(totals).toEqual([1, 1.25, 1.5, 2, 2]);
  });

  it('a time + energy + session-fee tariff costs the hand-computed amount to the cent', async () => {
    // 80 min at 1.20/h = 1.60; 12.345 kWh at 0.35 = 4.32075; fee 0.50 → 6.42075 → 6.42
    const id = await tariff({ currency: 'EUR', energyPerKWh: '0.35', timePerHour: '1.20', sessionFee: '0.50' });
    const station = await pricedStation(id, 'I-time');
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const tx = new ChargingSession(station);
    await tx.event('Started', 'Authorized', {
      idToken: token,
      evse: true,
      chargingState: 'Charging',
      timestamp: at(0),
      meterValue: registerReading(10_000, { at: at(0) }),
    });
    const mid = await tx.event('Updated', 'MeterValuePeriodic', { timestamp: at(40), meterValue: registerReading(16_000, { at: at(40) }) });
    // 40 min → 0.80, 6 kWh → 2.10, fee 0.50
    expect(mid.response.totalCost).toBe(3.4);
    const ended = await tx.event('Ended', 'EVCommunicationLost', {
      timestamp: at(80),
      chargingState: 'Idle',
      stoppedReason: 'EVDisconnected',
      meterValue: registerReading(22_345, { at: at(80) }),
    });
    expect(ended.response.totalCost).toBe(6.42);
    expect((await getTransaction(h.csms.api, station.identity, tx.transactionId)).cost).toBe('6.42');
  });

  it("an id token group's tariff wins over the station's; an unpriced station's answers carry no totalCost", async () => {
    const group = `GRP-I-${Date.now()}`;
    const stationTariff = await tariff({ currency: 'EUR', energyPerKWh: '1.00' });
    await tariff({ currency: 'EUR', energyPerKWh: '0.10', groups: [group] });
    const station = await pricedStation(stationTariff, 'I-group');
    const member = await registerIdToken(h.csms.api, newIdToken('ISO14443'), { status: 'Accepted', groupId: group });
    const tx = new ChargingSession(station);
    await tx.event('Started', 'Authorized', { idToken: member, evse: true, meterValue: registerReading(0) });
    const ended = await tx.event('Ended', 'StopAuthorized', { stoppedReason: 'Local', meterValue: registerReading(10_000) });
    expect(ended.response.totalCost).toBe(1);

    const plain = await h.csms.bootedStation({ prefix: 'I-none' });
    const free = new ChargingSession(plain);
    const answer = await free.event('Started', 'Authorized', { idToken: member, evse: true, meterValue: registerReading(0) });
    // The group's tariff applies at any station, priced or not.
    expect(answer.response.totalCost).toBe(0);
    const stranger: IdToken = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const unpriced = new ChargingSession(plain);
    const none = await unpriced.event('Started', 'Authorized', { idToken: stranger, evse: true, meterValue: registerReading(0) });
    expect(none.response).not.toHaveProperty('totalCost');
    expect((await getTransaction(h.csms.api, plain.identity, unpriced.transactionId)).cost).toBeNull();
  });

  it('DRV-AUI-04: the tariff text is the personalMessage of Authorize and of the first TransactionEvent carrying the token', async () => {
    const id = await tariff({ currency: 'EUR', energyPerKWh: '0.35', description: { nl: '€0,35 per kWh', en: '€0.35 per kWh' } });
    const station = await pricedStation(id, 'I-text');
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const authorized = await station.authorize(token.idToken, token.type);
    expect(authorized.idTokenInfo).toMatchObject({ status: 'Accepted', personalMessage: { format: 'UTF8', language: 'en', content: '€0.35 per kWh' } });
    const blocked = await registerIdToken(h.csms.api, newIdToken('ISO14443'), { status: 'Blocked' });
    expect((await station.authorize(blocked.idToken, blocked.type)).idTokenInfo).not.toHaveProperty('personalMessage');

    const tx = new ChargingSession(station);
    const started = await tx.event('Started', 'Authorized', { idToken: token, evse: true });
    expect(started.response.idTokenInfo).toMatchObject({ status: 'Accepted', personalMessage: { content: '€0.35 per kWh' } });
    const again = await tx.event('Updated', 'StopAuthorized', { idToken: token });
    expect(again.response.idTokenInfo?.status).toBe('Accepted');
    expect(again.response.idTokenInfo).not.toHaveProperty('personalMessage');
  });

  it('TC_I_01 / DRV-AUI-02: between events CostUpdated carries the running cost at the TariffCostCtrlr interval; none after Ended', async () => {
    const id = await tariff({ currency: 'EUR', energyPerKWh: '0.50' });
    const station = await h.csms.newStation({ prefix: 'I-costupd' });
    station.setVariable({ component: { name: 'TariffCostCtrlr' }, variable: { name: 'Interval' }, value: '1', mutability: 'ReadOnly' });
    await station.booted();
    expect((await h.csms.api.command(station.identity, 'GetBaseReport', { reportBase: 'FullInventory' })).status).toBe(200);
    await waitFor(
      async () => {
        const vars = await h.csms.api.request<Array<{ component: { name: string }; variable: { name: string } }>>(
          'GET',
          `/api/v1/stations/${station.identity}/variables`,
        );
        return Array.isArray(vars.body) && vars.body.some((v) => v.component.name === 'TariffCostCtrlr' && v.variable.name === 'Interval');
      },
      { what: 'the TariffCostCtrlr.Interval reported in the inventory' },
    );
    expect((await h.csms.api.request('PATCH', `/api/v1/stations/${station.identity}`, { tariffId: id })).status).toBe(200);
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const tx = new ChargingSession(station);
    await tx.event('Started', 'Authorized', { idToken: token, evse: true, meterValue: registerReading(1000) });
    const updated = await tx.event('Updated', 'MeterValuePeriodic', { meterValue: registerReading(3000) });
    expect(updated.response.totalCost).toBe(1);
    const mark = station.mark();
    const call = await station.waitForCall('CostUpdated', { afterSeq: mark, timeoutMs: 5000 });
    expect(call.payload).toEqual({ totalCost: 1, transactionId: tx.transactionId });
    const ended = await tx.event('Ended', 'StopAuthorized', { idToken: token, stoppedReason: 'Local', meterValue: registerReading(4000) });
    expect(ended.response.totalCost).toBe(1.5);
    const afterEnd = station.mark();
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(station.callsOf('CostUpdated').filter((c) => c.seq > afterEnd)).toEqual([]);
  });

  it('a 1.6 transaction is priced from meterStart/meterStop and its two timestamps; the cost shows in the view', async () => {
    const id = await tariff({ currency: 'EUR', energyPerKWh: '0.30', timePerHour: '1.00' });
    const identity = uniqueIdentity('I16');
    const password = randomPassword();
    expect((await h.csms.api.putStation(identity, { securityProfile: 1, password, bootPolicy: 'Accepted' })).status).toBe(201);
    expect((await h.csms.api.request('PATCH', `/api/v1/stations/${identity}`, { tariffId: id })).status).toBe(200);
    const station = await Station16.connect({ url: h.csms.ocppUrl, identity, password });
    try {
      await station.booted(1);
      const idTag = `I16-${Date.now() % 100000}`;
      await h.csms.api.request('PUT', `/api/v1/id-tokens/ISO14443/${idTag}`, { status: 'Accepted' });
      const started = await station.start(1, idTag, 1000, new Date(T0));
      await station.stop(started.transactionId, 6000, { idTag }, new Date(T0 + 3_600_000));
      // 5 kWh × 0.30 + 1 h × 1.00 = 2.50
      const view = await getTransaction(h.csms.api, identity, String(started.transactionId));
      expect(view).toMatchObject({ energyWh: 5000, cost: '2.50', currency: 'EUR' });
      expect(station.problems()).toEqual([]);
    } finally {
      await station.close();
    }
  });
});
