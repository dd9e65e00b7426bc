/**
 * Display messages (CONTRACT §8.5; catalogue §7 "Advanced User Interface", O cases): the operator sets messages
 * through the managed route (ids assigned by the CSMS, stored once the station answered), clears them, and sees
 * what the station reported through NotifyDisplayMessages, whichever path sent the GetDisplayMessages.
 */
import { describe, expect, it } from 'vitest';
import { ChargingSession, newIdToken, registerIdToken } from '../support/charging.js';
import { withCsms, type TestCsms } from '../support/csms.js';
import { Reply, waitFor, type Payload, type TestStation } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 3000 });

interface MessageItem {
  id: number;
  source: 'CSMS' | 'station';
  message: Payload;
  status: string;
}

interface PostAnswer {
  id: number;
  message: Payload;
  source: string;
  status: string;
  response: { status: string };
  error?: { code: string; details?: { rule?: string } };
}

const base = (id: string): string => `/api/v1/stations/${encodeURIComponent(id)}/display-messages`;
const content = (text: string): Payload => ({ format: 'UTF8', language: 'en', content: text });

function post(csms: TestCsms, stationId: string, message: Payload) {
  return csms.api.request<PostAnswer>('POST', base(stationId), { message });
}

async function items(csms: TestCsms, stationId: string): Promise<MessageItem[]> {
  const res = await csms.api.request<{ items: MessageItem[] }>('GET', base(stationId));
  expect(res.status).toBe(200);
  return res.body.items;
}

function answerSet(station: TestStation, status: string): void {
  station.onCall('SetDisplayMessage', () => ({ status }));
}

describe('SetDisplayMessage (O01, O02, O06)', () => {
  it('TC_O_01: a general message gets a CSMS id, no transactionId, and is kept as set', async () => {
    const station = await h.csms.bootedStation({ prefix: 'aui' });
    answerSet(station, 'Accepted');
    const res = await post(h.csms, station.identity, { priority: 'NormalCycle', state: 'Idle', message: content('Welcome') });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ source: 'CSMS', status: 'Accepted', response: { status: 'Accepted' } });
    expect(res.body.id).toBeGreaterThan(0);
    const sent = (await station.waitForCall('SetDisplayMessage')).payload.message as Payload;
    expect(sent).toEqual({ id: res.body.id, priority: 'NormalCycle', state: 'Idle', message: content('Welcome') });
    expect(sent).not.toHaveProperty('transactionId');
    expect(await items(h.csms, station.identity)).toMatchObject([{ id: res.body.id, source: 'CSMS', status: 'Accepted', message: sent }]);
  });

  it('ids are assigned per message and never collide on one station', async () => {
    const station = await h.csms.bootedStation({ prefix: 'aui' });
    answerSet(station, 'Accepted');
    const ids = [];
    for (const text of ['one', 'two', 'three']) ids.push((await post(h.csms, station.identity, { priority: 'InFront', message: content(text) })).body.id);
    expect(new Set(ids).size).toBe(3);
    expect((await items(h.csms, station.identity)).map((i) => i.id).sort((a, b) => a - b)).toEqual([...ids].sort((a, b) => a - b));
  });

  for (const [tc, status] of [
    ['TC_O_26', 'Rejected'],
    ['TC_O_17', 'NotSupportedPriority'],
    ['TC_O_18', 'NotSupportedState'],
    ['TC_O_19', 'NotSupportedMessageFormat'],
  ] as const) {
    it(`${tc}: ${status} is answered to the operator and kept with that status, never as active`, async () => {
      const station = await h.csms.bootedStation({ prefix: 'aui' });
      answerSet(station, status);
      const res = await post(h.csms, station.identity, { priority: 'AlwaysFront', state: 'Charging', message: { format: 'HTML', content: '<b>x</b>' } });
      expect(res.status).toBe(201);
      expect(res.body.status).toBe(status);
      expect(await items(h.csms, station.identity)).toMatchObject([{ id: res.body.id, status }]);
    });
  }

  it('TC_O_13 / TC_O_14 / DRV-AUI-06: start and end times go out as given; past its endDateTime the message shows Expired', async () => {
    const station = await h.csms.bootedStation({ prefix: 'aui' });
    answerSet(station, 'Accepted');
    const start = new Date(Date.now() - 60_000).toISOString();
    const end = new Date(Date.now() + 1_000).toISOString();
    const res = await post(h.csms, station.identity, { priority: 'NormalCycle', startDateTime: start, endDateTime: end, message: content('Soon over') });
    expect(res.status).toBe(201);
    const sent = (await station.waitForCall('SetDisplayMessage')).payload.message as Payload;
    expect(sent).toMatchObject({ startDateTime: start, endDateTime: end });
    expect((await items(h.csms, station.identity))[0]?.status).toBe('Accepted');
    await waitFor(async () => (await items(h.csms, station.identity))[0]?.status === 'Expired', { what: 'the message expired' });
  });

  it('O01: a window that ends before it starts is refused with 400 naming the rule, and nothing is sent', async () => {
    const station = await h.csms.bootedStation({ prefix: 'aui' });
    const res = await post(h.csms, station.identity, {
      priority: 'NormalCycle',
      startDateTime: '2030-01-02T00:00:00Z',
      endDateTime: '2030-01-01T00:00:00Z',
      message: content('never'),
    });
    expect(res.status).toBe(400);
    expect(res.body.error?.details?.rule).toBe('O01');
    const invalid = await post(h.csms, station.identity, { priority: 'Sometimes', message: content('x') });
    expect(invalid.status).toBe(400);
    expect(station.callsOf('SetDisplayMessage')).toHaveLength(0);
    expect((await post(h.csms, 'no-such-station', { priority: 'NormalCycle', message: content('x') })).status).toBe(404);
  });

  it('TC_O_12: the same id replaces the message whole (no field merge)', async () => {
    const station = await h.csms.bootedStation({ prefix: 'aui' });
    answerSet(station, 'Accepted');
    const first = await post(h.csms, station.identity, { id: 77, priority: 'NormalCycle', state: 'Idle', message: content('first') });
    expect(first.body.id).toBe(77);
    const second = await post(h.csms, station.identity, { id: 77, priority: 'AlwaysFront', message: content('second') });
    expect(second.status).toBe(201);
    const list = await items(h.csms, station.identity);
    expect(list).toHaveLength(1);
    expect(list[0]?.message).toEqual({ id: 77, priority: 'AlwaysFront', message: content('second') });
  });

  it('TC_O_06 / DRV-AUI-07: a message for the running transaction carries its transactionId and shows Removed once it ended', async () => {
    const station = await h.csms.bootedStation({ prefix: 'aui' });
    answerSet(station, 'Accepted');
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const session = new ChargingSession(station);
    await session.energyTransferStarted(token);
    const res = await post(h.csms, station.identity, { priority: 'InFront', transactionId: session.transactionId, message: content('Charging…') });
    expect(res.status).toBe(201);
    expect(((await station.waitForCall('SetDisplayMessage')).payload.message as Payload).transactionId).toBe(session.transactionId);
    expect((await items(h.csms, station.identity))[0]?.status).toBe('Accepted');
    await session.stopAuthorized(token);
    await session.evDisconnected();
    await waitFor(async () => (await items(h.csms, station.identity))[0]?.status === 'Removed', { what: 'the transaction message removed' });
  });

  // Errata 2025-02: a transaction message carries exactly what the operator gave — no state, and only the one bound.
  for (const [tc, bound, absent] of [
    ['TC_O_27', 'startDateTime', 'endDateTime'],
    ['TC_O_28', 'endDateTime', 'startDateTime'],
  ] as const) {
    it(`${tc}: a message for the running transaction with only its ${bound} goes out with a generated id, that transactionId, no state and no ${absent}`, async () => {
      const station = await h.csms.bootedStation({ prefix: 'aui' });
      answerSet(station, 'Accepted');
      const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
      const session = new ChargingSession(station);
      await session.energyTransferStarted(token);
      const at = new Date(Date.now() + (bound === 'endDateTime' ? 3_600_000 : 60_000)).toISOString();
      const res = await post(h.csms, station.identity, { priority: 'NormalCycle', transactionId: session.transactionId, [bound]: at, message: content(tc) });
      expect(res.status).toBe(201);
      expect(res.body.status).toBe('Accepted');
      const sent = (await station.waitForCall('SetDisplayMessage')).payload.message as Payload;
      expect(sent).toEqual({ id: res.body.id, priority: 'NormalCycle', transactionId: session.transactionId, [bound]: at, message: content(tc) });
      expect(typeof sent.id).toBe('number');
      expect(sent).not.toHaveProperty('state');
      expect(sent).not.toHaveProperty(absent);
    });
  }

  it('TC_O_25: a message with an explicit state goes out with that state exactly', async () => {
    const station = await h.csms.bootedStation({ prefix: 'aui' });
    answerSet(station, 'Accepted');
    const res = await post(h.csms, station.identity, { id: 25, priority: 'NormalCycle', state: 'Charging', message: content('while charging') });
    expect(res.status).toBe(201);
    expect(((await station.waitForCall('SetDisplayMessage')).payload.message as Payload).state).toBe('Charging');
    expect((await items(h.csms, station.identity))[0]?.message).toMatchObject({ id: 25, state: 'Charging' });
  });

  it('TC_O_10: UnknownTransaction is the station’s verdict, answered and kept', async () => {
    const station = await h.csms.bootedStation({ prefix: 'aui' });
    answerSet(station, 'UnknownTransaction');
    const res = await post(h.csms, station.identity, { priority: 'InFront', transactionId: 'no-such-tx', message: content('x') });
    expect(res.status).toBe(201);
    expect(res.body.status).toBe('UnknownTransaction');
  });

  it('CONTRACT §4 outcomes: a CALLERROR is 502, a silent station 504, a disconnected one 409', async () => {
    const station = await h.csms.bootedStation({ prefix: 'aui' });
    station.onCall('SetDisplayMessage', () => Reply.error('InternalError', 'display broken'));
    expect((await post(h.csms, station.identity, { priority: 'NormalCycle', message: content('x') })).status).toBe(502);
    station.onCall('SetDisplayMessage', () => Reply.none);
    expect((await post(h.csms, station.identity, { priority: 'NormalCycle', message: content('x') })).status).toBe(504);
    await station.close();
    await waitFor(async () => (await post(h.csms, station.identity, { priority: 'NormalCycle', message: content('x') })).status === 409, { what: '409' });
    expect(await items(h.csms, station.identity)).toEqual([]);
  });
});

describe('OCPP 1.6 stations', () => {
  it('have no display messages: 400 naming the station’s version, nothing stored', async () => {
    const identity = `aui16-${Date.now()}`;
    expect((await h.csms.api.putStation(identity, { securityProfile: 1, password: 'p'.repeat(20), ocppVersion: '1.6' })).status).toBe(201);
    const res = await post(h.csms, identity, { priority: 'NormalCycle', message: content('x') });
    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe('wrong_ocpp_version');
    expect(await items(h.csms, identity)).toEqual([]);
  });
});

describe('GetDisplayMessages / NotifyDisplayMessages (O03, O04)', () => {
  it('TC_O_02: the station’s report, in parts, is what GET shows as source station', async () => {
    const station = await h.csms.bootedStation({ prefix: 'aui' });
    const reported = [
      { id: 5, priority: 'NormalCycle', message: content('five') },
      { id: 6, priority: 'AlwaysFront', state: 'Charging', message: content('six') },
    ];
    station.onCall('GetDisplayMessages', (payload) =>
      Reply.then({ status: 'Accepted' }, async () => {
        await station.call('NotifyDisplayMessages', { requestId: payload.requestId, messageInfo: [reported[0]], tbc: true });
        await station.call('NotifyDisplayMessages', { requestId: payload.requestId, messageInfo: [reported[1]] });
      }),
    );
    const res = await h.csms.api.request<{ request: { requestId: number } }>('POST', `/api/v1/stations/${station.identity}/commands/GetDisplayMessages`, {});
    expect(res.status).toBe(200);
    const request = (await station.waitForCall('GetDisplayMessages')).payload;
    expect(Object.keys(request)).toEqual(['requestId']);
    const list = await waitFor(
      async () => {
        const l = await items(h.csms, station.identity);
        return l.length === 2 && l;
      },
      { what: 'both reported messages' },
    );
    expect(list.map((i) => [i.source, i.id, i.message])).toEqual([
      ['station', 5, reported[0]],
      ['station', 6, reported[1]],
    ]);
    const report = await h.csms.api.request<{ report: { requestId: number; complete: boolean } }>('GET', base(station.identity));
    expect(report.body.report).toEqual({ requestId: res.body.request.requestId, complete: true });
  });

  it('TC_O_03: Unknown (none configured) empties the station’s side of the view, with no NotifyDisplayMessages awaited', async () => {
    const station = await h.csms.bootedStation({ prefix: 'aui' });
    station.onCall('GetDisplayMessages', (payload) =>
      Reply.then({ status: 'Accepted' }, () =>
        station
          .call('NotifyDisplayMessages', { requestId: payload.requestId, messageInfo: [{ id: 1, priority: 'NormalCycle', message: content('old') }] })
          .then(() => undefined),
      ),
    );
    await h.csms.api.request('POST', `/api/v1/stations/${station.identity}/commands/GetDisplayMessages`, {});
    await waitFor(async () => (await items(h.csms, station.identity)).length === 1, { what: 'the first report' });
    station.onCall('GetDisplayMessages', () => ({ status: 'Unknown' }));
    const res = await h.csms.api.request<{ response: { status: string } }>('POST', `/api/v1/stations/${station.identity}/commands/GetDisplayMessages`, {});
    expect(res.body.response.status).toBe('Unknown');
    expect(await items(h.csms, station.identity)).toEqual([]);
  });

  it('TC_O_11: asked for an id it does not hold, the station answers Unknown; the CSMS answers that and drops nothing it set elsewhere', async () => {
    const station = await h.csms.bootedStation({ prefix: 'aui' });
    answerSet(station, 'Accepted');
    const kept = await post(h.csms, station.identity, { priority: 'NormalCycle', message: content('kept') });
    expect(kept.status).toBe(201);
    station.onCall('GetDisplayMessages', () => ({ status: 'Unknown' }));
    const res = await h.csms.api.request<{ request: Payload; response: { status: string } }>('POST', `/api/v1/stations/${station.identity}/commands/GetDisplayMessages`, {
      id: [kept.body.id + 1000],
    });
    expect(res.status).toBe(200);
    expect(res.body.response.status).toBe('Unknown');
    expect(res.body.request.id).toEqual([kept.body.id + 1000]);
    expect((await items(h.csms, station.identity)).filter((m) => m.source === 'CSMS').map((m) => m.id)).toEqual([kept.body.id]);
  });

  it('TC_O_07 / TC_O_08 / TC_O_09: filters by id (an array), priority or state go out alone', async () => {
    const station = await h.csms.bootedStation({ prefix: 'aui' });
    station.onCall('GetDisplayMessages', () => ({ status: 'Unknown' }));
    for (const filter of [{ id: [7] }, { priority: 'InFront' }, { state: 'Faulted' }]) {
      const res = await h.csms.api.request<{ request: Payload }>('POST', `/api/v1/stations/${station.identity}/commands/GetDisplayMessages`, filter);
      expect(res.status).toBe(200);
      expect(Object.keys(res.body.request).sort()).toEqual([...Object.keys(filter), 'requestId'].sort());
    }
  });
});

describe('ClearDisplayMessage (O05)', () => {
  it('TC_O_04: the message leaves the list once the station accepted', async () => {
    const station = await h.csms.bootedStation({ prefix: 'aui' });
    answerSet(station, 'Accepted');
    const set = await post(h.csms, station.identity, { priority: 'NormalCycle', message: content('bye') });
    const res = await h.csms.api.request<{ id: number; response: { status: string } }>('DELETE', `${base(station.identity)}/${set.body.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ id: set.body.id, response: { status: 'Accepted' } });
    expect((await station.waitForCall('ClearDisplayMessage')).payload).toEqual({ id: set.body.id });
    expect(await items(h.csms, station.identity)).toEqual([]);
  });

  it('TC_O_05: Unknown is answered, and the CSMS drops the id it no longer holds', async () => {
    const station = await h.csms.bootedStation({ prefix: 'aui' });
    answerSet(station, 'Accepted');
    const set = await post(h.csms, station.identity, { priority: 'NormalCycle', message: content('gone already') });
    station.onCall('ClearDisplayMessage', () => ({ status: 'Unknown' }));
    const res = await h.csms.api.request<{ response: { status: string } }>('DELETE', `${base(station.identity)}/${set.body.id}`);
    expect(res.status).toBe(200);
    expect(res.body.response.status).toBe('Unknown');
    expect(await items(h.csms, station.identity)).toEqual([]);
    expect((await h.csms.api.request('DELETE', `${base(station.identity)}/not-a-number`)).status).toBe(400);
  });

  it('a station whose clear fails keeps the message in the list', async () => {
    const station = await h.csms.bootedStation({ prefix: 'aui' });
    answerSet(station, 'Accepted');
    const set = await post(h.csms, station.identity, { priority: 'NormalCycle', message: content('stays') });
    station.onCall('ClearDisplayMessage', () => Reply.error('InternalError'));
    expect((await h.csms.api.request('DELETE', `${base(station.identity)}/${set.body.id}`)).status).toBe(502);
    expect(await items(h.csms, station.identity)).toHaveLength(1);
  });
});
