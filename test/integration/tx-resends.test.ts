/**
 * Resends and strings the database refuses (CONTRACT §3.2 "Resends", "Strings"), end to end over a real socket:
 * a record resent with a new messageId after a lost answer is stored once; a TransactionEvent that reuses a stored
 * seqNo with other content (a station whose counter restarted) is kept as a conflict and still applied; a
 * schema-valid U+0000 is answered and stored, and the station's next messages go through.
 */
import { describe, expect, it } from 'vitest';
import { withCsms } from '../support/csms.js';
import { ChargingSession, energyRegister, getTransaction, iso, meterValue, newIdToken, registerIdToken } from '../support/charging.js';
import { eventsOf } from '../support/device.js';
import type { Payload } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 3000 });

const NUL = String.fromCharCode(0);
const REPLACED = String.fromCharCode(0xfffd);

async function chargingSession(prefix: string): Promise<ChargingSession> {
  const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
  const station = await h.csms.bootedStation({ prefix });
  const tx = new ChargingSession(station);
  await tx.energyTransferStarted(token);
  return tx;
}

describe('Resends with a new messageId (the answer was lost)', () => {
  it('resent MeterValues with a new messageId are stored once', async () => {
    const tx = await chargingSession('RS-MV');
    const request: Payload = { evseId: tx.evseId, meterValue: [meterValue([energyRegister(1500)], new Date('2026-05-01T10:00:00.000Z'))] };
    expect(await tx.station.call('MeterValues', request)).toEqual({});
    expect(await tx.station.call('MeterValues', request)).toEqual({});
    const other: Payload = { evseId: tx.evseId, meterValue: [meterValue([energyRegister(1600)], new Date('2026-05-01T10:01:00.000Z'))] };
    expect(await tx.station.call('MeterValues', other)).toEqual({});

    const view = await getTransaction(h.csms.api, tx.station.identity, tx.transactionId);
    const fromMessages = view.meterValues.filter((mv) => mv.source === 'MeterValues');
    expect(fromMessages.map((mv) => mv.timestamp)).toEqual(['2026-05-01T10:00:00.000Z', '2026-05-01T10:01:00.000Z']);
  });

  it('a resent NotifyEvent with a new messageId is stored once', async () => {
    const station = await h.csms.bootedStation({ prefix: 'RS-NE' });
    const request: Payload = {
      generatedAt: '2026-05-01T10:00:00.000Z',
      seqNo: 0,
      eventData: [
        {
          eventId: 4711,
          timestamp: '2026-05-01T10:00:00.000Z',
          trigger: 'Alerting',
          actualValue: 'true',
          eventNotificationType: 'HardWiredNotification',
          component: { name: 'EVSE', evse: { id: 1 } },
          variable: { name: 'Problem' },
        },
      ],
    };
    expect(await station.call('NotifyEvent', request)).toEqual({});
    expect(await station.call('NotifyEvent', request)).toEqual({});
    expect(await station.call('NotifyEvent', { ...request, seqNo: 1 })).toEqual({});
    const stored = (await eventsOf(h.csms.api, station.identity, 'NotifyEvent')).filter((e) => JSON.stringify(e.payload).includes('4711'));
    expect(stored.map((e) => e.payload.seqNo)).toEqual([1, 0]);
  });

  it('a resent SecurityEventNotification with a new messageId is stored once', async () => {
    const station = await h.csms.bootedStation({ prefix: 'RS-SE' });
    const request: Payload = { type: 'TamperDetectionActivated', timestamp: '2026-05-01T10:00:00.000Z', techInfo: 'lid opened' };
    expect(await station.call('SecurityEventNotification', request)).toEqual({});
    expect(await station.call('SecurityEventNotification', request)).toEqual({});
    const stored = await eventsOf(h.csms.api, station.identity, 'SecurityEventNotification');
    expect(stored.filter((e) => e.payload.type === 'TamperDetectionActivated')).toHaveLength(1);
  });
});

describe('A reused seqNo with other content', () => {
  it('an Ended that reuses the seqNo of Started ends the transaction, which is flagged and shows the conflict', async () => {
    const tx = await chargingSession('RS-SEQ');
    const startedSeqNo = tx.sent[0]?.request.seqNo ?? 0;
    // The station's counter restarted: its Ended carries the Started event's seqNo.
    const ended = await tx.event('Ended', 'EVCommunicationLost', { seqNo: startedSeqNo, stoppedReason: 'EVDisconnected', chargingState: 'Idle' });
    expect(ended.response).toEqual({});

    const view = await getTransaction(h.csms.api, tx.station.identity, tx.transactionId);
    expect(view).toMatchObject({ active: false, stoppedReason: 'EVDisconnected', endedAt: iso(ended.request.timestamp as string) });
    expect(view.flags).toContain('seqNoConflict');
    expect(view.events.map((e) => e.eventType)).toEqual(tx.sent.slice(0, -1).map((s) => s.request.eventType));
    expect(view.conflicts).toEqual([
      {
        seqNo: startedSeqNo,
        eventType: 'Ended',
        timestamp: iso(ended.request.timestamp as string),
        receivedAt: expect.any(String),
        request: ended.request,
        response: {},
      },
    ]);

    // Resent after a lost answer: answered again, still one conflict.
    expect((await tx.send(ended.request)).response).toEqual({});
    const again = await getTransaction(h.csms.api, tx.station.identity, tx.transactionId);
    expect(again.conflicts).toHaveLength(1);
    expect(again.eventCount).toBe(view.eventCount);
  });
});

describe('Strings with U+0000', () => {
  it('a TransactionEvent with U+0000 in customData and idToken additionalInfo is answered, stored, and the queue goes on', async () => {
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const station = await h.csms.bootedStation({ prefix: 'RS-NUL' });
    const tx = new ChargingSession(station);
    const started = await tx.event('Started', 'Authorized', {
      idToken: token,
      extra: {
        customData: { vendorId: `com.example${NUL}`, note: `a${NUL}b` },
        idToken: { ...token, additionalInfo: [{ additionalIdToken: `x${NUL}y`, type: 'Extra' }] },
      },
    });
    expect(started.response).toMatchObject({ idTokenInfo: expect.any(Object) });
    // The next messages of the station are not stuck behind it.
    expect(await station.call('MeterValues', { evseId: 1, meterValue: [meterValue([energyRegister(10)])], customData: { vendorId: `v${NUL}` } })).toEqual({});
    expect(await station.call('SecurityEventNotification', { type: 'SettingSystemTime', timestamp: new Date().toISOString(), techInfo: `t${NUL}` })).toEqual({});
    const updated = await tx.event('Updated', 'ChargingStateChanged', { chargingState: 'Charging' });
    expect(updated.response).toEqual({});

    const view = await getTransaction(h.csms.api, station.identity, tx.transactionId);
    expect(view.events).toHaveLength(2);
    expect(view.events[0]?.request).toMatchObject({
      customData: { vendorId: `com.example${REPLACED}`, note: `a${REPLACED}b` },
      idToken: { additionalInfo: [{ additionalIdToken: `x${REPLACED}y` }] },
    });
    const security = await eventsOf(h.csms.api, station.identity, 'SecurityEventNotification');
    expect(security.map((e) => e.payload.techInfo)).toContain(`t${REPLACED}`);
  });
});
