/**
 * CONTRACT §1 "durable" / §8.7: a webhook outbox entry is committed with the record it describes, before the
 * station's answer. The CSMS child process (`node dist/src/main.js`, as `npm start` runs it) is SIGKILLed after the
 * station got its answer and before the receiver accepted the event; after a restart on the same store the event
 * is delivered, with the webhook-id it had. On the embedded store (PGlite, the default) and on PostgreSQL.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { crashChildEnv, spawnCsms, startTestCsms, type CleanupSteps, type SpawnedCsms } from '../support/csms.js';
import { freshPostgresDatabaseUrl } from '../support/services.js';
import { TestStation, randomPassword, uniqueIdentity, waitFor } from '../support/station.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

const cleanup: CleanupSteps = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
}, 60_000);

describe.each(['embedded', 'PostgreSQL'] as const)('webhook outbox across a SIGKILL (%s store)', (store) => {
  it('TC_E_01: a TransactionEvent answered before the kill is delivered after the restart', async () => {
    const receiver = await WebhookReceiver.start();
    cleanup.push(() => receiver.close());
    // Until the kill, the receiver takes the request and never answers: the event is committed, not delivered.
    receiver.answer = () => 'hang';
    // The restarted node has the killed one's CSMS_NODE_ID: it ends that node's leases at start instead of waiting
    // for them to run out (on the embedded store it ends every lease: nobody else can hold one).
    const env = {
      ...(await crashChildEnv(store, 'stroom-wh-crash-', cleanup)),
      CSMS_NODE_ID: 'wh-crash',
      CSMS_WEBHOOK_TIMEOUT_MS: 60_000,
      CSMS_WEBHOOK_RETRY_SCHEDULE: '100ms',
    };
    let child: SpawnedCsms | undefined = await spawnCsms(env);
    cleanup.push(() => child?.kill());

    const put = await child.api.request<{ secret: string }>('PUT', '/api/v1/webhooks/billing', {
      url: receiver.url,
      events: ['transaction.started', 'transaction.ended'],
    });
    expect(put.status).toBe(201);
    const secret = put.body.secret;
    const identity = uniqueIdentity('WHK');
    const password = randomPassword();
    expect((await child.api.putStation(identity, { securityProfile: 1, password, bootPolicy: 'Accepted' })).status).toBe(201);
    const station = await TestStation.connect(child.ocppUrl, { identity, password });
    await station.booted();
    const transactionId = `tx-${identity}`;
    await station.transactionEvent({
      eventType: 'Started',
      triggerReason: 'CablePluggedIn',
      seqNo: 0,
      transactionInfo: { transactionId },
      evse: { id: 1, connectorId: 1 },
    });
    await station.transactionEvent({
      eventType: 'Ended',
      triggerReason: 'EVCommunicationLost',
      seqNo: 1,
      transactionInfo: { transactionId, stoppedReason: 'EVDisconnected' },
    });
    // Both answered: both outbox rows are committed. The first attempt is under way and never answered.
    const hung = await waitFor(() => receiver.ofType('transaction.started')[0], { timeoutMs: 5000, what: 'the first attempt' });
    child.child.kill('SIGKILL');
    await new Promise((resolve) => child?.child.once('exit', resolve));
    station.terminate();

    receiver.answer = () => 200;
    child = await spawnCsms(env);
    const delivered = await waitFor(
      () => {
        const ok = receiver.received.filter((d) => d.answered === 200);
        return ok.some((d) => d.payload.type === 'transaction.ended') ? ok : undefined;
      },
      { timeoutMs: 20_000, what: 'both events delivered after the restart' },
    );
    expect(delivered.map((d) => d.payload.type)).toEqual(['transaction.started', 'transaction.ended']);
    expect(delivered[0]?.id).toBe(hung.id);
    expect(delivered[0]?.payload.data).toMatchObject({ stationId: identity, transactionId });
    for (const d of delivered) expect(() => WebhookReceiver.verify(secret, d)).not.toThrow();
    await child.stop();
    child = undefined;
  }, 180_000);
});

describe('webhook outbox across a graceful stop', () => {
  it('an attempt cut short by SIGTERM-style stop is released: another node (another id) delivers it without waiting for the lease', async () => {
    const receiver = await WebhookReceiver.start();
    cleanup.push(() => receiver.close());
    receiver.answer = () => 'hang';
    // A lease would last CSMS_WEBHOOK_TIMEOUT_MS + 10 s = 70 s: far beyond the wait below.
    const config = { DATABASE_URL: await freshPostgresDatabaseUrl(), CSMS_WEBHOOK_TIMEOUT_MS: 60_000, CSMS_WEBHOOK_RETRY_SCHEDULE: '100ms' };
    const first = await startTestCsms({ ...config, CSMS_NODE_ID: 'wh-stop-a' });
    let second: Awaited<ReturnType<typeof startTestCsms>> | undefined;
    let firstStopped = false;
    try {
      expect((await first.api.request('PUT', '/api/v1/webhooks/stop', { url: receiver.url, events: ['transaction.started'] })).status).toBe(201);
      const station = await first.bootedStation({ prefix: 'WHS' });
      await station.transactionEvent({
        eventType: 'Started',
        triggerReason: 'CablePluggedIn',
        transactionInfo: { transactionId: `tx-${station.identity}` },
        evse: { id: 1, connectorId: 1 },
      });
      const hung = await waitFor(() => receiver.received[0], { what: 'the first attempt' });
      await first.stop();
      firstStopped = true;
      receiver.answer = () => 200;
      second = await startTestCsms({ ...config, CSMS_NODE_ID: 'wh-stop-b' });
      const delivered = await waitFor(() => receiver.received.find((d) => d.answered === 200), { timeoutMs: 20_000, what: 'the delivery by the second node' });
      expect(delivered.id).toBe(hung.id);
    } finally {
      if (!firstStopped) await first.stop();
      await second?.stop();
    }
  }, 120_000);
});
