/**
 * OCPP 1.6J stations on the same CSMS as 2.0.1 ones (CONTRACT §3, §3.1): version negotiation and the registration's
 * pin, BootNotification under the same boot policy, Heartbeat, StatusNotification (connector 0 is the station),
 * Authorize by idTag, and the 1.6 spellings of the RPC error codes. The charge point is ocpp-rpc's client in strict
 * mode over a real socket; one CSMS serves the whole file (every test uses stations of its own).
 */
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { newIdToken as newIdToken20, putIdToken, type IdToken } from '../support/charging.js';
import { withCsms, type TestCsms } from '../support/csms.js';
import { Station16, isRpcError, upgradeStatus } from '../support/station16.js';
import { randomPassword, uniqueIdentity, waitFor } from '../support/station.js';

/** A unique token whose value fits a 1.6 idTag (at most 20 characters). */
function newIdToken(type: IdToken['type']): IdToken {
  const token = newIdToken20(type);
  return { ...token, idToken: token.idToken.length <= 20 ? token.idToken : `${type.slice(0, 3)}${token.idToken.slice(-12)}` };
}

const ctx = withCsms({ CSMS_HEARTBEAT_INTERVAL: 120, CSMS_BOOT_RETRY_INTERVAL: 15 });

interface Registered {
  identity: string;
  password: string;
}

async function register(
  csms: TestCsms,
  registration: { bootPolicy?: 'Accepted' | 'Pending' | 'Rejected'; ocppVersion?: 'auto' | '1.6' | '2.0.1' } = {},
): Promise<Registered> {
  const identity = uniqueIdentity('v16');
  const password = randomPassword();
  const res = await csms.api.putStation(identity, { securityProfile: 1, password, bootPolicy: registration.bootPolicy ?? 'Accepted', ...registration });
  expect(res.status).toBe(201);
  return { identity, password };
}

const opened: Station16[] = [];

async function connect(csms: TestCsms, creds: Registered, protocols?: string[]): Promise<Station16> {
  const station = await Station16.connect({ url: csms.ocppUrl, ...creds, ...(protocols !== undefined ? { protocols } : {}) });
  opened.push(station);
  return station;
}

/** The HTTP status of a refused upgrade (the test fails when the upgrade succeeds). */
async function refusedStatus(csms: TestCsms, creds: Registered, protocols: string[]): Promise<number | undefined> {
  try {
    const station = await connect(csms, creds, protocols);
    throw new Error(`the upgrade offering ${protocols.join(',')} was accepted with ${String(station.protocol)}`);
  } catch (err) {
    return upgradeStatus(err);
  }
}

async function rpcErrorCode(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (err) {
    if (isRpcError(err)) return err.rpcErrorCode;
    throw err;
  }
  throw new Error('the call was answered, not refused');
}

describe('OCPP 1.6J stations', () => {
  afterEach(async () => {
    const stations = opened.splice(0);
    const problems = stations.flatMap((s) => s.problems());
    await Promise.all(stations.map((s) => s.close()));
    expect(problems).toEqual([]);
  });

  it('negotiation: the highest offered version wins unless the registration pins one; a pin not offered, or no supported version, is refused', async () => {
    const { csms } = ctx;
    const creds = await register(csms);
    expect((await csms.api.getStation(creds.identity)).body).toMatchObject({ ocppVersionPin: 'auto', ocppVersion: null });

    const both = await connect(csms, creds, ['ocpp1.6', 'ocpp2.0.1']);
    expect(both.protocol).toBe('ocpp2.0.1');
    expect((await csms.api.getStation(creds.identity)).body).toMatchObject({ ocppVersionPin: 'auto', ocppVersion: '2.0.1' });
    await both.close();

    expect((await csms.api.patchStation(creds.identity, { ocppVersion: '1.6' })).status).toBe(200);
    const pinned = await connect(csms, creds, ['ocpp2.0.1', 'ocpp1.6']);
    expect(pinned.protocol).toBe('ocpp1.6');
    expect((await pinned.boot()).status).toBe('Accepted');
    expect((await csms.api.getStation(creds.identity)).body).toMatchObject({ ocppVersionPin: '1.6', ocppVersion: '1.6', connected: true });
    expect(await csms.api.metrics()).toMatch(/csms_connected_stations_by_version\{version="1\.6"\} [1-9]/);
    await pinned.close();

    // Pinned to 1.6, a station offering only 2.0.1 is refused before any 101; so is one offering nothing we speak.
    expect(await refusedStatus(csms, creds, ['ocpp2.0.1'])).toBe(400);
    expect(await refusedStatus(csms, creds, ['ocpp1.5'])).toBe(400);
    expect((await csms.api.patchStation(creds.identity, { ocppVersion: 'auto' })).status).toBe(200);
    expect(await refusedStatus(csms, creds, ['ocpp1.5', 'ocpp2.1'])).toBe(400);
    expect((await csms.api.putStation(creds.identity, { securityProfile: 1, ocppVersion: '2.0' as '2.0.1' })).status).toBe(400);
  });

  it('BootNotification Accepted answers the heartbeat interval; Heartbeat answers the time; the station view shows what it said', async () => {
    const { csms } = ctx;
    const creds = await register(csms);
    const station = await connect(csms, creds);
    const boot = await station.boot({ chargePointSerialNumber: 'SN-16-001', iccid: '8931000000000000001' });
    expect(boot).toMatchObject({ status: 'Accepted', interval: 120 });
    expect(Math.abs(Date.parse(boot.currentTime) - Date.now())).toBeLessThan(5000);
    const beat = await station.heartbeat();
    expect(Math.abs(Date.parse(beat.currentTime) - Date.now())).toBeLessThan(5000);
    const view = (await csms.api.getStation(creds.identity)).body;
    expect(view).toMatchObject({
      bootStatus: 'Accepted',
      ocppVersion: '1.6',
      lastBootReason: null,
      chargingStation: { vendorName: 'Stroom Test', model: 'TS-16', serialNumber: 'SN-16-001', firmwareVersion: '1.6.0-test', modem: { iccid: '8931000000000000001' } },
    });
  });

  it('BootNotification Pending: the CSMS reads the configuration (keys become OCPP16 variables, AuthorizationKey never), refuses other messages, and accepts the next boot once the operator does', async () => {
    const { csms } = ctx;
    const creds = await register(csms, { bootPolicy: 'Pending' });
    const station = await connect(csms, creds);
    expect(await station.boot()).toMatchObject({ status: 'Pending', interval: 15 });
    expect(await station.waitForCall('GetConfiguration')).toEqual({});
    const variables = await waitFor(
      async () => {
        const res = await csms.api.getVariables(creds.identity);
        return Array.isArray(res.body) && res.body.length >= 2 ? (res.body as unknown[]) : undefined;
      },
      { what: 'the configuration keys as variables' },
    );
    expect(variables).toEqual(
      expect.arrayContaining([
        { component: { name: 'OCPP16' }, variable: { name: 'HeartbeatInterval' }, attributes: [{ type: 'Actual', value: '300', readonly: false }] },
        { component: { name: 'OCPP16' }, variable: { name: 'NumberOfConnectors' }, attributes: [{ type: 'Actual', value: '2', readonly: true }] },
      ]),
    );
    expect(JSON.stringify(variables)).not.toContain('AuthorizationKey');
    // Security Extension §2.5 (as 2.0.1 B02.FR.09): before Accepted only BootNotification is answered.
    expect(await rpcErrorCode(station.heartbeat())).toBe('SecurityError');

    expect((await csms.api.patchStation(creds.identity, { bootPolicy: 'Accepted' })).status).toBe(200);
    expect(await station.boot()).toMatchObject({ status: 'Accepted', interval: 120 });
    await station.heartbeat();
  });

  it('BootNotification Rejected: the retry interval, and nothing else is answered', async () => {
    const { csms } = ctx;
    const creds = await register(csms, { bootPolicy: 'Rejected' });
    const station = await connect(csms, creds);
    expect(await station.boot()).toMatchObject({ status: 'Rejected', interval: 15 });
    expect(await rpcErrorCode(station.status(1, 'Available'))).toBe('SecurityError');
    expect((await csms.api.getStation(creds.identity)).body).toMatchObject({ bootStatus: 'Rejected' });
    // The CSMS initiates nothing towards a rejected station.
    const command = await csms.api.request('POST', `/api/v1/stations/${creds.identity}/commands/ClearCache`, {});
    expect(command.status).toBe(409);
  });

  it('StatusNotification: connector 0 is the station itself, connector N is EVSE N connector 1, statuses as sent with their errorCode and vendor codes', async () => {
    const { csms } = ctx;
    const creds = await register(csms);
    const station = await connect(csms, creds);
    await station.booted(2);
    await station.status(0, 'Unavailable');
    await station.status(1, 'Preparing');
    await station.status(2, 'Faulted', { errorCode: 'GroundFailure', info: 'RCD tripped', vendorId: 'com.example', vendorErrorCode: 'E42' });
    const view = (await csms.api.getStation(creds.identity)).body;
    expect(view).toMatchObject({ status: 'Unavailable', availability: { status: 'Unavailable', error: { errorCode: 'NoError' } } });
    expect(view.evses).toEqual([
      { id: 1, connectors: [expect.objectContaining({ id: 1, status: 'Preparing', error: { errorCode: 'NoError' } })] },
      {
        id: 2,
        connectors: [
          expect.objectContaining({
            id: 1,
            status: 'Faulted',
            error: { errorCode: 'GroundFailure', info: 'RCD tripped', vendorId: 'com.example', vendorErrorCode: 'E42' },
          }),
        ],
      },
    ]);
  });

  it('Authorize: registered tokens answer as registered, whatever their type and case; unknown is Invalid; the group goes out as parentIdTag', async () => {
    const { csms } = ctx;
    const creds = await register(csms);
    const station = await connect(csms, creds);
    await station.booted(1);
    const accepted = newIdToken('ISO14443');
    const blocked = newIdToken('Central');
    const expired = newIdToken('KeyCode');
    const invalid = newIdToken('eMAID');
    const expiredByDate = newIdToken('Central');
    await putIdToken(csms.api, accepted, { status: 'Accepted', groupId: 'FLEET-A' });
    await putIdToken(csms.api, blocked, { status: 'Blocked' });
    await putIdToken(csms.api, expired, { status: 'Expired' });
    await putIdToken(csms.api, invalid, { status: 'Invalid' });
    await putIdToken(csms.api, expiredByDate, { status: 'Accepted', expiresAt: new Date(Date.now() - 60_000).toISOString() });

    expect(await station.authorize(accepted.idToken.toLowerCase())).toEqual({ idTagInfo: { status: 'Accepted', parentIdTag: 'FLEET-A' } });
    expect(await station.authorize(blocked.idToken)).toEqual({ idTagInfo: { status: 'Blocked' } });
    expect(await station.authorize(expired.idToken)).toEqual({ idTagInfo: { status: 'Expired' } });
    expect(await station.authorize(expiredByDate.idToken)).toEqual({ idTagInfo: { status: 'Expired' } });
    expect(await station.authorize(invalid.idToken)).toEqual({ idTagInfo: { status: 'Invalid' } });
    expect(await station.authorize('NEVER-REGISTERED')).toEqual({ idTagInfo: { status: 'Invalid' } });

    // CONTRACT §3.1: one value under several types: ISO14443 before Central, whatever was registered first.
    const shared = `SHARED${Date.now().toString(36).toUpperCase()}`.slice(0, 20);
    await putIdToken(csms.api, { type: 'Central', idToken: shared }, { status: 'Blocked' });
    await putIdToken(csms.api, { type: 'ISO14443', idToken: shared }, { status: 'Accepted' });
    expect(await station.authorize(shared.toLowerCase())).toEqual({ idTagInfo: { status: 'Accepted' } });
    // A change through the API reaches the next Authorize at once.
    await putIdToken(csms.api, accepted, { status: 'Blocked' });
    expect((await station.authorize(accepted.idToken)).idTagInfo.status).toBe('Blocked');
  });

  it('CALLERRORs carry the 1.6 spellings (OccurenceConstraintViolation, FormationViolation), unknown actions NotImplemented', async () => {
    const { csms } = ctx;
    const creds = await register(csms);
    const booted = await connect(csms, creds);
    await booted.booted(0);
    await booted.close();
    // A raw socket: ocpp-rpc's strict client would refuse to send these frames at all.
    const ws = new WebSocket(`${csms.ocppUrl}/${creds.identity}`, ['ocpp1.6'], {
      headers: { Authorization: `Basic ${Buffer.from(`${creds.identity}:${creds.password}`).toString('base64')}` },
    });
    const answers = new Map<string, unknown[]>();
    ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString('utf8')) as unknown[];
      answers.set(String(frame[1]), frame);
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    try {
      ws.send(JSON.stringify([2, 'm1', 'StartTransaction', { connectorId: 1, meterStart: 0, timestamp: new Date().toISOString() }]));
      ws.send(JSON.stringify([2, 'm2', 'Authorize', { idTag: 'X'.repeat(21) }]));
      ws.send(JSON.stringify([2, 'm3', 'TransactionEvent', {}]));
      ws.send(JSON.stringify([2, 'm4', 'RemoteStartTransaction', { idTag: 'A' }]));
      ws.send(JSON.stringify([2, 'm5', 'Authorize', { idTag: 7 }]));
      await waitFor(() => answers.size === 5, { what: 'five answers' });
      expect(answers.get('m1')?.slice(0, 3)).toEqual([4, 'm1', 'OccurenceConstraintViolation']);
      expect(answers.get('m2')?.slice(0, 3)).toEqual([4, 'm2', 'FormationViolation']);
      expect(answers.get('m3')?.slice(0, 3)).toEqual([4, 'm3', 'NotImplemented']);
      expect(answers.get('m4')?.slice(0, 3)).toEqual([4, 'm4', 'NotSupported']);
      expect(answers.get('m5')?.slice(0, 3)).toEqual([4, 'm5', 'TypeConstraintViolation']);
    } finally {
      ws.close();
    }
  });
});
