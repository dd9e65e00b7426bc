/**
 * Diagnostics (N01) and customer information (N09/N10): TC_N_25, N_34, N_35, N_36, DRV-N01-01 (GetLog and
 * LogStatusNotification, tracked as GET station `logStatus` and in the events API); TC_N_27 … N_32, N_62,
 * DRV-N09-01 (CustomerInformation and the assembled NotifyCustomerInformation parts).
 */
import { describe, expect, it } from 'vitest';
import { withCsms } from '../support/csms.js';
import { customerInformation, gate, eventsOf, named, now, roundTrip, settle, stationView } from '../support/device.js';
import { Reply, type Payload, type TestStation } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 5000 });

async function logStatus(identity: string): Promise<Record<string, unknown>> {
  const view = await stationView(h.csms.api, identity);
  expect(view.logStatus, `logStatus of ${identity}`).toBeTruthy();
  return view.logStatus as unknown as Record<string, unknown>;
}

async function getLog(station: TestStation, logType: string, answer: Payload): Promise<number> {
  station.onCall('GetLog', () => answer);
  const payload = {
    logType,
    log: { remoteLocation: 'https://logs.example.com/upload/stroom', oldestTimestamp: new Date(Date.now() - 86400_000).toISOString(), latestTimestamp: now() },
    retries: 2,
    retryInterval: 30,
  };
  const { call, request } = await roundTrip(h.csms, station, 'GetLog', payload, answer);
  expect(call.payload.logType).toBe(logType);
  const requestId = request.requestId as number;
  expect((await logStatus(station.identity)).requestId).toBe(requestId);
  return requestId;
}

async function lsn(station: TestStation, status: string, requestId?: number): Promise<void> {
  expect(await station.call('LogStatusNotification', requestId === undefined ? { status } : { status, requestId })).toEqual({});
  expect(await logStatus(station.identity), `logStatus after ${status}`).toMatchObject(requestId === undefined ? { status } : { status, requestId });
}

async function logEvents(identity: string): Promise<Array<{ status: unknown; requestId: unknown }>> {
  return (await eventsOf(h.csms.api, identity, 'LogStatusNotification')).map((e) => ({ status: e.payload.status, requestId: e.payload.requestId }));
}

describe('GetLog', () => {
  it.each(
    named(
      ['DiagnosticsLog', 'SecurityLog'],
      (t) => `${t === 'DiagnosticsLog' ? 'TC_N_25' : 'TC_N_35'}: GetLog(${t}) Accepted, then Uploading and Uploaded are answered and tracked`,
    ),
  )('%s', async (_, logType) => {
    const station = await h.csms.bootedStation({ prefix: `N25-${logType}`.slice(0, 16) });
    const requestId = await getLog(station, logType, { status: 'Accepted', filename: `${logType}.tar.gz` });
    await lsn(station, 'Uploading', requestId);
    await lsn(station, 'Uploaded', requestId);
    expect(await logEvents(station.identity)).toEqual([
      { status: 'Uploaded', requestId },
      { status: 'Uploading', requestId },
    ]);
  });

  it('TC_N_34: GetLog answered Rejected reaches the operator and is not retried', async () => {
    const station = await h.csms.bootedStation({ prefix: 'N34' });
    await getLog(station, 'DiagnosticsLog', { status: 'Rejected' });
    await settle(station);
    expect(station.callsOf('GetLog')).toHaveLength(1);
  });

  it('TC_N_36: a second GetLog answered AcceptedCanceled (its cancel notice arriving before the answer); both requestIds tracked correctly', async () => {
    const station = await h.csms.bootedStation({ prefix: 'N36' });
    const first = await getLog(station, 'DiagnosticsLog', { status: 'Accepted', filename: 'first.log' });
    await lsn(station, 'Uploading', first);

    // Errata: the station may cancel #1 before it answers #2 (a station CALL crossing the CSMS CALL).
    station.onCall('GetLog', async () => {
      expect(await station.call('LogStatusNotification', { status: 'AcceptedCanceled', requestId: first })).toEqual({});
      return { status: 'AcceptedCanceled', filename: 'second.log' };
    });
    const { request } = await roundTrip(
      h.csms,
      station,
      'GetLog',
      { logType: 'DiagnosticsLog', log: { remoteLocation: 'https://logs.example.com/2' } },
      {
        status: 'AcceptedCanceled',
        filename: 'second.log',
      },
    );
    const second = request.requestId as number;
    expect(second).not.toBe(first);
    expect((await logStatus(station.identity)).requestId).toBe(second);
    await lsn(station, 'Uploading', second);
    await lsn(station, 'Uploaded', second);
    expect(await logEvents(station.identity)).toEqual([
      { status: 'Uploaded', requestId: second },
      { status: 'Uploading', requestId: second },
      { status: 'AcceptedCanceled', requestId: first },
      { status: 'Uploading', requestId: first },
    ]);
  });

  it.each(
    named(
      ['UploadFailure', 'BadMessage', 'PermissionDenied', 'NotSupportedOperation'],
      (s) => `DRV-N01-01: LogStatusNotification ${s} is answered {} and the operator sees the failure`,
    ),
  )('%s', async (_, failure) => {
    const station = await h.csms.bootedStation({ prefix: `N01-${failure}`.slice(0, 18) });
    const requestId = await getLog(station, 'DiagnosticsLog', { status: 'Accepted' });
    await lsn(station, 'Uploading', requestId);
    await lsn(station, failure, requestId);
    expect((await logEvents(station.identity))[0]).toEqual({ status: failure, requestId });
  });
});

interface CustomerCase {
  id: string;
  report: boolean;
  clear: boolean;
  by: 'idToken' | 'customerIdentifier' | 'customerCertificate';
  /** NotifyCustomerInformation parts the station sends (none when answered Rejected). */
  parts: string[];
  answer?: string;
}

const CUSTOMER_CASES: CustomerCase[] = [
  { id: 'TC_N_27', report: true, clear: false, by: 'idToken', parts: ['idToken 04A1B2C3 used at EVSE 1 on 2025-01-01'] },
  { id: 'TC_N_28', report: true, clear: false, by: 'idToken', parts: [''] },
  { id: 'TC_N_29', report: true, clear: false, by: 'idToken', parts: [], answer: 'Rejected' },
  { id: 'TC_N_30', report: true, clear: true, by: 'idToken', parts: ['cleared: 3 sessions, 1 local list entry'] },
  { id: 'TC_N_31', report: true, clear: true, by: 'idToken', parts: [''] },
  { id: 'TC_N_32', report: false, clear: true, by: 'idToken', parts: ['Cleared'] },
  { id: 'TC_N_62', report: true, clear: true, by: 'customerIdentifier', parts: ['customer OpenChargeAlliance: cleared'] },
  { id: 'DRV-N09-01', report: true, clear: false, by: 'customerIdentifier', parts: ['part one; ', 'part two; ', 'part three.'] },
  { id: 'CustomerInformation by certificate', report: true, clear: false, by: 'customerCertificate', parts: ['contract certificate data'] },
];

const CUSTOMER_REFERENCE: Record<CustomerCase['by'], Payload> = {
  idToken: { idToken: { idToken: '04A1B2C3', type: 'ISO14443' } },
  customerIdentifier: { customerIdentifier: 'OpenChargeAlliance' },
  customerCertificate: {
    customerCertificate: { hashAlgorithm: 'SHA256', issuerNameHash: 'a1'.repeat(32), issuerKeyHash: 'b2'.repeat(32), serialNumber: '1a2b3c' },
  },
};

describe('CustomerInformation', () => {
  it.each(
    named(
      CUSTOMER_CASES,
      (c) => `${c.id}: report=${c.report} clear=${c.clear} by ${c.by}, answered ${c.answer ?? 'Accepted'}, ${c.parts.length} NotifyCustomerInformation part(s) assembled`,
    ),
  )('%s', async (_, c) => {
    const station = await h.csms.bootedStation({ prefix: c.id.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 16) });
    const answer = c.answer ?? 'Accepted';
    const streamed = gate();
    station.onCall('CustomerInformation', (p) =>
      Reply.then({ status: answer }, async () => {
        for (let i = 0; i < c.parts.length; i += 1) {
          const part = { data: c.parts[i]!, tbc: i < c.parts.length - 1, seqNo: i, generatedAt: now(), requestId: p.requestId as number };
          expect(await station.call('NotifyCustomerInformation', part)).toEqual({});
          if (part.tbc) {
            const partial = await customerInformation(h.csms.api, station.identity, part.requestId);
            expect(partial.status).toBe(200);
            expect(partial.body.complete).toBe(false);
          }
        }
        streamed.open();
      }),
    );
    const payload = { report: c.report, clear: c.clear, ...CUSTOMER_REFERENCE[c.by] };
    const { call, request } = await roundTrip(h.csms, station, 'CustomerInformation', payload, { status: answer });
    // N09.FR.04 / N10.FR.08: exactly one customer reference.
    const references = ['idToken', 'customerIdentifier', 'customerCertificate'].filter((k) => k in call.payload);
    expect(references).toEqual([c.by]);
    expect(call.payload.report).toBe(c.report);
    expect(call.payload.clear).toBe(c.clear);
    const requestId = request.requestId as number;
    if (c.parts.length === 0) {
      await settle(station, 50);
      expect((await customerInformation(h.csms.api, station.identity, requestId)).status).toBe(404);
      return;
    }
    await streamed.promise; // the parts are streamed after the answer
    const view = await customerInformation(h.csms.api, station.identity, requestId);
    expect(view.status, view.text).toBe(200);
    expect(view.body).toEqual({ requestId, complete: true, data: c.parts.join('') });
  });

  it('more than one customer reference in one request is refused with 400 (N09.FR.04) and nothing is sent', async () => {
    const station = await h.csms.bootedStation({ prefix: 'N09-two-refs' });
    const res = await h.csms.api.command(station.identity, 'CustomerInformation', {
      report: true,
      clear: false,
      ...CUSTOMER_REFERENCE.idToken,
      ...CUSTOMER_REFERENCE.customerIdentifier,
    });
    expect(res.status, res.text).toBe(400);
    await settle(station, 50);
    expect(station.callsOf('CustomerInformation')).toEqual([]);
  });
});
