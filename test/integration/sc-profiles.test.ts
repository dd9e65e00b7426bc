/**
 * Smart Charging, both directions (Part 5 Smart Charging profile): TC_K_01, K_10, K_60, K_03, K_19, K_15, K_70, K_04,
 * K_37, K_43, K_44, K_29–K_36, K_05, K_06, K_08, and the CSMS's own rules DRV-SC-01/02/03/05/06 and DRV-SC-09
 * (external limits). The profile resource (CONTRACT §8.3) and the raw commands path share one K01 validator.
 */
import { describe, expect, it } from 'vitest';
import { startTestCsms, withCsms } from '../support/csms.js';
import { ChargingSession, newIdToken, registerIdToken } from '../support/charging.js';
import { Reply, waitFor, type Payload, type TestStation } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 3000 });
const NOW = new Date().toISOString();
const IN_AN_HOUR = new Date(Date.now() + 3_600_000).toISOString();

interface ProfileItem {
  evseId: number | null;
  source: string;
  status: string;
  chargingProfile?: Payload & { id: number };
  chargingLimitSource?: string;
  chargingSchedule?: Payload[];
  response?: Payload;
}

function profile(overrides: Payload = {}): Payload {
  return {
    stackLevel: 0,
    chargingProfilePurpose: 'TxDefaultProfile',
    chargingProfileKind: 'Absolute',
    chargingSchedule: [{ id: 1, startSchedule: NOW, duration: 3600, chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 6 }] }],
    ...overrides,
  };
}

function relativeSchedule(limit: number): Payload[] {
  return [{ id: 1, chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit }] }];
}

async function postProfile(station: TestStation, evseId: number, chargingProfile: Payload) {
  return h.csms.api.request<Payload & { error?: { code: string; details?: { rule?: string } } }>(
    'POST',
    `/api/v1/stations/${encodeURIComponent(station.identity)}/charging-profiles`,
    { evseId, chargingProfile },
  );
}

async function listProfiles(station: TestStation): Promise<ProfileItem[]> {
  const res = await h.csms.api.request<{ items: ProfileItem[] }>('GET', `/api/v1/stations/${encodeURIComponent(station.identity)}/charging-profiles`);
  expect(res.status, res.text).toBe(200);
  return res.body.items;
}

async function charging(station: TestStation, evseId = 1): Promise<ChargingSession> {
  const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
  const session = new ChargingSession(station, { evseId });
  await session.energyTransferStarted(token);
  return session;
}

describe('SetChargingProfile through the profile resource (K01)', () => {
  it('TC_K_01: a TxDefaultProfile on one EVSE, with validFrom/validTo, goes out as given and is listed Accepted', async () => {
    const station = await h.csms.bootedStation({ prefix: 'K01' });
    const body = profile({ id: 11, stackLevel: 2, validFrom: NOW, validTo: IN_AN_HOUR });
    const res = await postProfile(station, 1, body);
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ evseId: 1, source: 'CSMS', status: 'Accepted', response: { status: 'Accepted' }, chargingProfile: body });
    const [call] = station.callsOf('SetChargingProfile');
    expect(call?.payload).toEqual({ evseId: 1, chargingProfile: body });
    expect(await listProfiles(station)).toEqual([expect.objectContaining({ evseId: 1, source: 'CSMS', status: 'Accepted', chargingProfile: body })]);
  });

  it('TC_K_10 / TC_K_03: a TxDefaultProfile for every EVSE and a ChargingStationMaxProfile go to evseId 0; the id is assigned', async () => {
    const station = await h.csms.bootedStation({ prefix: 'K10' });
    const all = await postProfile(station, 0, profile());
    expect(all.status, all.text).toBe(201);
    const max = await postProfile(
      station,
      0,
      profile({
        chargingProfilePurpose: 'ChargingStationMaxProfile',
        chargingSchedule: [{ ...(profile().chargingSchedule as Payload[])[0], chargingSchedulePeriod: [{ startPeriod: 0, limit: 8 }] }],
      }),
    );
    expect(max.status, max.text).toBe(201);
    const ids = station.callsOf('SetChargingProfile').map((c) => (c.payload.chargingProfile as { id: number }).id);
    expect(ids).toHaveLength(2);
    expect(ids[0]).toBeGreaterThan(0);
    expect(ids[1]).not.toBe(ids[0]);
    expect(station.callsOf('SetChargingProfile').map((c) => c.payload.evseId)).toEqual([0, 0]);
  });

  it('TC_K_19: Recurring Daily and Weekly profiles carry startSchedule and recurrencyKind', async () => {
    const station = await h.csms.bootedStation({ prefix: 'K19' });
    for (const recurrencyKind of ['Daily', 'Weekly']) {
      const res = await postProfile(station, 1, profile({ chargingProfileKind: 'Recurring', recurrencyKind, stackLevel: recurrencyKind === 'Daily' ? 1 : 2 }));
      expect(res.status, res.text).toBe(201);
    }
    expect(station.callsOf('SetChargingProfile').map((c) => (c.payload.chargingProfile as Payload).recurrencyKind)).toEqual(['Daily', 'Weekly']);
  });

  it('TC_K_60: a Relative TxProfile for the running transaction gets its transactionId', async () => {
    const station = await h.csms.bootedStation({ prefix: 'K60' });
    const session = await charging(station);
    const res = await postProfile(station, 1, {
      stackLevel: 0,
      chargingProfilePurpose: 'TxProfile',
      chargingProfileKind: 'Relative',
      chargingSchedule: relativeSchedule(10),
    });
    expect(res.status, res.text).toBe(201);
    const sent = station.callsOf('SetChargingProfile')[0]?.payload.chargingProfile as Payload;
    expect(sent).toMatchObject({ chargingProfilePurpose: 'TxProfile', chargingProfileKind: 'Relative', transactionId: session.transactionId });
    expect((sent.chargingSchedule as Payload[])[0]).not.toHaveProperty('startSchedule');
  });

  it('DRV-SC-06: a TxProfile leaves the list when its transaction ends', async () => {
    const station = await h.csms.bootedStation({ prefix: 'SC06' });
    const session = await charging(station);
    expect(
      (await postProfile(station, 1, { stackLevel: 0, chargingProfilePurpose: 'TxProfile', chargingProfileKind: 'Relative', chargingSchedule: relativeSchedule(10) }))
        .status,
    ).toBe(201);
    expect(await listProfiles(station)).toHaveLength(1);
    await session.event('Ended', 'EVCommunicationLost', { stoppedReason: 'EVDisconnected', chargingState: 'Idle' });
    expect(await listProfiles(station)).toEqual([]);
  });

  it('DRV-SC-03: a TxProfile for an EVSE without a transaction, or for evseId 0, is refused and nothing is sent', async () => {
    const station = await h.csms.bootedStation({ prefix: 'SC03' });
    const none = await postProfile(station, 1, {
      stackLevel: 0,
      chargingProfilePurpose: 'TxProfile',
      chargingProfileKind: 'Relative',
      chargingSchedule: relativeSchedule(10),
    });
    expect(none.status).toBe(409);
    expect(none.body.error?.details?.rule).toBe('K01.FR.03');
    const wide = await postProfile(station, 0, {
      stackLevel: 0,
      chargingProfilePurpose: 'TxProfile',
      chargingProfileKind: 'Relative',
      transactionId: 'nope',
      chargingSchedule: relativeSchedule(10),
    });
    expect(wide.status).toBe(400);
    expect(wide.body.error?.details?.rule).toBe('K01.FR.16');
    expect(station.callsOf('SetChargingProfile')).toHaveLength(0);
  });

  it('DRV-SC-01: each broken rule is a 400 naming it, on the resource and on the raw commands path; nothing is sent', async () => {
    const station = await h.csms.bootedStation({ prefix: 'SC01' });
    const cases: [string, number, Payload][] = [
      ['K01.FR.22', 1, profile({ chargingProfilePurpose: 'ChargingStationExternalConstraints' })],
      ['K01.FR.31', 1, profile({ chargingSchedule: [{ id: 1, startSchedule: NOW, chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 10, limit: 6 }] }] })],
      ['K01.FR.38', 0, profile({ chargingProfilePurpose: 'ChargingStationMaxProfile', chargingProfileKind: 'Relative', chargingSchedule: relativeSchedule(8) })],
      ['K01.FR.38', 1, profile({ chargingProfilePurpose: 'ChargingStationMaxProfile' })],
      ['K01.FR.40', 1, profile({ chargingSchedule: relativeSchedule(6) })],
      ['K01.FR.41', 1, profile({ chargingProfileKind: 'Relative' })],
      ['K01.FR.40', 1, profile({ recurrencyKind: 'Daily' })],
      ['K01.FR.36', 1, profile({ validFrom: IN_AN_HOUR, validTo: NOW })],
    ];
    for (const [rule, evseId, body] of cases) {
      const res = await postProfile(station, evseId, { id: 5, ...body });
      expect(res.status, `${rule}: ${res.text}`).toBe(400);
      expect(res.body.error?.details?.rule).toBe(rule);
      const raw = await h.csms.api.command(station.identity, 'SetChargingProfile', { evseId, chargingProfile: { id: 5, ...body } });
      expect(raw.status, `${rule} (raw): ${raw.text}`).toBe(400);
      expect((raw.body.error as { details?: { rule?: string } }).details?.rule).toBe(rule);
    }
    expect(station.callsOf('SetChargingProfile')).toHaveLength(0);
    expect(await listProfiles(station)).toEqual([]);
  });

  it('DRV-SC-02 / TC_K_70 / TC_K_04: a second id on the same stack, purpose and EVSE is refused; other stacks and purposes coexist; the same id replaces', async () => {
    const station = await h.csms.bootedStation({ prefix: 'K70' });
    expect((await postProfile(station, 1, profile({ id: 1, stackLevel: 1 }))).status).toBe(201);
    const clash = await postProfile(station, 1, profile({ id: 2, stackLevel: 1 }));
    expect(clash.status).toBe(400);
    expect(clash.body.error?.details?.rule).toBe('K01.FR.06');
    expect((await postProfile(station, 1, profile({ id: 2, stackLevel: 2 }))).status).toBe(201);
    expect((await postProfile(station, 0, profile({ id: 3, chargingProfilePurpose: 'ChargingStationMaxProfile' }))).status).toBe(201);
    // TC_K_04: the same id with a new limit replaces the profile
    const replaced = profile({
      id: 1,
      stackLevel: 1,
      chargingSchedule: [{ id: 1, startSchedule: NOW, chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 8 }] }],
    });
    expect((await postProfile(station, 1, replaced)).status).toBe(201);
    const items = await listProfiles(station);
    expect(items.map((i) => i.chargingProfile?.id).sort()).toEqual([1, 2, 3]);
    expect(items.find((i) => i.chargingProfile?.id === 1)?.chargingProfile).toEqual(replaced);
  });

  it('TC_K_15: a station without smart charging answers NotSupported: 502, nothing recorded, no retry', async () => {
    const station = await h.csms.bootedStation({ prefix: 'K15' });
    station.onCall('SetChargingProfile', () => Reply.error('NotSupported', 'no smart charging here'));
    const res = await postProfile(station, 1, profile());
    expect(res.status).toBe(502);
    expect(res.body.error?.code).toBe('NotSupported');
    expect(await listProfiles(station)).toEqual([]);
    expect(station.callsOf('SetChargingProfile')).toHaveLength(1);
  });

  it('a Rejected profile is answered 201 with status Rejected and listed so', async () => {
    const station = await h.csms.bootedStation({ prefix: 'K01rej' });
    station.onCall('SetChargingProfile', () => ({ status: 'Rejected' }));
    const res = await postProfile(station, 1, profile({ id: 4 }));
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'Rejected', response: { status: 'Rejected' } });
    expect((await listProfiles(station))[0]).toMatchObject({ status: 'Rejected' });
  });

  it('DRV-SC-05 / K01.FR.26: the rate units come from SmartChargingCtrlr.RateUnit as read from the station', async () => {
    const station = await h.csms.bootedStation({ prefix: 'SC05' });
    station.setVariable({ component: { name: 'SmartChargingCtrlr' }, variable: { name: 'RateUnit' }, value: 'W' });
    const read = await h.csms.api.command(station.identity, 'GetVariables', {
      getVariableData: [{ component: { name: 'SmartChargingCtrlr' }, variable: { name: 'RateUnit' } }],
    });
    expect(read.status, read.text).toBe(200);
    const res = await postProfile(station, 1, profile());
    expect(res.status).toBe(400);
    expect(res.body.error?.details?.rule).toBe('K01.FR.26');
    const watts = profile({ chargingSchedule: [{ id: 1, startSchedule: NOW, chargingRateUnit: 'W', chargingSchedulePeriod: [{ startPeriod: 0, limit: 6000 }] }] });
    expect((await postProfile(station, 1, watts)).status).toBe(201);
  });
});

describe('Remote start with a charging profile (K05)', () => {
  it('TC_K_37: the TxProfile goes without transactionId and is bound to the transaction the remote start led to', async () => {
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const station = await h.csms.bootedStation({ prefix: 'K37' });
    const chargingProfile = { id: 37, stackLevel: 0, chargingProfilePurpose: 'TxProfile', chargingProfileKind: 'Relative', chargingSchedule: relativeSchedule(16) };
    const res = await h.csms.api.command(station.identity, 'RequestStartTransaction', { idToken: token, evseId: 1, chargingProfile });
    expect(res.status, res.text).toBe(200);
    const remoteStartId = res.body.request.remoteStartId as number;
    expect(station.callsOf('RequestStartTransaction')[0]?.payload.chargingProfile).toEqual(chargingProfile);
    const session = new ChargingSession(station);
    await session.event('Started', 'RemoteStart', { remoteStartId, idToken: token, evse: true });
    const items = await listProfiles(station);
    expect(items).toEqual([
      expect.objectContaining({ source: 'CSMS', status: 'Accepted', chargingProfile: { ...chargingProfile, transactionId: session.transactionId } }),
    ]);
  });

  it('F01.FR.11: a remote start whose profile already names a transaction is refused before it is sent', async () => {
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const station = await h.csms.bootedStation({ prefix: 'K37bad' });
    const res = await h.csms.api.command(station.identity, 'RequestStartTransaction', {
      idToken: token,
      evseId: 1,
      chargingProfile: {
        id: 1,
        stackLevel: 0,
        chargingProfilePurpose: 'TxProfile',
        chargingProfileKind: 'Relative',
        transactionId: 'x',
        chargingSchedule: relativeSchedule(16),
      },
    });
    expect(res.status).toBe(400);
    expect((res.body.error as { details?: { rule?: string } }).details?.rule).toBe('F01.FR.11');
    expect(station.callsOf('RequestStartTransaction')).toHaveLength(0);
  });
});

describe('Reading and clearing profiles (K08, K09, K10)', () => {
  it('TC_K_29–TC_K_36: GetChargingProfiles criteria go as given; ReportChargingProfiles parts assemble per requestId; K09.FR.03 refuses an empty criterion', async () => {
    const station = await h.csms.bootedStation({ prefix: 'K29' });
    const criteria: Payload[] = [
      { evseId: 0, chargingProfile: { chargingProfilePurpose: 'TxDefaultProfile' } }, // K_29
      { evseId: 1, chargingProfile: { chargingProfilePurpose: 'TxDefaultProfile' } }, // K_30
      { chargingProfile: { chargingProfilePurpose: 'TxDefaultProfile' } }, // K_31
      { chargingProfile: { chargingProfileId: [7] } }, // K_32
      { evseId: 1, chargingProfile: { stackLevel: 1 } }, // K_33
      { evseId: 1, chargingProfile: { chargingLimitSource: ['EMS'] } }, // K_34
      { evseId: 1, chargingProfile: { chargingProfilePurpose: 'TxProfile' } }, // K_35
      { evseId: 1, chargingProfile: { chargingProfilePurpose: 'TxProfile', stackLevel: 1 } }, // K_36
    ];
    for (const body of criteria) {
      const res = await h.csms.api.command(station.identity, 'GetChargingProfiles', body);
      expect(res.status, res.text).toBe(200);
      expect(station.callsOf('GetChargingProfiles').at(-1)?.payload).toEqual({ ...body, requestId: res.body.request.requestId });
    }
    const empty = await h.csms.api.command(station.identity, 'GetChargingProfiles', { chargingProfile: {} });
    expect(empty.status).toBe(400);
    expect((empty.body.error as { details?: { rule?: string } }).details?.rule).toBe('K09.FR.03');

    // K_31: one report per EVSE, tbc until the last
    const res = await h.csms.api.command(station.identity, 'GetChargingProfiles', { chargingProfile: { chargingProfilePurpose: 'TxDefaultProfile' } });
    const requestId = res.body.request.requestId as number;
    const reportPath = `/api/v1/stations/${encodeURIComponent(station.identity)}/charging-profile-reports/${requestId}`;
    expect((await h.csms.api.request<{ complete: boolean }>('GET', reportPath)).body.complete).toBe(false);
    const reported = (id: number): Payload => ({ ...profile({ id, stackLevel: id }) });
    expect(await station.call('ReportChargingProfiles', { requestId, chargingLimitSource: 'CSO', evseId: 1, chargingProfile: [reported(7)], tbc: true })).toEqual({});
    expect(await station.call('ReportChargingProfiles', { requestId, chargingLimitSource: 'CSO', evseId: 2, chargingProfile: [reported(8)] })).toEqual({});
    const report = await h.csms.api.request<{ complete: boolean; reports: Payload[] }>('GET', reportPath);
    expect(report.body.complete).toBe(true);
    expect(report.body.reports.map((r) => r.evseId)).toEqual([1, 2]);
    const items = await listProfiles(station);
    expect(items.filter((i) => i.source === 'station').map((i) => [i.evseId, i.chargingProfile?.id])).toEqual([
      [1, 7],
      [2, 8],
    ]);
  });

  it('TC_K_05 / TC_K_06 / TC_K_08: clear by id (no criteria), by criteria (no id); Unknown means nothing matched', async () => {
    const station = await h.csms.bootedStation({ prefix: 'K05' });
    expect((await postProfile(station, 1, profile({ id: 21, stackLevel: 3 }))).status).toBe(201);
    expect((await postProfile(station, 1, profile({ id: 22, stackLevel: 4 }))).status).toBe(201);
    const del = await h.csms.api.request<Payload>('DELETE', `/api/v1/stations/${encodeURIComponent(station.identity)}/charging-profiles/21`);
    expect(del.status, del.text).toBe(200);
    expect(del.body).toMatchObject({ chargingProfileId: 21, response: { status: 'Accepted' } });
    expect(station.callsOf('ClearChargingProfile')[0]?.payload).toEqual({ chargingProfileId: 21 });
    expect((await listProfiles(station)).map((i) => i.chargingProfile?.id)).toEqual([22]);

    const criteria = { chargingProfileCriteria: { evseId: 1, chargingProfilePurpose: 'TxDefaultProfile', stackLevel: 4 } };
    const byCriteria = await h.csms.api.command(station.identity, 'ClearChargingProfile', criteria);
    expect(byCriteria.status).toBe(200);
    expect(station.callsOf('ClearChargingProfile')[1]?.payload).toEqual(criteria);
    expect(await listProfiles(station)).toEqual([]);

    station.onCall('ClearChargingProfile', () => ({ status: 'Unknown' }));
    const unknown = await h.csms.api.command(station.identity, 'ClearChargingProfile', criteria);
    expect(unknown.status).toBe(200);
    expect(unknown.body.response).toEqual({ status: 'Unknown' });
    const nothing = await h.csms.api.command(station.identity, 'ClearChargingProfile', {});
    expect(nothing.status).toBe(400);
    expect((nothing.body.error as { details?: { rule?: string } }).details?.rule).toBe('K10.FR.02');
  });

  it('TC_K_43 / TC_K_44: GetCompositeSchedule for an EVSE and for the station; the answers are kept', async () => {
    const station = await h.csms.bootedStation({ prefix: 'K43' });
    station.onCall('GetCompositeSchedule', (payload) => ({
      status: 'Accepted',
      schedule: {
        evseId: payload.evseId,
        duration: payload.duration,
        scheduleStart: NOW,
        chargingRateUnit: payload.chargingRateUnit ?? 'A',
        chargingSchedulePeriod: [{ startPeriod: 0, limit: 10 }],
      },
    }));
    for (const evseId of [1, 0]) {
      const res = await h.csms.api.command(station.identity, 'GetCompositeSchedule', { evseId, duration: 300, chargingRateUnit: 'A' });
      expect(res.status, res.text).toBe(200);
    }
    const kept = await h.csms.api.request<{ items: { evseId: number; schedule: Payload }[] }>(
      'GET',
      `/api/v1/stations/${encodeURIComponent(station.identity)}/composite-schedules`,
    );
    expect(kept.body.items.map((i) => [i.evseId, i.schedule.duration])).toEqual([
      [0, 300],
      [1, 300],
    ]);
  });
});

describe('What the station tells (K12, K13, K15–K17)', () => {
  it('DRV-SC-09: NotifyChargingLimit is listed as external until ClearedChargingLimit', async () => {
    const station = await h.csms.bootedStation({ prefix: 'K12' });
    const chargingSchedule = [{ id: 1, chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 20 }] }];
    expect(await station.call('NotifyChargingLimit', { evseId: 1, chargingLimit: { chargingLimitSource: 'EMS', isGridCritical: true }, chargingSchedule })).toEqual({});
    expect(await listProfiles(station)).toEqual([
      expect.objectContaining({ evseId: 1, source: 'external', chargingLimitSource: 'EMS', chargingSchedule, status: 'Accepted' }),
    ]);
    expect(await station.call('ClearedChargingLimit', { chargingLimitSource: 'EMS', evseId: 1 })).toEqual({});
    expect(await listProfiles(station)).toEqual([]);
  });

  it('NotifyEVChargingNeeds / NotifyEVChargingSchedule are answered Accepted and the needs are kept', async () => {
    const station = await h.csms.bootedStation({ prefix: 'K15n' });
    const chargingNeeds = {
      requestedEnergyTransfer: 'AC_three_phase',
      acChargingParameters: { energyAmount: 20000, evMinCurrent: 6, evMaxCurrent: 32, evMaxVoltage: 400 },
    };
    expect(await station.call('NotifyEVChargingNeeds', { evseId: 1, chargingNeeds })).toEqual({ status: 'Accepted' });
    const schedule = { id: 1, chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 16 }] };
    expect(await station.call('NotifyEVChargingSchedule', { evseId: 1, timeBase: NOW, chargingSchedule: schedule })).toEqual({ status: 'Accepted' });
    const kept = await h.csms.api.request<{ chargingNeeds: Payload[] }>('GET', `/api/v1/stations/${encodeURIComponent(station.identity)}/composite-schedules`);
    expect(kept.body.chargingNeeds).toEqual([{ evseId: 1, chargingNeeds, evChargingSchedule: schedule, timeBase: NOW }]);
  });
});

describe('Durability', () => {
  it('what the CSMS set survives a restart of the CSMS', async () => {
    const first = await startTestCsms({ CSMS_CALL_TIMEOUT_MS: 3000 });
    const dataDir = first.dataDir;
    const config = first.config;
    let second: Awaited<ReturnType<typeof startTestCsms>> | undefined;
    try {
      const station = await first.bootedStation({ prefix: 'SCdur' });
      const res = await first.api.request('POST', `/api/v1/stations/${encodeURIComponent(station.identity)}/charging-profiles`, {
        evseId: 1,
        chargingProfile: profile({ id: 9 }),
      });
      expect(res.status, res.text).toBe(201);
      await first.closeStations();
      await first.csms.stop();
      second = await startTestCsms({ ...config, CSMS_OCPP_PORT: 0, CSMS_API_PORT: 0 });
      const items = await waitFor(async () => {
        const list = await second?.api.request<{ items: ProfileItem[] }>('GET', `/api/v1/stations/${encodeURIComponent(station.identity)}/charging-profiles`);
        return list?.status === 200 ? list.body.items : undefined;
      });
      expect(items).toEqual([expect.objectContaining({ evseId: 1, source: 'CSMS', status: 'Accepted', chargingProfile: profile({ id: 9 }) })]);
    } finally {
      await second?.stop();
      await import('node:fs/promises').then((fs) => fs.rm(dataDir, { recursive: true, force: true }));
    }
  }, 180_000); // two CSMS start-ups; a fresh embedded store takes a while on a loaded machine
});
