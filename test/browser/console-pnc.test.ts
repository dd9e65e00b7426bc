/**
 * The station page's certificates in a real Chromium (ISO 15118 support, CONTRACT §8.6): the certificates the
 * station reports installed, by type — V2G, MO and manufacturer roots and its V2G chain with the sub-CA (the answers
 * of TC_M_14, TC_M_15, TC_M_16's GetInstalledCertificateIds) —, the V2G certificate the CSMS signed (the signing of
 * TC_A_12, here started by the station) with its expiry, and the last signing outcome with its certificate type. A
 * later inventory shows up live, without a reload; no serious accessibility violation.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, seriousAxeViolations } from '../support/browser.js';
import { withCsms } from '../support/csms.js';
import { roundTrip } from '../support/device.js';
import { waitFor, type Payload } from '../support/station.js';
import { createCsr } from '../support/tls.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 3000 });
let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser.close();
});

function hashData(serialNumber: string): Payload {
  return { hashAlgorithm: 'SHA256', issuerNameHash: `a1b2c3d4e5f6a7b8c9d0${serialNumber}`, issuerKeyHash: `0f1e2d3c4b5a69788796${serialNumber}`, serialNumber };
}

const INSTALLED = [
  { certificateType: 'V2GRootCertificate', certificateHashData: hashData('0a01') },
  { certificateType: 'MORootCertificate', certificateHashData: hashData('0b02') },
  { certificateType: 'ManufacturerRootCertificate', certificateHashData: hashData('0c03') },
  { certificateType: 'V2GCertificateChain', certificateHashData: hashData('0d04'), childCertificateHashData: [hashData('0e05')] },
];

describe('console: Plug & Charge certificates on the station page', () => {
  it('shows the installed roots and V2G chain by type, the signed V2G certificate with its expiry and the last signing outcome', async () => {
    const station = await h.csms.bootedStation({ prefix: 'pnc-ui' });
    let installed: Payload[] = INSTALLED;
    station.onCall('GetInstalledCertificateIds', () => ({ status: 'Accepted', certificateHashDataChain: installed }));
    await roundTrip(h.csms, station, 'GetInstalledCertificateIds', {});

    // The station asks for its V2G certificate; the CSMS signs it with the V2G CA and sends CertificateSigned.
    const { csrPem } = await createCsr({ cn: 'SECC-UI-1', o: 'Stroom Test CPO', key: 'ec-p256' });
    expect(await station.call('SignCertificate', { csr: csrPem, certificateType: 'V2GCertificate' })).toMatchObject({ status: 'Accepted' });
    const signed = await station.waitForCall('CertificateSigned');
    expect(signed.payload.certificateType).toBe('V2GCertificate');
    await waitFor(
      async () => {
        const view = await h.csms.api.request<{ certificateSigning: { status: string } | null }>('GET', `/api/v1/stations/${encodeURIComponent(station.identity)}`);
        return view.body.certificateSigning?.status === 'Accepted';
      },
      { what: 'the signing outcome Accepted' },
    );

    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    const page: Page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${h.csms.apiUrl}/#/stations/${encodeURIComponent(station.identity)}`);
    await page.waitForSelector('main[data-ready="true"]');
    await page.waitForSelector('html[data-stream="up"]', { state: 'attached' });
    await page.locator('#installed-certificates tbody tr').first().waitFor({ timeout: 5000 });

    const rows = await page.locator('#installed-certificates tbody tr').allTextContents();
    expect(rows).toHaveLength(4);
    expect(rows[0]).toContain('V2G root');
    expect(rows[0]).toContain('0a01');
    expect(rows[1]).toContain('MO root');
    expect(rows[2]).toContain('Manufacturer root');
    expect(rows[3]).toContain('Station V2G chain');
    // The chain's sub-CA is listed with the leaf.
    expect(rows[3]).toContain('0e05');

    const signing = await page.textContent('#certificate-signing');
    expect(signing).toContain('Accepted');
    expect(signing).toContain('V2GCertificate');
    const issued = await page.locator('#issued-certificates tbody tr').allTextContents();
    expect(issued).toHaveLength(1);
    expect(issued[0]).toContain('V2GCertificate');
    expect(issued[0]).toContain('Valid');
    // An expiry date is shown (the V2G leaf is valid for a year), not a placeholder.
    expect(await page.locator('#issued-certificates tbody td').nth(3).textContent()).not.toBe('—');

    // The manufacturer root is gone from the next inventory: the page follows the command's answer live.
    installed = INSTALLED.filter((c) => c.certificateType !== 'ManufacturerRootCertificate');
    await roundTrip(h.csms, station, 'GetInstalledCertificateIds', {});
    await waitFor(async () => (await page.locator('#installed-certificates tbody tr').count()) === 3, { what: 'the page to show the new inventory' });
    expect(await page.textContent('#installed-certificates')).not.toContain('Manufacturer root');

    expect(await seriousAxeViolations(page)).toEqual([]);
    expect(errors).toEqual([]);
    await context.close();
  });
});
