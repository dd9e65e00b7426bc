/**
 * Authorization: the id-token API, Authorize answers and re-verification of tokens in TransactionEvents.
 * TC_C_02, TC_C_06, TC_C_07, TC_C_08, TC_C_20, TC_C_39, TC_C_47, TC_C_48, TC_C_49, DRV-AUTH-09, and the
 * csms_authorize_response_seconds metric.
 */
import { describe, expect, it } from 'vitest';
import { metricValue } from '../support/api.js';
import { withCsms } from '../support/csms.js';
import {
  ChargingSession,
  deleteIdToken,
  expectRecordedEvents,
  getIdToken,
  getTransaction,
  lowerCased,
  newIdToken,
  putIdToken,
  registerIdToken,
  type IdToken,
  type IdTokenInfo,
  type IdTokenKind,
} from '../support/charging.js';
import type { TestStation } from '../support/station.js';

const MASTER_GROUP = 'MASTERPASS-GROUP';
const h = withCsms({ CSMS_MASTER_PASS_GROUP: MASTER_GROUP, CSMS_CALL_TIMEOUT_MS: 3000 });

const HOUR = 3600_000;

async function authorize(station: TestStation, token: IdToken): Promise<IdTokenInfo> {
  const answer = await station.authorize(token.idToken, token.type);
  return answer.idTokenInfo;
}

function newGroup(): string {
  return `GROUP-${Math.random().toString(36).slice(2, 10)}`;
}

describe('id-token API (CONTRACT §4)', () => {
  it('PUT registers (201) and updates (200), GET shows the token, DELETE removes it (204) and it is Unknown again', async () => {
    const api = h.csms.api;
    const token = newIdToken('ISO14443');
    const expiresAt = new Date(Date.now() + 48 * HOUR).toISOString();

    const created = await putIdToken(api, token, { status: 'Accepted', groupId: 'G-1', expiresAt });
    expect(created.status, created.text).toBe(201);
    expect(created.body).toMatchObject({ type: 'ISO14443', idToken: token.idToken, status: 'Accepted', groupId: 'G-1', expiresAt });

    const updated = await putIdToken(api, token, { status: 'Blocked' });
    expect(updated.status, updated.text).toBe(200);
    expect(updated.body).toMatchObject({ type: 'ISO14443', idToken: token.idToken, status: 'Blocked' });

    const read = await getIdToken(api, token);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ type: 'ISO14443', idToken: token.idToken, status: 'Blocked' });

    const station = await h.csms.bootedStation({ prefix: 'tok-api' });
    expect((await authorize(station, token)).status).toBe('Blocked');

    const deleted = await deleteIdToken(api, token);
    expect(deleted.status).toBe(204);
    expect((await getIdToken(api, token)).status).toBe(404);
    expect((await deleteIdToken(api, token)).status).toBe(404);
    expect((await authorize(station, token)).status, 'a deleted token is unknown at once').toBe('Unknown');
  });

  it('refuses an unknown token type with 400', async () => {
    const res = await h.csms.api.request('PUT', '/api/v1/id-tokens/Bogus/ABC', { status: 'Accepted' });
    expect(res.status).toBe(400);
  });

  it.each(['ISO14443', 'ISO15693'] as const)('DRV-AUTH-01/02: a %s hex UID is one token whatever its letter case', async (type) => {
    const api = h.csms.api;
    const token = newIdToken(type);
    const lower = lowerCased(token);
    expect((await putIdToken(api, lower, { status: 'Accepted' })).status).toBe(201);
    // The same UID in upper case is the same token: an update, not a second one.
    expect((await putIdToken(api, token, { status: 'Accepted' })).status).toBe(200);
    const read = await getIdToken(api, lower);
    expect(read.status).toBe(200);
    expect(read.body.idToken.toUpperCase()).toBe(token.idToken);
    expect((await getIdToken(api, token)).status).toBe(200);

    const station = await h.csms.bootedStation({ prefix: `tok-${type}` });
    expect((await authorize(station, token)).status).toBe('Accepted');
    expect((await authorize(station, lower)).status).toBe('Accepted');
  });
});

describe('Authorize (C01, C12, C16 decisions)', () => {
  it.each<[string, IdTokenKind, 'unregistered' | 'Invalid', string]>([
    ['an unregistered ISO14443 card', 'ISO14443', 'unregistered', 'Unknown'],
    ['an unregistered ISO15693 card', 'ISO15693', 'unregistered', 'Unknown'],
    ['an unregistered eMAID', 'eMAID', 'unregistered', 'Unknown'],
    ['an unregistered Central token the CSMS never issued', 'Central', 'unregistered', 'Unknown'],
    ['a card registered as Invalid', 'ISO14443', 'Invalid', 'Invalid'],
  ])('TC_C_02: answers %s with %s', async (_what, type, registration, expected) => {
    const token = newIdToken(type);
    if (registration === 'Invalid') await registerIdToken(h.csms.api, token, { status: 'Invalid' });
    const station = await h.csms.bootedStation({ prefix: 'C02' });
    const info = await authorize(station, token);
    expect(['Invalid', 'Unknown']).toContain(info.status);
    expect(info.status).toBe(expected);
  });

  it('TC_C_06: answers a Blocked token with Blocked', async () => {
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'), { status: 'Blocked' });
    const station = await h.csms.bootedStation({ prefix: 'C06' });
    expect((await authorize(station, token)).status).toBe('Blocked');
  });

  it.each<[string, { status: 'Accepted' | 'Expired'; expiresAt?: string }]>([
    ['registered as Expired', { status: 'Expired' }],
    ['Accepted but past its expiresAt', { status: 'Accepted', expiresAt: new Date(Date.now() - HOUR).toISOString() }],
  ])('TC_C_07: answers a token %s with Expired', async (_what, body) => {
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'), body);
    const station = await h.csms.bootedStation({ prefix: 'C07' });
    expect((await authorize(station, token)).status).toBe('Expired');
  });

  it('answers an Accepted token whose expiresAt lies ahead with Accepted', async () => {
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'), {
      status: 'Accepted',
      expiresAt: new Date(Date.now() + HOUR).toISOString(),
    });
    const station = await h.csms.bootedStation({ prefix: 'C07-ok' });
    expect((await authorize(station, token)).status).toBe('Accepted');
  });

  it('DRV-AUTH-03: a Local token is Accepted unless registered otherwise (then its registration decides)', async () => {
    const station = await h.csms.bootedStation({ prefix: 'AUTH03' });
    expect((await authorize(station, newIdToken('Local'))).status).toBe('Accepted');
    const blocked = await registerIdToken(h.csms.api, newIdToken('Local'), { status: 'Blocked' });
    expect((await authorize(station, blocked)).status).toBe('Blocked');
  });

  it('a registered Central token is Accepted', async () => {
    const token = await registerIdToken(h.csms.api, newIdToken('Central'));
    const station = await h.csms.bootedStation({ prefix: 'central' });
    expect((await authorize(station, token)).status).toBe('Accepted');
  });

  it('a change of the token through the API is seen by the very next Authorize', async () => {
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const station = await h.csms.bootedStation({ prefix: 'tok-change' });
    expect((await authorize(station, token)).status).toBe('Accepted');
    await registerIdToken(h.csms.api, token, { status: 'Blocked' });
    expect((await authorize(station, token)).status).toBe('Blocked');
    await registerIdToken(h.csms.api, token, { status: 'Accepted' });
    expect((await authorize(station, token)).status).toBe('Accepted');
  });

  it('reports csms_authorize_response_seconds by answered status in /metrics', async () => {
    const station = await h.csms.bootedStation({ prefix: 'auth-metric' });
    const accepted = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const before = await h.csms.api.metrics();
    const acceptedBefore = metricValue(before, 'csms_authorize_response_seconds_count', { status: 'Accepted' });
    const unknownBefore = metricValue(before, 'csms_authorize_response_seconds_count', { status: 'Unknown' });
    await authorize(station, accepted);
    await authorize(station, accepted);
    await authorize(station, newIdToken('ISO14443'));
    const after = await h.csms.api.metrics();
    expect(after).toMatch(/^# TYPE csms_authorize_response_seconds histogram$/m);
    expect(metricValue(after, 'csms_authorize_response_seconds_count', { status: 'Accepted' }) - acceptedBefore).toBe(2);
    expect(metricValue(after, 'csms_authorize_response_seconds_count', { status: 'Unknown' }) - unknownBefore).toBe(1);
  });
});

describe('Authorization through the station cache (C12)', () => {
  it('TC_C_08: verifies a cached valid token carried by TransactionEvent without an Authorize first', async () => {
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const station = await h.csms.bootedStation({ prefix: 'C08' });
    const tx = new ChargingSession(station);
    await tx.evConnectedPreSession();
    const sent = await tx.authorized(token, { viaCache: true });
    expect(sent.request.eventType).toBe('Updated');
    expect(sent.response.idTokenInfo?.status).toBe('Accepted');
    expect(
      station.sent.some((f) => f.raw.includes('"Authorize"')),
      'no Authorize was sent',
    ).toBe(false);

    const view = await getTransaction(h.csms.api, station.identity, tx.transactionId);
    expect(view.idToken).toEqual(token);
    expect(view.active).toBe(true);
    expectRecordedEvents(view, tx);
  });

  it.each<[string, 'unregistered' | 'Invalid', string]>([
    ['an unregistered token', 'unregistered', 'Unknown'],
    ['a token registered as Invalid', 'Invalid', 'Invalid'],
  ])('TC_C_20: answers %s carried by TransactionEvent with %s', async (_what, registration, expected) => {
    const token = newIdToken('ISO14443');
    if (registration === 'Invalid') await registerIdToken(h.csms.api, token, { status: 'Invalid' });
    const station = await h.csms.bootedStation({ prefix: 'C20' });
    const tx = new ChargingSession(station);
    await tx.evConnectedPreSession();
    const sent = await tx.authorized(token, { viaCache: true, expect: null });
    expect(['Invalid', 'Unknown']).toContain(sent.response.idTokenInfo?.status);
    expect(sent.response.idTokenInfo?.status).toBe(expected);
    expectRecordedEvents(await getTransaction(h.csms.api, station.identity, tx.transactionId), tx);
  });
});

describe('E02.FR.04: the CSMS re-verifies every token in a TransactionEvent', () => {
  it('DRV-AUTH-09: answers Blocked for a token the station authorized locally, in Started and in StopAuthorized', async () => {
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'), { status: 'Blocked' });
    const station = await h.csms.bootedStation({ prefix: 'AUTH09' });
    const tx = new ChargingSession(station);
    // The station let the driver start on its own (local list / offline), so no Authorize.
    const started = await tx.authorized(token, { viaCache: true, expect: 'Blocked' });
    expect(started.request.eventType).toBe('Started');
    expect(started.response.idTokenInfo).toMatchObject({ status: 'Blocked' });
    const stop = await tx.event('Updated', 'StopAuthorized', { idToken: token });
    expect(stop.response.idTokenInfo).toMatchObject({ status: 'Blocked' });
    const ended = await tx.event('Ended', 'Deauthorized', { stoppedReason: 'DeAuthorized', idToken: token });
    expect(ended.response.idTokenInfo).toMatchObject({ status: 'Blocked' });

    const view = await getTransaction(h.csms.api, station.identity, tx.transactionId);
    expect(view.active).toBe(false);
    expect(view.stoppedReason).toBe('DeAuthorized');
    expectRecordedEvents(view, tx);
  });

  it.each<[string, { status: 'Expired' | 'Invalid' | 'Accepted'; expiresAt?: string }, string]>([
    ['Expired', { status: 'Expired' }, 'Expired'],
    ['past its expiresAt', { status: 'Accepted', expiresAt: new Date(Date.now() - HOUR).toISOString() }, 'Expired'],
    ['Invalid', { status: 'Invalid' }, 'Invalid'],
  ])('DRV-AUTH-09: a TransactionEvent with a token %s is answered %s', async (_what, body, expected) => {
    const token = await registerIdToken(h.csms.api, newIdToken('ISO15693'), body);
    const station = await h.csms.bootedStation({ prefix: 'AUTH09b' });
    const tx = new ChargingSession(station);
    const sent = await tx.authorized(token, { viaCache: true, expect: null });
    expect(sent.response.idTokenInfo?.status).toBe(expected);
  });
});

describe('Group authorization (C09)', () => {
  it('TC_C_39: lets the other token of the same group stop the transaction, every answer naming the group', async () => {
    const group = newGroup();
    const valid = await registerIdToken(h.csms.api, newIdToken('ISO14443'), { status: 'Accepted', groupId: group });
    const valid2 = await registerIdToken(h.csms.api, newIdToken('ISO14443'), { status: 'Accepted', groupId: group });
    const station = await h.csms.bootedStation({ prefix: 'C39' });
    const tx = new ChargingSession(station);
    await tx.evConnectedPreSession();

    const groupIdToken = { idToken: group, type: 'Central' };
    expect(await authorize(station, valid2)).toMatchObject({ status: 'Accepted', groupIdToken });
    const authorizedTe = await tx.authorized(valid, { viaCache: true });
    expect(authorizedTe.response.idTokenInfo).toMatchObject({ status: 'Accepted', groupIdToken });
    await tx.energyTransferStarted();
    expect(await authorize(station, valid2)).toMatchObject({ status: 'Accepted', groupIdToken });
    const stopTe = await tx.stopAuthorized(valid2);
    expect(stopTe.response.idTokenInfo).toMatchObject({ status: 'Accepted', groupIdToken });
    await tx.evConnectedPostSession();
    await tx.evDisconnected();

    const view = await getTransaction(h.csms.api, station.identity, tx.transactionId);
    expect(view.active).toBe(false);
    expect(view.stoppedReason).toBe('EVDisconnected');
    expect(view.idToken, 'the transaction belongs to the token that started it').toEqual(valid);
    expectRecordedEvents(view, tx);
  });
});

describe('Master pass (C16)', () => {
  const masterGroupToken = { idToken: MASTER_GROUP, type: 'Central' };

  /** Two transactions charging, on EVSE 1 (valid) and EVSE 2 (valid2), and a registered master-pass token. */
  async function twoTransactions(prefix: string): Promise<{ station: TestStation; master: IdToken; txs: Array<{ tx: ChargingSession; token: IdToken }> }> {
    const master = await registerIdToken(h.csms.api, newIdToken('ISO14443'), { status: 'Accepted', groupId: MASTER_GROUP });
    const valid = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const valid2 = await registerIdToken(h.csms.api, newIdToken('ISO15693'));
    const station = await h.csms.newStation({ prefix });
    await station.booted({
      evses: [
        { id: 1, connectors: [1] },
        { id: 2, connectors: [1] },
      ],
    });
    const tx1 = new ChargingSession(station, { evseId: 1 });
    const tx2 = new ChargingSession(station, { evseId: 2 });
    await tx1.energyTransferStarted(valid);
    await tx2.energyTransferStarted(valid2);
    return {
      station,
      master,
      txs: [
        { tx: tx1, token: valid },
        { tx: tx2, token: valid2 },
      ],
    };
  }

  it('TC_C_47: the master pass stops all transactions; Authorize and both Ended events carry the master group', async () => {
    const { station, master, txs } = await twoTransactions('C47');
    expect(await authorize(station, master)).toMatchObject({ status: 'Accepted', groupIdToken: masterGroupToken });
    for (const { tx } of txs) {
      const ended = await tx.event('Ended', 'StopAuthorized', { stoppedReason: 'MasterPass', idToken: master, chargingState: 'EVConnected' });
      expect(ended.response.idTokenInfo).toMatchObject({ status: 'Accepted', groupIdToken: masterGroupToken });
    }
    for (const { tx, token } of txs) {
      const view = await getTransaction(h.csms.api, station.identity, tx.transactionId);
      expect(view).toMatchObject({ active: false, stoppedReason: 'MasterPass', evseId: tx.evseId, idToken: token });
      expectRecordedEvents(view, tx);
    }
  });

  it.each<[string, 'master' | 'valid']>([
    ['the master pass (as intended)', 'master'],
    ['valid_idtoken (as Ed3 literally says)', 'valid'],
  ])('TC_C_48: the master pass stops one transaction of several; Authorize with %s', async (_what, authorizeWith) => {
    const { station, master, txs } = await twoTransactions('C48');
    const [first, second] = txs as [{ tx: ChargingSession; token: IdToken }, { tx: ChargingSession; token: IdToken }];
    const auth = await authorize(station, authorizeWith === 'master' ? master : first.token);
    expect(auth.status).toBe('Accepted');
    if (authorizeWith === 'master') expect(auth.groupIdToken).toEqual(masterGroupToken);
    const ended = await first.tx.event('Ended', 'StopAuthorized', { stoppedReason: 'MasterPass', idToken: master, chargingState: 'EVConnected' });
    expect(ended.response.idTokenInfo).toMatchObject({ status: 'Accepted', groupIdToken: masterGroupToken });

    expect(await getTransaction(h.csms.api, station.identity, first.tx.transactionId)).toMatchObject({ active: false, stoppedReason: 'MasterPass' });
    expect(await getTransaction(h.csms.api, station.identity, second.tx.transactionId)).toMatchObject({ active: true, stoppedReason: null });
    await second.tx.stopAuthorized();
  });

  it("TC_C_49: without UI the Ended MasterPass events carry the drivers' own tokens and are answered normally", async () => {
    const { station, master, txs } = await twoTransactions('C49');
    expect(await authorize(station, master)).toMatchObject({ status: 'Accepted', groupIdToken: masterGroupToken });
    for (const { tx, token } of txs) {
      const ended = await tx.event('Ended', 'StopAuthorized', { stoppedReason: 'MasterPass', idToken: token, chargingState: 'EVConnected' });
      expect(ended.response.idTokenInfo?.status).toBe('Accepted');
    }
    for (const { tx } of txs) {
      const view = await getTransaction(h.csms.api, station.identity, tx.transactionId);
      expect(view).toMatchObject({ active: false, stoppedReason: 'MasterPass' });
      expectRecordedEvents(view, tx);
    }
  });
});
