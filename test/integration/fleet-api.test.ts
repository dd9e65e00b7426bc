/**
 * The fleet API (CONTRACT §4, issue 20): the station list in cursor pages with its filters, the fleet summary,
 * fleet-wide transactions (JSON pages and streamed CSV) and the change stream (SSE) with Last-Event-ID resume.
 */
import { connect } from 'node:net';
import { compareEventIds } from '../../src/changes/change-feed.js';
import { describe, expect, it } from 'vitest';
import { ChargingSession, energyRegister, meterValue, newIdToken, registerIdToken } from '../support/charging.js';
import { withCsms } from '../support/csms.js';
import { dataOf, SseReader } from '../support/sse.js';
import { randomPassword, uniqueIdentity, waitFor, type TestStation } from '../support/station.js';
import { Station16 } from '../support/station16.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 2000 });

interface Page {
  items: { id: string; connected: boolean; bootStatus: string; evses: { id: number; connectors: { id: number; status: string }[] }[] }[];
  next: string | null;
}

interface Summary {
  stations: number;
  connected: number;
  bootStatus: Record<string, number>;
  connectorStatus: Record<string, number>;
  ocppVersion: Record<string, number>;
  activeTransactions: number;
}

async function listPage(query: string): Promise<Page> {
  const res = await h.csms.api.request<Page>('GET', `/api/v1/stations?${query}`);
  expect(res.status, res.text).toBe(200);
  return res.body;
}

async function summary(): Promise<Summary> {
  const res = await h.csms.api.request<Summary>('GET', '/api/v1/fleet/summary');
  expect(res.status).toBe(200);
  return res.body;
}

/** One finished transaction of 2500 Wh on the station, with a start token. */
async function finishedTransaction(station: TestStation): Promise<ChargingSession> {
  const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
  const tx = new ChargingSession(station);
  await tx.authorized(token, { meterValue: [meterValue([energyRegister(1_000, { context: 'Transaction.Begin' })])] });
  await tx.energyTransferStarted();
  await tx.event('Ended', 'StopAuthorized', {
    stoppedReason: 'Local',
    idToken: token,
    meterValue: [meterValue([energyRegister(3_500, { context: 'Transaction.End' })])],
  });
  return tx;
}

describe('GET /api/v1/stations: pages, filters, search', () => {
  it('lists every station once across cursor pages, in id order, and ends with next: null', async () => {
    const prefix = uniqueIdentity('page').slice(0, 20);
    const ids = ['c', 'a', 'e', 'b', 'g', 'd', 'f'].map((s) => `${prefix}-${s}`);
    for (const id of ids) await h.csms.register({ identity: id });
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Page = await listPage(`q=${encodeURIComponent(prefix)}&limit=3${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((s) => s.id));
      cursor = page.next;
      pages++;
    } while (cursor !== null && pages < 10);
    expect(seen).toEqual([...ids].sort());
    expect(pages).toBe(3);

    const descending: string[] = [];
    cursor = null;
    do {
      const page: Page = await listPage(`q=${encodeURIComponent(prefix)}&sort=-id&limit=4${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
      descending.push(...page.items.map((s) => s.id));
      cursor = page.next;
    } while (cursor !== null && descending.length < 20);
    expect(descending).toEqual([...ids].sort().reverse());
  });

  it('filters by connected, bootStatus and connector status, and searches vendor, model and serial number', async () => {
    const station = await h.csms.newStation({ prefix: 'filt' });
    station.chargingStation = { model: 'Zeppelin-9', vendorName: 'AcmeVolt', serialNumber: `SER${station.identity.slice(-8)}`, firmwareVersion: '3.1' };
    await station.booted();
    await station.statusNotification(1, 1, 'Faulted');
    const idle = await h.csms.register({ prefix: 'filt-idle' });

    const ids = async (query: string): Promise<string[]> => (await listPage(`${query}&limit=500`)).items.map((s) => s.id);
    await waitFor(async () => (await ids('connected=true')).includes(station.identity));
    expect(await ids('connected=true')).not.toContain(idle.identity);
    expect(await ids('connected=false')).toContain(idle.identity);
    expect(await ids('connected=false')).not.toContain(station.identity);
    expect(await ids('bootStatus=Accepted')).toContain(station.identity);
    expect(await ids('bootStatus=Unknown')).toContain(idle.identity);
    expect(await ids('status=Faulted')).toEqual(expect.arrayContaining([station.identity]));
    expect(await ids('status=Faulted')).not.toContain(idle.identity);
    expect(await ids('q=acmevolt')).toEqual([station.identity]);
    expect(await ids('q=ZEPPELIN-9')).toEqual([station.identity]);
    expect(await ids(`q=${encodeURIComponent(`ser${station.identity.slice(-8)}`)}`)).toEqual([station.identity]);
    expect(await ids('ocppVersion=2.0.1&connected=true')).toContain(station.identity);

    const listed = (await listPage(`q=${encodeURIComponent(station.identity)}`)).items[0];
    expect(listed).toMatchObject({ id: station.identity, connected: true, bootStatus: 'Accepted', evses: [{ id: 1, connectors: [{ id: 1, status: 'Faulted' }] }] });
  });

  it('sorts by vendor (either way; ties by id, reversed when descending) across cursor pages once the boots are in the order', async () => {
    const prefix = uniqueIdentity('vsort').slice(0, 20);
    const vendors: Record<string, string> = { a: 'Zeta', b: 'alpha', c: 'Alpha', d: 'Mid' };
    for (const [suffix, vendorName] of Object.entries(vendors)) {
      const station = await h.csms.newStation({ identity: `${prefix}-${suffix}` });
      station.chargingStation = { model: 'M', vendorName };
      await station.booted();
    }
    const walk = async (sort: string): Promise<string[]> => {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: Page = await listPage(`q=${encodeURIComponent(prefix)}&sort=${sort}&limit=1${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
        seen.push(...page.items.map((s) => s.id.slice(prefix.length + 1)));
        cursor = page.next;
      } while (cursor !== null && seen.length < 10);
      return seen;
    };
    // The order may lag a change by up to a second.
    await waitFor(async () => (await walk('vendor')).join() === 'b,c,d,a');
    expect(await walk('-vendor')).toEqual(['a', 'd', 'c', 'b']);
    expect(await walk('-connected')).toEqual(['d', 'c', 'b', 'a']);
  });

  it('answers 400 with a JSON error for a limit over 500, a forged cursor or a non-boolean connected', async () => {
    for (const query of ['limit=501', 'limit=0', 'cursor=not-a-cursor', 'connected=yes', 'sort=serial', 'sort=--id']) {
      const res = await h.csms.api.request<{ error: { code: string } }>('GET', `/api/v1/stations?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.body.error.code, query).toMatch(/invalid/);
    }
  });
});

describe('GET /api/v1/fleet/summary', () => {
  it('counts stations, connections, boot statuses, connector statuses and active transactions as they change', async () => {
    const before = await summary();
    const station = await h.csms.newStation({ prefix: 'sum' });
    await waitFor(async () => (await summary()).stations === before.stations + 1 && (await summary()).connected === before.connected + 1);
    await station.booted();
    await station.statusNotification(1, 1, 'Unavailable');
    await waitFor(async () => ((await summary()).connectorStatus.Unavailable ?? 0) === (before.connectorStatus.Unavailable ?? 0) + 1);
    const after = await summary();
    expect(after.bootStatus.Accepted).toBe((before.bootStatus.Accepted ?? 0) + 1);
    expect(after.ocppVersion['2.0.1']).toBe((before.ocppVersion['2.0.1'] ?? 0) + 1);

    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const tx = new ChargingSession(station);
    await tx.energyTransferStarted(token);
    expect((await summary()).activeTransactions).toBe(before.activeTransactions + 1);
    await tx.event('Ended', 'StopAuthorized', { stoppedReason: 'Local', idToken: token });
    expect((await summary()).activeTransactions).toBe(before.activeTransactions);

    await station.close();
    await waitFor(async () => (await summary()).connected === before.connected);
  });
});

describe('GET /api/v1/transactions and transactions.csv', () => {
  it('pages the fleet newest first with the station filter, and the CSV holds the same rows with energy and stop reason', async () => {
    const station = await h.csms.bootedStation({ prefix: 'txs' });
    const done: ChargingSession[] = [];
    for (let i = 0; i < 3; i++) done.push(await finishedTransaction(station));

    const seen: string[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 5; pages++) {
      const res: { status: number; text: string; body: { items: { stationId: string; transactionId: string; energyWh: number }[]; next: string | null } } =
        await h.csms.api.request('GET', `/api/v1/transactions?stationId=${encodeURIComponent(station.identity)}&limit=2${cursor === null ? '' : `&cursor=${cursor}`}`);
      expect(res.status, res.text).toBe(200);
      for (const item of res.body.items) {
        expect(item.stationId).toBe(station.identity);
        expect(item.energyWh).toBe(2500);
      }
      seen.push(...res.body.items.map((t) => t.transactionId));
      cursor = res.body.next;
      if (cursor === null) break;
    }
    expect(seen).toEqual(done.map((t) => t.transactionId).reverse());

    const csv = await h.csms.api.request<string>('GET', `/api/v1/transactions.csv?stationId=${encodeURIComponent(station.identity)}`);
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = csv.text.trimEnd().split('\r\n');
    expect(lines[0]).toBe(
      'stationId,transactionId,evseId,connectorId,idToken,idTokenType,startedAt,endedAt,energyWh,stoppedReason,active,meterStartWh,meterStopWh,cost,currency',
    );
    expect(lines).toHaveLength(4);
    for (const line of lines.slice(1))
      expect(line).toMatch(new RegExp(`^${station.identity},tx-[0-9a-f]+,1,1,[0-9A-F]+,ISO14443,[^,]+Z,[^,]+Z,2500,Local,false,1000,3500,,$`));

    const future = new Date(Date.now() + 3600_000).toISOString();
    const none = await h.csms.api.request<{ items: unknown[] }>('GET', `/api/v1/transactions?stationId=${encodeURIComponent(station.identity)}&from=${future}`);
    expect(none.body.items).toEqual([]);
    const bad = await h.csms.api.request('GET', '/api/v1/transactions?from=yesterday');
    expect(bad.status).toBe(400);
  });

  it('streams a CSV larger than one page in order, every row once', async () => {
    const station = await h.csms.bootedStation({ prefix: 'csvbig' });
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    // 520 one-event transactions: more than one 500-row page of the CSV writer.
    const base = Date.now() - 86_400_000;
    for (let i = 0; i < 520; i += 40) {
      await Promise.all(
        Array.from({ length: Math.min(40, 520 - i) }, (_, j) =>
          new ChargingSession(station).event('Started', 'Authorized', { idToken: token, evse: true, timestamp: new Date(base + (i + j) * 1000) }),
        ),
      );
    }
    const csv = await h.csms.api.request<string>('GET', `/api/v1/transactions.csv?stationId=${encodeURIComponent(station.identity)}`);
    const rows = csv.text.trimEnd().split('\r\n').slice(1);
    expect(rows).toHaveLength(520);
    expect(new Set(rows.map((r) => r.split(',')[1])).size).toBe(520);
    const starts = rows.map((r) => r.split(',')[6] as string);
    expect([...starts].sort().reverse()).toEqual(starts);
  });
});

describe('GET /api/v1/stream (Server-Sent Events)', () => {
  it('sends station, connector and transaction changes with increasing ids, filtered by stationId', async () => {
    const identity = uniqueIdentity('sse');
    const creds = await h.csms.register({ identity });
    const other = await h.csms.register({ prefix: 'sse-other' });
    const stream = await SseReader.open(`${h.csms.apiUrl}/api/v1/stream?stationId=${encodeURIComponent(identity)}`);
    try {
      expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const station = await h.csms.connect(creds);
      const otherStation = await h.csms.connect(other);
      await otherStation.booted();
      await station.booted();
      await station.statusNotification(1, 1, 'Occupied');
      const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
      const tx = new ChargingSession(station);
      await tx.energyTransferStarted(token);
      await tx.event('Ended', 'StopAuthorized', { stoppedReason: 'Local', idToken: token });
      await h.csms.api.command(identity, 'GetVariables', { getVariableData: [{ component: { name: 'OCPPCommCtrlr' }, variable: { name: 'OfflineThreshold' } }] });

      const ended = await stream.waitFor((e) => e.event === 'command.result');
      expect(dataOf(ended)).toMatchObject({ stationId: identity, action: 'GetVariables', status: 200 });
      const kinds = stream.events.map((e) => e.event);
      for (const kind of ['station.connected', 'station.boot', 'connector.status', 'transaction.started', 'transaction.ended']) expect(kinds).toContain(kind);
      const status = stream.events.find((e) => e.event === 'connector.status' && dataOf(e).status === 'Occupied');
      expect(dataOf(status!)).toMatchObject({ stationId: identity, evseId: 1, connectorId: 1, status: 'Occupied' });
      expect(typeof dataOf(status!).at).toBe('string');
      expect(stream.events.every((e) => dataOf(e).stationId === identity)).toBe(true);
      const ids = stream.events.map((e) => e.id!);
      for (let i = 1; i < ids.length; i++) expect(compareEventIds(ids[i]!, ids[i - 1]!)).toBeGreaterThan(0);
    } finally {
      stream.close();
    }
  });

  it('resumes from Last-Event-ID with nothing lost and nothing repeated, and answers an unknown old id with reset', async () => {
    const station = await h.csms.bootedStation({ prefix: 'resume' });
    const url = `${h.csms.apiUrl}/api/v1/stream?stationId=${encodeURIComponent(station.identity)}`;
    const first = await SseReader.open(url);
    await station.statusNotification(1, 1, 'Occupied');
    const seen = await first.waitFor((e) => e.event === 'connector.status');
    first.close();
    // Changes while nobody listens.
    await station.statusNotification(1, 1, 'Faulted');
    await station.statusNotification(1, 1, 'Available');
    await station.statusNotification(1, 1, 'Unavailable');

    const resumed = await SseReader.open(url, { 'Last-Event-ID': seen.id! });
    try {
      await resumed.waitFor((e) => e.event === 'connector.status' && dataOf(e).status === 'Unavailable');
      await station.statusNotification(1, 1, 'Reserved');
      await resumed.waitFor((e) => e.event === 'connector.status' && dataOf(e).status === 'Reserved');
      const statuses = resumed.events.filter((e) => e.event === 'connector.status').map((e) => dataOf(e).status);
      expect(statuses).toEqual(['Faulted', 'Available', 'Unavailable', 'Reserved']);
      expect(resumed.events.every((e) => compareEventIds(e.id!, seen.id!) > 0)).toBe(true);
    } finally {
      resumed.close();
    }

    const stale = await SseReader.open(url, { 'Last-Event-ID': '1-0' });
    try {
      const reset = await stale.waitFor(() => true);
      expect(reset.event).toBe('reset');
    } finally {
      stale.close();
    }
    const invalid = await h.csms.api.request('GET', '/api/v1/stream', undefined, { 'Last-Event-ID': 'abc' });
    expect(invalid.status).toBe(400);
  });

  it('replays a backlog larger than one slice in order, then goes on live', async () => {
    const station = await h.csms.bootedStation({ prefix: 'replay' });
    const url = `${h.csms.apiUrl}/api/v1/stream?stationId=${encodeURIComponent(station.identity)}`;
    const first = await SseReader.open(url);
    await station.statusNotification(1, 1, 'Occupied');
    const seen = await first.waitFor((e) => e.event === 'connector.status');
    first.close();
    const statuses = ['Available', 'Occupied', 'Reserved', 'Unavailable', 'Faulted'];
    // 1,200 changes while away: more than two slices of the replay (500 each).
    for (let i = 0; i < 1200; i++) await station.statusNotification(1, 1, statuses[i % 5]!, new Date(Date.now() + i).toISOString());
    const resumed = await SseReader.open(url, { 'Last-Event-ID': seen.id! });
    try {
      await resumed.waitFor((e) => e.event === 'connector.status' && resumed.events.filter((x) => x.event === 'connector.status').length === 1200, 15_000);
      await station.statusNotification(1, 1, 'Occupied');
      await resumed.waitFor((e) => e.event === 'connector.status' && resumed.events.filter((x) => x.event === 'connector.status').length === 1201);
      const got = resumed.events.filter((e) => e.event === 'connector.status').map((e) => dataOf(e).status);
      expect(got).toEqual([...Array.from({ length: 1200 }, (_, i) => statuses[i % 5]), 'Occupied']);
      const ids = resumed.events.map((e) => e.id!);
      for (let i = 1; i < ids.length; i++) expect(compareEventIds(ids[i]!, ids[i - 1]!)).toBeGreaterThan(0);
    } finally {
      resumed.close();
    }
  }, 60_000);

  it('drops a subscriber that does not read once its backlog passes the bound, and keeps serving the others', async () => {
    const stations = await Promise.all(Array.from({ length: 6 }, () => h.csms.bootedStation({ prefix: 'slow' })));
    // A client that asks for the stream and then never reads: the kernel's buffers fill, then uWS's, then ours.
    const socket = connect(h.csms.csms.apiPort, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(`GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1:${h.csms.csms.apiPort}\r\n\r\n`);
    socket.pause();
    let closed = false;
    socket.once('close', () => (closed = true));
    let sent = 0;
    socket.on('error', () => undefined);
    const watched = stations[0]!;
    const reader = await SseReader.open(`${h.csms.apiUrl}/api/v1/stream?stationId=${encodeURIComponent(watched.identity)}`);
    try {
      // NotifyEvents of ~48 KiB from six stations at once (each within its own byte budget's burst) until the
      // server closes the unread subscriber.
      const eventData = Array.from({ length: 120 }, (_, i) => ({
        eventId: i,
        timestamp: new Date().toISOString(),
        trigger: 'Delta',
        actualValue: 'x'.repeat(380),
        eventNotificationType: 'CustomMonitor',
        component: { name: 'Connector' },
        variable: { name: 'Bulk' },
      }));
      await Promise.all(
        stations.map(async (station) => {
          for (let seqNo = 0; seqNo < 60; seqNo++) {
            await station.call('NotifyEvent', { generatedAt: new Date().toISOString(), seqNo, eventData });
            sent++;
          }
        }),
      );
      // Reading now drains what the kernel still held, then meets the end of a connection the server closed;
      // a subscriber still being served would get data for ever instead.
      socket.on('data', () => undefined);
      socket.resume();
      await waitFor(() => closed, { timeoutMs: 5000 });
      expect(sent).toBe(360);
      // It was dropped well before the end: what it received is less than what was published.
      expect(socket.bytesRead).toBeLessThan(360 * 48_000);
      // The subscriber that reads is still served.
      await reader.waitFor((e) => e.event === 'station.event');
      expect(reader.isEnded).toBe(false);
    } finally {
      reader.close();
      socket.destroy();
    }
  }, 60_000);
});

describe('what the console reads besides the fleet', () => {
  it('GET /api/v1/id-tokens pages the registered tokens and searches value and group', async () => {
    const group = `grp-${Date.now().toString(36)}`;
    const values = ['A1', 'B2', 'C3'].map((v) => `${v}${Date.now().toString(16)}`.toUpperCase().slice(0, 20));
    for (const value of values) {
      const res = await h.csms.api.request('PUT', `/api/v1/id-tokens/ISO14443/${value}`, { status: 'Accepted', groupId: group });
      expect(res.status).toBe(201);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 5; i++) {
      const res: { status: number; body: { items: { idToken: string; groupId: string }[]; next: string | null } } = await h.csms.api.request(
        'GET',
        `/api/v1/id-tokens?q=${group}&limit=2${cursor === null ? '' : `&cursor=${cursor}`}`,
      );
      expect(res.status).toBe(200);
      seen.push(...res.body.items.map((t) => t.idToken));
      cursor = res.body.next;
      if (cursor === null) break;
    }
    expect(seen).toEqual([...values].sort());
    const one = await h.csms.api.request<{ items: { idToken: string }[] }>('GET', `/api/v1/id-tokens?q=${values[1]!.toLowerCase()}`);
    expect(one.body.items.map((t) => t.idToken)).toEqual([values[1]]);
  });

  it("GET /api/v1/commands lists the actions and …/schema serves an action's official request schema", async () => {
    const list = await h.csms.api.request<{ actions: string[] }>('GET', '/api/v1/commands');
    expect(list.body.actions).toEqual(expect.arrayContaining(['GetVariables', 'Reset', 'RequestStartTransaction']));
    const schema = await h.csms.api.request<{ action: string; ocppVersion: string; schema: { $id: string; required: string[] } }>('GET', '/api/v1/commands/Reset/schema');
    expect(schema.status).toBe(200);
    expect(schema.body).toMatchObject({ action: 'Reset', ocppVersion: '2.0.1', schema: { $id: 'urn:OCPP:Cp:2:2020:3:ResetRequest', required: ['type'] } });
    expect((await h.csms.api.request('GET', '/api/v1/commands/Heartbeat/schema')).status).toBe(404);
  });

  it('the OpenAPI document describes the fleet routes, with the media types of the CSV and the stream', async () => {
    const doc = (await h.csms.api.openapi()).body as {
      paths: Record<string, { get?: { parameters?: { name: string }[]; responses: Record<string, { content?: object }> } }>;
    };
    for (const path of ['/api/v1/fleet/summary', '/api/v1/transactions', '/api/v1/id-tokens', '/api/v1/commands/{action}/schema'])
      expect(doc.paths[path]?.get).toBeDefined();
    expect(Object.keys(doc.paths['/api/v1/transactions.csv']?.get?.responses['200']?.content ?? {})).toEqual(['text/csv']);
    expect(Object.keys(doc.paths['/api/v1/stream']?.get?.responses['200']?.content ?? {})).toEqual(['text/event-stream']);
    expect(doc.paths['/api/v1/stations']?.get?.parameters?.map((p) => p.name)).toEqual(
      expect.arrayContaining(['connected', 'bootStatus', 'status', 'ocppVersion', 'q', 'sort', 'limit', 'cursor']),
    );
  });
});

describe('a 1.6 station in the fleet', () => {
  it('is counted by version, filtered by ?ocppVersion=1.6, streamed like a 2.0.1 one, and its commands are the 1.6 ones', async () => {
    const before = await summary();
    const identity = uniqueIdentity('fleet16');
    const password = randomPassword();
    expect((await h.csms.api.putStation(identity, { securityProfile: 1, password, bootPolicy: 'Accepted' })).status).toBe(201);
    const stream = await SseReader.open(`${h.csms.apiUrl}/api/v1/stream?stationId=${encodeURIComponent(identity)}`);
    const station = await Station16.connect({ url: h.csms.ocppUrl, identity, password });
    try {
      await station.booted(2);
      await station.status(1, 'Preparing');
      await stream.waitFor((e) => e.event === 'connector.status' && dataOf(e).status === 'Preparing');
      expect(dataOf(stream.events.find((e) => e.event === 'station.connected')!)).toMatchObject({ ocppVersion: '1.6' });
      await waitFor(async () => ((await summary()).ocppVersion['1.6'] ?? 0) === (before.ocppVersion['1.6'] ?? 0) + 1);
      expect((await listPage('ocppVersion=1.6&limit=500')).items.map((s) => s.id)).toContain(identity);
      expect((await listPage('ocppVersion=2.0.1&limit=500')).items.map((s) => s.id)).not.toContain(identity);
      expect((await h.csms.api.request('GET', '/api/v1/stations?ocppVersion=2.1')).status).toBe(400);
      const actions = await h.csms.api.request<{ actions: string[] }>('GET', '/api/v1/commands?ocppVersion=1.6');
      expect(actions.body.actions).toEqual(expect.arrayContaining(['RemoteStartTransaction', 'ChangeConfiguration']));
      expect(actions.body.actions).not.toContain('RequestStartTransaction');
      const schema = await h.csms.api.request<{ ocppVersion: string }>('GET', '/api/v1/commands/Reset/schema?ocppVersion=1.6');
      expect(schema.body.ocppVersion).toBe('1.6');
    } finally {
      stream.close();
      await station.close();
    }
  });
});
