/**
 * The station page's "Monitors and alerts" section in a real Chromium: a monitor the CSMS set (TC_N_08's Delta
 * monitor) is listed with the id the station gave it, and an alert of that monitor (TC_N_21's alert event) appears
 * live with the monitor's severity, without a reload; no serious accessibility violation.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, seriousAxeViolations } from '../support/browser.js';
import { withCsms } from '../support/csms.js';
import { now, roundTrip } from '../support/device.js';
import type { Payload } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 3000 });
let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser.close();
});

const POWER = { component: { name: 'ChargingStation' }, variable: { name: 'Power' } };

describe('console: monitors and alerts', () => {
  it('lists the monitor the CSMS set and shows its alert live with the monitor’s severity', async () => {
    const station = await h.csms.bootedStation({ prefix: 'mon-ui' });
    station.onCall('SetVariableMonitoring', (p) => ({
      setMonitoringResult: (p.setMonitoringData as Payload[]).map((d) => ({
        id: 77,
        status: 'Accepted',
        type: d.type,
        severity: d.severity,
        component: d.component,
        variable: d.variable,
      })),
    }));
    await roundTrip(h.csms, station, 'SetVariableMonitoring', { setMonitoringData: [{ value: 22000, type: 'UpperThreshold', severity: 2, ...POWER }] });

    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    const page: Page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${h.csms.apiUrl}/#/stations/${encodeURIComponent(station.identity)}`);
    await page.waitForSelector('main[data-ready="true"]');
    await page.waitForSelector('html[data-stream="up"]', { state: 'attached' });
    await page.locator('#monitors-table td', { hasText: 'ChargingStation · Power' }).waitFor({ timeout: 5000 });
    const row = await page.textContent('#monitors-table tbody tr');
    expect(row).toContain('77');
    expect(row).toContain('UpperThreshold');
    expect(await page.textContent('#monitor-alerts')).toContain('No monitor events yet.');

    const alert = { eventId: 5, timestamp: now(), trigger: 'Alerting', actualValue: '23500', eventNotificationType: 'CustomMonitor', variableMonitoringId: 77, ...POWER };
    expect(await station.call('NotifyEvent', { generatedAt: now(), seqNo: 0, eventData: [alert] })).toEqual({});
    const item = page.locator('#monitor-alerts li', { hasText: '23500' });
    await item.waitFor({ timeout: 5000 });
    expect(await item.textContent()).toContain('severity 2');
    expect(await item.textContent()).toContain('monitor 77');

    expect(await seriousAxeViolations(page)).toEqual([]);
    expect(errors).toEqual([]);
    await context.close();
  });
});
