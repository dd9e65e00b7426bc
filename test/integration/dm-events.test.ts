/**
 * What stations report on their own, as the operator sees it in GET /api/v1/stations/{id}/events (newest first,
 * items {kind, payload, receivedAt}): SecurityEventNotification, NotifyEvent, FirmwareStatusNotification,
 * LogStatusNotification. Plus TC_P_02 (DataTransfer to the CSMS, unknown vendor) and TC_P_03 (customData).
 */
import { describe, expect, it } from 'vitest';
import { withCsms } from '../support/csms.js';
import { energyTransferStarted, expectApiError, named, now, registerToken, securityEvent, stationEvents, transactionView } from '../support/device.js';
import { uniqueIdentity, type Payload } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 5000 });

function notifyEvent(seqNo: number, eventId: number, tbc = false): Payload {
  return {
    generatedAt: now(),
    seqNo,
    ...(tbc ? { tbc } : {}),
    eventData: [
      {
        eventId,
        timestamp: now(),
        trigger: 'Alerting',
        actualValue: '85',
        techCode: 'OVERTEMP',
        eventNotificationType: 'PreconfiguredMonitor',
        component: { name: 'EVSE', evse: { id: 1 } },
        variable: { name: 'Temperature' },
      },
    ],
  };
}

describe('events API', () => {
  it('lists every kind the station reported, newest first, with its payload and a receivedAt time', async () => {
    const station = await h.csms.bootedStation({ prefix: 'events' });
    const sent: Array<[string, Payload]> = [
      ['SecurityEventNotification', securityEvent('StartupOfTheDevice')],
      ['NotifyEvent', notifyEvent(0, 1)],
      ['FirmwareStatusNotification', { status: 'Idle' }],
      ['LogStatusNotification', { status: 'Idle' }],
      ['SecurityEventNotification', securityEvent('ResetOrReboot', 'operator reset')],
    ];
    for (const [action, payload] of sent) expect(await station.call(action, payload), action).toEqual({});

    const items = await stationEvents(h.csms.api, station.identity);
    expect(items.map((e) => e.kind)).toEqual(sent.map(([kind]) => kind).reverse());
    expect(items.map((e) => e.payload)).toEqual(sent.map(([, p]) => p).reverse());
    const times = items.map((e) => Date.parse(e.receivedAt));
    for (const t of times) expect(Number.isNaN(t)).toBe(false);
    for (let i = 1; i < times.length; i += 1) expect(times[i]!).toBeLessThanOrEqual(times[i - 1]!);
  });

  const SECURITY_TYPES = ['StartupOfTheDevice', 'ResetOrReboot', 'InvalidCsmsCertificate', 'InvalidFirmwareSignature', 'SettingSystemTime', 'TamperDetectionActivated'];

  it.each(named(SECURITY_TYPES, (t) => `SecurityEventNotification ${t} is answered {} and listed with its techInfo`))('%s', async (_, type) => {
    const station = await h.csms.bootedStation({ prefix: `sec-${type}`.slice(0, 20) });
    const event = securityEvent(type, `test ${type}`);
    expect(await station.call('SecurityEventNotification', event)).toEqual({});
    const [latest] = await stationEvents(h.csms.api, station.identity);
    expect(latest).toMatchObject({ kind: 'SecurityEventNotification', payload: event });
  });

  it('a multi-part NotifyEvent (tbc) is answered part by part and every part is listed', async () => {
    const station = await h.csms.bootedStation({ prefix: 'notifyevent-tbc' });
    expect(await station.call('NotifyEvent', notifyEvent(0, 11, true))).toEqual({});
    expect(await station.call('NotifyEvent', notifyEvent(1, 12))).toEqual({});
    const items = (await stationEvents(h.csms.api, station.identity)).filter((e) => e.kind === 'NotifyEvent');
    expect(items.map((e) => e.payload.seqNo)).toEqual([1, 0]);
  });

  it('events of one station are not shown for another; an unknown station is 404', async () => {
    const a = await h.csms.bootedStation({ prefix: 'events-a' });
    const b = await h.csms.bootedStation({ prefix: 'events-b' });
    await a.call('SecurityEventNotification', securityEvent('StartupOfTheDevice'));
    expect(await stationEvents(h.csms.api, b.identity)).toEqual([]);
    expectApiError(await h.csms.api.request('GET', `/api/v1/stations/${uniqueIdentity('ghost')}/events`), 404);
  });
});

describe('data transfer and custom data (P)', () => {
  it.each(
    named(
      [{ vendorId: 'com.unknown.vendor', messageId: 'Hello' }, { vendorId: 'com.unknown.vendor' }],
      (c) => `TC_P_02: DataTransfer from an unknown vendor (${c.messageId === undefined ? 'no' : 'with'} messageId) is refused with a status, not a CALLERROR`,
    ),
  )('%s', async (_, c) => {
    const station = await h.csms.bootedStation({ prefix: 'P02' });
    const answer = await station.dataTransfer(c.vendorId, c.messageId, 'payload');
    expect(['UnknownVendorId', 'UnknownMessageId', 'Rejected']).toContain(answer.status);
  });

  it('TC_P_03: customData with extra vendor properties in StatusNotification and TransactionEvent (also in transactionInfo) is accepted', async () => {
    const station = await h.csms.bootedStation({ prefix: 'P03' });
    const customData = { vendorId: 'com.stroom.test', firmwareBuild: 4711, flags: { eco: true } };
    expect(await station.call('StatusNotification', { timestamp: now(), connectorStatus: 'Occupied', evseId: 1, connectorId: 1, customData })).toEqual({});
    await registerToken(h.csms.api, 'P03TOKEN01');
    const transactionId = `p03-${Date.now()}`;
    const answer = await station.transactionEvent({
      eventType: 'Started',
      triggerReason: 'Authorized',
      seqNo: 0,
      idToken: { idToken: 'P03TOKEN01', type: 'ISO14443', customData },
      evse: { id: 1, connectorId: 1, customData },
      transactionInfo: { transactionId, chargingState: 'EVConnected', customData },
      customData,
    });
    expect(answer.idTokenInfo).toMatchObject({ status: 'Accepted' });
    expect((await transactionView(h.csms.api, station.identity, transactionId)).active).toBe(true);
  });

  it('TC_P_03 (charging): customData on every event of a running transaction is accepted', async () => {
    const station = await h.csms.bootedStation({ prefix: 'P03-tx' });
    const tx = await energyTransferStarted(h.csms, station);
    const answer = await station.transactionEvent({
      eventType: 'Updated',
      triggerReason: 'MeterValuePeriodic',
      seqNo: tx.seqNo,
      transactionInfo: { transactionId: tx.transactionId, customData: { vendorId: 'com.stroom.test', x: 1 } },
      meterValue: [{ timestamp: now(), sampledValue: [{ value: 1, context: 'Sample.Periodic', customData: { vendorId: 'com.stroom.test' } }] }],
      customData: { vendorId: 'com.stroom.test', y: [1, 2] },
    });
    expect(answer).toEqual({});
  });
});
