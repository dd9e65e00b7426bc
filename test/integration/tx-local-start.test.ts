/**
 * Locally started transactions: TC_E_01, TC_E_02, TC_E_03, TC_E_04, TC_E_09, TC_E_10, TC_E_11, TC_E_12, TC_E_38,
 * and DRV-AUTH-01…04 (every token type a driver can start with locally: ISO14443, ISO15693, Local, NoAuthorization).
 */
import { describe, expect, it } from 'vitest';
import { withCsms } from '../support/csms.js';
import {
  ChargingSession,
  energyRegister,
  expectRecordedEvents,
  getTransaction,
  iso,
  listTransactions,
  lowerCased,
  meterValue,
  newIdToken,
  registerIdToken,
  type IdToken,
  type TransactionView,
} from '../support/charging.js';
import type { TestStation } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 3000 });

async function view(station: TestStation, tx: ChargingSession): Promise<TransactionView> {
  return getTransaction(h.csms.api, station.identity, tx.transactionId);
}

/** The token a driver presents: registered Accepted when the CSMS must know it, as the station reads it. */
async function driverToken(type: 'ISO14443' | 'ISO15693' | 'Local' | 'NoAuthorization', casing: 'same' | 'lower'): Promise<{ presented: IdToken; registered?: IdToken }> {
  const token = newIdToken(type);
  if (type === 'Local' || type === 'NoAuthorization') return { presented: token };
  // Registered in upper case; the reader may deliver the UID in lower case (DRV-AUTH-01/02).
  await registerIdToken(h.csms.api, token);
  return { presented: casing === 'lower' ? lowerCased(token) : token, registered: token };
}

/** What every finished local transaction must show. */
function expectFinished(v: TransactionView, tx: ChargingSession, token: IdToken): void {
  expect(v.active).toBe(false);
  expect(v.evseId).toBe(1);
  expect(v.connectorId).toBe(1);
  expect(v.stoppedReason).toBe('EVDisconnected');
  expect(v.chargingState).toBe('Idle');
  expect(v.idToken?.type).toBe(token.type);
  expect(v.idToken?.idToken.toUpperCase()).toBe(token.idToken.toUpperCase());
  const first = tx.sent[0];
  const last = tx.sent[tx.sent.length - 1];
  expect(v.startedAt).toBe(iso(first?.request.timestamp as string));
  expect(v.endedAt).toBe(iso(last?.request.timestamp as string));
  expect(v.flags).toEqual([]);
  expectRecordedEvents(v, tx);
}

describe.each([
  ['DRV-AUTH-01', 'ISO14443'],
  ['DRV-AUTH-02', 'ISO15693'],
  ['DRV-AUTH-03', 'Local'],
  ['DRV-AUTH-04', 'NoAuthorization'],
] as const)('%s: local start with a %s token', (caseId, type) => {
  it(`TC_E_04 + ${caseId}: authorization first, then plug-in, charging, stop and unplug — every answer Accepted`, async () => {
    const { presented } = await driverToken(type, 'lower');
    const station = await h.csms.bootedStation({ prefix: `E04-${type}` });
    const tx = new ChargingSession(station);
    const started = await tx.authorized(presented);
    expect(started.request.eventType).toBe('Started');
    await tx.chargeAndFinish(presented);

    if (type === 'NoAuthorization') {
      expect(
        station.sent.some((f) => f.raw.includes('"Authorize"')),
        'no Authorize for NoAuthorization',
      ).toBe(false);
    } else {
      expect(tx.authorizeAnswers.map((a) => a.idTokenInfo.status)).toEqual(['Accepted']);
    }
    const answers = tx.tokenAnswers();
    expect(answers.length).toBeGreaterThanOrEqual(2);
    for (const a of answers) expect(a.idTokenInfo?.status, `seqNo ${a.seqNo}`).toBe('Accepted');
    for (const s of tx.sent.filter((e) => e.request.idToken === undefined)) expect(s.response, `seqNo ${s.request.seqNo}`).toEqual({});

    const v = await view(station, tx);
    expectFinished(v, tx, presented);
  });

  it(`TC_E_03 + ${caseId}: cable plugged in first, then authorized — every answer Accepted`, async () => {
    const { presented } = await driverToken(type, 'same');
    const station = await h.csms.bootedStation({ prefix: `E03-${type}` });
    const tx = new ChargingSession(station, { via: 'NotifyEvent' });
    const plugged = await tx.evConnectedPreSession();
    expect(plugged.request.eventType).toBe('Started');
    expect(plugged.response).toEqual({});
    const authorized = await tx.authorized(presented);
    expect(authorized.request.eventType).toBe('Updated');
    expect(authorized.response.idTokenInfo?.status).toBe('Accepted');

    const open = await view(station, tx);
    expect(open).toMatchObject({ active: true, evseId: 1, connectorId: 1, chargingState: 'EVConnected', endedAt: null, stoppedReason: null });
    expect(open.idToken?.type).toBe(type);

    await tx.energyTransferStarted();
    expect((await view(station, tx)).chargingState).toBe('Charging');
    await tx.stopAuthorized();
    await tx.evConnectedPostSession();
    await tx.evDisconnected();
    expectFinished(await view(station, tx), tx, presented);
  });
});

describe('Start options (TxStartPoint)', () => {
  it('TC_E_09: a transaction Started on cable plug-in without a token is answered and recorded', async () => {
    const station = await h.csms.bootedStation({ prefix: 'E09' });
    const tx = new ChargingSession(station);
    const sent = await tx.evConnectedPreSession();
    expect(sent.request).toMatchObject({ eventType: 'Started', triggerReason: 'CablePluggedIn', evse: { id: 1, connectorId: 1 } });
    expect(sent.response.idTokenInfo).toBeUndefined();

    const v = await view(station, tx);
    expect(v).toMatchObject({ active: true, evseId: 1, connectorId: 1, chargingState: 'EVConnected', idToken: null, startedAt: iso(sent.request.timestamp as string) });
    const listed = await listTransactions(h.csms.api, station.identity, { active: true });
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((t) => t.transactionId)).toEqual([tx.transactionId]);
    expectRecordedEvents(v, tx);
  });

  it('TC_E_10: a transaction Started on authorization is answered Accepted', async () => {
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const station = await h.csms.bootedStation({ prefix: 'E10' });
    const tx = new ChargingSession(station);
    const sent = await tx.authorized(token);
    expect(sent.request).toMatchObject({ eventType: 'Started', triggerReason: 'Authorized' });
    expect(tx.authorizeAnswers[0]?.idTokenInfo.status).toBe('Accepted');
    const v = await view(station, tx);
    expect(v).toMatchObject({ active: true, idToken: token, evseId: null });
    expectRecordedEvents(v, tx);
  });

  it.each([
    ['TC_E_11', 'data signed', 'SignedDataReceived', 'EVConnected'],
    ['TC_E_01', 'power path closed', 'ChargingStateChanged', 'SuspendedEVSE'],
    ['TC_E_02', 'energy transfer', 'ChargingStateChanged', 'Charging'],
  ] as const)('%s: start option %s — Started with a signed Transaction.Begin reading is Accepted and kept verbatim', async (_id, _what, triggerReason, chargingState) => {
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const station = await h.csms.bootedStation({ prefix: _id });
    const tx = new ChargingSession(station);
    expect((await tx.authorize(token))?.status).toBe('Accepted');
    await tx.reportConnector('Occupied');
    const begin = [meterValue([energyRegister(0.0, { context: 'Transaction.Begin', signed: true })])];
    const started = await tx.event('Started', triggerReason, { idToken: token, evse: true, chargingState, meterValue: begin });
    expect(started.response.idTokenInfo?.status).toBe('Accepted');
    if (chargingState !== 'Charging') {
      const charging = await tx.event('Updated', 'ChargingStateChanged', { chargingState: 'Charging' });
      expect(charging.response).toEqual({});
    }

    const v = await view(station, tx);
    expect(v).toMatchObject({ active: true, chargingState: 'Charging', evseId: 1, idToken: token });
    expect(v.events[0]?.request.meterValue).toEqual(begin);
    expect(v.meterValues).toEqual(expect.arrayContaining([expect.objectContaining(begin[0])]));
    expectRecordedEvents(v, tx);
  });

  it('TC_E_12: a transaction Started on EV detected in the parking bay is answered', async () => {
    const station = await h.csms.bootedStation({ prefix: 'E12' });
    const tx = new ChargingSession(station);
    const sent = await tx.event('Started', 'EVDetected', { evse: true });
    expect(sent.response).toEqual({});
    const v = await view(station, tx);
    expect(v).toMatchObject({ active: true, evseId: 1 });
    expectRecordedEvents(v, tx);
  });

  it('TC_E_38: authorized first, then the EV is not ready (SuspendedEV) — every event answered', async () => {
    const token = await registerIdToken(h.csms.api, newIdToken('ISO15693'));
    const station = await h.csms.bootedStation({ prefix: 'E38' });
    const tx = new ChargingSession(station);
    await tx.authorized(token);
    const plugged = await tx.evConnectedPreSession();
    expect(plugged.request.eventType).toBe('Updated');
    const suspended = await tx.event('Updated', 'ChargingStateChanged', { chargingState: 'SuspendedEV' });
    expect(suspended.response).toEqual({});
    const v = await view(station, tx);
    expect(v).toMatchObject({ active: true, chargingState: 'SuspendedEV', evseId: 1, connectorId: 1, idToken: token });
    expectRecordedEvents(v, tx);
  });
});
