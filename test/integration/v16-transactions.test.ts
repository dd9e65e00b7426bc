/**
 * OCPP 1.6J transactions in the one domain (CONTRACT §3.1): the CSMS assigns the integer transactionId, a 1.6
 * transaction is the same record and API view as a 2.0.1 one (`events` holds StartTransaction and StopTransaction,
 * energyWh = meterStop − meterStart), offline replays keep their times and are stored once, remote start and stop
 * go out as the 1.6 messages, and a 1.6 and a 2.0.1 station charge side by side on one CSMS.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ChargingSession, energyRegister, getTransaction, getTransactionRes, listTransactions, meterValue, putIdToken } from '../support/charging.js';
import { withCsms, type TestCsms } from '../support/csms.js';
import { Station16, registerSample } from '../support/station16.js';
import { randomPassword, uniqueIdentity } from '../support/station.js';

const ctx = withCsms();

const opened: Station16[] = [];

async function bootedStation16(csms: TestCsms, creds?: { identity: string; password: string }): Promise<Station16> {
  const identity = creds?.identity ?? uniqueIdentity('v16tx');
  const password = creds?.password ?? randomPassword();
  expect((await csms.api.putStation(identity, { securityProfile: 1, password, bootPolicy: 'Accepted' })).status).toBe(201);
  const station = await Station16.connect({ url: csms.ocppUrl, identity, password });
  opened.push(station);
  await station.booted(2);
  return station;
}

let tagCounter = 0;
/** A registered, Accepted ISO14443-style idTag (hex, upper case) that fits 1.6's 20 characters. */
async function acceptedTag(csms: TestCsms, body: { status: 'Accepted' | 'Blocked'; groupId?: string } = { status: 'Accepted' }): Promise<string> {
  tagCounter += 1;
  const tag = `${Date.now().toString(16)}${tagCounter.toString(16).padStart(4, '0')}`.toUpperCase().slice(-16);
  expect((await putIdToken(csms.api, { type: 'ISO14443', idToken: tag }, body)).status).toBe(201);
  return tag;
}

function command(csms: TestCsms, stationId: string, action: string, body: object) {
  return csms.api.request<{ request: Record<string, unknown>; response: Record<string, unknown>; error?: { code: string; message: string } }>(
    'POST',
    `/api/v1/stations/${encodeURIComponent(stationId)}/commands/${action}`,
    body,
  );
}

const ago = (ms: number): Date => new Date(Date.now() - ms);

describe('OCPP 1.6J transactions', () => {
  afterEach(async () => {
    const stations = opened.splice(0);
    const problems = stations.flatMap((s) => s.problems());
    await Promise.all(stations.map((s) => s.close()));
    expect(problems).toEqual([]);
  });

  it('a full transaction: a CSMS-assigned transactionId, meter values with and without it, StopTransaction with transactionData; one API view with energy meterStop − meterStart', async () => {
    const { csms } = ctx;
    const station = await bootedStation16(csms);
    const tag = await acceptedTag(csms, { status: 'Accepted', groupId: 'DEPOT' });
    await station.status(1, 'Preparing');
    const startedAt = ago(60_000);
    const start = await station.start(1, tag.toLowerCase(), 10_000, startedAt);
    expect(start.idTagInfo).toEqual({ status: 'Accepted', parentIdTag: 'DEPOT' });
    expect(Number.isInteger(start.transactionId) && start.transactionId > 0).toBe(true);
    await station.status(1, 'Charging');

    await station.meterValues({ connectorId: 1, transactionId: start.transactionId, meterValue: [registerSample(11_000, ago(40_000))] });
    // Without a transactionId the samples belong to the transaction running on that connector (1.6 §4.7).
    await station.meterValues({
      connectorId: 1,
      meterValue: [
        {
          timestamp: ago(30_000).toISOString(),
          sampledValue: [
            { value: '12000', measurand: 'Energy.Active.Import.Register', unit: 'Wh' },
            { value: '7.4', measurand: 'Power.Active.Import', unit: 'kW' },
            { value: 'c2lnbmVkLW1ldGVyLWRhdGE=', format: 'SignedData', measurand: 'Energy.Active.Import.Register', context: 'Sample.Clock' },
          ],
        },
      ],
    });
    const endedAt = ago(10_000);
    const stop = await station.stop(
      start.transactionId,
      13_500,
      {
        idTag: tag,
        reason: 'EVDisconnected',
        transactionData: [registerSample(10_000, startedAt, 'Transaction.Begin'), registerSample(13_500, endedAt, 'Transaction.End')],
      },
      endedAt,
    );
    expect(stop).toEqual({ idTagInfo: { status: 'Accepted', parentIdTag: 'DEPOT' } });

    const view = await getTransaction(csms.api, station.identity, String(start.transactionId));
    expect(view).toMatchObject({
      transactionId: String(start.transactionId),
      evseId: 1,
      connectorId: 1,
      idToken: { idToken: tag.toLowerCase() },
      active: false,
      startedAt: startedAt.toISOString(),
      endedAt: endedAt.toISOString(),
      stoppedReason: 'EVDisconnected',
      energyWh: 3500,
      flags: [],
    });
    // 1.6 has no offline flag: null, never a guessed false (CONTRACT §3.1 / issue 16 "one domain").
    expect(view.events.map((e) => [e.seqNo, e.eventType, e.triggerReason, e.offline])).toEqual([
      [0, 'Started', 'StartTransaction', null],
      [1, 'Ended', 'StopTransaction', null],
    ]);
    expect(view.events[0]?.request).toMatchObject({ connectorId: 1, idTag: tag.toLowerCase(), meterStart: 10_000 });
    expect(view.events[0]?.response).toEqual(start);
    expect(view.events[1]?.request).toMatchObject({ transactionId: start.transactionId, meterStop: 13_500, reason: 'EVDisconnected' });
    // Every sample kept as sent, the signed one included, in time order.
    expect(view.meterValues.map((m) => m.source)).toEqual(['StopTransaction', 'MeterValues', 'MeterValues', 'StopTransaction']);
    expect(view.meterValues[0]?.timestamp).toBe(startedAt.toISOString());
    expect(view.meterValues[3]?.timestamp).toBe(endedAt.toISOString());
    expect(JSON.stringify(view.meterValues)).toContain('SignedData');

    const ended = await listTransactions(csms.api, station.identity, { active: false });
    expect(ended.body.items.map((t) => t.transactionId)).toEqual([String(start.transactionId)]);
    // The next transaction gets a new number, never one handed out before.
    const next = await station.start(2, tag, 0);
    expect(next.transactionId).toBeGreaterThan(start.transactionId);
    expect((await listTransactions(csms.api, station.identity, { active: true })).body.items).toEqual([
      expect.objectContaining({ transactionId: String(next.transactionId), evseId: 2, connectorId: 1, active: true }),
    ]);
  });

  it('StopTransaction checks its idTag again: a tag blocked meanwhile is answered Blocked, and the stop is stored all the same', async () => {
    const { csms } = ctx;
    const station = await bootedStation16(csms);
    const tag = await acceptedTag(csms);
    const start = await station.start(1, tag, 0);
    expect((await putIdToken(csms.api, { type: 'ISO14443', idToken: tag }, { status: 'Blocked' })).status).toBe(200);
    expect(await station.stop(start.transactionId, 2000, { idTag: tag })).toEqual({ idTagInfo: { status: 'Blocked' } });
    expect(await getTransaction(csms.api, station.identity, String(start.transactionId))).toMatchObject({ active: false, stoppedReason: 'Local', energyWh: 2000 });
  });

  it('offline replay: old timestamps are kept, a resent StartTransaction gets its transactionId again and is stored once, a StopTransaction for a transaction never seen is stored', async () => {
    const { csms } = ctx;
    const station = await bootedStation16(csms);
    const tag = await acceptedTag(csms);
    const startedAt = ago(3 * 3600_000);
    const endedAt = ago(2 * 3600_000);
    const first = await station.start(2, tag, 500, startedAt);
    // The answer was lost: the station sends the same StartTransaction again after reconnecting.
    const again = await station.start(2, tag, 500, startedAt);
    expect(again.transactionId).toBe(first.transactionId);
    await station.stop(first.transactionId, 9500, { reason: 'PowerLoss' }, endedAt);
    await station.stop(first.transactionId, 9500, { reason: 'PowerLoss' }, endedAt);
    const view = await getTransaction(csms.api, station.identity, String(first.transactionId));
    expect(view).toMatchObject({ startedAt: startedAt.toISOString(), endedAt: endedAt.toISOString(), stoppedReason: 'PowerLoss', energyWh: 9000, active: false });
    expect(view.events).toHaveLength(2);
    expect((await listTransactions(csms.api, station.identity)).body.items).toHaveLength(1);

    // A transaction the CSMS never saw start (its StartTransaction was lost for good): the stop is a record too.
    const unseen = 2_000_000_000 + Math.floor(Math.random() * 100_000_000);
    expect(await station.stop(unseen, 777, {}, ago(3600_000))).toEqual({});
    const orphan = await getTransaction(csms.api, station.identity, String(unseen));
    expect(orphan).toMatchObject({ active: false, startedAt: null, energyWh: null });
    expect(orphan.flags).toContain('startMissing');
  });

  it('a station that spoke 2.0.1 before, with numeric transactionIds of its own, never gets one of them as a 1.6 transactionId', async () => {
    const { csms } = ctx;
    const creds = { identity: uniqueIdentity('v16num'), password: randomPassword() };
    const station = await bootedStation16(csms, creds);
    const tag = await acceptedTag(csms);
    const first = await station.start(1, tag, 0);
    await station.stop(first.transactionId, 10);
    await station.close();
    // The same registration (pin auto) comes back speaking 2.0.1 and picks the next number itself.
    const v201 = await csms.connect(creds);
    await v201.booted();
    const taken = String(first.transactionId + 1);
    await v201.call('TransactionEvent', {
      eventType: 'Started',
      timestamp: new Date().toISOString(),
      triggerReason: 'Authorized',
      seqNo: 0,
      transactionInfo: { transactionId: taken },
      evse: { id: 2, connectorId: 1 },
      idToken: { idToken: tag, type: 'ISO14443' },
    });
    await v201.close();
    const again = await Station16.connect({ url: csms.ocppUrl, ...creds });
    opened.push(again);
    const next = await again.start(1, tag, 100);
    expect(next.transactionId).toBeGreaterThan(first.transactionId + 1);
    expect(await getTransaction(csms.api, station.identity, taken)).toMatchObject({ evseId: 2, active: true });
    expect(await getTransaction(csms.api, station.identity, String(next.transactionId))).toMatchObject({ evseId: 1, active: true });
  });

  it('remote start and stop: RemoteStartTransaction reaches the station and its idTag is accepted there only; RemoteStopTransaction stops by transactionId; 2.0.1 actions are refused naming 1.6', async () => {
    const { csms } = ctx;
    const station = await bootedStation16(csms);
    const bystander = await bootedStation16(csms);
    const tag = `R${Date.now().toString(36).toUpperCase()}`.slice(0, 20);

    const remoteStart = await command(csms, station.identity, 'RemoteStartTransaction', { connectorId: 1, idTag: tag });
    expect(remoteStart.status).toBe(200);
    expect(remoteStart.body).toEqual({ request: { connectorId: 1, idTag: tag }, response: { status: 'Accepted' } });
    expect(await station.waitForCall('RemoteStartTransaction')).toEqual({ connectorId: 1, idTag: tag });
    // CONTRACT §3.2 "Remote-start tokens": the unregistered tag is accepted at that station, and only there.
    expect(await station.authorize(tag)).toEqual({ idTagInfo: { status: 'Accepted' } });
    expect(await bystander.authorize(tag)).toEqual({ idTagInfo: { status: 'Invalid' } });
    const start = await station.start(1, tag, 100);
    expect(start.idTagInfo.status).toBe('Accepted');

    const remoteStop = await command(csms, station.identity, 'RemoteStopTransaction', { transactionId: start.transactionId });
    expect(remoteStop.status).toBe(200);
    expect(remoteStop.body.response).toEqual({ status: 'Accepted' });
    await station.stop(start.transactionId, 1100, { reason: 'Remote' });
    // Its transaction is over: the tag is nobody's again, though the Stop did not name it.
    expect(await station.authorize(tag)).toEqual({ idTagInfo: { status: 'Invalid' } });
    expect(await getTransaction(csms.api, station.identity, String(start.transactionId))).toMatchObject({ active: false, stoppedReason: 'Remote', energyWh: 1000 });

    const wrongVersion = await command(csms, station.identity, 'RequestStartTransaction', { evseId: 1, idToken: { idToken: tag, type: 'Central' } });
    expect(wrongVersion.status).toBe(400);
    expect(wrongVersion.body.error?.code).toBe('wrong_ocpp_version');
    expect(wrongVersion.body.error?.message).toContain('1.6');
    const invalid = await command(csms, station.identity, 'RemoteStartTransaction', { connectorId: 1 });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error?.code).toBe('invalid_payload');
  });

  it('a mixed fleet: a 1.6 and a 2.0.1 station charge side by side on one CSMS, and the operator sees both in one API', async () => {
    const { csms } = ctx;
    const v16 = await bootedStation16(csms);
    const v201 = await csms.bootedStation({ prefix: 'v201mix' });
    const tag = await acceptedTag(csms);

    const session = new ChargingSession(v201);
    await session.event('Started', 'Authorized', {
      idToken: { idToken: tag, type: 'ISO14443' },
      evse: true,
      chargingState: 'Charging',
      meterValue: [meterValue([energyRegister(1000, { context: 'Transaction.Begin' })], ago(20_000))],
    });
    const start = await v16.start(1, tag, 1000, ago(20_000));
    await v16.stop(start.transactionId, 3000, { idTag: tag });
    await session.event('Ended', 'StopAuthorized', {
      idToken: { idToken: tag, type: 'ISO14443' },
      stoppedReason: 'Local',
      meterValue: [meterValue([energyRegister(3000, { context: 'Transaction.End' })], new Date())],
    });

    const view201 = await getTransaction(csms.api, v201.identity, session.transactionId);
    const view16 = await getTransaction(csms.api, v16.identity, String(start.transactionId));
    for (const view of [view201, view16]) expect(view).toMatchObject({ active: false, energyWh: 2000, stoppedReason: 'Local', evseId: 1, connectorId: 1 });
    expect(typeof view16.transactionId).toBe('string');
    expect((await getTransactionRes(csms.api, v201.identity, String(start.transactionId))).status).toBe(404);

    const [station201, station16] = [(await csms.api.getStation(v201.identity)).body, (await csms.api.getStation(v16.identity)).body];
    expect(station201).toMatchObject({ ocppVersion: '2.0.1', connected: true, bootStatus: 'Accepted' });
    expect(station16).toMatchObject({ ocppVersion: '1.6', connected: true, bootStatus: 'Accepted' });
    const listed = (await csms.api.listStations({ connected: true })).body.items.map((s) => [s.id, s.ocppVersion]);
    expect(listed).toEqual(
      expect.arrayContaining([
        [v201.identity, '2.0.1'],
        [v16.identity, '1.6'],
      ]),
    );
    const only16 = await csms.api.request<{ items: { id: string; ocppVersion: string }[] }>('GET', '/api/v1/stations?ocppVersion=1.6');
    expect(only16.body.items.map((s) => s.id)).toContain(v16.identity);
    expect(only16.body.items.map((s) => s.id)).not.toContain(v201.identity);
    expect(only16.body.items.every((s) => s.ocppVersion === '1.6')).toBe(true);
    expect((await csms.api.request('GET', '/api/v1/stations?ocppVersion=1.5')).status).toBe(400);
    const metrics = await csms.api.metrics();
    expect(metrics).toMatch(/csms_connected_stations_by_version\{version="1\.6"\} [1-9]/);
    expect(metrics).toMatch(/csms_connected_stations_by_version\{version="2\.0\.1"\} [1-9]/);
    expect(metrics).toMatch(/csms_ocpp_response_seconds_count\{action="StartTransaction"\} [1-9]/);
    expect(metrics).toMatch(/csms_ocpp_response_seconds_count\{action="TransactionEvent"\} [1-9]/);
  });
});
