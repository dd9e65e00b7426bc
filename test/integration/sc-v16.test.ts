/**
 * Charging profiles of a 1.6 station (CONTRACT §3.1: the §8 resources sent as the 1.6 messages): the profile resource
 * sends the 1.6 SetChargingProfile / ClearChargingProfile of the same profile; the raw 1.6 commands are checked by the
 * same validator (without the rules 1.6 does not have) and listed like 2.0.1 profiles.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { withCsms } from '../support/csms.js';
import { Station16 } from '../support/station16.js';
import { randomPassword, uniqueIdentity } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 3000 });
const opened: Station16[] = [];

afterEach(async () => {
  for (const station of opened.splice(0)) await station.close();
});

async function booted16(): Promise<Station16> {
  const identity = uniqueIdentity('SC16');
  const password = randomPassword();
  expect((await h.csms.api.putStation(identity, { securityProfile: 1, password, bootPolicy: 'Accepted' })).status).toBe(201);
  const station = await Station16.connect({ url: h.csms.ocppUrl, identity, password });
  opened.push(station);
  await station.booted(1);
  return station;
}

const path = (station: Station16, rest = ''): string => `/api/v1/stations/${encodeURIComponent(station.identity)}/charging-profiles${rest}`;

describe('Charging profiles of a 1.6 station', () => {
  it('the profile resource sends the 1.6 SetChargingProfile of the same profile, lists it, and clears it with the 1.6 ClearChargingProfile', async () => {
    const station = await booted16();
    const chargingProfile = {
      id: 31,
      stackLevel: 1,
      chargingProfilePurpose: 'ChargingStationMaxProfile',
      chargingProfileKind: 'Absolute',
      chargingSchedule: [{ id: 1, startSchedule: new Date().toISOString(), chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 16 }] }],
    };
    const res = await h.csms.api.request<Record<string, unknown>>('POST', path(station), { evseId: 0, chargingProfile });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ evseId: 0, source: 'CSMS', status: 'Accepted', chargingProfile });
    const sent = await station.waitForCall('SetChargingProfile');
    expect(sent).toEqual({
      connectorId: 0,
      csChargingProfiles: {
        chargingProfileId: 31,
        stackLevel: 1,
        chargingProfilePurpose: 'ChargePointMaxProfile',
        chargingProfileKind: 'Absolute',
        chargingSchedule: {
          startSchedule: chargingProfile.chargingSchedule[0]?.startSchedule,
          chargingRateUnit: 'A',
          chargingSchedulePeriod: [{ startPeriod: 0, limit: 16 }],
        },
      },
    });
    const list = await h.csms.api.request<{ items: { chargingProfile: { id: number }; status: string }[] }>('GET', path(station));
    expect(list.body.items).toEqual([
      expect.objectContaining({ status: 'Accepted', chargingProfile: expect.objectContaining({ id: 31, chargingProfilePurpose: 'ChargingStationMaxProfile' }) }),
    ]);

    const del = await h.csms.api.request('DELETE', path(station, '/31'));
    expect(del.status, del.text).toBe(200);
    expect(await station.waitForCall('ClearChargingProfile')).toEqual({ id: 31 });
    expect((await h.csms.api.request<{ items: unknown[] }>('GET', path(station))).body.items).toEqual([]);
  });

  it('DRV-SC-01 on the 1.6 raw path: periods must start at 0 and ascend; a ChargePointMaxProfile is for connector 0', async () => {
    const station = await booted16();
    const profile = (periods: { startPeriod: number; limit: number }[], purpose = 'TxDefaultProfile') => ({
      chargingProfileId: 5,
      stackLevel: 0,
      chargingProfilePurpose: purpose,
      chargingProfileKind: 'Absolute',
      chargingSchedule: { chargingRateUnit: 'A', chargingSchedulePeriod: periods },
    });
    const late = await h.csms.api.command(station.identity, 'SetChargingProfile', { connectorId: 1, csChargingProfiles: profile([{ startPeriod: 60, limit: 6 }]) });
    expect(late.status).toBe(400);
    expect((late.body.error as { details?: { rule?: string } }).details?.rule).toBe('K01.FR.31');
    const max = await h.csms.api.command(station.identity, 'SetChargingProfile', {
      connectorId: 1,
      csChargingProfiles: profile([{ startPeriod: 0, limit: 6 }], 'ChargePointMaxProfile'),
    });
    expect(max.status).toBe(400);
    expect((max.body.error as { details?: { rule?: string } }).details?.rule).toBe('K01.FR.38');
    // 1.6 allows an Absolute profile without startSchedule
    const ok = await h.csms.api.command(station.identity, 'SetChargingProfile', { connectorId: 1, csChargingProfiles: profile([{ startPeriod: 0, limit: 6 }]) });
    expect(ok.status, ok.text).toBe(200);
    const list = await h.csms.api.request<{ items: { evseId: number; chargingProfile: { id: number } }[] }>('GET', path(station));
    expect(list.body.items.map((i) => [i.evseId, i.chargingProfile.id])).toEqual([[1, 5]]);
  });

  it('a 1.6 station cannot join a site yet: 400, nothing sent', async () => {
    const station = await booted16();
    const res = await h.csms.api.request<{ error: { code: string } }>('PUT', `/api/v1/sites/site16-${Date.now()}`, {
      limit: { value: 32, unit: 'A' },
      phases: 3,
      voltage: 230,
      stations: [station.identity],
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('unsupported_station');
  });
});
