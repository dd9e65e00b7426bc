/**
 * The station page's "Local list" and "Display messages" sections in a real Chromium (CONTRACT §8.1, §8.5): the
 * list the CSMS keeps on the station with its versions and sync status (InSync, then Failed with the station's
 * reason), and display messages set and cleared from the page (TC_O_01, TC_O_05), a refusal naming its rule
 * (DRV-AUI-11), and a message the station reported at reconnect (DRV-AUI-10); no serious accessibility violation.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, screenshot, seriousAxeViolations } from '../support/browser.js';
import { withCsms } from '../support/csms.js';
import { Reply, waitFor, type Payload, type TestStation } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 3000 });
let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser.close();
});

const listPath = (id: string): string => `/api/v1/stations/${encodeURIComponent(id)}/local-list`;

async function open(stationId: string): Promise<{ page: Page; errors: string[]; close: () => Promise<void> }> {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${h.csms.apiUrl}/#/stations/${encodeURIComponent(stationId)}`);
  await page.waitForSelector('main[data-ready="true"]');
  await page.waitForSelector('html[data-stream="up"]', { state: 'attached' });
  return { page, errors, close: () => context.close() };
}

async function inSync(station: TestStation): Promise<number> {
  return waitFor(
    async () => {
      const res = await h.csms.api.request<{ syncStatus: string; version: number }>('GET', listPath(station.identity));
      return res.body.syncStatus === 'InSync' && res.body.version;
    },
    { what: 'the list in sync' },
  );
}

describe('console: local list', () => {
  it('shows the list, its version, the station’s version and the sync status; a failure appears live with its reason', async () => {
    const station = await h.csms.bootedStation({ prefix: 'lists-ui' });
    let installed = 0;
    station.onCall('SendLocalList', (p) => {
      installed = p.versionNumber as number;
      return { status: 'Accepted' };
    });
    station.onCall('GetLocalListVersion', () => ({ versionNumber: installed }));
    const entries = [
      { idToken: { idToken: 'UI-CARD-1', type: 'Central' }, idTokenInfo: { status: 'Accepted' } },
      { idToken: { idToken: 'UI-CARD-2', type: 'Central' }, idTokenInfo: { status: 'Blocked' } },
    ];
    expect((await h.csms.api.request('PUT', listPath(station.identity), { entries })).status).toBe(202);
    const version = await inSync(station);

    const { page, errors, close } = await open(station.identity);
    await page.locator('#local-list-sync', { hasText: 'InSync' }).waitFor({ timeout: 5000 });
    const facts = await page.textContent('#local-list-facts');
    expect(facts).toContain(`Version${version}`);
    expect(facts).toContain('Entries2');
    const rows = await page.locator('#local-list-entries tbody tr').allTextContents();
    expect(rows).toEqual([expect.stringContaining('UI-CARD-1'), expect.stringContaining('UI-CARD-2')]);
    expect(rows[1]).toContain('Blocked');

    // The station refuses the next list: the section follows live (local-list.updated) to Failed, with the reason.
    station.onCall('SendLocalList', () => ({ status: 'Failed' }));
    expect((await h.csms.api.request('PUT', listPath(station.identity), { entries: entries.slice(0, 1) })).status).toBe(202);
    await page.locator('#local-list-sync', { hasText: 'Failed' }).waitFor({ timeout: 10_000 });
    expect(await page.textContent('#local-list-facts')).toMatch(/Last error.*Failed/);
    expect(await page.locator('#local-list-entries tbody tr').count()).toBe(1);

    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'station-local-list');
    expect(errors).toEqual([]);
    await close();
  });
});

describe('console: display messages', () => {
  it('TC_O_01 / TC_O_05: sets a text message from the page and clears it; a refused one names its rule (DRV-AUI-11)', async () => {
    const station = await h.csms.bootedStation({ prefix: 'lists-ui' });
    await station.notifyReport(4242, [
      [{ component: { name: 'DisplayMessageCtrlr' }, variable: { name: 'SupportedPriorities' }, variableAttribute: [{ type: 'Actual', value: 'NormalCycle,InFront' }] }],
    ]);
    const { page, errors, close } = await open(station.identity);
    await page.locator('#display-messages-table', { hasText: 'No display messages known.' }).waitFor({ timeout: 5000 });

    await page.fill('#display-message-text', 'Welcome to Stroom');
    await page.selectOption('#display-message-priority', 'InFront');
    await page.click('#display-messages button[type="submit"]');
    await page.locator('#display-message-outcome', { hasText: 'the station answered Accepted' }).waitFor({ timeout: 5000 });
    const sent = (await station.waitForCall('SetDisplayMessage')).payload.message as Payload;
    expect(sent).toMatchObject({ priority: 'InFront', message: { format: 'UTF8', content: 'Welcome to Stroom' } });
    const row = page.locator(`#display-messages-table tr[data-message="CSMS/${String(sent.id)}"]`);
    await row.waitFor({ timeout: 5000 });
    expect(await row.textContent()).toContain('Welcome to Stroom');

    await page.fill('#display-message-text', 'Look here');
    await page.selectOption('#display-message-priority', 'AlwaysFront');
    await page.click('#display-messages button[type="submit"]');
    await page.locator('#display-message-outcome', { hasText: 'rule DRV-AUI-11' }).waitFor({ timeout: 5000 });
    expect(station.callsOf('SetDisplayMessage')).toHaveLength(1);

    await page.click(`button[aria-label="Clear display message ${String(sent.id)}"]`);
    await page.locator('#display-message-outcome', { hasText: `Message ${String(sent.id)}: the station answered Accepted` }).waitFor({ timeout: 5000 });
    expect((await station.waitForCall('ClearDisplayMessage')).payload).toEqual({ id: sent.id });
    await page.locator('#display-messages-table', { hasText: 'No display messages known.' }).waitFor({ timeout: 5000 });

    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'station-display-messages');
    expect(errors).toEqual([]);
    await close();
  });

  it('DRV-AUI-10: after a reconnect the page shows what the station reported, without a reload', async () => {
    const creds = await h.csms.register({ prefix: 'lists-ui' });
    const first = await h.csms.connect(creds);
    await first.booted();
    // The station shows messages: the CSMS asks again at the next connection.
    await first.notifyReport(4343, [
      [{ component: { name: 'DisplayMessageCtrlr' }, variable: { name: 'SupportedFormats' }, variableAttribute: [{ type: 'Actual', value: 'ASCII,UTF8' }] }],
    ]);
    const { page, errors, close } = await open(creds.identity);
    await first.close();

    const again = await h.csms.connect(creds);
    const foreign: Payload = { id: 812_345, priority: 'NormalCycle', message: { format: 'ASCII', content: 'Set by the site owner' } };
    again.onCall('GetDisplayMessages', (payload) =>
      Reply.then({ status: 'Accepted' }, async () => {
        await again.call('NotifyDisplayMessages', { requestId: payload.requestId, messageInfo: [foreign] });
      }),
    );
    await again.booted();
    await again.waitForCall('GetDisplayMessages', { timeoutMs: 10_000 });
    // The report lands after the connection event: display-messages.updated brings it to the open page.
    const row = page.locator('#display-messages-table tr[data-message="station/812345"]');
    await row.waitFor({ timeout: 10_000 });
    expect(await row.textContent()).toContain('Set by the site owner');
    expect(errors).toEqual([]);
    await close();
  });
});
