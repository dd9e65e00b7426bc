/**
 * The console's webhook pages in a real Chromium against a real CSMS and a real receiver: a webhook added from the
 * page (its generated secret shown once), its deliveries listed with their outcomes, a dead event replayed from
 * the page, and axe-core on both pages.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateUnderCsp, launchChromium, screenshot, seriousAxeViolations } from '../support/browser.js';
import { withCsms } from '../support/csms.js';
import { uniqueIdentity, waitFor } from '../support/station.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

const h = withCsms({ CSMS_WEBHOOK_RETRY_SCHEDULE: '100ms', CSMS_WEBHOOK_TIMEOUT_MS: 1000 });

let browser: Browser;
let receiver: WebhookReceiver;

beforeAll(async () => {
  browser = await launchChromium();
  receiver = await WebhookReceiver.start();
}, 60_000);
afterAll(async () => {
  await browser.close();
  await receiver.close();
});

async function open(hash: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  await page.goto(`${h.csms.apiUrl}/#${hash}`);
  await page.waitForSelector('main[data-ready="true"]');
  return { page, errors };
}

describe('the console: webhooks', () => {
  it('adds a webhook (secret shown once), lists its deliveries, and replays a dead event', async () => {
    receiver.answer = () => 500;
    const id = uniqueIdentity('ui-wh');
    const { page, errors } = await open('/webhooks');
    await page.fill('#new-webhook-id', id);
    await page.fill('#new-webhook-url', receiver.url);
    await page.click('#new-webhook-add');
    await page.locator(`[data-webhook="${id}"]`).waitFor();
    const shown = (await page.textContent('#webhook-secret')) ?? '';
    const secret = /whsec_[A-Za-z0-9+/=]+/.exec(shown)?.[0];
    expect(secret).toBeDefined();
    // The API never shows it again; the page only had it from the PUT answer.
    expect((await h.csms.api.request('GET', `/api/v1/webhooks/${id}`)).text).not.toContain('whsec_');
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'webhooks');

    const station = await h.csms.bootedStation({ prefix: 'UIWH' });
    await station.transactionEvent({
      eventType: 'Started',
      triggerReason: 'CablePluggedIn',
      transactionInfo: { transactionId: `tx-${station.identity}` },
      evse: { id: 1, connectorId: 1 },
    });
    const first = await waitFor(() => receiver.received.find((d) => d.payload.data.stationId === station.identity), { what: 'the first attempt' });
    await waitFor(
      async () => (await h.csms.api.request<{ items: { outcome: string }[] }>('GET', `/api/v1/webhooks/${id}/deliveries`)).body.items.some((i) => i.outcome === 'dead'),
      {
        what: 'the event dead',
      },
    );
    expect(() => WebhookReceiver.verify(secret ?? '', first)).not.toThrow();

    await page.click(`[data-webhook="${id}"] a`);
    await page.waitForSelector('main[data-ready="true"][data-page="Webhook deliveries"]');
    await page.locator(`tr[data-event="${first.id}"][data-outcome="dead"]`).waitFor();
    expect(await page.locator(`tr[data-event="${first.id}"][data-outcome="failed"]`).count()).toBe(1);

    receiver.answer = () => 200;
    await page.locator(`tr[data-event="${first.id}"][data-outcome="dead"] button`).click();
    await waitFor(() => receiver.received.some((d) => d.id === first.id && d.answered === 200), { what: 'the replayed delivery' });
    await expect
      .poll(async () => {
        await page.click('#deliveries-refresh');
        return page.locator(`tr[data-event="${first.id}"][data-outcome="delivered"]`).count();
      })
      .toBe(1);
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'webhook-deliveries');
    expect(errors).toEqual([]);
    // The page never held the secret in storage.
    expect(await evaluateUnderCsp<string>(page, 'JSON.stringify(sessionStorage) + JSON.stringify(localStorage)')).not.toContain('whsec_');
    await page.close();
  });
});
