/**
 * Commands a station never answers (CSMS_CALL_TIMEOUT_MS = 800 ms in this file): 504 for every device-management
 * action, the station keeps working afterwards, a split request times out as a whole, and an answer that comes
 * after the timeout changes nothing (DRV-RPC-18 applied to device management: a late BasicAuthPassword
 * acceptance must not switch the credentials, a late read must not update the variables).
 */
import { describe, expect, it } from 'vitest';
import { withCsms } from '../support/csms.js';
import {
  BASIC_AUTH_PASSWORD,
  OFFLINE_THRESHOLD,
  attributeValue,
  deviceVariables,
  expectApiError,
  firmwareFixture,
  gate,
  itemsPerMessage,
  named,
  roundTrip,
  sendCommand,
  setVariablesAnswer,
  testCertificate,
} from '../support/device.js';
import { ConnectRefusedError, Reply, randomPassword, waitFor, type Payload } from '../support/station.js';

const CALL_TIMEOUT_MS = 800;
const h = withCsms({ CSMS_CALL_TIMEOUT_MS: CALL_TIMEOUT_MS });

const SILENT: Array<{ action: string; payload: Payload }> = [
  { action: 'Reset', payload: { type: 'Immediate' } },
  { action: 'GetVariables', payload: { getVariableData: [OFFLINE_THRESHOLD] } },
  { action: 'SetVariables', payload: { setVariableData: [{ ...OFFLINE_THRESHOLD, attributeValue: '5' }] } },
  { action: 'GetBaseReport', payload: { reportBase: 'FullInventory' } },
  { action: 'TriggerMessage', payload: { requestedMessage: 'Heartbeat' } },
  { action: 'ChangeAvailability', payload: { operationalStatus: 'Inoperative' } },
  { action: 'UnlockConnector', payload: { evseId: 1, connectorId: 1 } },
  { action: 'UpdateFirmware', payload: { firmware: firmwareFixture() } },
  { action: 'GetLog', payload: { logType: 'DiagnosticsLog', log: { remoteLocation: 'https://logs.example.com/u' } } },
  { action: 'CustomerInformation', payload: { report: true, clear: false, customerIdentifier: 'OpenChargeAlliance' } },
  { action: 'InstallCertificate', payload: { certificateType: 'CSMSRootCertificate', certificate: testCertificate().pem } },
  {
    action: 'SetNetworkProfile',
    payload: {
      configurationSlot: 1,
      connectionData: {
        ocppVersion: 'OCPP20',
        ocppTransport: 'JSON',
        ocppCsmsUrl: 'wss://x.example.com/ocpp',
        messageTimeout: 30,
        securityProfile: 2,
        ocppInterface: 'Wired0',
      },
    },
  },
];

describe('no answer within CSMS_CALL_TIMEOUT_MS', () => {
  it.each(named(SILENT, (c) => `${c.action}: the station received it, never answered: 504; the next command to the station still works`))('%s', async (_, c) => {
    const station = await h.csms.bootedStation({ prefix: `t504-${c.action}`.slice(0, 20), connectOptions: { autoReport: false } });
    station.onCall(c.action, () => Reply.none);
    const res = await sendCommand(h.csms, station.identity, c.action, c.payload);
    expectApiError(res, 504);
    expect(station.callsOf(c.action)).toHaveLength(1);
    expect(station.callsOf(c.action)[0]!.payload).toMatchObject(c.payload);
    await roundTrip(h.csms, station, 'ClearCache', {}, { status: 'Accepted' });
  });

  it('DRV-B06-01: a split read whose second part is never answered is 504 as a whole', async () => {
    const station = await h.csms.bootedStation({ prefix: 't504-split' });
    station.setVariable({ ...itemsPerMessage('GetVariables'), value: '1', mutability: 'ReadOnly' });
    await roundTrip(h.csms, station, 'GetVariables', { getVariableData: [itemsPerMessage('GetVariables')] });
    let n = 0;
    station.onCall('GetVariables', (p) => (++n === 2 ? Reply.none : station.defaultAnswer('GetVariables', p)));
    const res = await sendCommand(h.csms, station.identity, 'GetVariables', {
      getVariableData: [OFFLINE_THRESHOLD, { component: { name: 'AuthCtrlr' }, variable: { name: 'Enabled' } }],
    });
    expectApiError(res, 504);
    expect(n).toBe(2);
  });
});

describe('answers after the timeout change nothing', () => {
  it('TC_A_09 / DRV-RPC-18: a BasicAuthPassword change accepted only after the timeout does not replace the old password', async () => {
    const creds = await h.csms.register({ prefix: 'late-pw' });
    const station = await h.csms.connect(creds);
    await station.booted();
    const late = gate();
    station.onCall('SetVariables', async (p) => {
      await late.promise;
      return setVariablesAnswer(p, 'Accepted');
    });
    const newPassword = `${randomPassword(20)}-late`;
    const res = await sendCommand(h.csms, creds.identity, 'SetVariables', { setVariableData: [{ ...BASIC_AUTH_PASSWORD, attributeValue: newPassword }] });
    expectApiError(res, 504);
    late.open();
    await waitFor(() => station.callsOf('SetVariables')[0]?.answeredSeq !== undefined, { what: 'the late answer to be sent' });
    await station.heartbeat();
    await station.close();

    const again = await h.csms.connect(creds);
    expect((await again.boot()).status).toBe('Accepted');
    await again.close();
    const refused = await h.csms.connect({ identity: creds.identity, password: newPassword }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(ConnectRefusedError);
    expect((refused as ConnectRefusedError).status).toBe(401);
  });

  it('DRV-RPC-18: a GetVariables result that arrives after the timeout does not update GET variables', async () => {
    const station = await h.csms.bootedStation({ prefix: 'late-get' });
    station.setVariable({ ...OFFLINE_THRESHOLD, value: '4242' });
    const late = gate();
    station.onCall('GetVariables', async (p) => {
      await late.promise;
      return station.defaultAnswer('GetVariables', p);
    });
    expectApiError(await sendCommand(h.csms, station.identity, 'GetVariables', { getVariableData: [OFFLINE_THRESHOLD] }), 504);
    late.open();
    await waitFor(() => station.callsOf('GetVariables')[0]?.answeredSeq !== undefined, { what: 'the late answer to be sent' });
    await station.heartbeat();
    const vars = await deviceVariables(h.csms.api, station.identity);
    expect(attributeValue(vars, { component: 'OCPPCommCtrlr', variable: 'OfflineThreshold' })).toBeUndefined();
  });
});
