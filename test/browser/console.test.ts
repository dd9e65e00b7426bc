/**
 * The operator console in a real Chromium (issue 20), against a real CSMS with scripted stations over real
 * sockets: the fleet page, live connector changes on a station's page, the command panel's three outcomes, a
 * finished transaction with its chart and CSV, accepting a Pending station, the token flow, and axe-core on every page.
 */
import { readFile } from 'node:fs/promises';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateUnderCsp, launchChromium, screenshot, seriousAxeViolations } from '../support/browser.js';
import { ChargingSession, energyRegister, meterValue, newIdToken, registerIdToken, sample } from '../support/charging.js';
import { withCsms, type TestCsms } from '../support/csms.js';
import { Reply, uniqueIdentity } from '../support/station.js';

const CALL_TIMEOUT_MS = 1500;
const h = withCsms({ CSMS_CALL_TIMEOUT_MS: CALL_TIMEOUT_MS });

let browser: Browser;
let context: BrowserContext;

beforeAll(async () => {
  browser = await launchChromium();
  // No CSP bypass: the console runs under the policy it is served with (axe-core goes in through DevTools).
  context = await browser.newContext({ viewport: { width: 1360, height: 900 }, acceptDownloads: true });
}, 60_000);
afterAll(async () => {
  await browser.close();
});

/** What the browser reported as errors (CSP refusals, exceptions), per page. */
const pageErrors = new WeakMap<Page, string[]>();

async function newPage(): Promise<Page> {
  const page = await context.newPage();
  const errors: string[] = [];
  pageErrors.set(page, errors);
  page.on('console', (message) => {
    if (message.type() === 'error' && !/status of 401/.test(message.text())) errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  return page;
}

async function open(csms: TestCsms, hash: string, page?: Page): Promise<Page> {
  const p = page ?? (await newPage());
  await p.goto(`${csms.apiUrl}/#${hash}`);
  await p.waitForSelector('main[data-ready="true"]');
  // The change stream is up, so what the test does next reaches the page live.
  await p.waitForSelector('html[data-stream="up"]', { state: 'attached' });
  return p;
}

async function expectAccessible(page: Page): Promise<void> {
  const violations = await seriousAxeViolations(page);
  expect(violations, JSON.stringify(violations, null, 2)).toEqual([]);
  // Nothing the Content-Security-Policy refused, no script error.
  expect(pageErrors.get(page) ?? []).toEqual([]);
}

describe('the console', () => {
  it('fleet page: shows the stations a test connected, their connectors, and the fleet counts', async () => {
    const prefix = uniqueIdentity('fleetui').slice(0, 18);
    const stations = [];
    for (const suffix of ['a', 'b', 'c']) {
      const station = await h.csms.bootedStation({ identity: `${prefix}-${suffix}` });
      stations.push(station);
    }
    await stations[1]!.statusNotification(1, 1, 'Faulted');
    const page = await open(h.csms, '/');
    const summary = (await h.csms.api.request<{ stations: number; connected: number }>('GET', '/api/v1/fleet/summary')).body;
    await expect.poll(() => page.textContent('#tile-stations .tile-value')).toBe(String(summary.stations));
    expect(await page.textContent('#tile-connected .tile-value')).toBe(String(summary.connected));

    await page.fill('#fleet-search', prefix);
    await expect.poll(() => page.locator('#fleet-list [data-station]').count()).toBe(3);
    const rows = await page.locator('#fleet-list [data-station]').allTextContents();
    expect(rows.join('\n')).toContain(`${prefix}-b`);
    expect(await page.locator(`[data-station="${prefix}-b"]`).textContent()).toContain('Faulted');
    expect(await page.locator(`[data-station="${prefix}-a"]`).textContent()).toContain('connected');
    // Each row in its own place (the policy refuses style attributes; the list positions rows through the CSSOM).
    const tops = await Promise.all(['a', 'b', 'c'].map(async (s) => (await page.locator(`[data-station="${prefix}-${s}"]`).boundingBox())?.y));
    expect(new Set(tops).size).toBe(3);
    await page.fill('#fleet-search', '');
    await screenshot(page, 'fleet');
    await expectAccessible(page);
    await page.close();
  });

  it('station page: a StatusNotification changes the connector within 1 s, without a reload', async () => {
    const station = await h.csms.bootedStation({ prefix: 'live' });
    const page = await open(h.csms, `/stations/${encodeURIComponent(station.identity)}`);
    await page.waitForSelector('[data-connector="1/1"]');
    expect(await page.textContent('[data-connector="1/1"] .connector-status')).toBe('Available');
    let reloaded = false;
    page.on('framenavigated', () => (reloaded = true));
    const sent = Date.now();
    await station.statusNotification(1, 1, 'Occupied');
    await page.locator('[data-connector="1/1"] .connector-status', { hasText: 'Occupied' }).waitFor({ timeout: 1000 });
    expect(Date.now() - sent).toBeLessThan(1000);
    expect(reloaded).toBe(false);
    await screenshot(page, 'station');
    await expectAccessible(page);
    await page.close();
  });

  it("command panel: GetVariables shows the station's answer, a CALLERROR shows as an error, a silent station as a timeout", async () => {
    const station = await h.csms.bootedStation({ prefix: 'cmd' });
    const page = await open(h.csms, `/stations/${encodeURIComponent(station.identity)}`);
    await page.selectOption('#command-action', 'GetVariables');
    await page.waitForSelector('#command-form fieldset, .command-form fieldset');
    const request = { getVariableData: [{ component: { name: 'OCPPCommCtrlr' }, variable: { name: 'OfflineThreshold' } }] };
    const send = async (fillJson = true): Promise<{ status: string; response: string; request: string }> => {
      if (fillJson) await page.fill('#command-json', JSON.stringify(request));
      await page.click('#command-send');
      await page.waitForSelector('#command-outcome', { timeout: CALL_TIMEOUT_MS + 5000 });
      return {
        status: (await page.getAttribute('#command-outcome', 'data-status')) ?? '',
        response: (await page.textContent('#command-response')) ?? '',
        request: (await page.textContent('#command-request')) ?? '',
      };
    };

    // The form generated from the official GetVariablesRequest schema builds the request.
    const fieldset = (legend: RegExp) => page.locator('.command-form fieldset', { has: page.locator(':scope > legend', { hasText: legend }) });
    await fieldset(/^component/)
      .getByLabel(/^name/)
      .fill('OCPPCommCtrlr');
    await fieldset(/^variable/)
      .getByLabel(/^name/)
      .fill('OfflineThreshold');
    expect(JSON.parse(await page.inputValue('#command-json'))).toEqual(request);
    const answered = await send(false);
    expect(answered.status).toBe('200');
    const answer = JSON.parse(answered.response) as { getVariableResult: { attributeStatus: string; component: { name: string } }[] };
    expect(answer.getVariableResult[0]).toMatchObject({ attributeStatus: 'Accepted', component: { name: 'OCPPCommCtrlr' } });
    expect(JSON.parse(answered.request)).toEqual(request);
    await screenshot(page, 'station-command');

    station.onCall('GetVariables', () => Reply.error('InternalError', 'the station is broken on purpose'));
    await evaluateUnderCsp(page, "document.getElementById('command-outcome')?.remove()");
    const failed = await send();
    expect(failed.status).toBe('502');
    expect(await page.textContent('#command-outcome')).toContain('CALLERROR InternalError');
    expect(JSON.parse(failed.response)).toMatchObject({ error: { code: 'InternalError', message: 'the station is broken on purpose' } });

    station.onCall('GetVariables', () => Reply.none);
    await evaluateUnderCsp(page, "document.getElementById('command-outcome')?.remove()");
    const silent = await send();
    expect(silent.status).toBe('504');
    expect(await page.textContent('#command-outcome')).toContain('timeout');
    await page.close();
  });

  it('a GetBaseReport sent from the command panel shows the report the station sent, and its device model as a searchable tree', async () => {
    const station = await h.csms.bootedStation({ prefix: 'report' });
    const page = await open(h.csms, `/stations/${encodeURIComponent(station.identity)}`);
    await page.selectOption('#command-action', 'GetBaseReport');
    await page.waitForSelector('.command-form fieldset');
    await page.fill('#command-json', JSON.stringify({ reportBase: 'FullInventory' }));
    await page.click('#command-send');
    await page.waitForSelector('#command-outcome[data-status="200"]');
    const requestId = (JSON.parse((await page.textContent('#command-request')) ?? '{}') as { requestId: number }).requestId;
    await page.locator('#report-result', { hasText: 'complete' }).waitFor({ timeout: 5000 });
    expect(await page.inputValue('#report-request-id')).toBe(String(requestId));
    expect(await page.textContent('#report-result')).toContain('OCPPCommCtrlr');
    await page.close();

    // The device model it reported is a tree of components, each holding its variables, narrowed by the search.
    const again = await open(h.csms, `/stations/${encodeURIComponent(station.identity)}`);
    const components = again.locator('#variables details > summary');
    await expect.poll(() => components.count()).toBeGreaterThan(1);
    await again.fill('#variables-search', 'offlinethreshold');
    await expect.poll(() => components.count()).toBe(1);
    expect(await components.first().textContent()).toContain('OCPPCommCtrlr');
    expect(await again.locator('#variables details[open] li').allTextContents()).toEqual([expect.stringContaining('OfflineThreshold')]);
    await again.fill('#variables-search', 'no-such-variable-anywhere');
    await again.locator('#variables', { hasText: 'Nothing matches.' }).waitFor({ timeout: 2000 });
    await again.close();
  });

  it('transactions: a finished transaction is listed, its page charts power and energy, and it is in the CSV export', async () => {
    const station = await h.csms.bootedStation({ prefix: 'txui' });
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const tx = new ChargingSession(station);
    const t0 = Date.now() - 60_000;
    await tx.authorized(token, { meterValue: [meterValue([energyRegister(1_000, { context: 'Transaction.Begin' })], new Date(t0))] });
    await tx.energyTransferStarted();
    for (let i = 1; i <= 3; i++) {
      await tx.event('Updated', 'MeterValuePeriodic', {
        meterValue: [meterValue([energyRegister(1_000 + i * 500), sample('Power.Active.Import', 7_000 + i * 1000, { unit: 'W' })], new Date(t0 + i * 10_000))],
      });
    }
    await tx.event('Ended', 'StopAuthorized', {
      stoppedReason: 'Local',
      idToken: token,
      meterValue: [meterValue([energyRegister(3_000, { context: 'Transaction.End' })], new Date(t0 + 40_000))],
    });

    const page = await open(h.csms, '/transactions');
    await page.fill('#tx-station', station.identity);
    await page.click('form.inline button[type="submit"]');
    const row = page.locator(`[data-transaction="${tx.transactionId}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain('2000');
    await screenshot(page, 'transactions');
    await expectAccessible(page);

    const downloading = page.waitForEvent('download');
    await page.click('#tx-csv');
    const file = await downloading;
    const csv = await readFile(await file.path(), 'utf8');
    expect(csv.split('\r\n')[0]).toMatch(/^stationId,transactionId,/);
    expect(csv).toContain(`${station.identity},${tx.transactionId},1,1,`);
    expect(csv).toContain(',2000,Local,');

    await row.locator('a', { hasText: tx.transactionId }).click();
    await page.waitForSelector('#transaction-chart svg');
    expect(await page.locator('#transaction-chart polyline.power').count()).toBe(1);
    expect(await page.locator('#transaction-chart polyline.energy').count()).toBe(1);
    expect(await page.locator('#transaction-chart circle.energy').count()).toBe(5);
    expect(await page.textContent('#tx-events')).toContain('StopAuthorized');
    await screenshot(page, 'transaction');
    await expectAccessible(page);
    await page.close();
  });

  it('a Pending station is accepted from its page, and its next boot is Accepted', async () => {
    const station = await h.csms.newStation({ prefix: 'pend', bootPolicy: 'Pending' });
    await station.boot({ expect: 'Pending' });
    const page = await open(h.csms, `/stations/${encodeURIComponent(station.identity)}`);
    await page.click('#accept-station');
    await expect.poll(async () => (await h.csms.api.getStation(station.identity)).body.bootPolicy).toBe('Accepted');
    await station.boot({ expect: 'Accepted' });
    await page.locator('#identity', { hasText: 'Accepted' }).waitFor();
    expect(await page.locator('#accept-station').count()).toBe(0);
    await page.close();
  });

  it('id tokens page: add, block, expire and delete a token; no serious accessibility violation', async () => {
    const page = await open(h.csms, '/id-tokens');
    const value = `UI${Date.now().toString(16).toUpperCase()}`;
    await page.fill('#new-token-value', value);
    await page.fill('#new-token-group', 'fleet-ui');
    await page.click('#new-token-add');
    await page.locator(`[data-token="${value}"]`).waitFor();
    const token = { type: 'ISO14443', idToken: value };
    await page.click(`button[aria-label="Block ${value}"]`);
    await expect.poll(async () => (await h.csms.api.request<{ status: string }>('GET', `/api/v1/id-tokens/${token.type}/${token.idToken}`)).body.status).toBe('Blocked');
    await page.click(`button[aria-label="Expire ${value}"]`);
    await expect
      .poll(async () => (await h.csms.api.request<{ status: string; groupId: string }>('GET', `/api/v1/id-tokens/${token.type}/${token.idToken}`)).body)
      .toMatchObject({
        status: 'Expired',
        groupId: 'fleet-ui',
      });
    await screenshot(page, 'id-tokens');
    await expectAccessible(page);
    await page.click(`button[aria-label="Delete ${value}"]`);
    await expect.poll(async () => (await h.csms.api.request('GET', `/api/v1/id-tokens/${token.type}/${token.idToken}`)).status).toBe(404);
    await page.close();
  });
});

describe('the console with CSMS_API_TOKEN', () => {
  const API_TOKEN = 'console-test-token-0123456789';
  const secured = withCsms({ CSMS_API_TOKEN: API_TOKEN });

  it('asks for the token, refuses a wrong one, keeps the right one in sessionStorage only and never puts it in a URL', async () => {
    await secured.csms.bootedStation({ prefix: 'tok' });
    const page = await newPage();
    const urls: string[] = [];
    page.on('request', (r) => urls.push(r.url()));
    await page.goto(`${secured.csms.apiUrl}/`);
    await page.waitForSelector('#login[open]');
    await screenshot(page, 'login');
    await expectAccessible(page);
    await page.fill('#login-token', 'wrong-token');
    await page.click('#login-form button[type="submit"]');
    await page.waitForSelector('#login[open]');
    await expect.poll(() => page.textContent('#login-error')).toContain('refused');
    await page.fill('#login-token', API_TOKEN);
    await page.click('#login-form button[type="submit"]');
    await page.waitForSelector('main[data-ready="true"]');
    await page.waitForSelector('html[data-stream="up"]', { state: 'attached' });
    await expect.poll(() => page.textContent('#tile-stations .tile-value')).not.toBe('0');
    expect(await evaluateUnderCsp(page, "sessionStorage.getItem('stroom.apiToken')")).toBe(API_TOKEN);
    expect(await evaluateUnderCsp(page, 'localStorage.length')).toBe(0);
    expect(await evaluateUnderCsp(page, 'document.cookie')).toBe('');
    expect(urls.filter((u) => u.includes(API_TOKEN) || u.includes('wrong-token'))).toEqual([]);
    await page.close();
  });
});

describe('what the console is served as', () => {
  it('serves / and its scripts with ETag revalidation, gzip and a strict content security policy', async () => {
    const index = await fetch(`${h.csms.apiUrl}/`, { headers: { 'Accept-Encoding': 'gzip' } });
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toMatch(/^text\/html/);
    expect(index.headers.get('cache-control')).toBe('no-cache');
    expect(index.headers.get('content-security-policy')).toContain("default-src 'self'");
    const etag = index.headers.get('etag')!;
    const again = await fetch(`${h.csms.apiUrl}/`, { headers: { 'If-None-Match': etag } });
    expect(again.status).toBe(304);
    const script = await fetch(`${h.csms.apiUrl}/console/main.js`, { headers: { 'Accept-Encoding': 'gzip' } });
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(script.headers.get('content-encoding')).toBe('gzip');
    expect((await fetch(`${h.csms.apiUrl}/console/nothing.js`)).status).toBe(404);
  });
});
