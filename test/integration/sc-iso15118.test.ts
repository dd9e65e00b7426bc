/**
 * ISO 15118 smart charging from the car (Part 6 ISO 15118 profile, K15–K17): TC_K_53, TC_K_55, TC_K_57, TC_K_58,
 * TC_K_59, and the errata 2025-06 rule that the CSMS does not renegotiate without cause.
 */
import { describe, expect, it } from 'vitest';
import { ChargingSession, newIdToken, registerIdToken } from '../support/charging.js';
import { withCsms } from '../support/csms.js';
import { sleep, type CsmsCall, type Payload, type TestStation } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 3000 });

interface SentProfile {
  id: number;
  stackLevel: number;
  chargingProfilePurpose: string;
  transactionId?: string;
  chargingSchedule: { chargingRateUnit: string; chargingSchedulePeriod: { startPeriod: number; limit: number }[] }[];
}

const AC_NEEDS = {
  requestedEnergyTransfer: 'AC_three_phase',
  acChargingParameters: { energyAmount: 20000, evMinCurrent: 6, evMaxCurrent: 16, evMaxVoltage: 400 },
};

async function charging(station: TestStation, evseId = 1): Promise<ChargingSession> {
  const token = await registerIdToken(h.csms.api, newIdToken('eMAID'));
  const session = new ChargingSession(station, { evseId });
  await session.energyTransferStarted(token);
  return session;
}

function profileOf(call: CsmsCall): SentProfile {
  return call.payload.chargingProfile as SentProfile;
}

/** The EV's schedule as the station reports it: the CSMS's schedule, or one that asks `limit`. */
function evSchedule(limit: number, unit = 'A'): Payload {
  return { evseId: 1, timeBase: new Date().toISOString(), chargingSchedule: { id: 1, chargingRateUnit: unit, chargingSchedulePeriod: [{ startPeriod: 0, limit }] } };
}

function expectTxProfile(call: CsmsCall, session: ChargingSession): SentProfile {
  expect(call.payload.evseId).toBe(session.evseId);
  const profile = profileOf(call);
  expect(profile.chargingProfilePurpose).toBe('TxProfile');
  expect(profile.transactionId).toBe(session.transactionId);
  return profile;
}

/** Lets anything the CSMS might still send arrive before counting (the errata 2025-06 checks). */
const QUIET_MS = 600;

describe('ISO 15118 charging needs and schedules (K15–K17)', () => {
  it('TC_K_53: needs → Accepted, then a TxProfile within the EV maximum; the equal EV schedule is Accepted and the CSMS stays quiet', async () => {
    const station = await h.csms.bootedStation({ prefix: 'K53' });
    const session = await charging(station);
    const mark = station.mark();
    expect(await station.call('NotifyEVChargingNeeds', { evseId: 1, chargingNeeds: AC_NEEDS })).toEqual({ status: 'Accepted' });
    const call = await station.waitForCall('SetChargingProfile', { afterSeq: mark });
    const profile = expectTxProfile(call, session);
    expect(profile.chargingSchedule[0]).toMatchObject({ chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 16 }] });
    expect(await station.call('NotifyEVChargingSchedule', evSchedule(16))).toEqual({ status: 'Accepted' });
    await session.next('ChargingStateChanged', { chargingState: 'Charging' });
    await sleep(QUIET_MS);
    expect(station.callsOf('SetChargingProfile').filter((c) => c.seq > mark)).toHaveLength(1);
  });

  it('TC_K_53 / K01.FR.26: a station that takes only W gets the EV maximum in W', async () => {
    const station = await h.csms.bootedStation({ prefix: 'K53W' });
    station.setVariable({ component: { name: 'SmartChargingCtrlr' }, variable: { name: 'RateUnit' }, value: 'W' });
    const read = await h.csms.api.command(station.identity, 'GetVariables', {
      getVariableData: [{ component: { name: 'SmartChargingCtrlr' }, variable: { name: 'RateUnit' } }],
    });
    expect(read.status, read.text).toBe(200);
    const session = await charging(station);
    const dcNeeds = { requestedEnergyTransfer: 'DC', dcChargingParameters: { evMaxCurrent: 125, evMaxVoltage: 400, evMaxPower: 50000 } };
    const mark = station.mark();
    expect(await station.call('NotifyEVChargingNeeds', { evseId: 1, chargingNeeds: dcNeeds })).toEqual({ status: 'Accepted' });
    const profile = expectTxProfile(await station.waitForCall('SetChargingProfile', { afterSeq: mark }), session);
    expect(profile.chargingSchedule[0]).toMatchObject({ chargingRateUnit: 'W', chargingSchedulePeriod: [{ startPeriod: 0, limit: 50000 }] });
    // 100 A at 400 V… is compared unit-aware: 16 A on three phases at 230 V is 11 040 W, within 50 kW.
    expect(await station.call('NotifyEVChargingSchedule', evSchedule(16, 'A'))).toEqual({ status: 'Accepted' });
    expect(await station.call('NotifyEVChargingSchedule', evSchedule(60000, 'W'))).toEqual({ status: 'Rejected' });
  });

  it('TC_K_55: an EV schedule above the limit is Rejected, the profile is sent again without operator action, the next equal one is Accepted', async () => {
    const station = await h.csms.bootedStation({ prefix: 'K55' });
    const session = await charging(station);
    const mark = station.mark();
    expect(await station.call('NotifyEVChargingNeeds', { evseId: 1, chargingNeeds: AC_NEEDS })).toEqual({ status: 'Accepted' });
    const first = expectTxProfile(await station.waitForCall('SetChargingProfile', { afterSeq: mark }), session);
    const afterFirst = station.mark();
    expect(await station.call('NotifyEVChargingSchedule', evSchedule(20))).toEqual({ status: 'Rejected' });
    await session.next('ChargingStateChanged', { chargingState: 'Charging' });
    const second = expectTxProfile(await station.waitForCall('SetChargingProfile', { afterSeq: afterFirst }), session);
    expect(second).toEqual(first);
    expect(await station.call('NotifyEVChargingSchedule', evSchedule(16))).toEqual({ status: 'Accepted' });
    await sleep(QUIET_MS);
    expect(station.callsOf('SetChargingProfile').filter((c) => c.seq > mark)).toHaveLength(2);
  });

  it('errata 2025-06: an EV that keeps exceeding the same profile is Rejected each time but renegotiated only once', async () => {
    const station = await h.csms.bootedStation({ prefix: 'K55L' });
    const session = await charging(station);
    const mark = station.mark();
    await station.call('NotifyEVChargingNeeds', { evseId: 1, chargingNeeds: AC_NEEDS });
    await station.waitForCall('SetChargingProfile', { afterSeq: mark });
    const afterFirst = station.mark();
    expect(await station.call('NotifyEVChargingSchedule', evSchedule(20))).toEqual({ status: 'Rejected' });
    await station.waitForCall('SetChargingProfile', { afterSeq: afterFirst });
    expect(await station.call('NotifyEVChargingSchedule', evSchedule(20))).toEqual({ status: 'Rejected' });
    expect(await station.call('NotifyEVChargingSchedule', evSchedule(24))).toEqual({ status: 'Rejected' });
    await sleep(QUIET_MS);
    expect(station.callsOf('SetChargingProfile').filter((c) => c.seq > mark)).toHaveLength(2);
    expect(session.transactionId).toBeTruthy();
  });

  it('TC_K_55 (period by period): a later period above a stepped CSMS schedule is Rejected; one within every period is Accepted', async () => {
    const station = await h.csms.bootedStation({ prefix: 'K55P' });
    const session = await charging(station);
    const res = await h.csms.api.request('POST', `/api/v1/stations/${encodeURIComponent(station.identity)}/charging-profiles`, {
      evseId: 1,
      chargingProfile: {
        stackLevel: 0,
        chargingProfilePurpose: 'TxProfile',
        chargingProfileKind: 'Relative',
        chargingSchedule: [
          {
            id: 1,
            chargingRateUnit: 'A',
            chargingSchedulePeriod: [
              { startPeriod: 0, limit: 16 },
              { startPeriod: 600, limit: 8 },
            ],
          },
        ],
      },
    });
    expect(res.status, res.text).toBe(201);
    const timeBase = new Date().toISOString();
    const ev = (periods: { startPeriod: number; limit: number }[]): Payload => ({
      evseId: 1,
      timeBase,
      chargingSchedule: { id: 1, chargingRateUnit: 'A', chargingSchedulePeriod: periods },
    });
    expect(
      await station.call(
        'NotifyEVChargingSchedule',
        ev([
          { startPeriod: 0, limit: 16 },
          { startPeriod: 600, limit: 8 },
        ]),
      ),
    ).toEqual({ status: 'Accepted' });
    expect(
      await station.call(
        'NotifyEVChargingSchedule',
        ev([
          { startPeriod: 0, limit: 10 },
          { startPeriod: 900, limit: 12 },
        ]),
      ),
    ).toEqual({ status: 'Rejected' });
    expect(session.transactionId).toBeTruthy();
  });

  it('TC_K_57: new needs from the EV lead to a new TxProfile for them; the equal EV schedule is Accepted', async () => {
    const station = await h.csms.bootedStation({ prefix: 'K57' });
    const session = await charging(station);
    let mark = station.mark();
    await station.call('NotifyEVChargingNeeds', { evseId: 1, chargingNeeds: AC_NEEDS });
    await station.waitForCall('SetChargingProfile', { afterSeq: mark });
    expect(await station.call('NotifyEVChargingSchedule', evSchedule(16))).toEqual({ status: 'Accepted' });

    mark = station.mark();
    const renewed = { ...AC_NEEDS, acChargingParameters: { ...AC_NEEDS.acChargingParameters, evMaxCurrent: 24 } };
    expect(await station.call('NotifyEVChargingNeeds', { evseId: 1, chargingNeeds: renewed })).toEqual({ status: 'Accepted' });
    const profile = expectTxProfile(await station.waitForCall('SetChargingProfile', { afterSeq: mark }), session);
    expect(profile.chargingSchedule[0]?.chargingSchedulePeriod).toEqual([{ startPeriod: 0, limit: 24 }]);
    expect(await station.call('NotifyEVChargingSchedule', evSchedule(24))).toEqual({ status: 'Accepted' });
  });

  it('TC_K_58: the operator’s TxProfile is the CSMS renegotiation; the EV schedule equal to it is Accepted, one above it Rejected', async () => {
    const station = await h.csms.bootedStation({ prefix: 'K58' });
    const session = await charging(station);
    let mark = station.mark();
    await station.call('NotifyEVChargingNeeds', { evseId: 1, chargingNeeds: AC_NEEDS });
    const isoProfile = profileOf(await station.waitForCall('SetChargingProfile', { afterSeq: mark }));
    expect(await station.call('NotifyEVChargingSchedule', evSchedule(16))).toEqual({ status: 'Accepted' });

    mark = station.mark();
    // The operator replaces the CSMS's profile of the transaction (same id, K01.FR.05) with a lower limit.
    const res = await h.csms.api.request('POST', `/api/v1/stations/${encodeURIComponent(station.identity)}/charging-profiles`, {
      evseId: 1,
      chargingProfile: {
        id: isoProfile.id,
        stackLevel: isoProfile.stackLevel,
        chargingProfilePurpose: 'TxProfile',
        chargingProfileKind: 'Relative',
        transactionId: session.transactionId,
        chargingSchedule: [{ id: 1, chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 10 }] }],
      },
    });
    expect(res.status, res.text).toBe(201);
    expectTxProfile(await station.waitForCall('SetChargingProfile', { afterSeq: mark }), session);
    expect(await station.call('NotifyEVChargingSchedule', evSchedule(10))).toEqual({ status: 'Accepted' });
    // A later EV schedule is compared with the operator's limit, not the first one the CSMS set.
    expect(await station.call('NotifyEVChargingSchedule', evSchedule(12))).toEqual({ status: 'Rejected' });
    await station.waitForCall('SetChargingProfile', { afterSeq: mark, where: () => station.callsOf('SetChargingProfile').filter((c) => c.seq > mark).length === 2 });
    await sleep(QUIET_MS);
    expect(station.callsOf('SetChargingProfile').filter((c) => c.seq > mark)).toHaveLength(2);
  });

  it('TC_K_59: after the operator’s TxProfile the station resends the needs; the CSMS sends a TxProfile again on its own', async () => {
    const station = await h.csms.bootedStation({ prefix: 'K59' });
    const session = await charging(station);
    let mark = station.mark();
    const res = await h.csms.api.request('POST', `/api/v1/stations/${encodeURIComponent(station.identity)}/charging-profiles`, {
      evseId: 1,
      chargingProfile: {
        stackLevel: 1,
        chargingProfilePurpose: 'TxProfile',
        chargingProfileKind: 'Relative',
        chargingSchedule: [{ id: 1, chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 20 }] }],
      },
    });
    expect(res.status, res.text).toBe(201);
    const operator = expectTxProfile(await station.waitForCall('SetChargingProfile', { afterSeq: mark }), session);

    mark = station.mark();
    expect(await station.call('NotifyEVChargingNeeds', { evseId: 1, chargingNeeds: AC_NEEDS })).toEqual({ status: 'Accepted' });
    const again = expectTxProfile(await station.waitForCall('SetChargingProfile', { afterSeq: mark }), session);
    // The operator's profile, kept under the EV's 16 A maximum, replaces itself (same id and stack level).
    expect(again.id).toBe(operator.id);
    expect(again.stackLevel).toBe(1);
    expect(again.chargingSchedule[0]?.chargingSchedulePeriod).toEqual([{ startPeriod: 0, limit: 16 }]);
    expect(await station.call('NotifyEVChargingSchedule', evSchedule(16))).toEqual({ status: 'Accepted' });
  });

  it('TC_K_59 after a remote start: the TxProfile that came with RequestStartTransaction goes again, now naming the transaction', async () => {
    const token = await registerIdToken(h.csms.api, newIdToken('eMAID'));
    const station = await h.csms.bootedStation({ prefix: 'K59R' });
    const chargingProfile = {
      id: 59,
      stackLevel: 0,
      chargingProfilePurpose: 'TxProfile',
      chargingProfileKind: 'Relative',
      chargingSchedule: [{ id: 1, chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 12 }] }],
    };
    const res = await h.csms.api.command(station.identity, 'RequestStartTransaction', { idToken: token, evseId: 1, chargingProfile });
    expect(res.status, res.text).toBe(200);
    const session = new ChargingSession(station);
    await session.event('Started', 'RemoteStart', { remoteStartId: res.body.request.remoteStartId as number, idToken: token, evse: true });
    const mark = station.mark();
    expect(await station.call('NotifyEVChargingNeeds', { evseId: 1, chargingNeeds: AC_NEEDS })).toEqual({ status: 'Accepted' });
    const again = expectTxProfile(await station.waitForCall('SetChargingProfile', { afterSeq: mark }), session);
    expect(again).toEqual({ ...chargingProfile, transactionId: session.transactionId });
    expect(await station.call('NotifyEVChargingSchedule', evSchedule(12))).toEqual({ status: 'Accepted' });
    expect(await station.call('NotifyEVChargingSchedule', evSchedule(13))).toEqual({ status: 'Rejected' });
  });

  it('needs outside a transaction are kept and Accepted, and no profile is sent', async () => {
    const station = await h.csms.bootedStation({ prefix: 'K15x' });
    const mark = station.mark();
    expect(await station.call('NotifyEVChargingNeeds', { evseId: 1, chargingNeeds: AC_NEEDS })).toEqual({ status: 'Accepted' });
    expect(await station.call('NotifyEVChargingSchedule', evSchedule(40))).toEqual({ status: 'Accepted' });
    await sleep(QUIET_MS);
    expect(station.callsOf('SetChargingProfile').filter((c) => c.seq > mark)).toHaveLength(0);
  });

  it('TC_K_53 at a managed site: the TxProfile the needs bring is the site’s share, capped by the EV maximum', async () => {
    const station = await h.csms.bootedStation({ prefix: 'K53S' });
    const siteId = `iso-${station.identity}`.toLowerCase();
    const put = await h.csms.api.request('PUT', `/api/v1/sites/${siteId}`, { limit: { value: 40, unit: 'A' }, phases: 3, voltage: 230, stations: [station.identity] });
    expect(put.status, put.text).toBe(201);
    await station.waitForCall('SetChargingProfile', { where: (p) => (p.chargingProfile as SentProfile).chargingProfilePurpose === 'TxDefaultProfile' });
    const session = await charging(station);
    // The site gives the lone session its EVSE maximum (32 A) first.
    await station.waitForCall('SetChargingProfile', { where: (p) => (p.chargingProfile as SentProfile).chargingProfilePurpose === 'TxProfile' });
    const mark = station.mark();
    expect(await station.call('NotifyEVChargingNeeds', { evseId: 1, chargingNeeds: AC_NEEDS })).toEqual({ status: 'Accepted' });
    const profile = expectTxProfile(await station.waitForCall('SetChargingProfile', { afterSeq: mark }), session);
    expect(profile.chargingSchedule[0]?.chargingSchedulePeriod[0]?.limit).toBe(16);
    expect(await station.call('NotifyEVChargingSchedule', evSchedule(16))).toEqual({ status: 'Accepted' });
    await sleep(QUIET_MS);
    expect(station.callsOf('SetChargingProfile').filter((c) => c.seq > mark)).toHaveLength(1);
    // TC_K_59 at a site: the same needs again, the share did not move, yet the EV gets its TxProfile again.
    const resent = station.mark();
    expect(await station.call('NotifyEVChargingNeeds', { evseId: 1, chargingNeeds: AC_NEEDS })).toEqual({ status: 'Accepted' });
    const again = expectTxProfile(await station.waitForCall('SetChargingProfile', { afterSeq: resent }), session);
    expect(again.chargingSchedule[0]?.chargingSchedulePeriod[0]?.limit).toBe(16);
    expect((await h.csms.api.request('DELETE', `/api/v1/sites/${siteId}`)).status).toBeLessThan(300);
  });
});
