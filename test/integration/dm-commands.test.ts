/**
 * The operator command endpoint for every device-management / remote-operation action (CONTRACT §4 "Commands"):
 * the station receives exactly the payload given (plus assigned ids), its answer comes back as 200
 * {request, response}; a CALLERROR is 502, a schema-invalid body 400, an unknown station 404, a disconnected one
 * 409. Plus the simple request/answer cases: TC_C_37/C_38 (ClearCache), TC_B_42/B_44 (SetNetworkProfile),
 * TC_F_06 + DRV-F05-01 (UnlockConnector), DataTransfer to the station (DRV-P01-01), customData pass-through.
 */
import { describe, expect, it } from 'vitest';
import { withCsms } from '../support/csms.js';
import { FAKE_PEM, OFFLINE_THRESHOLD, expectApiError, firmwareFixture, named, roundTrip, sendCommand, settle, testCertificate } from '../support/device.js';
import { Reply, sleep, uniqueIdentity, type Payload } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 5000 });

interface CommandCase {
  action: string;
  payload: () => Payload;
  answer: Payload;
}

const networkProfile = (answerSlot = 1): Payload => ({
  configurationSlot: answerSlot,
  connectionData: {
    ocppVersion: 'OCPP20',
    ocppTransport: 'JSON',
    ocppCsmsUrl: 'wss://csms.example.com:443/ocpp',
    messageTimeout: 30,
    securityProfile: 2,
    ocppInterface: 'Wired0',
  },
});

/** One representative, schema-valid payload per device-management action, and a station answer to it. */
const COMMANDS: CommandCase[] = [
  { action: 'Reset', payload: () => ({ type: 'OnIdle' }), answer: { status: 'Accepted' } },
  { action: 'UnlockConnector', payload: () => ({ evseId: 1, connectorId: 1 }), answer: { status: 'Unlocked' } },
  {
    action: 'GetVariables',
    payload: () => ({ getVariableData: [OFFLINE_THRESHOLD] }),
    answer: { getVariableResult: [{ ...OFFLINE_THRESHOLD, attributeStatus: 'Accepted', attributeValue: '60' }] },
  },
  {
    action: 'SetVariables',
    payload: () => ({ setVariableData: [{ ...OFFLINE_THRESHOLD, attributeValue: '123' }] }),
    answer: { setVariableResult: [{ ...OFFLINE_THRESHOLD, attributeStatus: 'Accepted' }] },
  },
  { action: 'GetBaseReport', payload: () => ({ requestId: 9101, reportBase: 'ConfigurationInventory' }), answer: { status: 'Accepted' } },
  {
    action: 'GetReport',
    payload: () => ({ requestId: 9102, componentCriteria: ['Problem'], componentVariable: [{ component: { name: 'EVSE', evse: { id: 1 } } }] }),
    answer: { status: 'EmptyResultSet' },
  },
  { action: 'TriggerMessage', payload: () => ({ requestedMessage: 'Heartbeat' }), answer: { status: 'Accepted' } },
  { action: 'ChangeAvailability', payload: () => ({ operationalStatus: 'Inoperative', evse: { id: 1 } }), answer: { status: 'Accepted' } },
  { action: 'ClearCache', payload: () => ({}), answer: { status: 'Accepted' } },
  {
    action: 'CustomerInformation',
    payload: () => ({ requestId: 9103, report: true, clear: false, customerIdentifier: 'OpenChargeAlliance' }),
    answer: { status: 'Accepted' },
  },
  {
    action: 'UpdateFirmware',
    payload: () => ({ requestId: 9104, retries: 2, retryInterval: 30, firmware: firmwareFixture() }),
    answer: { status: 'Accepted' },
  },
  {
    action: 'GetLog',
    payload: () => ({ logType: 'DiagnosticsLog', requestId: 9105, log: { remoteLocation: 'ftp://logs.example.com/upload/' } }),
    answer: { status: 'Accepted', filename: 'diagnostics-9105.zip' },
  },
  { action: 'SetNetworkProfile', payload: () => networkProfile(), answer: { status: 'Accepted' } },
  {
    action: 'CertificateSigned',
    payload: () => ({ certificateChain: testCertificate('CS leaf for CertificateSigned').pem, certificateType: 'ChargingStationCertificate' }),
    answer: { status: 'Accepted' },
  },
  {
    action: 'InstallCertificate',
    payload: () => ({ certificateType: 'CSMSRootCertificate', certificate: testCertificate().pem }),
    answer: { status: 'Accepted' },
  },
  {
    action: 'GetInstalledCertificateIds',
    payload: () => ({ certificateType: ['CSMSRootCertificate'] }),
    answer: {
      status: 'Accepted',
      certificateHashDataChain: [{ certificateType: 'CSMSRootCertificate', certificateHashData: testCertificate().hashData('SHA256') }],
    },
  },
  { action: 'DeleteCertificate', payload: () => ({ certificateHashData: testCertificate().hashData('SHA256') }), answer: { status: 'Accepted' } },
  {
    action: 'DataTransfer',
    payload: () => ({ vendorId: 'com.stroom.test', messageId: 'ping', data: { n: 1, list: ['a', 'b'] } }),
    answer: { status: 'Accepted', data: { pong: true } },
  },
  { action: 'GetTransactionStatus', payload: () => ({}), answer: { messagesInQueue: false } },
];

describe('every device-management command', () => {
  it.each(named(COMMANDS, (c) => `${c.action}: reaches the station exactly as given and returns its answer as 200 {request, response}`))('%s', async (_, c) => {
    const station = await h.csms.bootedStation({ prefix: `cmd-${c.action}`.slice(0, 20), connectOptions: { autoReport: false } });
    station.onCall(c.action, () => c.answer);
    const payload = c.payload();
    const { request } = await roundTrip(h.csms, station, c.action, payload, c.answer);
    expect(request).toEqual(payload);
  });

  it.each(named(COMMANDS, (c) => `${c.action}: a station CALLERROR becomes 502 with the OCPP error code, and is not retried`))('%s', async (_, c) => {
    const station = await h.csms.bootedStation({ prefix: `c502-${c.action}`.slice(0, 20), connectOptions: { autoReport: false } });
    station.onCall(c.action, () => Reply.error('NotSupported', `${c.action} not here`, { test: 'dm' }));
    const res = await sendCommand(h.csms, station.identity, c.action, c.payload());
    expectApiError(res, 502, 'NotSupported');
    await settle(station);
    expect(station.callsOf(c.action)).toHaveLength(1);
  });

  it.each(named(COMMANDS, (c) => `${c.action}: a body that violates the schema is refused with 400 listing the violations, and nothing is sent`))('%s', async (_, c) => {
    const station = await h.csms.bootedStation({ prefix: `c400-${c.action}`.slice(0, 20), connectOptions: { autoReport: false } });
    const res = await sendCommand(h.csms, station.identity, c.action, { ...c.payload(), notAnOcppField: 'x' });
    expectApiError(res, 400);
    const body = res.body as unknown as { error: { message: string; details?: unknown } };
    expect(JSON.stringify(body.error.details ?? body.error.message)).toContain('notAnOcppField');
    await settle(station, 50);
    expect(station.callsOf(c.action)).toEqual([]);
  });

  it.each(named(COMMANDS, (c) => `${c.action}: an unknown station is 404 and a registered but disconnected station is 409`))('%s', async (_, c) => {
    expectApiError(await sendCommand(h.csms, uniqueIdentity('ghost'), c.action, c.payload()), 404);
    const { identity } = await h.csms.register({ prefix: 'c409' });
    expectApiError(await sendCommand(h.csms, identity, c.action, c.payload()), 409);
  });
});

describe('boot state gate (README: commands before Accepted)', () => {
  const WHILE_PENDING = new Set(['GetVariables', 'SetVariables', 'GetBaseReport', 'GetReport', 'TriggerMessage']);

  it.each(named(COMMANDS, (c) => `${c.action} to a Pending station: ${WHILE_PENDING.has(c.action) ? 'delivered (B02.FR.01/02)' : 'refused with 409, nothing sent'}`))(
    '%s',
    async (_, c) => {
      const station = await h.csms.newStation({ prefix: `pend-${c.action}`.slice(0, 20), bootPolicy: 'Pending', connectOptions: { autoReport: false } });
      await station.boot({ expect: 'Pending' });
      station.onCall(c.action, () => c.answer);
      if (WHILE_PENDING.has(c.action)) {
        await roundTrip(h.csms, station, c.action, c.payload(), c.answer);
      } else {
        expectApiError(await sendCommand(h.csms, station.identity, c.action, c.payload()), 409);
        await sleep(100); // absence can only be observed by waiting
        expect(station.callsOf(c.action)).toEqual([]);
      }
    },
  );

  it('before the first BootNotification only TriggerMessage is delivered; GetVariables is refused with 409', async () => {
    const station = await h.csms.newStation({ prefix: 'preboot' });
    expectApiError(await sendCommand(h.csms, station.identity, 'GetVariables', { getVariableData: [OFFLINE_THRESHOLD] }), 409);
    await roundTrip(h.csms, station, 'TriggerMessage', { requestedMessage: 'BootNotification' }, { status: 'Accepted' });
    expect(station.callsOf('GetVariables')).toEqual([]);
  });
});

describe('assigned ids', () => {
  const ASSIGNED = [
    { action: 'GetBaseReport', payload: { reportBase: 'FullInventory' }, field: 'requestId' },
    { action: 'GetReport', payload: { componentCriteria: ['Available'] }, field: 'requestId' },
    { action: 'CustomerInformation', payload: { report: true, clear: false, customerIdentifier: 'OpenChargeAlliance' }, field: 'requestId' },
    { action: 'UpdateFirmware', payload: { firmware: firmwareFixture() }, field: 'requestId' },
    { action: 'GetLog', payload: { logType: 'SecurityLog', log: { remoteLocation: 'https://logs.example.com/u' } }, field: 'requestId' },
    { action: 'RequestStartTransaction', payload: { idToken: { idToken: '04AABBCCDD', type: 'ISO14443' }, evseId: 1 }, field: 'remoteStartId' },
  ];
  it.each(named(ASSIGNED, (c) => `${c.action} without ${c.field}: the CSMS assigns one, sends it to the station and shows it to the operator; two commands get two ids`))(
    '%s',
    async (_, c) => {
      const station = await h.csms.bootedStation({ prefix: `id-${c.action}`.slice(0, 20), connectOptions: { autoReport: false } });
      const answer = c.action === 'RequestStartTransaction' ? { status: 'Rejected' } : { status: 'Accepted' };
      station.onCall(c.action, () => answer);
      const first = await roundTrip(h.csms, station, c.action, c.payload, answer);
      const second = await roundTrip(h.csms, station, c.action, c.payload, answer);
      for (const r of [first, second]) {
        expect(Number.isInteger(r.request[c.field]), `${c.field} assigned: ${JSON.stringify(r.request)}`).toBe(true);
        expect(r.call.payload[c.field]).toBe(r.request[c.field]);
      }
      expect(second.request[c.field]).not.toBe(first.request[c.field]);
    },
  );
});

describe('simple request/answer cases', () => {
  it.each(['Accepted', 'Rejected'])('TC_C_37 / TC_C_38: ClearCache answered %s is reported to the operator as such', async (status) => {
    const station = await h.csms.bootedStation({ prefix: `C37-${status}` });
    station.onCall('ClearCache', () => ({ status }));
    await roundTrip(h.csms, station, 'ClearCache', {}, { status });
  });

  it.each(['Accepted', 'Rejected', 'Failed'])(
    'TC_B_42 / TC_B_44: SetNetworkProfile with the configured slot and connection data, answered %s, is not retried',
    async (status) => {
      const station = await h.csms.bootedStation({ prefix: `B42-${status}` });
      station.onCall('SetNetworkProfile', () => ({ status }));
      const payload = networkProfile(2);
      const { call } = await roundTrip(h.csms, station, 'SetNetworkProfile', payload, { status });
      expect(call.payload).toEqual(payload);
      await settle(station);
      expect(station.callsOf('SetNetworkProfile')).toHaveLength(1);
      expect(station.isOpen).toBe(true);
    },
  );

  it.each(['Unlocked', 'UnlockFailed', 'OngoingAuthorizedTransaction', 'UnknownConnector'])(
    'TC_F_06 / DRV-F05-01: UnlockConnector with both ids, answered %s, reaches the operator',
    async (status) => {
      const station = await h.csms.bootedStation({ prefix: `F06-${status}`.slice(0, 20) });
      station.onCall('UnlockConnector', () => ({ status }));
      const { call } = await roundTrip(h.csms, station, 'UnlockConnector', { evseId: 1, connectorId: 1 }, { status });
      expect(call.payload).toEqual({ evseId: 1, connectorId: 1 });
    },
  );

  const DATA_TRANSFER_ANSWERS: Payload[] = [{ status: 'Accepted', data: 'pong' }, { status: 'Rejected' }, { status: 'UnknownVendorId' }, { status: 'UnknownMessageId' }];
  it.each(named(DATA_TRANSFER_ANSWERS, (a) => `DRV-P01-01: DataTransfer to the station answered ${String(a.status)} reaches the operator unchanged`))(
    '%s',
    async (_, answer) => {
      const station = await h.csms.bootedStation({ prefix: `P01-${String(answer.status)}`.slice(0, 20) });
      station.onCall('DataTransfer', () => answer);
      await roundTrip(h.csms, station, 'DataTransfer', { vendorId: 'com.stroom.test', messageId: 'ping', data: 'hello' }, answer);
    },
  );

  it('customData in a command (TC_P_03 in the other direction) reaches the station untouched, extra vendor properties included', async () => {
    const station = await h.csms.bootedStation({ prefix: 'cmd-customdata' });
    const customData = { vendorId: 'com.stroom.test', color: 'green', nested: { a: [1, 2] } };
    const payload = { type: 'Immediate', evseId: 1, customData };
    station.onCall('Reset', () => ({ status: 'Rejected', customData: { vendorId: 'com.stroom.test', why: 'busy' } }));
    await roundTrip(h.csms, station, 'Reset', payload, { status: 'Rejected', customData: { vendorId: 'com.stroom.test', why: 'busy' } });
  });

  it('a forwarded PEM is passed through byte for byte (static fake certificate, CertificateSigned)', async () => {
    const station = await h.csms.bootedStation({ prefix: 'cmd-pem' });
    station.onCall('CertificateSigned', () => ({ status: 'Rejected' }));
    const { call } = await roundTrip(
      h.csms,
      station,
      'CertificateSigned',
      { certificateChain: FAKE_PEM + FAKE_PEM, certificateType: 'V2GCertificate' },
      { status: 'Rejected' },
    );
    expect(call.payload.certificateChain).toBe(FAKE_PEM + FAKE_PEM);
  });
});
