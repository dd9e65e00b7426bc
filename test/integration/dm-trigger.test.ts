/**
 * TriggerMessage (F06): every requestedMessage value reaches the station and its answer the operator; then what the
 * station sends because of the trigger is answered: TC_F_11, F_12 (MeterValues), F_13, F_14 (TransactionEvent),
 * F_15 (LogStatusNotification Idle), F_18 (FirmwareStatusNotification Idle), F_20 (Heartbeat), F_23, F_24
 * (StatusNotification), F_27 (NotImplemented), DRV-F06-01 (Rejected).
 */
import { describe, expect, it } from 'vitest';
import { withCsms } from '../support/csms.js';
import {
  TWO_EVSES,
  bootedWithCreds,
  connectorStatuses,
  energyTransferStarted,
  eventsOf,
  named,
  now,
  roundTrip,
  settle,
  stationView,
  txEvent,
  waitForConnectors,
} from '../support/device.js';
import { RFC3339_MS, ocppSchema, type Payload, type TestStation } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 5000 });

const REQUESTED_MESSAGES = (ocppSchema('TriggerMessageRequest') as { definitions: { MessageTriggerEnumType: { enum: string[] } } }).definitions.MessageTriggerEnumType
  .enum;

async function trigger(station: TestStation, payload: Payload, status = 'Accepted'): Promise<void> {
  station.onCall('TriggerMessage', () => ({ status }));
  const { call } = await roundTrip(h.csms, station, 'TriggerMessage', payload, { status });
  expect(call.payload).toEqual(payload);
}

function triggeredMeterValues(evseId: number, value: number): Payload {
  return {
    evseId,
    meterValue: [{ timestamp: now(), sampledValue: [{ value, context: 'Trigger', measurand: 'Energy.Active.Import.Register' }] }],
  };
}

describe('every requestedMessage', () => {
  it('covers all MessageTriggerEnumType values of the schema', () => {
    expect(REQUESTED_MESSAGES.length).toBe(11);
  });

  it.each(named(REQUESTED_MESSAGES, (m) => `TriggerMessage(${m}) with and without evse reaches the station intact and its Accepted answer the operator`))(
    '%s',
    async (_, requestedMessage) => {
      const station = await h.csms.bootedStation({ prefix: `F06-${requestedMessage}`.slice(0, 20) });
      await trigger(station, { requestedMessage });
      await trigger(station, { requestedMessage, evse: { id: 1 } });
    },
  );

  it.each(
    named(['Rejected', 'NotImplemented'], (s) => `${s === 'Rejected' ? 'DRV-F06-01' : 'TC_F_27'}: TriggerMessage answered ${s} reaches the operator and is not retried`),
  )('%s', async (_, status) => {
    const station = await h.csms.bootedStation({ prefix: `F27-${status}`.slice(0, 20) });
    for (const requestedMessage of ['Heartbeat', 'MeterValues', 'StatusNotification']) {
      await trigger(station, { requestedMessage, ...(requestedMessage === 'StatusNotification' ? { evse: { id: 1, connectorId: 1 } } : {}) }, status);
    }
    await settle(station);
    expect(station.callsOf('TriggerMessage')).toHaveLength(3);
    expect(station.isOpen).toBe(true);
  });
});

describe('what the station sends because of a trigger', () => {
  it('TC_F_11: MeterValues for one EVSE; the triggered MeterValues is answered {}', async () => {
    const station = await h.csms.bootedStation({ prefix: 'F11' });
    await trigger(station, { requestedMessage: 'MeterValues', evse: { id: 1 } });
    expect(await station.call('MeterValues', triggeredMeterValues(1, 1234))).toEqual({});
  });

  it('TC_F_12: MeterValues for all EVSEs; one triggered MeterValues per EVSE is answered {}', async () => {
    const { station } = await bootedWithCreds(h.csms, 'F12', { evses: TWO_EVSES });
    await trigger(station, { requestedMessage: 'MeterValues' });
    for (const evseId of [1, 2]) expect(await station.call('MeterValues', triggeredMeterValues(evseId, 100 * evseId))).toEqual({});
  });

  it('TC_F_13: TransactionEvent for the charging EVSE; the Trigger event is answered', async () => {
    const { station } = await bootedWithCreds(h.csms, 'F13');
    const tx = await energyTransferStarted(h.csms, station);
    await trigger(station, { requestedMessage: 'TransactionEvent', evse: { id: 1 } });
    const answer = await txEvent(
      station,
      tx,
      'Updated',
      'Trigger',
      { chargingState: 'Charging' },
      {
        evse: { id: 1 },
        meterValue: [{ timestamp: now(), sampledValue: [{ value: 4321, context: 'Trigger' }] }],
      },
    );
    expect(answer).not.toHaveProperty('idTokenInfo');
  });

  it('TC_F_14: TransactionEvent for all EVSEs; one Trigger event per ongoing transaction is answered', async () => {
    const { station } = await bootedWithCreds(h.csms, 'F14', { evses: TWO_EVSES });
    const txs = [await energyTransferStarted(h.csms, station, { evseId: 1 }), await energyTransferStarted(h.csms, station, { evseId: 2 })];
    await trigger(station, { requestedMessage: 'TransactionEvent' });
    for (const tx of txs) {
      await txEvent(
        station,
        tx,
        'Updated',
        'Trigger',
        { chargingState: 'Charging' },
        {
          evse: { id: tx.evseId },
          meterValue: [{ timestamp: now(), sampledValue: [{ value: 10 * tx.evseId, context: 'Trigger' }] }],
        },
      );
    }
  });

  it('TC_F_15: LogStatusNotification; the Idle status (no requestId) is answered {} and listed', async () => {
    const station = await h.csms.bootedStation({ prefix: 'F15' });
    await trigger(station, { requestedMessage: 'LogStatusNotification' });
    expect(await station.call('LogStatusNotification', { status: 'Idle' })).toEqual({});
    const events = await eventsOf(h.csms.api, station.identity, 'LogStatusNotification');
    expect(events[0]?.payload).toEqual({ status: 'Idle' });
  });

  it('TC_F_18: FirmwareStatusNotification; the Idle status (no requestId) is answered {} and listed', async () => {
    const station = await h.csms.bootedStation({ prefix: 'F18' });
    await trigger(station, { requestedMessage: 'FirmwareStatusNotification' });
    expect(await station.call('FirmwareStatusNotification', { status: 'Idle' })).toEqual({});
    const events = await eventsOf(h.csms.api, station.identity, 'FirmwareStatusNotification');
    expect(events[0]?.payload).toEqual({ status: 'Idle' });
  });

  it('TC_F_20: Heartbeat; the triggered Heartbeat gets an RFC 3339 currentTime', async () => {
    const station = await h.csms.bootedStation({ prefix: 'F20' });
    await trigger(station, { requestedMessage: 'Heartbeat' });
    const hb = await station.heartbeat();
    expect(hb.currentTime).toMatch(RFC3339_MS);
  });

  it('TC_B_31 on an Accepted station: BootNotification; the Triggered boot is Accepted', async () => {
    const station = await h.csms.bootedStation({ prefix: 'F06-boot' });
    await trigger(station, { requestedMessage: 'BootNotification' });
    expect((await station.boot({ reason: 'Triggered' })).status).toBe('Accepted');
  });

  const STATUS_CASES = [
    { id: 'TC_F_23', status: 'Available', occupiedFirst: false },
    { id: 'TC_F_24', status: 'Occupied', occupiedFirst: true },
  ].flatMap((c) => (['StatusNotification', 'NotifyEvent'] as const).map((via) => ({ ...c, via })));

  it.each(named(STATUS_CASES, (c) => `${c.id} (${c.via}): StatusNotification for evse {id, connectorId}; the connector is re-reported ${c.status}`))(
    '%s',
    async (_, c) => {
      const { station, creds } = await bootedWithCreds(h.csms, `${c.id}-${c.via}`, { via: c.via });
      if (c.occupiedFirst) await station.statusNotification(1, 1, 'Occupied');
      await trigger(station, { requestedMessage: 'StatusNotification', evse: { id: 1, connectorId: 1 } });
      const answer = c.via === 'StatusNotification' ? await station.statusNotification(1, 1, c.status) : await station.notifyConnectorEvent(1, 1, c.status);
      expect(answer).toEqual({});
      await waitForConnectors(h.csms.api, creds.identity, [`1/1:${c.status}`]);
      expect(connectorStatuses(await stationView(h.csms.api, creds.identity))).toContain(`1/1:${c.status}`);
    },
  );
});
