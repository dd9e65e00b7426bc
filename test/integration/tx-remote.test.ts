/**
 * Remote control of transactions through the operator API: TC_F_01, TC_F_02, TC_F_03, TC_F_04, TC_E_21,
 * DRV-AUTH-05…08 (remote start with ISO14443, ISO15693, Central and NoAuthorization tokens), DRV-F01-01, DRV-F03-01.
 */
import { describe, expect, it } from 'vitest';
import { withCsms } from '../support/csms.js';
import {
  ChargingSession,
  expectRecordedEvents,
  getTransaction,
  listTransactions,
  newIdToken,
  registerIdToken,
  type IdToken,
  type IdTokenInfo,
} from '../support/charging.js';
import { Reply, sleep, type Payload, type TestStation } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 3000 });
const TRANSACTION_DURATION_MS = 20;

interface StartAnswer {
  status: number;
  remoteStartId: number;
  request: Payload;
  response: Payload;
  /** The RequestStartTransaction as the station received it. */
  received: Payload;
}

/** [TRIGGER] POST …/commands/RequestStartTransaction; returns the API answer and what the station received. */
async function requestStart(station: TestStation, body: Payload): Promise<StartAnswer> {
  const mark = station.mark();
  const res = await h.csms.api.command(station.identity, 'RequestStartTransaction', body);
  expect(res.status, res.text).toBe(200);
  const call = await station.waitForCall('RequestStartTransaction', { afterSeq: mark });
  return {
    status: res.status,
    remoteStartId: res.body.request.remoteStartId as number,
    request: res.body.request,
    response: res.body.response,
    received: call.payload,
  };
}

async function authorize(station: TestStation, token: IdToken): Promise<IdTokenInfo> {
  return (await station.authorize(token.idToken, token.type)).idTokenInfo;
}

describe('Remote start (F01/F02)', () => {
  it('TC_F_01: remote start after the cable was plugged in links the remoteStartId to the running transaction', async () => {
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const station = await h.csms.bootedStation({ prefix: 'F01' });
    const tx = new ChargingSession(station, { transactionDurationMs: TRANSACTION_DURATION_MS });
    await tx.evConnectedPreSession();
    station.onCall('RequestStartTransaction', () => ({ status: 'Accepted', transactionId: tx.transactionId }));

    const start = await requestStart(station, { idToken: token, evseId: 1 });
    expect(Number.isInteger(start.remoteStartId)).toBe(true);
    expect(start.received).toEqual({ idToken: token, evseId: 1, remoteStartId: start.remoteStartId });
    expect(start.response).toEqual({ status: 'Accepted', transactionId: tx.transactionId });

    const remote = await tx.event('Updated', 'RemoteStart', { remoteStartId: start.remoteStartId, idToken: token });
    expect(remote.response.idTokenInfo?.status).toBe('Accepted');
    tx.isAuthorized = true;
    tx.token = token;
    await tx.energyTransferStarted();

    const v = await getTransaction(h.csms.api, station.identity, tx.transactionId);
    expect(v).toMatchObject({ active: true, remoteStartId: start.remoteStartId, idToken: token, chargingState: 'Charging', evseId: 1 });
    expectRecordedEvents(v, tx);
  });

  it('echoes a remoteStartId the operator chose instead of assigning one', async () => {
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const station = await h.csms.bootedStation({ prefix: 'F02-id' });
    const start = await requestStart(station, { idToken: token, remoteStartId: 4242 });
    expect(start.request).toEqual({ idToken: token, remoteStartId: 4242 });
    expect(start.received).toEqual({ idToken: token, remoteStartId: 4242 });
  });

  describe.each([
    ['DRV-AUTH-05', 'ISO14443'],
    ['DRV-AUTH-06', 'ISO15693'],
    ['DRV-AUTH-07', 'Central'],
    ['DRV-AUTH-08', 'NoAuthorization'],
  ] as const)('%s: remote start with a %s token', (caseId, type) => {
    it.each([
      ['TC_F_02', true],
      ['TC_F_03', false],
    ] as const)(`%s + ${caseId}: remote start first (AuthorizeRemoteStart=%s), then plug-in, charging and stop`, async (_f, authorizeRemoteStart) => {
      // ISO cards are registered; a Central token is honoured because the CSMS itself hands it out; NoAuthorization is "".
      const token = newIdToken(type);
      if (type === 'ISO14443' || type === 'ISO15693') await registerIdToken(h.csms.api, token);
      const station = await h.csms.bootedStation({ prefix: `${_f}-${type}` });
      station.setVariable({ component: { name: 'AuthCtrlr' }, variable: { name: 'AuthorizeRemoteStart' }, value: String(authorizeRemoteStart) });
      const tx = new ChargingSession(station, { transactionDurationMs: TRANSACTION_DURATION_MS });

      const start = await requestStart(station, { idToken: token, evseId: 1 });
      expect(start.received.idToken, 'the request carries the token and its type').toEqual(token);
      expect(start.received.remoteStartId).toBe(start.remoteStartId);
      expect(start.response).toEqual({ status: 'Accepted' });

      // F01.FR.02: Central and NoAuthorization tokens are never authorized by the station.
      if (authorizeRemoteStart && type !== 'Central' && type !== 'NoAuthorization') {
        expect((await tx.authorize(token))?.status).toBe('Accepted');
      }
      const started = await tx.event('Started', 'RemoteStart', { remoteStartId: start.remoteStartId, idToken: token });
      expect(started.response.idTokenInfo?.status).toBe('Accepted');
      tx.isAuthorized = true;
      tx.token = token;
      await tx.energyTransferStarted();
      await tx.stopAuthorized();
      await tx.evConnectedPostSession();
      await tx.evDisconnected();
      for (const a of tx.tokenAnswers()) expect(a.idTokenInfo?.status, `seqNo ${a.seqNo}`).toBe('Accepted');

      const v = await getTransaction(h.csms.api, station.identity, tx.transactionId);
      expect(v).toMatchObject({ active: false, remoteStartId: start.remoteStartId, idToken: token, evseId: 1, stoppedReason: 'EVDisconnected' });
      expectRecordedEvents(v, tx);
    });
  });

  it('DRV-AUTH-07: a Central token the CSMS handed out in an accepted remote start is also Accepted by Authorize', async () => {
    const token = newIdToken('Central');
    const station = await h.csms.bootedStation({ prefix: 'AUTH07' });
    expect((await authorize(station, token)).status, 'unknown before it was issued').toBe('Unknown');
    await requestStart(station, { idToken: token, evseId: 1 });
    expect((await authorize(station, token)).status).toBe('Accepted');
  });

  it('TC_F_04: remote start, then the cable is never plugged in (Updated EVConnectTimeout); a later Ended still fits', async () => {
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const station = await h.csms.bootedStation({ prefix: 'F04' });
    const tx = new ChargingSession(station);
    const start = await requestStart(station, { idToken: token, evseId: 1 });
    expect(start.response).toEqual({ status: 'Accepted' });
    const started = await tx.event('Started', 'RemoteStart', { remoteStartId: start.remoteStartId, idToken: token });
    expect(started.response.idTokenInfo?.status).toBe('Accepted');
    await sleep(TRANSACTION_DURATION_MS);
    const timeout = await tx.event('Updated', 'EVConnectTimeout', {});
    expect(timeout.response).toEqual({});
    expect(await getTransaction(h.csms.api, station.identity, tx.transactionId)).toMatchObject({ active: true, remoteStartId: start.remoteStartId });

    const ended = await tx.event('Ended', 'EVConnectTimeout', { stoppedReason: 'Timeout' });
    expect(ended.response).toEqual({});
    const v = await getTransaction(h.csms.api, station.identity, tx.transactionId);
    expect(v).toMatchObject({ active: false, stoppedReason: 'Timeout', remoteStartId: start.remoteStartId, energyWh: null });
    expectRecordedEvents(v, tx);
  });

  it('DRV-F01-01: a Rejected remote start is reported as such and leaves nothing behind', async () => {
    const central = newIdToken('Central');
    const station = await h.csms.bootedStation({ prefix: 'F01-01' });
    station.onCall('RequestStartTransaction', () => ({ status: 'Rejected', statusInfo: { reasonCode: 'Occupied' } }));
    const res = await h.csms.api.command(station.identity, 'RequestStartTransaction', { idToken: central, evseId: 1 });
    expect(res.status, res.text).toBe(200);
    expect(res.body.response).toEqual({ status: 'Rejected', statusInfo: { reasonCode: 'Occupied' } });
    expect(Number.isInteger(res.body.request.remoteStartId)).toBe(true);

    expect((await listTransactions(h.csms.api, station.identity)).body.items).toEqual([]);
    expect((await authorize(station, central)).status, 'a token of a rejected remote start is not honoured').toBe('Unknown');

    // The next attempt, accepted, works as if the first had never happened.
    station.resetHandler('RequestStartTransaction');
    const start = await requestStart(station, { idToken: central, evseId: 1 });
    expect(start.response).toEqual({ status: 'Accepted' });
    expect(start.remoteStartId).not.toBe(res.body.request.remoteStartId);
    const tx = new ChargingSession(station);
    const started = await tx.event('Started', 'RemoteStart', { remoteStartId: start.remoteStartId, idToken: central });
    expect(started.response.idTokenInfo?.status).toBe('Accepted');
    const items = (await listTransactions(h.csms.api, station.identity)).body.items;
    expect(items.map((t) => [t.transactionId, t.remoteStartId])).toEqual([[tx.transactionId, start.remoteStartId]]);
  });
});

describe('Remote stop (F03)', () => {
  async function charging(prefix: string): Promise<{ station: TestStation; tx: ChargingSession; token: IdToken }> {
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const station = await h.csms.bootedStation({ prefix });
    const tx = new ChargingSession(station, { transactionDurationMs: TRANSACTION_DURATION_MS });
    await tx.energyTransferStarted(token);
    return { station, tx, token };
  }

  it("TC_E_21: RequestStopTransaction carries the station's transactionId; the RemoteStop end is recorded", async () => {
    const { station, tx } = await charging('E21');
    const mark = station.mark();
    const res = await h.csms.api.command(station.identity, 'RequestStopTransaction', { transactionId: tx.transactionId });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({ request: { transactionId: tx.transactionId }, response: { status: 'Accepted' } });
    const call = await station.waitForCall('RequestStopTransaction', { afterSeq: mark });
    expect(call.payload).toEqual({ transactionId: tx.transactionId });

    const ended = await tx.event('Ended', 'RemoteStop', { stoppedReason: 'Remote', chargingState: 'EVConnected' });
    expect(ended.response).toEqual({});
    const v = await getTransaction(h.csms.api, station.identity, tx.transactionId);
    expect(v).toMatchObject({ active: false, stoppedReason: 'Remote', chargingState: 'EVConnected' });
    expectRecordedEvents(v, tx);
  });

  it('DRV-F03-01: a Rejected remote stop is reported as such and the transaction carries on', async () => {
    const { station, tx } = await charging('F03-01');
    station.onCall('RequestStopTransaction', () => ({ status: 'Rejected' }));
    const res = await h.csms.api.command(station.identity, 'RequestStopTransaction', { transactionId: tx.transactionId });
    expect(res.status, res.text).toBe(200);
    expect(res.body.response).toEqual({ status: 'Rejected' });
    expect(await getTransaction(h.csms.api, station.identity, tx.transactionId)).toMatchObject({ active: true, stoppedReason: null, chargingState: 'Charging' });

    await tx.stopAuthorized();
    await tx.evConnectedPostSession();
    const ended = await tx.evDisconnected();
    expect(ended.response).toEqual({});
    expect(await getTransaction(h.csms.api, station.identity, tx.transactionId)).toMatchObject({ active: false, stoppedReason: 'EVDisconnected' });
  });
});

describe('CONTRACT §3.2 "Remote-start tokens": Accepted at that station, from the request until its transaction ends or the request fails', () => {
  it('a station that Authorizes before it answers gets Accepted; the TransactionEvents too; another station gets Unknown; after the end, Unknown', async () => {
    const token = newIdToken('Central');
    const station = await h.csms.bootedStation({ prefix: 'GRANT' });
    const other = await h.csms.bootedStation({ prefix: 'GRANTX' });
    let duringRequest: IdTokenInfo | undefined;
    let elsewhere: IdTokenInfo | undefined;
    station.onCall('RequestStartTransaction', async () => {
      // A real station checks the token before it answers.
      duringRequest = await authorize(station, token);
      elsewhere = await authorize(other, token);
      return { status: 'Accepted' };
    });
    const start = await requestStart(station, { idToken: token, evseId: 1 });
    expect(start.response).toEqual({ status: 'Accepted' });
    expect(duringRequest?.status).toBe('Accepted');
    expect(elsewhere?.status).toBe('Unknown');

    const tx = new ChargingSession(station, { transactionDurationMs: TRANSACTION_DURATION_MS });
    const started = await tx.event('Started', 'RemoteStart', { remoteStartId: start.remoteStartId, idToken: token });
    expect(started.response.idTokenInfo?.status).toBe('Accepted');
    expect((await authorize(other, token)).status, 'at another station').toBe('Unknown');
    tx.isAuthorized = true;
    tx.token = token;
    await tx.energyTransferStarted();
    await tx.stopAuthorized();
    await tx.evConnectedPostSession();
    await tx.evDisconnected();
    for (const a of tx.tokenAnswers()) expect(a.idTokenInfo?.status, `seqNo ${a.seqNo}`).toBe('Accepted');
    expect((await authorize(station, token)).status, 'after its transaction ended').toBe('Unknown');
  });

  it('a remote start answered with a CALLERROR or not at all grants nothing afterwards', async () => {
    const token = newIdToken('Central');
    const station = await h.csms.bootedStation({ prefix: 'GRANTERR' });
    station.onCall('RequestStartTransaction', () => Reply.error('InternalError', 'busy'));
    const failed = await h.csms.api.command(station.identity, 'RequestStartTransaction', { idToken: token, evseId: 1 });
    expect(failed.status).toBe(502);
    expect((await authorize(station, token)).status).toBe('Unknown');

    station.onCall('RequestStartTransaction', () => Reply.none);
    const timedOut = await h.csms.api.command(station.identity, 'RequestStartTransaction', { idToken: token, evseId: 1 });
    expect(timedOut.status).toBe(504);
    expect((await authorize(station, token)).status).toBe('Unknown');
  });
});
