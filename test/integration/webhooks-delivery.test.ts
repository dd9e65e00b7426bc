/**
 * CONTRACT §8.7 webhooks against a real receiver in the test process: the routes, Standard Webhooks signatures
 * (checked with the `standardwebhooks` reference verifier), retries that keep the event's id and the station's
 * order, dead-lettering and replay, and a slow receiver that delays nobody else.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { metricValue } from '../support/api.js';
import { withCsms } from '../support/csms.js';
import { randomPassword, uniqueIdentity, waitFor, type TestStation } from '../support/station.js';
import { Station16 } from '../support/station16.js';
import { WebhookReceiver, type ReceivedDelivery } from '../support/webhook-receiver.js';

/** Five retries 100 ms apart: six attempts in all, a failure five times then a success is delivered. */
const RETRIES = 5;
const ctx = withCsms({ CSMS_WEBHOOK_RETRY_SCHEDULE: Array(RETRIES).fill('100ms').join(','), CSMS_WEBHOOK_TIMEOUT_MS: 1500 });

interface WebhookView {
  id: string;
  url: string;
  events: string[];
  active: boolean;
  secret?: string;
}
interface DeliveryItem {
  eventId: string;
  type: string;
  attempt: number;
  at: string;
  status: number | null;
  outcome: string;
}

const receivers: WebhookReceiver[] = [];
const webhooks: string[] = [];

async function receiver(): Promise<WebhookReceiver> {
  const r = await WebhookReceiver.start();
  receivers.push(r);
  return r;
}

async function putWebhook(id: string, body: Record<string, unknown>): Promise<WebhookView> {
  const res = await ctx.csms.api.request<WebhookView>('PUT', `/api/v1/webhooks/${id}`, body);
  expect([200, 201], res.text).toContain(res.status);
  webhooks.push(id);
  return res.body;
}

async function deliveries(id: string, query = ''): Promise<DeliveryItem[]> {
  const res = await ctx.csms.api.request<{ items: DeliveryItem[] }>('GET', `/api/v1/webhooks/${id}/deliveries${query}`);
  expect(res.status, res.text).toBe(200);
  return res.body.items;
}

function ofStation(r: WebhookReceiver, stationId: string): ReceivedDelivery[] {
  return r.received.filter((d) => d.payload.data.stationId === stationId);
}

async function startTransaction(station: TestStation, transactionId: string, seqNo = 0): Promise<void> {
  await station.transactionEvent({ eventType: 'Started', triggerReason: 'CablePluggedIn', seqNo, transactionInfo: { transactionId }, evse: { id: 1, connectorId: 1 } });
}
async function updateTransaction(station: TestStation, transactionId: string, seqNo: number): Promise<void> {
  await station.transactionEvent({ eventType: 'Updated', triggerReason: 'ChargingStateChanged', seqNo, transactionInfo: { transactionId, chargingState: 'Charging' } });
}
async function endTransaction(station: TestStation, transactionId: string, seqNo: number): Promise<void> {
  await station.transactionEvent({
    eventType: 'Ended',
    triggerReason: 'EVCommunicationLost',
    seqNo,
    transactionInfo: { transactionId, stoppedReason: 'EVDisconnected' },
  });
}

afterEach(async () => {
  for (const id of webhooks.splice(0)) await ctx.csms.api.request('DELETE', `/api/v1/webhooks/${id}`);
  for (const r of receivers.splice(0)) await r.close();
});
afterAll(async () => {
  for (const r of receivers.splice(0)) await r.close();
});

describe('webhook routes (CONTRACT §8.7)', () => {
  it('generates a whsec_ secret shown only in the PUT answer that created it; GET and list never show one', async () => {
    const id = uniqueIdentity('wh');
    const created = await ctx.csms.api.request<WebhookView>('PUT', `/api/v1/webhooks/${id}`, { url: 'http://127.0.0.1:1/x', events: ['transaction.ended'] });
    webhooks.push(id);
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from((created.body.secret ?? '').slice(6), 'base64')).toHaveLength(32);
    expect(created.body).toMatchObject({ id, url: 'http://127.0.0.1:1/x', events: ['transaction.ended'], active: true });

    const read = await ctx.csms.api.request<WebhookView>('GET', `/api/v1/webhooks/${id}`);
    expect(read.status).toBe(200);
    expect(read.body.secret).toBeUndefined();
    expect(read.text).not.toContain((created.body.secret ?? '').slice(6));
    const list = await ctx.csms.api.request<{ items: WebhookView[] }>('GET', '/api/v1/webhooks');
    expect(list.body.items.map((w) => w.id)).toContain(id);
    expect(list.text).not.toContain('whsec_');

    // An update without a secret keeps the one it has and does not show it.
    const updated = await ctx.csms.api.request<WebhookView>('PUT', `/api/v1/webhooks/${id}`, { url: 'http://127.0.0.1:1/y', events: ['station.boot'], active: false });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ url: 'http://127.0.0.1:1/y', events: ['station.boot'], active: false });
    expect(updated.body.secret).toBeUndefined();
  });

  it('a given secret must be whsec_<base64> and is never returned', async () => {
    const id = uniqueIdentity('wh');
    for (const secret of ['abc', 'whsec_', 'whsec_not base64!', 'whsec_QUJD=A==']) {
      const res = await ctx.csms.api.request('PUT', `/api/v1/webhooks/${id}`, { url: 'http://127.0.0.1:1/x', events: ['station.boot'], secret });
      expect(res.status, secret).toBe(400);
    }
    const secret = `whsec_${Buffer.alloc(24, 7).toString('base64')}`;
    const res = await ctx.csms.api.request<WebhookView>('PUT', `/api/v1/webhooks/${id}`, { url: 'http://127.0.0.1:1/x', events: ['station.boot'], secret });
    webhooks.push(id);
    expect(res.status).toBe(201);
    expect(res.text).not.toContain(secret.slice(6));
  });

  it('refuses unknown kinds, non-http URLs and bad ids with 400; unknown webhooks are 404; DELETE is 204', async () => {
    const id = uniqueIdentity('wh');
    expect((await ctx.csms.api.request('PUT', `/api/v1/webhooks/${id}`, { url: 'http://127.0.0.1:1/x', events: ['station.exploded'] })).status).toBe(400);
    expect((await ctx.csms.api.request('PUT', `/api/v1/webhooks/${id}`, { url: 'ftp://127.0.0.1/x', events: ['station.boot'] })).status).toBe(400);
    expect((await ctx.csms.api.request('PUT', `/api/v1/webhooks/${id}`, { url: 'http://127.0.0.1:1/x', events: [] })).status).toBe(400);
    expect((await ctx.csms.api.request('PUT', '/api/v1/webhooks/bad%20id', { url: 'http://127.0.0.1:1/x', events: ['station.boot'] })).status).toBe(400);
    expect((await ctx.csms.api.request('GET', `/api/v1/webhooks/${id}`)).status).toBe(404);
    expect((await ctx.csms.api.request('GET', `/api/v1/webhooks/${id}/deliveries`)).status).toBe(404);
    expect((await ctx.csms.api.request('POST', `/api/v1/webhooks/${id}/deliveries/msg_x/replay`)).status).toBe(404);
    await putWebhook(id, { url: 'http://127.0.0.1:1/x', events: ['station.boot'] });
    expect((await ctx.csms.api.request('POST', `/api/v1/webhooks/${id}/deliveries/msg_unknown/replay`)).status).toBe(404);
    expect((await ctx.csms.api.request('DELETE', `/api/v1/webhooks/${id}`)).status).toBe(204);
    expect((await ctx.csms.api.request('GET', `/api/v1/webhooks/${id}`)).status).toBe(404);
    expect((await ctx.csms.api.request('DELETE', `/api/v1/webhooks/${id}`)).status).toBe(404);
  });
});

describe('webhook delivery (CONTRACT §8.7)', () => {
  it('TC_B_01, TC_E_01: boot, connection, status and transaction events arrive signed (Standard Webhooks), with the stream data and no secret', async () => {
    const r = await receiver();
    const id = uniqueIdentity('wh');
    const { secret } = await putWebhook(id, {
      url: r.url,
      events: ['station.connected', 'station.boot', 'connector.status', 'transaction.started', 'transaction.ended'],
    });
    if (secret === undefined) throw new Error('no generated secret');
    const station = await ctx.csms.bootedStation({ prefix: 'WH' });
    const transactionId = `tx-${station.identity}`;
    await startTransaction(station, transactionId);
    await endTransaction(station, transactionId, 1);

    const mine = await waitFor(
      () => {
        const got = ofStation(r, station.identity);
        return got.some((d) => d.payload.type === 'transaction.ended') && got.some((d) => d.payload.type === 'connector.status') ? got : undefined;
      },
      { timeoutMs: 10_000, what: 'the transaction.ended delivery' },
    );
    const types = mine.map((d) => d.payload.type);
    expect(types).toEqual(expect.arrayContaining(['station.connected', 'station.boot', 'connector.status', 'transaction.started', 'transaction.ended']));
    // In order per station: the boot before the transaction, the start before the end.
    expect(types.indexOf('station.boot')).toBeLessThan(types.indexOf('transaction.started'));
    expect(types.indexOf('transaction.started')).toBeLessThan(types.indexOf('transaction.ended'));

    for (const delivery of mine) {
      expect(() => WebhookReceiver.verify(secret, delivery)).not.toThrow();
      expect(delivery.id).toMatch(/^msg_/);
      expect(Number(delivery.timestamp)).toBeGreaterThan(Date.now() / 1000 - 60);
      expect(delivery.headers['content-type']).toBe('application/json');
      expect(delivery.body).not.toContain(secret.slice(6));
      expect(delivery.body).not.toContain('whsec_');
      expect(Object.keys(delivery.payload).sort()).toEqual(['data', 'timestamp', 'type']);
      expect(delivery.payload.data).toMatchObject({ stationId: station.identity });
      expect(typeof delivery.payload.data.at).toBe('string');
    }
    // A tampered body or another secret does not verify.
    const ended = mine.find((d) => d.payload.type === 'transaction.ended') as ReceivedDelivery;
    expect(() => WebhookReceiver.verify(secret, { ...ended, body: ended.body.replace('EVDisconnected', 'Other') })).toThrow();
    expect(() => WebhookReceiver.verify(`whsec_${Buffer.alloc(32, 1).toString('base64')}`, ended)).toThrow();
    expect(ended.payload.data).toMatchObject({ transactionId, stoppedReason: 'EVDisconnected', seqNo: 1 });

    const items = await waitFor(
      async () => {
        const list = await deliveries(id);
        return list.filter((item) => item.outcome === 'delivered').length >= mine.length ? list : undefined;
      },
      { what: 'the deliveries listed' },
    );
    expect(items.find((item) => item.eventId === ended.id)).toMatchObject({ type: 'transaction.ended', attempt: 1, status: 200, outcome: 'delivered' });
    // Only subscribed kinds: no heartbeat-ish noise, no transaction.updated.
    expect(types).not.toContain('transaction.updated');
  });

  it('a resent TransactionEvent (same seqNo, after a lost answer) is one event', async () => {
    const r = await receiver();
    const id = uniqueIdentity('wh');
    await putWebhook(id, { url: r.url, events: ['transaction.started'] });
    const station = await ctx.csms.bootedStation({ prefix: 'WH' });
    const transactionId = `tx-${station.identity}`;
    await startTransaction(station, transactionId);
    await startTransaction(station, transactionId);
    await waitFor(() => ofStation(r, station.identity).length >= 1, { what: 'the delivery' });
    await waitFor(async () => (await deliveries(id)).some((item) => item.outcome === 'delivered'), { what: 'the attempt recorded' });
    expect(ofStation(r, station.identity)).toHaveLength(1);
    expect(await deliveries(id)).toHaveLength(1);
  });

  it('security.event and firmware.status (and station.event) are delivered', async () => {
    const r = await receiver();
    const id = uniqueIdentity('wh');
    await putWebhook(id, { url: r.url, events: ['security.event', 'firmware.status', 'station.event'] });
    const station = await ctx.csms.bootedStation({ prefix: 'WH' });
    await station.call('SecurityEventNotification', { type: 'FirmwareUpdated', timestamp: new Date().toISOString(), techInfo: 'v2' });
    await station.call('FirmwareStatusNotification', { status: 'Downloaded', requestId: 7 });
    const got = await waitFor(
      () => {
        const mine = ofStation(r, station.identity);
        return mine.length >= 4 ? mine : undefined;
      },
      { what: 'four deliveries' },
    );
    expect(got.find((d) => d.payload.type === 'security.event')?.payload.data).toMatchObject({ type: 'FirmwareUpdated', techInfo: 'v2' });
    expect(got.find((d) => d.payload.type === 'firmware.status')?.payload.data).toMatchObject({ status: 'Downloaded', requestId: 7 });
    expect(got.filter((d) => d.payload.type === 'station.event').map((d) => d.payload.data.eventKind)).toEqual([
      'SecurityEventNotification',
      'FirmwareStatusNotification',
    ]);
  });

  it('a receiver failing 5 times, then answering 2xx, gets the event again with the same webhook-id, before the later events of the station', async () => {
    const r = await receiver();
    let failures = 0;
    r.answer = (delivery) => (delivery.payload.type === 'transaction.started' && failures++ < 5 ? 503 : 204);
    const id = uniqueIdentity('wh');
    const { secret } = await putWebhook(id, { url: r.url, events: ['transaction.started', 'transaction.updated', 'transaction.ended'] });
    const station = await ctx.csms.bootedStation({ prefix: 'WH' });
    const transactionId = `tx-${station.identity}`;
    await startTransaction(station, transactionId);
    await updateTransaction(station, transactionId, 1);
    await endTransaction(station, transactionId, 2);

    const got = await waitFor(
      () => {
        const mine = ofStation(r, station.identity);
        return mine.some((d) => d.payload.type === 'transaction.ended') ? mine : undefined;
      },
      { timeoutMs: 15_000, what: 'the transaction.ended delivery' },
    );
    const types = got.map((d) => d.payload.type);
    expect(types).toEqual([...Array<string>(6).fill('transaction.started'), 'transaction.updated', 'transaction.ended']);
    const started = got.slice(0, 6);
    expect(new Set(started.map((d) => d.id)).size).toBe(1);
    expect(new Set(started.map((d) => d.body)).size).toBe(1);
    expect(started.map((d) => d.answered)).toEqual([503, 503, 503, 503, 503, 204]);
    for (const d of got) expect(() => WebhookReceiver.verify(secret ?? '', d)).not.toThrow();

    const history = await waitFor(
      async () => {
        const list = await deliveries(id, `?eventId=${encodeURIComponent(started[0]?.id ?? '')}`);
        return list.length >= 6 ? list : undefined;
      },
      { what: 'six attempts listed' },
    );
    // Newest first, one item per attempt.
    expect(history.map((item) => [item.attempt, item.status, item.outcome])).toEqual([
      [6, 204, 'delivered'],
      [5, 503, 'failed'],
      [4, 503, 'failed'],
      [3, 503, 'failed'],
      [2, 503, 'failed'],
      [1, 503, 'failed'],
    ]);
    const metrics = await ctx.csms.api.metrics();
    expect(metricValue(metrics, 'csms_webhook_attempts_total', { outcome: 'failed' })).toBeGreaterThanOrEqual(5);
    expect(metricValue(metrics, 'csms_webhook_attempts_total', { outcome: 'delivered' })).toBeGreaterThanOrEqual(3);
  });

  it('a receiver down all along: the event is dead after 1 + schedule attempts, later events go on, and a replay delivers it with the same id', async () => {
    const r = await receiver();
    r.answer = () => 500;
    const id = uniqueIdentity('wh');
    await putWebhook(id, { url: r.url, events: ['transaction.started', 'transaction.ended'] });
    const station = await ctx.csms.bootedStation({ prefix: 'WH' });
    const transactionId = `tx-${station.identity}`;
    await startTransaction(station, transactionId);
    await endTransaction(station, transactionId, 1);

    // Both die: the second is tried once the first is dead (the station's events go on).
    const attempts = 1 + RETRIES;
    await waitFor(() => ofStation(r, station.identity).filter((d) => d.payload.type === 'transaction.ended').length >= attempts, {
      timeoutMs: 15_000,
      what: 'every attempt of both events',
    });
    const history = await waitFor(
      async () => {
        const list = await deliveries(id);
        return list.filter((item) => item.outcome === 'dead').length === 2 ? list : undefined;
      },
      { what: 'both events dead' },
    );
    const startedId = ofStation(r, station.identity)[0]?.id ?? '';
    const ofStarted = history.filter((item) => item.eventId === startedId);
    expect(ofStarted).toHaveLength(attempts);
    expect(ofStarted[0]).toMatchObject({ attempt: attempts, status: 500, outcome: 'dead' });
    expect(ofStarted.slice(1).every((item) => item.outcome === 'failed')).toBe(true);

    r.answer = () => 200;
    const before = r.received.length;
    const replay = await ctx.csms.api.request('POST', `/api/v1/webhooks/${id}/deliveries/${startedId}/replay`);
    expect(replay.status).toBe(202);
    const again = await waitFor(() => r.received.slice(before).find((d) => d.id === startedId), { what: 'the replayed delivery' });
    expect(again.payload.type).toBe('transaction.started');
    expect(again.answered).toBe(200);
    const after = await waitFor(
      async () => {
        const list = await deliveries(id, `?eventId=${startedId}`);
        return list[0]?.outcome === 'delivered' ? list : undefined;
      },
      { what: 'the replay listed' },
    );
    expect(after[0]).toMatchObject({ attempt: attempts + 1, status: 200 });
    // A replay of a delivered event is delivered again too (whatever its state).
    expect((await ctx.csms.api.request('POST', `/api/v1/webhooks/${id}/deliveries/${startedId}/replay`)).status).toBe(202);
    await waitFor(() => r.received.slice(before).filter((d) => d.id === startedId).length === 2, { what: 'the second replay' });
  });

  it('a receiver that never answers delays neither another webhook nor the station', async () => {
    const slow = await receiver();
    slow.answer = () => 'hang';
    const fast = await receiver();
    const slowId = uniqueIdentity('wh');
    const fastId = uniqueIdentity('wh');
    await putWebhook(slowId, { url: slow.url, events: ['transaction.started'] });
    await putWebhook(fastId, { url: fast.url, events: ['transaction.started'] });
    const stations = await Promise.all([ctx.csms.bootedStation({ prefix: 'WH' }), ctx.csms.bootedStation({ prefix: 'WH' })]);
    for (const station of stations) await startTransaction(station, `tx-${station.identity}`);
    // The fast receiver gets both events while the slow one still holds its first attempts open.
    await waitFor(() => stations.every((s) => ofStation(fast, s.identity).length === 1), { timeoutMs: 3000, what: 'the fast webhook' });
    expect(slow.received.every((d) => d.answered === null)).toBe(true);
    // The slow receiver's attempts time out (CSMS_WEBHOOK_TIMEOUT_MS) and are listed as failed with no status.
    await waitFor(async () => (await deliveries(slowId)).some((item) => item.outcome === 'failed' && item.status === null), {
      timeoutMs: 5000,
      what: 'a timed-out attempt',
    });
  });

  it('a 1.6 station: StartTransaction and StopTransaction become transaction.started and transaction.ended', async () => {
    const r = await receiver();
    const id = uniqueIdentity('wh');
    await putWebhook(id, { url: r.url, events: ['transaction.started', 'transaction.ended'] });
    const identity = uniqueIdentity('WH16');
    const password = randomPassword();
    expect((await ctx.csms.api.putStation(identity, { securityProfile: 1, password, bootPolicy: 'Accepted' })).status).toBe(201);
    const station = await Station16.connect({ url: ctx.csms.ocppUrl, identity, password });
    try {
      await station.booted(1);
      const started = await station.start(1, '', 1000);
      await station.stop(started.transactionId, 4500);
      const got = await waitFor(
        () => {
          const mine = ofStation(r, identity);
          return mine.length >= 2 ? mine : undefined;
        },
        { what: 'both 1.6 transaction events' },
      );
      expect(got.map((d) => d.payload.type)).toEqual(['transaction.started', 'transaction.ended']);
      expect(got[1]?.payload.data).toMatchObject({ transactionId: String(started.transactionId), energyRegisterWh: 4500 });
    } finally {
      await station.close();
    }
  });

  it('an inactive webhook collects nothing', async () => {
    const r = await receiver();
    const id = uniqueIdentity('wh');
    await putWebhook(id, { url: r.url, events: ['station.boot'], active: false });
    const station = await ctx.csms.bootedStation({ prefix: 'WH' });
    const other = await receiver();
    await putWebhook(uniqueIdentity('wh'), { url: other.url, events: ['station.boot'] });
    await station.boot();
    await waitFor(() => ofStation(other, station.identity).length >= 1, { what: 'the active webhook' });
    expect(ofStation(r, station.identity)).toHaveLength(0);
    expect(await deliveries(id)).toHaveLength(0);
  });
});
