/**
 * The commands API towards a 1.6 station (CONTRACT §4 Commands, §3.1): every Central-System-initiated action of
 * OCPP 1.6J and its Security Extension goes out as the operator wrote it, validated against the 1.6 schema, and
 * comes back with the station's answer; what the CSMS learns from an answer (configuration keys, firmware and log
 * requests) is visible in the same views as a 2.0.1 station's. Also the station-initiated messages of the
 * Security Extension and of firmware/diagnostics management, each a record.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { withCsms, type TestCsms } from '../support/csms.js';
import { eventsOf, type CommandBody } from '../support/device.js';
import { Station16 } from '../support/station16.js';
import { randomPassword, uniqueIdentity, waitFor } from '../support/station.js';
import { createCsr } from '../support/tls.js';

const ctx = withCsms();
const opened: Station16[] = [];

async function bootedStation16(csms: TestCsms, bootPolicy: 'Accepted' | 'Pending' = 'Accepted'): Promise<Station16> {
  const identity = uniqueIdentity('v16cmd');
  const password = randomPassword();
  expect((await csms.api.putStation(identity, { securityProfile: 1, password, bootPolicy })).status).toBe(201);
  const station = await Station16.connect({ url: csms.ocppUrl, identity, password });
  opened.push(station);
  if (bootPolicy === 'Accepted') await station.booted(1);
  else expect((await station.boot()).status).toBe('Pending');
  return station;
}

function command(csms: TestCsms, stationId: string, action: string, body: object) {
  return csms.api.request<CommandBody>('POST', `/api/v1/stations/${encodeURIComponent(stationId)}/commands/${action}`, body);
}

const soon = (ms: number): string => new Date(Date.now() + ms).toISOString();
const CERTIFICATE_HASH = { hashAlgorithm: 'SHA256', issuerNameHash: 'a'.repeat(64), issuerKeyHash: 'b'.repeat(64), serialNumber: '1f' };
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----';

/** Each Central-System-initiated 1.6 action of issue 16 with a valid request, and what the scripted station answers. */
const COMMANDS: readonly (readonly [string, Record<string, unknown>, Record<string, unknown>])[] = [
  ['RemoteStartTransaction', { connectorId: 1, idTag: 'CMD-REMOTE' }, { status: 'Accepted' }],
  ['RemoteStopTransaction', { transactionId: 42 }, { status: 'Accepted' }],
  ['Reset', { type: 'Soft' }, { status: 'Accepted' }],
  ['UnlockConnector', { connectorId: 1 }, { status: 'Unlocked' }],
  ['ChangeAvailability', { connectorId: 0, type: 'Inoperative' }, { status: 'Accepted' }],
  ['ChangeConfiguration', { key: 'MeterValueSampleInterval', value: '60' }, { status: 'Accepted' }],
  [
    'GetConfiguration',
    { key: ['HeartbeatInterval'] },
    {
      configurationKey: [
        { key: 'HeartbeatInterval', readonly: false, value: '300' },
        { key: 'NumberOfConnectors', readonly: true, value: '2' },
        { key: 'AuthorizationKey', readonly: false, value: 'never-shown-anywhere' },
      ],
      unknownKey: [],
    },
  ],
  ['ClearCache', {}, { status: 'Accepted' }],
  ['TriggerMessage', { requestedMessage: 'StatusNotification', connectorId: 1 }, { status: 'Accepted' }],
  ['DataTransfer', { vendorId: 'com.example', messageId: 'ping', data: 'x' }, { status: 'Accepted', data: 'ok' }],
  ['GetDiagnostics', { location: 'ftp://logs.example.com/up' }, { fileName: 'diagnostics.zip' }],
  ['UpdateFirmware', { location: 'https://fw.example.com/1.2.bin', retrieveDate: soon(60_000) }, {}],
  ['GetLocalListVersion', {}, { listVersion: 0 }],
  ['SendLocalList', { listVersion: 3, updateType: 'Full', localAuthorizationList: [{ idTag: 'LOCAL1', idTagInfo: { status: 'Accepted' } }] }, { status: 'Accepted' }],
  ['ReserveNow', { connectorId: 1, expiryDate: soon(600_000), idTag: 'RESERVER', reservationId: 7 }, { status: 'Accepted' }],
  ['CancelReservation', { reservationId: 7 }, { status: 'Accepted' }],
  [
    'SetChargingProfile',
    {
      connectorId: 1,
      csChargingProfiles: {
        chargingProfileId: 11,
        stackLevel: 0,
        chargingProfilePurpose: 'TxDefaultProfile',
        chargingProfileKind: 'Absolute',
        chargingSchedule: { chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 16 }] },
      },
    },
    { status: 'Accepted' },
  ],
  ['ClearChargingProfile', { id: 11 }, { status: 'Accepted' }],
  ['GetCompositeSchedule', { connectorId: 1, duration: 3600 }, { status: 'Accepted', connectorId: 1 }],
  ['ExtendedTriggerMessage', { requestedMessage: 'LogStatusNotification' }, { status: 'Accepted' }],
  ['CertificateSigned', { certificateChain: PEM }, { status: 'Accepted' }],
  ['InstallCertificate', { certificateType: 'CentralSystemRootCertificate', certificate: PEM }, { status: 'Accepted' }],
  ['DeleteCertificate', { certificateHashData: CERTIFICATE_HASH }, { status: 'Accepted' }],
  ['GetInstalledCertificateIds', { certificateType: 'ManufacturerRootCertificate' }, { status: 'NotFound' }],
  ['GetLog', { logType: 'SecurityLog', requestId: 5, log: { remoteLocation: 'https://logs.example.com/up' } }, { status: 'Accepted', filename: 'security.log' }],
  [
    'SignedUpdateFirmware',
    { requestId: 6, firmware: { location: 'https://fw.example.com/2.0.bin', retrieveDateTime: soon(60_000), signingCertificate: PEM, signature: 'c2ln' } },
    { status: 'Accepted' },
  ],
];

describe('OCPP 1.6J commands', () => {
  afterEach(async () => {
    const stations = opened.splice(0);
    const problems = stations.flatMap((s) => s.problems());
    await Promise.all(stations.map((s) => s.close()));
    expect(problems).toEqual([]);
  });

  it('every Central-System-initiated 1.6 action of the issue is sent as written and answered with the station’s response', async () => {
    const { csms } = ctx;
    const station = await bootedStation16(csms);
    expect(COMMANDS).toHaveLength(26);
    for (const [action, request, expected] of COMMANDS) {
      const res = await command(csms, station.identity, action, request);
      expect(res.status, `${action}: ${res.text.slice(0, 300)}`).toBe(200);
      expect(res.body.request, action).toEqual(request);
      expect(res.body.response, action).toMatchObject(expected);
      const received = station.received.filter((call) => call.action === action);
      expect(received.at(-1)?.params, `${action} as the station received it`).toEqual(request);
    }
  });

  it('what the CSMS learns from the answers shows in the station’s views: configuration keys as OCPP16 variables, firmware and log requests as statuses', async () => {
    const { csms } = ctx;
    const station = await bootedStation16(csms);
    station.handle('ChangeConfiguration', (params) => ({ status: params.key === 'LockedKey' ? 'Rejected' : 'Accepted' }));
    expect((await command(csms, station.identity, 'GetConfiguration', {})).status).toBe(200);
    expect((await command(csms, station.identity, 'ChangeConfiguration', { key: 'HeartbeatInterval', value: '60' })).status).toBe(200);
    expect((await command(csms, station.identity, 'ChangeConfiguration', { key: 'LockedKey', value: '1' })).body.response).toEqual({ status: 'Rejected' });
    const variables = (await csms.api.getVariables(station.identity)).body as { variable: { name: string }; attributes: unknown[] }[];
    expect(variables.find((v) => v.variable.name === 'HeartbeatInterval')).toEqual({
      component: { name: 'OCPP16' },
      variable: { name: 'HeartbeatInterval' },
      attributes: [{ type: 'Actual', value: '60', readonly: false }],
    });
    expect(variables.map((v) => v.variable.name)).not.toContain('LockedKey');
    expect(JSON.stringify(variables)).not.toContain('never-shown-anywhere');

    expect((await command(csms, station.identity, 'UpdateFirmware', { location: 'https://fw.example.com/1.2.bin', retrieveDate: soon(60_000) })).status).toBe(200);
    expect((await csms.api.getStation(station.identity)).body.firmwareStatus).toMatchObject({ status: 'Requested', location: 'https://fw.example.com/1.2.bin' });
    await station.call('FirmwareStatusNotification', { status: 'Downloading' });
    expect((await csms.api.getStation(station.identity)).body.firmwareStatus).toMatchObject({ status: 'Downloading' });
    await station.call('SignedFirmwareStatusNotification', { status: 'SignatureVerified', requestId: 6 });
    expect((await csms.api.getStation(station.identity)).body.firmwareStatus).toMatchObject({ status: 'SignatureVerified', requestId: 6 });

    expect((await command(csms, station.identity, 'GetDiagnostics', { location: 'ftp://logs.example.com/up' })).status).toBe(200);
    expect((await csms.api.getStation(station.identity)).body.logStatus).toMatchObject({ status: 'Requested', filename: 'diagnostics.zip' });
    await station.call('DiagnosticsStatusNotification', { status: 'Uploading' });
    expect((await csms.api.getStation(station.identity)).body.logStatus).toMatchObject({ status: 'Uploading' });
    await station.call('LogStatusNotification', { status: 'Uploaded', requestId: 5 });
    expect((await csms.api.getStation(station.identity)).body.logStatus).toMatchObject({ status: 'Uploaded', requestId: 5 });

    const kinds = (await eventsOf(csms.api, station.identity, 'FirmwareStatusNotification')).length;
    expect(kinds).toBe(1);
    for (const kind of ['SignedFirmwareStatusNotification', 'DiagnosticsStatusNotification', 'LogStatusNotification']) {
      expect(await eventsOf(csms.api, station.identity, kind), kind).toHaveLength(1);
    }
  });

  it('Security Extension: an accepted AuthorizationKey change is the station’s new password (the old one no longer opens); a key outside 16–64 characters is refused', async () => {
    const { csms } = ctx;
    const identity = uniqueIdentity('v16key');
    const password = randomPassword();
    expect((await csms.api.putStation(identity, { securityProfile: 1, password, bootPolicy: 'Accepted' })).status).toBe(201);
    const station = await Station16.connect({ url: csms.ocppUrl, identity, password });
    opened.push(station);
    await station.booted(0);
    const short = await command(csms, identity, 'ChangeConfiguration', { key: 'AuthorizationKey', value: 'too-short' });
    expect(short.status).toBe(400);
    expect(station.received).toEqual([]);
    const next = randomPassword(32);
    expect((await command(csms, identity, 'ChangeConfiguration', { key: 'AuthorizationKey', value: next })).body.response).toEqual({ status: 'Accepted' });
    await station.close();
    await expect(Station16.connect({ url: csms.ocppUrl, identity, password })).rejects.toMatchObject({ code: 401 });
    const again = await Station16.connect({ url: csms.ocppUrl, identity, password: next });
    opened.push(again);
    expect((await again.boot()).status).toBe('Accepted');
    expect(JSON.stringify((await csms.api.getVariables(identity)).body)).not.toContain(next);
  });

  it('Security Extension: installed certificates as the station reports them show on the station view (root of the Central System as CSMSRootCertificate)', async () => {
    const { csms } = ctx;
    const station = await bootedStation16(csms);
    station.handle('GetInstalledCertificateIds', () => ({ status: 'Accepted', certificateHashData: [CERTIFICATE_HASH] }));
    expect((await command(csms, station.identity, 'GetInstalledCertificateIds', { certificateType: 'CentralSystemRootCertificate' })).status).toBe(200);
    expect((await csms.api.getStation(station.identity)).body.certificates).toMatchObject({
      installed: [{ certificateType: 'CSMSRootCertificate', certificateHashData: CERTIFICATE_HASH }],
    });
    expect((await command(csms, station.identity, 'DeleteCertificate', { certificateHashData: CERTIFICATE_HASH })).body.response).toEqual({ status: 'Accepted' });
    const after = (await csms.api.getStation(station.identity)).body.certificates as { installed: unknown[]; history: { action: string }[] };
    expect(after.installed).toEqual([]);
    expect(after.history.map((h) => h.action)).toEqual(['GetInstalledCertificateIds', 'DeleteCertificate']);
  });

  it('the body is checked against the 1.6 schema, and an action of the other version is refused naming the station’s version', async () => {
    const { csms } = ctx;
    const station = await bootedStation16(csms);
    const invalid = await command(csms, station.identity, 'ChangeAvailability', { connectorId: 0, type: 'Offline' });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error?.code).toBe('invalid_payload');
    for (const action of ['GetVariables', 'RequestStopTransaction', 'GetBaseReport']) {
      const res = await command(csms, station.identity, action, {});
      expect(res.status, action).toBe(400);
      expect(res.body.error?.code, action).toBe('wrong_ocpp_version');
      expect(res.body.error?.message, action).toContain('OCPP 1.6');
    }
    expect((await command(csms, station.identity, 'NoSuchAction', {})).status).toBe(400);
    expect(station.received).toEqual([]);
  });

  it('while Pending the CSMS may configure and trigger; a triggered message is let through, others get SecurityError', async () => {
    const { csms } = ctx;
    const station = await bootedStation16(csms, 'Pending');
    await station.waitForCall('GetConfiguration');
    expect((await command(csms, station.identity, 'ChangeConfiguration', { key: 'HeartbeatInterval', value: '30' })).status).toBe(200);
    expect((await command(csms, station.identity, 'ClearCache', {})).status).toBe(409);
    expect((await command(csms, station.identity, 'TriggerMessage', { requestedMessage: 'StatusNotification', connectorId: 1 })).status).toBe(200);
    await station.status(1, 'Available');
    await expect(station.heartbeat()).rejects.toMatchObject({ rpcErrorCode: 'SecurityError' });
  });

  it('Security Extension: SignCertificate is answered, then CertificateSigned brings the chain; a security event and a DataTransfer are answered and kept', async () => {
    const { csms } = ctx;
    const station = await bootedStation16(csms);
    const { csrPem } = await createCsr({ cn: station.identity });
    expect(await station.call('SignCertificate', { csr: csrPem })).toEqual({ status: 'Accepted' });
    const signed = await station.waitForCall('CertificateSigned');
    expect(Object.keys(signed)).toEqual(['certificateChain']);
    expect(String(signed.certificateChain)).toContain('BEGIN CERTIFICATE');
    await waitFor(async () => ((await csms.api.getStation(station.identity)).body.certificateSigning as { status?: string } | null)?.status === 'Accepted', {
      what: 'the signing outcome Accepted',
    });
    const issued = await csms.api.request<{ items: unknown[] }>('GET', `/api/v1/stations/${station.identity}/certificates`);
    expect(issued.body.items).toHaveLength(1);
    // A CSR for another identity is refused: no certificate follows.
    const { csrPem: foreign } = await createCsr({ cn: `${station.identity}-other` });
    expect(await station.call('SignCertificate', { csr: foreign })).toEqual({ status: 'Rejected' });

    const timestamp = new Date().toISOString();
    expect(await station.call('SecurityEventNotification', { type: 'TamperDetectionActivated', timestamp, techInfo: 'lid opened' })).toEqual({});
    const events = await eventsOf(csms.api, station.identity, 'SecurityEventNotification');
    expect(events.map((e) => e.payload)).toEqual([{ type: 'TamperDetectionActivated', timestamp, techInfo: 'lid opened' }]);
    expect(await station.call('DataTransfer', { vendorId: 'com.example', messageId: 'hello' })).toEqual({ status: 'UnknownVendorId' });
  });
});
