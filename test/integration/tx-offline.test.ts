/**
 * Transactions across connection loss, queues and resends: TC_E_29, TC_E_30, TC_E_31, TC_E_33, TC_E_34,
 * DRV-E-01 (identical resend), DRV-E-02 (offline transaction rebuilt from a late, out-of-order queue),
 * DRV-E-03 (events of a transaction whose Started never arrived).
 */
import { describe, expect, it } from 'vitest';
import { withCsms, type StationCredentials } from '../support/csms.js';
import {
  ChargingSession,
  ago,
  energyRegister,
  expectRecordedEvents,
  getTransaction,
  getTransactionRes,
  iso,
  listTransactions,
  meterValue,
  newIdToken,
  registerIdToken,
  type IdToken,
  type SentEvent,
} from '../support/charging.js';
import { sleep, type Payload, type TestStation } from '../support/station.js';
import { randomUUID } from 'node:crypto';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 3000 });
const TRANSACTION_DURATION_MS = 20;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** A registered station, connected and booted, with its credentials for reconnecting. */
async function station(prefix: string): Promise<{ creds: StationCredentials; station: TestStation }> {
  const creds = await h.csms.register({ prefix });
  const connected = await h.csms.connect(creds);
  await connected.booted();
  return { creds, station: connected };
}

/** The station loses its connection for `Transaction Duration` and comes back without a BootNotification. */
async function reconnect(creds: StationCredentials, old: TestStation): Promise<TestStation> {
  await old.close();
  await sleep(TRANSACTION_DURATION_MS);
  return h.csms.connect(creds);
}

async function charging(prefix: string): Promise<{ creds: StationCredentials; station: TestStation; tx: ChargingSession; token: IdToken }> {
  const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
  const s = await station(prefix);
  const tx = new ChargingSession(s.station, { transactionDurationMs: TRANSACTION_DURATION_MS });
  await tx.energyTransferStarted(token, { meterValue: [meterValue([energyRegister(1_000, { context: 'Transaction.Begin' })], ago(MINUTE))] });
  return { ...s, tx, token };
}

/** [TRIGGER] GetTransactionStatus through the API, the station answering `answer`. */
async function getTransactionStatus(s: TestStation, request: Payload, answer: Payload): Promise<void> {
  s.onCall('GetTransactionStatus', () => answer);
  const mark = s.mark();
  const res = await h.csms.api.command(s.identity, 'GetTransactionStatus', request);
  expect(res.status, res.text).toBe(200);
  expect(res.body).toEqual({ request, response: answer });
  const call = await s.waitForCall('GetTransactionStatus', { afterSeq: mark });
  expect(call.payload, 'the request as the station received it').toEqual(request);
}

describe('GetTransactionStatus (E14)', () => {
  it.each([
    ['TC_E_29', 'by id, ongoing, messages queued', { byId: true, offlineGap: true, answer: { ongoingIndicator: true, messagesInQueue: true } }],
    ['TC_E_30', 'by id, ongoing, nothing queued', { byId: true, offlineGap: false, answer: { ongoingIndicator: true, messagesInQueue: false } }],
    ['TC_E_33', 'without id, messages queued', { byId: false, offlineGap: true, answer: { messagesInQueue: true } }],
  ] as const)("%s: %s — the station's answer is passed through and a queued offline event is accepted", async (id, _what, { byId, offlineGap, answer }) => {
    const { creds, station: first, tx } = await charging(id);
    let s = first;
    let offlineAt: Date | undefined;
    if (offlineGap) {
      offlineAt = new Date();
      s = await reconnect(creds, first);
      tx.moveTo(s);
    }
    await getTransactionStatus(s, byId ? { transactionId: tx.transactionId } : {}, answer);
    if (offlineAt !== undefined) {
      const queued = await tx.event('Updated', 'MeterValuePeriodic', {
        offline: true,
        timestamp: offlineAt,
        meterValue: [meterValue([energyRegister(1_800, { context: 'Sample.Periodic' })], offlineAt)],
      });
      expect(queued.response).toEqual({});
    }
    const v = await getTransaction(h.csms.api, s.identity, tx.transactionId);
    expect(v).toMatchObject({ active: true, chargingState: 'Charging' });
    if (offlineAt !== undefined) {
      expect(v.events.at(-1)).toMatchObject({ offline: true, timestamp: iso(offlineAt) });
      expect(v.energyWh).toBe(800);
    }
    expectRecordedEvents(v, tx);
  });

  it("TC_E_34: without id, nothing queued — the station's answer is passed through", async () => {
    const { station: s } = await station('E34');
    await getTransactionStatus(s, {}, { messagesInQueue: false });
  });

  it('TC_E_31: by id, ended while offline; Updated events that arrive after the Ended event are slotted in by seqNo', async () => {
    const { creds, station: first, tx, token } = await charging('E31');
    const lastOnline = tx.peekSeqNo() - 1;
    const offlineStart = Date.now();
    const s = await reconnect(creds, first);
    tx.moveTo(s);
    expect(await s.statusNotification(1, 1, 'Available')).toEqual({});

    // The station queued StopAuthorized and EVConnected while offline; it delivers the Ended event first.
    const stopSeq = tx.reserveSeqNo();
    const postSeq = tx.reserveSeqNo();
    const ended = await tx.event('Ended', 'EVCommunicationLost', {
      offline: true,
      chargingState: 'Idle',
      stoppedReason: 'EVDisconnected',
      timestamp: new Date(offlineStart + 3),
      meterValue: [meterValue([energyRegister(3_000, { context: 'Transaction.End' })], new Date(offlineStart + 3))],
    });
    expect(ended.request.seqNo).toBe(lastOnline + 3);
    expect(ended.response).toEqual({});

    await getTransactionStatus(s, { transactionId: tx.transactionId }, { ongoingIndicator: false, messagesInQueue: true });

    const stop = await tx.event('Updated', 'StopAuthorized', { seqNo: stopSeq, offline: true, idToken: token, timestamp: new Date(offlineStart + 1) });
    expect(stop.response.idTokenInfo?.status).toBe('Accepted');
    const post = await tx.event('Updated', 'ChargingStateChanged', {
      seqNo: postSeq,
      offline: true,
      chargingState: 'EVConnected',
      timestamp: new Date(offlineStart + 2),
    });
    expect(post.response).toEqual({});

    const v = await getTransaction(h.csms.api, s.identity, tx.transactionId);
    expect(v.events.map((e) => e.seqNo)).toEqual(Array.from({ length: lastOnline + 4 }, (_, i) => i));
    // The late EVConnected (seqNo below the Ended event's) must not overwrite the final state.
    expect(v).toMatchObject({ active: false, chargingState: 'Idle', stoppedReason: 'EVDisconnected', endedAt: iso(ended.request.timestamp as string), energyWh: 2_000 });
    expectRecordedEvents(v, tx);
  });
});

describe('DRV-E-01: identical resends', () => {
  it.each(['a new messageId', 'the same messageId'] as const)('answers a resend (with %s) again and stores it once, counting no energy twice', async (how) => {
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const { station: s } = await station('E-01');
    const tx = new ChargingSession(s);
    const t0 = Date.now() - 10 * MINUTE;
    const ids = { started: randomUUID(), periodic: randomUUID(), ended: randomUUID() };
    const resend = (sent: SentEvent, messageId: string): Promise<SentEvent> => tx.send(sent.request, how === 'the same messageId' ? messageId : undefined);

    const started = await tx.event('Started', 'Authorized', {
      idToken: token,
      evse: true,
      chargingState: 'Charging',
      meterValue: [meterValue([energyRegister(1_000, { context: 'Transaction.Begin' })], new Date(t0))],
      messageId: ids.started,
    });
    const periodic = await tx.event('Updated', 'MeterValuePeriodic', {
      meterValue: [meterValue([energyRegister(2_500, { context: 'Sample.Periodic' })], new Date(t0 + MINUTE))],
      messageId: ids.periodic,
    });
    // The station timed out on these answers and sends them again.
    expect((await resend(started, ids.started)).response).toEqual(started.response);
    expect((await resend(periodic, ids.periodic)).response).toEqual(periodic.response);
    const ended = await tx.event('Ended', 'StopAuthorized', {
      idToken: token,
      stoppedReason: 'Local',
      meterValue: [meterValue([energyRegister(4_000, { context: 'Transaction.End' })], new Date(t0 + 2 * MINUTE))],
      messageId: ids.ended,
    });
    expect((await resend(ended, ids.ended)).response).toEqual(ended.response);
    expect((await resend(periodic, ids.periodic)).response, 'even after the Ended event').toEqual(periodic.response);
    expect(started.response.idTokenInfo?.status).toBe('Accepted');

    const v = await getTransaction(h.csms.api, s.identity, tx.transactionId);
    expect(v.events.map((e) => e.seqNo)).toEqual([0, 1, 2]);
    expect(v).toMatchObject({ active: false, energyWh: 3_000, stoppedReason: 'Local', startedAt: iso(started.request.timestamp as string) });
    expect(
      v.meterValues.filter((mv) => mv.timestamp === iso(new Date(t0 + MINUTE))),
      'the resent reading once',
    ).toHaveLength(1);
    expect((await listTransactions(h.csms.api, s.identity)).body.items).toHaveLength(1);
    expectRecordedEvents(v, tx);
  });

  it("answers a resend from the token's current state, and keeps the event stored once with its first answer", async () => {
    const token = await registerIdToken(h.csms.api, newIdToken('ISO15693'));
    const { station: s } = await station('E-01b');
    const tx = new ChargingSession(s);
    const started = await tx.authorized(token, { viaCache: true });
    await registerIdToken(h.csms.api, token, { status: 'Blocked' });
    const again = await tx.send(started.request);
    expect(again.response.idTokenInfo?.status).toBe('Blocked');
    const v = await getTransaction(h.csms.api, s.identity, tx.transactionId);
    expect(v.events).toHaveLength(1);
    expect(v.events[0]?.response).toEqual(started.response);
  });
});

describe('DRV-E-02: an offline transaction delivered late and out of order', () => {
  it.each([
    ['in order', [0, 1, 2, 3]],
    ['in reverse', [3, 2, 1, 0]],
    ['Ended first', [3, 0, 1, 2]],
    ['shuffled', [1, 3, 0, 2]],
  ])("rebuilds the transaction with the station's own times when the queue arrives %s", async (_order, order) => {
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const { creds, station: first } = await station('E-02');
    // The station went offline; the driver charged in the meantime; it now reconnects (no boot) and empties its queue.
    const s = await reconnect(creds, first);
    const tx = new ChargingSession(s);
    const t = [ago(3 * HOUR), ago(3 * HOUR - MINUTE), ago(2 * HOUR), ago(HOUR)] as const;
    const queue = [
      tx.build('Started', 'Authorized', {
        offline: true,
        timestamp: t[0],
        idToken: token,
        evse: true,
        chargingState: 'EVConnected',
        meterValue: [meterValue([energyRegister(1_000, { context: 'Transaction.Begin' })], t[0])],
      }),
      tx.build('Updated', 'ChargingStateChanged', {
        offline: true,
        timestamp: t[1],
        chargingState: 'Charging',
        meterValue: [meterValue([energyRegister(1_100, { context: 'Sample.Periodic' })], t[1])],
      }),
      tx.build('Updated', 'MeterValuePeriodic', {
        offline: true,
        timestamp: t[2],
        meterValue: [meterValue([energyRegister(2_500, { context: 'Sample.Periodic' })], t[2])],
      }),
      tx.build('Ended', 'EVCommunicationLost', {
        offline: true,
        timestamp: t[3],
        chargingState: 'Idle',
        stoppedReason: 'EVDisconnected',
        meterValue: [meterValue([energyRegister(4_000, { context: 'Transaction.End' })], t[3])],
      }),
    ];
    for (const index of order) {
      const sent = await tx.send(queue[index] as SentEvent['request']);
      if (sent.request.idToken !== undefined) expect(sent.response.idTokenInfo?.status).toBe('Accepted');
      else expect(sent.response).toEqual({});
    }

    const v = await getTransaction(h.csms.api, s.identity, tx.transactionId);
    expect(v).toMatchObject({
      active: false,
      startedAt: iso(t[0]),
      endedAt: iso(t[3]),
      stoppedReason: 'EVDisconnected',
      chargingState: 'Idle',
      evseId: 1,
      connectorId: 1,
      idToken: token,
      energyWh: 3_000,
    });
    expect(v.flags, 'startMissing is gone once the Started event is in').toEqual([]);
    expect(v.events.every((e) => e.offline)).toBe(true);
    expectRecordedEvents(v, tx);
    expect((await listTransactions(h.csms.api, s.identity, { active: true })).body.items).toEqual([]);
  });
});

describe('DRV-E-03: a transaction whose Started event never arrived', () => {
  it('answers an Updated event for an unknown transaction and records it flagged startMissing', async () => {
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const { station: s } = await station('E-03u');
    const tx = new ChargingSession(s);
    const updated = await tx.event('Updated', 'ChargingStateChanged', { seqNo: 4, chargingState: 'Charging', evse: true, idToken: token });
    expect(updated.response.idTokenInfo?.status).toBe('Accepted');
    let v = await getTransaction(h.csms.api, s.identity, tx.transactionId);
    expect(v).toMatchObject({ active: true, evseId: 1, chargingState: 'Charging', idToken: token });
    expect(v.flags).toContain('startMissing');

    const ended = await tx.event('Ended', 'StopAuthorized', { seqNo: 5, stoppedReason: 'Local', idToken: token });
    expect(ended.response.idTokenInfo?.status).toBe('Accepted');
    v = await getTransaction(h.csms.api, s.identity, tx.transactionId);
    expect(v).toMatchObject({ active: false, stoppedReason: 'Local' });
    expect(v.flags).toContain('startMissing');
    expectRecordedEvents(v, tx);
  });

  it('answers a lone Ended event for an unknown transaction and records it closed, flagged startMissing', async () => {
    const { station: s } = await station('E-03e');
    const tx = new ChargingSession(s);
    const ended = await tx.event('Ended', 'EVCommunicationLost', { seqNo: 7, chargingState: 'Idle', stoppedReason: 'PowerLoss', evse: true });
    expect(ended.response).toEqual({});
    const v = await getTransaction(h.csms.api, s.identity, tx.transactionId);
    expect(v).toMatchObject({ active: false, stoppedReason: 'PowerLoss', endedAt: iso(ended.request.timestamp as string), evseId: 1 });
    expect(v.flags).toContain('startMissing');
    expectRecordedEvents(v, tx);
  });

  it('answers 404 for a transaction the station never mentioned', async () => {
    const { station: s } = await station('E-03n');
    const res = await getTransactionRes(h.csms.api, s.identity, 'no-such-transaction');
    expect(res.status).toBe(404);
  });
});
