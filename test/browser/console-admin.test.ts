/**
 * The console's account pages in a real Chromium (issue 21, CONTRACT §8.7): signing in with an operator account
 * (an HttpOnly session cookie the page never sees), managing users and API keys (a key shown once), the audit log
 * with its filter, signing out, and axe-core on every page.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/api.js';
import { evaluateUnderCsp, launchChromium, screenshot, seriousAxeViolations } from '../support/browser.js';
import { withCsms } from '../support/csms.js';
import { CookieClient, createUser } from '../support/operators.js';
import { randomPassword } from '../support/station.js';

const API_TOKEN = 'console-admin-token-0123456789';
const h = withCsms({ CSMS_API_TOKEN: API_TOKEN });
const ADMIN_PASSWORD = randomPassword();

let browser: Browser;
let context: BrowserContext;
let page: Page;
const errors: string[] = [];

beforeAll(async () => {
  await createUser(h.csms.api, 'console-admin', ADMIN_PASSWORD, 'admin');
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error' && !/status of 40[13]/.test(message.text())) errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
}, 60_000);
afterAll(async () => {
  await browser.close();
});

async function show(hash: string): Promise<void> {
  await page.goto(`${h.csms.apiUrl}/#${hash}`);
  await page.waitForSelector('main[data-ready="true"]');
}

async function expectAccessible(): Promise<void> {
  const violations = await seriousAxeViolations(page);
  expect(violations, JSON.stringify(violations, null, 2)).toEqual([]);
  expect(errors).toEqual([]);
}

async function sessionCookie(): Promise<string | undefined> {
  const cookie = (await context.cookies()).find((c) => c.name === 'stroom_session');
  return cookie === undefined ? undefined : `${cookie.name}=${cookie.value}`;
}

describe('the console with operator accounts', { timeout: 60_000 }, () => {
  it('signs in with an account: a wrong password is refused, the right one sets an HttpOnly, SameSite=Strict cookie and nothing in storage', async () => {
    await page.goto(`${h.csms.apiUrl}/`);
    await page.waitForSelector('#login[open]');
    await expectAccessible();
    await page.fill('#login-username', 'console-admin');
    await page.fill('#login-password', 'not-the-right-password');
    await page.click('#login-account-form button[type="submit"]');
    await expect.poll(() => page.textContent('#login-error')).toContain('refused');
    await page.fill('#login-password', ADMIN_PASSWORD);
    await page.click('#login-account-form button[type="submit"]');
    await page.waitForSelector('main[data-ready="true"]');
    const cookie = (await context.cookies()).find((c) => c.name === 'stroom_session');
    expect(cookie?.httpOnly).toBe(true);
    expect(cookie?.sameSite).toBe('Strict');
    expect(await evaluateUnderCsp(page, 'document.cookie')).toBe('');
    expect(await evaluateUnderCsp(page, "sessionStorage.getItem('stroom.apiToken')")).toBeNull();
    expect(await evaluateUnderCsp(page, 'JSON.stringify(sessionStorage)')).not.toContain(ADMIN_PASSWORD);
    expect(await evaluateUnderCsp(page, 'localStorage.length')).toBe(0);
    expect(await page.isVisible('#sign-out')).toBe(true);
  });

  it('users page: adds a user, changes its role, deletes it', async () => {
    await show('/users');
    await page.waitForSelector('tr[data-user="console-admin"]');
    await page.fill('#new-user-name', 'console-viewer');
    await page.fill('#new-user-password', randomPassword());
    await page.selectOption('#new-user-role', 'viewer');
    await page.click('#new-user-add');
    await page.waitForSelector('tr[data-user="console-viewer"]');
    await screenshot(page, 'users');
    await expectAccessible();
    await page.selectOption('select[aria-label="Role of console-viewer"]', 'operator');
    await expect.poll(async () => (await h.csms.api.request<{ role: string }>('GET', '/api/v1/users/console-viewer')).body.role).toBe('operator');
    await page.click('button[aria-label="Delete console-viewer"]');
    await expect.poll(async () => (await h.csms.api.request('GET', '/api/v1/users/console-viewer')).status).toBe(404);
  });

  it('API keys page: shows a new key once, and revoking it stops it at once', async () => {
    await show('/api-keys');
    await page.fill('#new-key-name', 'console-made');
    await page.selectOption('#new-key-role', 'viewer');
    await page.click('#new-key-add');
    const key = (await (await page.waitForSelector('#new-key-value')).textContent()) ?? '';
    expect(key).toMatch(/^stroom_/);
    const machine = new ApiClient(h.csms.apiUrl, key);
    expect((await machine.listStations()).status).toBe(200);
    await screenshot(page, 'api-keys');
    await expectAccessible();
    await page.reload();
    await page.waitForSelector('main[data-ready="true"]');
    await page.waitForSelector('tr[data-key]');
    expect(await page.textContent('main')).not.toContain(key);
    await page.click('button[aria-label="Revoke console-made"]');
    await expect.poll(async () => (await machine.listStations()).status).toBe(401);
  });

  it('audit page: lists what this session did, newest first, and filters by actor', async () => {
    await show('/audit');
    await page.waitForSelector('tr[data-audit]');
    await page.fill('#audit-actor', 'user:console-admin');
    await page.click('#audit-apply');
    await expect.poll(() => page.textContent('#audit tbody')).toContain('DELETE /api/v1/api-keys/');
    // The filtered page replaces the unfiltered one: every actor shown is the one asked for.
    const actors = (): Promise<string[]> => page.locator('#audit tbody tr td:nth-child(2)').allTextContents();
    await expect.poll(async () => (await actors()).every((actor) => actor.startsWith('user:console-admin'))).toBe(true);
    expect((await actors()).length).toBeGreaterThan(3);
    await screenshot(page, 'audit');
    await expectAccessible();
  });

  it('signing out ends the session on the server', async () => {
    await show('/');
    const cookie = await sessionCookie();
    expect(cookie).toBeDefined();
    const before = new CookieClient(h.csms.apiUrl, cookie ?? '');
    expect((await before.listStations()).status).toBe(200);
    await page.click('#sign-out');
    await page.waitForSelector('#login[open]');
    expect((await before.listStations()).status).toBe(401);
  });
});
