/**
 * Meter values: TC_J_01, TC_J_02, TC_J_03, TC_J_04, TC_J_07, TC_J_08, TC_J_09, TC_J_10, TC_J_11, and what the
 * CSMS derives from them (energyWh from the Energy.Active.Import.Register readings, in Wh or kWh).
 */
import { describe, expect, it } from 'vitest';
import { withCsms } from '../support/csms.js';
import {
  ChargingSession,
  energyRegister,
  expectRecordedEvents,
  getTransaction,
  listTransactions,
  meterValue,
  newIdToken,
  registerIdToken,
  sample,
  type IdToken,
  type ReadingContext,
} from '../support/charging.js';
import { sleep, type Payload, type TestStation } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 3000 });

/** Clock-aligned and sampled intervals: tiny, the CSMS times nothing here. */
const INTERVAL_MS = 10;
const ROUNDS = 3;

function meterValuesRequest(evseId: number, values: Payload[]): Payload {
  return { evseId, meterValue: values };
}

async function sendMeterValues(station: TestStation, evseId: number, values: Payload[]): Promise<Payload> {
  return station.call('MeterValues', meterValuesRequest(evseId, values));
}

/** A typical reading set: register, power, and one phase current (which must not count as energy). */
function readings(wh: number, context: ReadingContext, opts: { signed?: boolean; at?: Date } = {}): Payload {
  return meterValue(
    [
      energyRegister(wh, { context, signed: opts.signed }),
      sample('Power.Active.Import', 7200, { context, unit: 'W' }),
      sample('Current.Import', 16, { context, phase: 'L1', unit: 'A' }),
    ],
    opts.at ?? new Date(),
  );
}

async function chargingStation(prefix: string, evses = [{ id: 1, connectors: [1] }]): Promise<{ station: TestStation; token: IdToken }> {
  const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
  const station = await h.csms.newStation({ prefix });
  await station.booted({ evses });
  return { station, token };
}

/** Every MeterValue the transaction shows, by timestamp + first sample value: independent of the extra fields the API adds. */
function shown(values: Array<Payload & { timestamp?: string; sampledValue?: Payload[] }>): Payload[] {
  return values.map((mv) => ({ timestamp: mv.timestamp, sampledValue: mv.sampledValue }));
}

describe('Clock-aligned meter values', () => {
  it('TC_J_01: clock-aligned MeterValues without a transaction, for evseId 0 and each EVSE, three rounds — all answered {}', async () => {
    const { station } = await chargingStation('J01', [
      { id: 1, connectors: [1] },
      { id: 2, connectors: [1] },
    ]);
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const evseId of [0, 1, 2]) {
        expect(await sendMeterValues(station, evseId, [readings(1000 * round + evseId, 'Sample.Clock')])).toEqual({});
      }
      await sleep(INTERVAL_MS);
    }
    expect((await listTransactions(h.csms.api, station.identity)).body.items).toEqual([]);
  });

  it('TC_J_01 variant: clock-aligned FiscalMetering values via NotifyEvent are answered {}', async () => {
    const { station } = await chargingStation('J01-ne');
    for (let round = 0; round < ROUNDS; round += 1) {
      const answer = await station.call('NotifyEvent', {
        generatedAt: new Date().toISOString(),
        seqNo: 0,
        eventData: [
          {
            eventId: 1000 + round,
            timestamp: new Date().toISOString(),
            trigger: 'Periodic',
            actualValue: String(1000 + round),
            eventNotificationType: 'HardWiredMonitor',
            component: { name: 'FiscalMetering' },
            variable: { name: 'EnergyImport' },
          },
        ],
      });
      expect(answer).toEqual({});
      await sleep(INTERVAL_MS);
    }
  });

  it('TC_J_02: during a transaction, MeterValueClock events and MeterValues for evseId 0, the idle EVSE and the busy EVSE are all answered', async () => {
    const { station, token } = await chargingStation('J02', [
      { id: 1, connectors: [1] },
      { id: 2, connectors: [1] },
    ]);
    const tx = new ChargingSession(station, { evseId: 1 });
    await tx.energyTransferStarted(token);
    const onBusyEvse: Payload[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      expect(await sendMeterValues(station, 0, [readings(50_000 + round, 'Sample.Clock')])).toEqual({});
      expect(await sendMeterValues(station, 2, [readings(9_000 + round, 'Sample.Clock')])).toEqual({});
      const busy = readings(1_000 + round, 'Sample.Clock');
      onBusyEvse.push(busy);
      expect(await sendMeterValues(station, 1, [busy])).toEqual({});
      const clock = await tx.event('Updated', 'MeterValueClock', { meterValue: [readings(1_000 + round, 'Sample.Clock')] });
      expect(clock.response).toEqual({});
      await sleep(INTERVAL_MS);
    }
    const v = await getTransaction(h.csms.api, station.identity, tx.transactionId);
    expect(v.active).toBe(true);
    const values = shown(v.meterValues);
    // MeterValues sent on the transaction's EVSE belong to it; those of evseId 0 and the idle EVSE do not.
    for (const mv of onBusyEvse) expect(values).toContainEqual(mv);
    for (const event of tx.sent.filter((s) => s.request.meterValue !== undefined)) {
      for (const mv of event.request.meterValue as Payload[]) expect(values).toContainEqual(mv);
    }
    const registerValues = v.meterValues.flatMap((mv) => (mv.sampledValue ?? []).filter((s) => s.measurand === 'Energy.Active.Import.Register').map((s) => s.value));
    expect(registerValues.some((x) => Number(x) >= 9_000)).toBe(false);
    expectRecordedEvents(v, tx);
  });

  it.each([
    ['TC_J_03', false],
    ['TC_J_04', true],
  ] as const)('%s: the Ended event carries Sample.Clock readings and a final Transaction.End (signed: %s), kept verbatim', async (id, signed) => {
    const { station, token } = await chargingStation(id);
    const tx = new ChargingSession(station);
    await tx.authorized(token);
    await tx.energyTransferStarted(token, { meterValue: [readings(10_000, 'Transaction.Begin', { signed, at: new Date(Date.now() - 10_000) })] });
    await tx.stopAuthorized();
    await tx.evConnectedPostSession();
    const t0 = Date.now();
    const endValues = [
      readings(11_000, 'Sample.Clock', { signed, at: new Date(t0 - 2000) }),
      readings(12_000, 'Sample.Clock', { signed, at: new Date(t0 - 1000) }),
      readings(12_500, 'Transaction.End', { signed, at: new Date(t0) }),
    ];
    const ended = await tx.evDisconnected({ meterValue: endValues });
    expect(ended.response).toEqual({});
    const v = await getTransaction(h.csms.api, station.identity, tx.transactionId);
    expect(v).toMatchObject({ active: false, energyWh: 2_500 });
    const values = shown(v.meterValues);
    for (const mv of endValues) expect(values).toContainEqual(mv);
    expect(v.events.at(-1)?.request.meterValue).toEqual(endValues);
    expectRecordedEvents(v, tx);
  });
});

describe('Sampled meter values', () => {
  it('TC_J_07: the Started event on plug-in carries Transaction.Begin readings with the EVSE known', async () => {
    const { station } = await chargingStation('J07');
    const tx = new ChargingSession(station);
    const begin = [readings(500, 'Transaction.Begin')];
    const started = await tx.evConnectedPreSession({ meterValue: begin });
    expect(started.request.eventType).toBe('Started');
    expect(started.response).toEqual({});
    const v = await getTransaction(h.csms.api, station.identity, tx.transactionId);
    expect(v).toMatchObject({ active: true, evseId: 1, connectorId: 1 });
    expect(shown(v.meterValues)).toEqual(begin);
    expectRecordedEvents(v, tx);
  });

  it('TC_J_08: Started on authorization without EVSE; the plug-in event brings the EVSE and the Transaction.Begin readings', async () => {
    const { station, token } = await chargingStation('J08');
    const tx = new ChargingSession(station);
    await tx.authorized(token);
    expect((await getTransaction(h.csms.api, station.identity, tx.transactionId)).evseId).toBeNull();
    const begin = [readings(700, 'Transaction.Begin')];
    const plugged = await tx.evConnectedPreSession({ meterValue: begin });
    expect(plugged.request.eventType).toBe('Updated');
    await tx.energyTransferStarted();
    const v = await getTransaction(h.csms.api, station.identity, tx.transactionId);
    expect(v).toMatchObject({ active: true, evseId: 1, connectorId: 1, chargingState: 'Charging' });
    expect(shown(v.meterValues)).toEqual(begin);
    expectRecordedEvents(v, tx);
  });

  it('TC_J_09: periodic MeterValuePeriodic events while charging, three rounds, each answered and kept', async () => {
    const { station, token } = await chargingStation('J09');
    const tx = new ChargingSession(station);
    await tx.energyTransferStarted(token, { meterValue: [readings(1_000, 'Transaction.Begin')] });
    for (let round = 1; round <= ROUNDS; round += 1) {
      await sleep(INTERVAL_MS);
      const periodic = await tx.event('Updated', 'MeterValuePeriodic', { meterValue: [readings(1_000 + 100 * round, 'Sample.Periodic')] });
      expect(periodic.response).toEqual({});
    }
    const v = await getTransaction(h.csms.api, station.identity, tx.transactionId);
    expect(v).toMatchObject({ active: true, energyWh: 300 });
    expect(v.meterValues).toHaveLength(1 + ROUNDS);
    expectRecordedEvents(v, tx);
  });

  it.each([
    ['TC_J_10', false],
    ['TC_J_11', true],
  ] as const)('%s: the Ended event carries Sample.Periodic readings and a final Transaction.End (signed: %s), kept verbatim', async (id, signed) => {
    const { station, token } = await chargingStation(id);
    const tx = new ChargingSession(station);
    await tx.energyTransferStarted(token, { meterValue: [readings(2_000, 'Transaction.Begin', { signed, at: new Date(Date.now() - 5000) })] });
    await tx.stopAuthorized();
    await tx.evConnectedPostSession();
    const t0 = Date.now();
    const endValues = [
      readings(2_400, 'Sample.Periodic', { signed, at: new Date(t0 - 2000) }),
      readings(2_800, 'Sample.Periodic', { signed, at: new Date(t0 - 1000) }),
      readings(3_000, 'Transaction.End', { signed, at: new Date(t0) }),
    ];
    const ended = await tx.evDisconnected({ meterValue: endValues });
    expect(ended.response).toEqual({});
    const v = await getTransaction(h.csms.api, station.identity, tx.transactionId);
    expect(v).toMatchObject({ active: false, energyWh: 1_000, stoppedReason: 'EVDisconnected' });
    const values = shown(v.meterValues);
    for (const mv of endValues) expect(values).toContainEqual(mv);
    if (signed) {
      const signedShown = v.meterValues.flatMap((mv) => (mv.sampledValue ?? []).filter((s) => s.signedMeterValue !== undefined));
      expect(signedShown).toHaveLength(4);
    }
    expectRecordedEvents(v, tx);
  });
});

describe('Energy of a transaction', () => {
  it.each([
    ['Wh throughout', energyRegister(1_000, { context: 'Transaction.Begin' }), energyRegister(5_500, { context: 'Transaction.End' }), 4_500],
    ['kWh throughout', energyRegister(1.25, { context: 'Transaction.Begin', unit: 'kWh' }), energyRegister(3.75, { context: 'Transaction.End', unit: 'kWh' }), 2_500],
    [
      'Wh at start, kWh at the end',
      energyRegister(800, { context: 'Transaction.Begin', unit: 'Wh' }),
      energyRegister(2.3, { context: 'Transaction.End', unit: 'kWh' }),
      1_500,
    ],
    [
      'the measurand left to its default',
      energyRegister(100, { context: 'Transaction.Begin', implicitMeasurand: true }),
      energyRegister(350, { context: 'Transaction.End', implicitMeasurand: true }),
      250,
    ],
  ])('energyWh is the last minus the first register reading (%s)', async (_what, begin, end, energyWh) => {
    const { station, token } = await chargingStation('energy');
    const tx = new ChargingSession(station);
    const t0 = Date.now();
    await tx.authorized(token, { meterValue: [meterValue([begin], new Date(t0 - 3000))] });
    await tx.energyTransferStarted();
    await tx.event('Updated', 'MeterValuePeriodic', { meterValue: [meterValue([sample('Power.Active.Import', 11_000, { unit: 'W' })], new Date(t0 - 2000))] });
    await tx.event('Ended', 'StopAuthorized', { stoppedReason: 'Local', idToken: token, meterValue: [meterValue([end], new Date(t0 - 1000))] });
    const v = await getTransaction(h.csms.api, station.identity, tx.transactionId);
    expect(v.energyWh).toBeCloseTo(energyWh, 6);
    const listed = (await listTransactions(h.csms.api, station.identity, { active: false })).body.items.find((t) => t.transactionId === tx.transactionId);
    expect(listed?.energyWh).toBeCloseTo(energyWh, 6);
  });

  it('MeterValues sent on the EVSE of an active transaction belong to it; after the transaction ended they do not', async () => {
    const { station, token } = await chargingStation('mv-link');
    const tx = new ChargingSession(station);
    await tx.energyTransferStarted(token);
    const during = meterValue([energyRegister(4_000, { context: 'Sample.Periodic', signed: true })]);
    expect(await sendMeterValues(station, 1, [during])).toEqual({});
    await tx.evDisconnected();
    const after = meterValue([energyRegister(4_100, { context: 'Sample.Clock' })]);
    expect(await sendMeterValues(station, 1, [after])).toEqual({});
    const v = await getTransaction(h.csms.api, station.identity, tx.transactionId);
    const values = shown(v.meterValues);
    expect(values).toContainEqual(during);
    expect(values).not.toContainEqual(after);
  });

  it('after a reconnect, MeterValues of every EVSE still find their transaction, whichever EVSE speaks first', async () => {
    const evses = [
      { id: 1, connectors: [1] },
      { id: 2, connectors: [1] },
    ];
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const creds = await h.csms.register({ prefix: 'mv-reconnect' });
    const first = await h.csms.connect(creds);
    await first.booted({ evses });
    const one = new ChargingSession(first, { evseId: 1 });
    const two = new ChargingSession(first, { evseId: 2 });
    await one.energyTransferStarted(token);
    await two.energyTransferStarted(token);
    await first.close();

    // A new session: the live EVSE → transaction map starts empty and comes from the store.
    const second = await h.csms.connect(creds);
    one.moveTo(second);
    two.moveTo(second);
    // EVSE 1 speaks first, naming its EVSE (before, this made EVSE 2's transaction unknown for the session).
    await one.event('Updated', 'MeterValuePeriodic', { evse: true, meterValue: [meterValue([energyRegister(2_000, { context: 'Sample.Periodic' })])] });
    const onTwo = meterValue([energyRegister(7_000, { context: 'Sample.Periodic' })]);
    expect(await sendMeterValues(second, 2, [onTwo])).toEqual({});
    const onOne = meterValue([energyRegister(2_500, { context: 'Sample.Periodic' })]);
    expect(await sendMeterValues(second, 1, [onOne])).toEqual({});

    expect(shown((await getTransaction(h.csms.api, second.identity, two.transactionId)).meterValues)).toContainEqual(onTwo);
    expect(shown((await getTransaction(h.csms.api, second.identity, one.transactionId)).meterValues)).toContainEqual(onOne);
  });
});
