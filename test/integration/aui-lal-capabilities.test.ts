/**
 * What a station reported about itself limits what the operator may send (catalogue §10.1 DRV-LAL-09/10, §10.4
 * DRV-AUI-08/10/11): a local list larger than the station holds, or for a station with local lists disabled, and a
 * display message the station said it cannot show, are refused with 400 naming the rule, before anything is sent.
 * Values the station never reported refuse nothing. At reconnect the CSMS reads the station's messages again.
 */
import { describe, expect, it } from 'vitest';
import { withCsms, type TestCsms } from '../support/csms.js';
import { Reply, waitFor, type Payload, type TestStation } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 3000 });

interface RuleError {
  error?: { code: string; details?: { rule?: string; reported?: unknown; variable?: string } };
}

const listPath = (id: string): string => `/api/v1/stations/${encodeURIComponent(id)}/local-list`;
const messagesPath = (id: string): string => `/api/v1/stations/${encodeURIComponent(id)}/display-messages`;

function entries(n: number): Payload[] {
  return Array.from({ length: n }, (_, i) => ({ idToken: { idToken: `CAP${i}`, type: 'Central' }, idTokenInfo: { status: 'Accepted' } }));
}

/** One device-model row as NotifyReport carries it. */
function row(component: string, variable: string, value: string | undefined, maxLimit?: number): Payload {
  return {
    component: { name: component },
    variable: { name: variable },
    variableAttribute: [{ type: 'Actual', ...(value !== undefined ? { value } : {}), mutability: 'ReadOnly' }],
    ...(maxLimit !== undefined ? { variableCharacteristics: { dataType: 'integer', supportsMonitoring: false, maxLimit } } : {}),
  };
}

/** The station reports part of its device model, unasked (a NotifyReport is stored whatever its requestId). */
async function report(station: TestStation, rows: Payload[]): Promise<void> {
  await station.notifyReport(Math.floor(Math.random() * 1_000_000) + 1, [rows]);
}

function putList(csms: TestCsms, stationId: string, list: Payload[]) {
  return csms.api.request<RuleError & { version: number }>('PUT', listPath(stationId), { entries: list });
}

function postMessage(csms: TestCsms, stationId: string, message: Payload) {
  return csms.api.request<RuleError & { id: number; status: string }>('POST', messagesPath(stationId), { message });
}

describe('local list capacity and switches (DRV-LAL-09, DRV-LAL-10)', () => {
  it('DRV-LAL-09: a list above LocalAuthListCtrlr.Entries maxLimit is refused, nothing is sent; one that fits is accepted', async () => {
    const station = await h.csms.bootedStation({ prefix: 'cap' });
    await report(station, [row('LocalAuthListCtrlr', 'Entries', '0', 3)]);
    const tooMany = await putList(h.csms, station.identity, entries(4));
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error?.details).toMatchObject({ rule: 'DRV-LAL-09', reported: 3 });
    // Nothing was stored: the list stays unmanaged.
    const view = await h.csms.api.request<{ managed: boolean; version: number | null }>('GET', listPath(station.identity));
    expect(view.body).toMatchObject({ managed: false, version: null });

    const fits = await putList(h.csms, station.identity, entries(3));
    expect(fits.status).toBe(202);
    const sent = await station.waitForCall('SendLocalList');
    expect(sent.payload.localAuthorizationList as Payload[]).toHaveLength(3);
    expect(station.callsOf('SendLocalList')).toHaveLength(1);
  });

  it('DRV-LAL-09: a PATCH that would grow the list past the capacity is refused and leaves the list as it was', async () => {
    const station = await h.csms.bootedStation({ prefix: 'cap' });
    await report(station, [row('LocalAuthListCtrlr', 'Entries', '0', 2)]);
    expect((await putList(h.csms, station.identity, entries(2))).status).toBe(202);
    const before = await h.csms.api.request<{ version: number; entries: unknown[] }>('GET', listPath(station.identity));
    const patch = await h.csms.api.request<RuleError>('PATCH', listPath(station.identity), {
      upsert: [{ idToken: { idToken: 'EXTRA', type: 'Central' }, idTokenInfo: { status: 'Accepted' } }],
    });
    expect(patch.status).toBe(400);
    expect(patch.body.error?.details?.rule).toBe('DRV-LAL-09');
    const after = await h.csms.api.request<{ version: number; entries: unknown[] }>('GET', listPath(station.identity));
    expect(after.body.version).toBe(before.body.version);
    expect(after.body.entries).toHaveLength(2);
  });

  it('DRV-LAL-10: LocalAuthListCtrlr.Enabled = false refuses the list, naming the variable; true lets it through', async () => {
    const station = await h.csms.bootedStation({ prefix: 'cap' });
    await report(station, [row('LocalAuthListCtrlr', 'Enabled', 'false')]);
    const res = await putList(h.csms, station.identity, entries(1));
    expect(res.status).toBe(400);
    expect(res.body.error?.details).toMatchObject({ rule: 'DRV-LAL-10', variable: 'LocalAuthListCtrlr.Enabled', reported: false });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(station.callsOf('SendLocalList')).toHaveLength(0);

    await report(station, [row('LocalAuthListCtrlr', 'Enabled', 'true')]);
    expect((await putList(h.csms, station.identity, entries(1))).status).toBe(202);
  });

  it('DRV-LAL-10: LocalAuthListCtrlr.Available = false refuses the list', async () => {
    const station = await h.csms.bootedStation({ prefix: 'cap' });
    await report(station, [row('LocalAuthListCtrlr', 'Available', 'false')]);
    const res = await putList(h.csms, station.identity, entries(1));
    expect(res.status).toBe(400);
    expect(res.body.error?.details).toMatchObject({ rule: 'DRV-LAL-10', variable: 'LocalAuthListCtrlr.Available' });
  });

  it('values the station never reported (or reported unreadably) refuse nothing', async () => {
    const station = await h.csms.bootedStation({ prefix: 'cap' });
    // Entries without a maxLimit, and an Enabled that is not a boolean.
    await report(station, [row('LocalAuthListCtrlr', 'Entries', '0'), row('LocalAuthListCtrlr', 'Enabled', 'maybe')]);
    expect((await putList(h.csms, station.identity, entries(50))).status).toBe(202);
  });
});

describe('display capabilities (DRV-AUI-08, DRV-AUI-11)', () => {
  const text = (content: string, format = 'UTF8'): Payload => ({ format, content });

  it('DRV-AUI-11: a priority outside SupportedPriorities or a format outside SupportedFormats is refused before sending', async () => {
    const station = await h.csms.bootedStation({ prefix: 'cap' });
    station.onCall('SetDisplayMessage', () => ({ status: 'Accepted' }));
    await report(station, [row('DisplayMessageCtrlr', 'SupportedPriorities', 'InFront,NormalCycle'), row('DisplayMessageCtrlr', 'SupportedFormats', 'ASCII, UTF8')]);
    const priority = await postMessage(h.csms, station.identity, { priority: 'AlwaysFront', message: text('hi') });
    expect(priority.status).toBe(400);
    expect(priority.body.error?.details).toMatchObject({ rule: 'DRV-AUI-11', variable: 'DisplayMessageCtrlr.SupportedPriorities', reported: 'InFront,NormalCycle' });
    const format = await postMessage(h.csms, station.identity, { priority: 'InFront', message: text('<b>hi</b>', 'HTML') });
    expect(format.status).toBe(400);
    expect(format.body.error?.details).toMatchObject({ rule: 'DRV-AUI-11', variable: 'DisplayMessageCtrlr.SupportedFormats' });
    expect(station.callsOf('SetDisplayMessage')).toHaveLength(0);

    const ok = await postMessage(h.csms, station.identity, { priority: 'NormalCycle', message: text('hi') });
    expect(ok.status).toBe(201);
    expect(station.callsOf('SetDisplayMessage')).toHaveLength(1);
  });

  it('DRV-AUI-11: a state outside SupportedStates is refused', async () => {
    const station = await h.csms.bootedStation({ prefix: 'cap' });
    await report(station, [row('DisplayMessageCtrlr', 'SupportedStates', 'Idle')]);
    const res = await postMessage(h.csms, station.identity, { priority: 'NormalCycle', state: 'Charging', message: text('charging') });
    expect(res.status).toBe(400);
    expect(res.body.error?.details).toMatchObject({ rule: 'DRV-AUI-11', variable: 'DisplayMessageCtrlr.SupportedStates' });
  });

  it('DRV-AUI-08: with DisplayMessages maxLimit = 3, a 4th message is refused and never recorded; replacing one by its id still works', async () => {
    const station = await h.csms.bootedStation({ prefix: 'cap' });
    station.onCall('SetDisplayMessage', () => ({ status: 'Accepted' }));
    await report(station, [row('DisplayMessageCtrlr', 'DisplayMessages', '0', 3)]);
    const ids: number[] = [];
    for (const content of ['one', 'two', 'three']) {
      const res = await postMessage(h.csms, station.identity, { priority: 'NormalCycle', message: text(content) });
      expect(res.status).toBe(201);
      ids.push(res.body.id);
    }
    const fourth = await postMessage(h.csms, station.identity, { priority: 'NormalCycle', message: text('four') });
    expect(fourth.status).toBe(400);
    expect(fourth.body.error?.details).toMatchObject({ rule: 'DRV-AUI-08', reported: 3 });
    expect(station.callsOf('SetDisplayMessage')).toHaveLength(3);
    const list = await h.csms.api.request<{ items: { id: number }[] }>('GET', messagesPath(station.identity));
    expect(list.body.items.map((i) => i.id).sort((a, b) => a - b)).toEqual([...ids].sort((a, b) => a - b));

    // O06.FR.01: the same id replaces a message and takes no new room.
    const replace = await postMessage(h.csms, station.identity, { id: ids[0], priority: 'NormalCycle', message: text('one, again') });
    expect(replace.status).toBe(201);

    // Once one is cleared there is room again.
    station.onCall('ClearDisplayMessage', () => ({ status: 'Accepted' }));
    expect((await h.csms.api.request('DELETE', `${messagesPath(station.identity)}/${ids[1]}`)).status).toBe(200);
    expect((await postMessage(h.csms, station.identity, { priority: 'NormalCycle', message: text('four') })).status).toBe(201);
  });
});

describe('display messages after a reconnect (DRV-AUI-10)', () => {
  it('DRV-AUI-10: a reconnecting station is asked GetDisplayMessages; ids the CSMS never set are imported', async () => {
    const creds = await h.csms.register({ prefix: 'cap' });
    const first = await h.csms.connect(creds);
    await first.booted();
    first.onCall('SetDisplayMessage', () => ({ status: 'Accepted' }));
    const set = await postMessage(h.csms, creds.identity, { priority: 'NormalCycle', message: text('kept') });
    expect(set.status).toBe(201);
    const kept = (await first.waitForCall('SetDisplayMessage')).payload.message as Payload;
    await first.close();

    const again = await h.csms.connect(creds);
    const foreign: Payload = { id: 900_001, priority: 'InFront', message: { format: 'ASCII', content: 'set elsewhere' } };
    again.onCall('GetDisplayMessages', (payload) =>
      Reply.then({ status: 'Accepted' }, async () => {
        await again.call('NotifyDisplayMessages', { requestId: payload.requestId, messageInfo: [kept, foreign] });
      }),
    );
    await again.booted();
    const request = await again.waitForCall('GetDisplayMessages', { timeoutMs: 10_000 });
    // No filter: the whole of what the station shows.
    expect(Object.keys(request.payload)).toEqual(['requestId']);
    const reported = await waitFor(
      async () => {
        const res = await h.csms.api.request<{ items: { id: number; source: string }[]; report: { requestId: number; complete: boolean } | null }>(
          'GET',
          messagesPath(creds.identity),
        );
        // The report of the resync, complete, with its messages (items and report are two reads: wait for both).
        return (
          res.body.report?.complete === true && res.body.report.requestId === request.payload.requestId && res.body.items.some((i) => i.source === 'station') && res.body
        );
      },
      { what: 'the resynced report' },
    );
    // One ask for the connection and its boot.
    expect(again.callsOf('GetDisplayMessages')).toHaveLength(1);
    const stationSide = reported.items.filter((i) => i.source === 'station').map((i) => i.id);
    expect(stationSide.sort((a, b) => a - b)).toEqual([kept.id as number, 900_001].sort((a, b) => a - b));
  });

  it('a station the CSMS never saw showing messages is not asked', async () => {
    const station = await h.csms.bootedStation({ prefix: 'cap' });
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(station.callsOf('GetDisplayMessages')).toHaveLength(0);
  });
});

function text(content: string): Payload {
  return { format: 'UTF8', content };
}
