/**
 * Local Authorization List management (CONTRACT §8.1; catalogue §4 "Local Authorization List Management" and §10.1
 * DRV-LAL): the operator states the list a station should hold, and the CSMS brings the station there with
 * GetLocalListVersion and SendLocalList — Full or Differential, split to the station's limits, with versions of its
 * own — and keeps it there after VersionMismatch, Failed, register changes and reboots.
 */
import { describe, expect, it } from 'vitest';
import { ChargingSession, newIdToken, registerIdToken } from '../support/charging.js';
import { withCsms, type TestCsms } from '../support/csms.js';
import { Station16 } from '../support/station16.js';
import { randomPassword, uniqueIdentity, waitFor, type Payload, type TestStation } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 3000 });

interface ListView {
  entries: Payload[];
  version: number | null;
  stationVersion: number | null;
  syncStatus: 'InSync' | 'Pending' | 'Failed';
  lastError: { message: string } | null;
  managed: boolean;
}

type Entry = { idToken: { idToken: string; type: string }; idTokenInfo?: Payload };

/** What the station holds, kept the way D01.FR.15–19 describe it; every SendLocalList it got, in order. */
class StationList {
  version = 0;
  entries = new Map<string, Payload | undefined>();
  received: Payload[] = [];
  /** Answers other than Accepted, by position of the SendLocalList (0-based). */
  answers = new Map<number, string>();

  constructor(station: TestStation) {
    station.onCall('GetLocalListVersion', () => ({ versionNumber: this.version }));
    station.onCall('SendLocalList', (payload) => {
      const index = this.received.length;
      this.received.push(payload);
      const answer = this.answers.get(index);
      if (answer !== undefined) return { status: answer };
      const versionNumber = payload.versionNumber as number;
      const list = (payload.localAuthorizationList ?? []) as Entry[];
      if (payload.updateType === 'Differential') {
        // D01.FR.19: a Differential must move the version up.
        if (versionNumber <= this.version) return { status: 'VersionMismatch' };
      } else {
        this.entries.clear();
      }
      for (const e of list) {
        const key = `${e.idToken.type}:${e.idToken.idToken}`;
        if (e.idTokenInfo === undefined) this.entries.delete(key);
        else this.entries.set(key, e.idTokenInfo);
      }
      this.version = versionNumber;
      return { status: 'Accepted' };
    });
  }
}

const path = (id: string): string => `/api/v1/stations/${encodeURIComponent(id)}/local-list`;
const card = (n: number | string, status = 'Accepted'): Entry => ({ idToken: { idToken: `CARD${n}`, type: 'ISO14443' }, idTokenInfo: { status } });

function putList(csms: TestCsms, id: string, entries: Entry[]) {
  return csms.api.request<{ version: number; syncStatus: string } & { error?: { code: string; details?: { rule?: string } } }>('PUT', path(id), { entries });
}

function getList(csms: TestCsms, id: string) {
  return csms.api.request<ListView>('GET', path(id));
}

async function inSync(csms: TestCsms, id: string, version?: number): Promise<ListView> {
  return waitFor(
    async () => {
      const view = (await getList(csms, id)).body;
      return view.syncStatus === 'InSync' && (version === undefined || view.version === version) && view;
    },
    { what: `${id}'s local list in sync` },
  );
}

async function syncedStation(entries: Entry[] = [card(1), card(2)]): Promise<{ station: TestStation; list: StationList; version: number }> {
  const station = await h.csms.bootedStation({ prefix: 'lal' });
  const list = new StationList(station);
  const put = await putList(h.csms, station.identity, entries);
  expect(put.status).toBe(202);
  await inSync(h.csms, station.identity, put.body.version);
  return { station, list, version: put.body.version };
}

describe('SendLocalList (D01)', () => {
  it('TC_D_01: a list is sent as a Full with every idTokenInfo, once the station said what it holds', async () => {
    const station = await h.csms.bootedStation({ prefix: 'lal' });
    const list = new StationList(station);
    list.version = 1;
    const put = await putList(h.csms, station.identity, [card(1), card(2), { idToken: { idToken: 'KEY-7', type: 'KeyCode' }, idTokenInfo: { status: 'Blocked' } }]);
    expect(put.status).toBe(202);
    expect(put.body.version).toBeGreaterThan(0);
    const view = await inSync(h.csms, station.identity, put.body.version);

    expect(station.callsOf('GetLocalListVersion')).toHaveLength(1);
    expect(list.received).toHaveLength(1);
    const sent = list.received[0] as { updateType: string; versionNumber: number; localAuthorizationList: Entry[] };
    expect(sent.updateType).toBe('Full');
    expect(sent.versionNumber).toBe(put.body.version);
    expect(sent.localAuthorizationList).toHaveLength(3);
    expect(sent.localAuthorizationList.every((e) => e.idTokenInfo !== undefined)).toBe(true);
    expect(new Set(sent.localAuthorizationList.map((e) => e.idToken.idToken)).size).toBe(3);
    expect(view).toMatchObject({ version: put.body.version, stationVersion: put.body.version, lastError: null, managed: true });
    expect(list.version).toBe(put.body.version);
  });

  it('TC_D_02: an added entry goes out as a Differential above the station’s version, with its idTokenInfo', async () => {
    const { station, list, version } = await syncedStation();
    const patch = await h.csms.api.request<{ version: number }>('PATCH', path(station.identity), { upsert: [card(3), card(1, 'Blocked')] });
    expect(patch.status).toBe(202);
    expect(patch.body.version).toBeGreaterThan(version);
    await inSync(h.csms, station.identity, patch.body.version);
    const sent = list.received.at(-1) as { updateType: string; versionNumber: number; localAuthorizationList: Entry[] };
    expect(sent.updateType).toBe('Differential');
    expect(sent.versionNumber).toBe(patch.body.version);
    expect(sent.localAuthorizationList.map((e) => [e.idToken.idToken, e.idTokenInfo?.status]).sort()).toEqual([
      ['CARD1', 'Blocked'],
      ['CARD3', 'Accepted'],
    ]);
    expect([...list.entries.keys()].sort()).toEqual(['ISO14443:CARD1', 'ISO14443:CARD2', 'ISO14443:CARD3']);
  });

  it('TC_D_03: a removal is a Differential entry without idTokenInfo', async () => {
    const { station, list, version } = await syncedStation();
    const patch = await h.csms.api.request<{ version: number }>('PATCH', path(station.identity), { remove: [{ idToken: 'card2', type: 'ISO14443' }] });
    expect(patch.status).toBe(202);
    await inSync(h.csms, station.identity, patch.body.version);
    const sent = list.received.at(-1) as { updateType: string; versionNumber: number; localAuthorizationList: Entry[] };
    expect(sent).toEqual({
      updateType: 'Differential',
      versionNumber: patch.body.version,
      localAuthorizationList: [{ idToken: { idToken: 'CARD2', type: 'ISO14443' } }],
    });
    expect(sent.versionNumber).toBeGreaterThan(version);
    expect([...list.entries.keys()]).toEqual(['ISO14443:CARD1']);
    expect((await getList(h.csms, station.identity)).body.entries).toHaveLength(1);
  });

  it('TC_D_04: an empty list is a Full without localAuthorizationList (never [])', async () => {
    const { station, list, version } = await syncedStation();
    const put = await putList(h.csms, station.identity, []);
    expect(put.status).toBe(202);
    await inSync(h.csms, station.identity, put.body.version);
    expect(list.received.at(-1)).toEqual({ versionNumber: put.body.version, updateType: 'Full' });
    expect(list.entries.size).toBe(0);
    expect(list.version).toBe(put.body.version);
    expect(put.body.version).toBeGreaterThan(version);
  });

  it('TC_D_04: a station that never held a list is emptied with a Full that has no list at all', async () => {
    const station = await h.csms.bootedStation({ prefix: 'lal' });
    const list = new StationList(station);
    const put = await putList(h.csms, station.identity, []);
    await inSync(h.csms, station.identity, put.body.version);
    expect(list.received).toEqual([{ versionNumber: put.body.version, updateType: 'Full' }]);
  });

  it('D01.FR.06 / DRV-LAL-07/08: duplicates, NoAuthorization, bad idTokenInfo and unregistered register entries are refused before anything is sent', async () => {
    const station = await h.csms.bootedStation({ prefix: 'lal' });
    const list = new StationList(station);
    const dup = await putList(h.csms, station.identity, [card('aa'), card('AA')]);
    expect(dup.status).toBe(400);
    expect(dup.body.error?.details?.rule).toBe('D01.FR.06');
    const noAuth = await putList(h.csms, station.identity, [{ idToken: { idToken: '', type: 'NoAuthorization' }, idTokenInfo: { status: 'Accepted' } }]);
    expect(noAuth.status).toBe(400);
    const badInfo = await putList(h.csms, station.identity, [{ idToken: { idToken: 'X1', type: 'Central' }, idTokenInfo: { status: 'Maybe' } }]);
    expect(badInfo.status).toBe(400);
    expect(badInfo.body.error?.details?.rule).toBe('SendLocalListRequest schema');
    const unregistered = await putList(h.csms, station.identity, [{ idToken: { idToken: 'NOBODY', type: 'Central' } }]);
    expect(unregistered.status).toBe(400);
    expect(unregistered.body.error?.code).toBe('id_token_not_registered');
    expect((await putList(h.csms, 'no-such-station', [])).status).toBe(404);
    expect(list.received).toHaveLength(0);
    expect((await getList(h.csms, station.identity)).body).toMatchObject({ managed: false, version: null });
  });
});

describe('GetLocalListVersion (D02)', () => {
  it('TC_D_08: the version the station reports through the commands endpoint is kept and shown', async () => {
    const station = await h.csms.bootedStation({ prefix: 'lal' });
    station.onCall('GetLocalListVersion', () => ({ versionNumber: 17 }));
    const res = await h.csms.api.request<{ response: { versionNumber: number } }>('POST', `/api/v1/stations/${station.identity}/commands/GetLocalListVersion`, {});
    expect(res.status).toBe(200);
    expect(station.callsOf('GetLocalListVersion')[0]?.payload).toEqual({});
    expect((await getList(h.csms, station.identity)).body).toMatchObject({ stationVersion: 17, managed: false });
  });

  it('TC_D_09 / DRV-LAL-04: a station that answers 0 (no list) gets a Full of the whole list with a new version, never 0', async () => {
    const { station, list, version } = await syncedStation([card(1), card(2), card(3)]);
    list.version = 0;
    list.entries.clear();
    const before = list.received.length;
    const res = await h.csms.api.request('POST', `/api/v1/stations/${station.identity}/commands/GetLocalListVersion`, {});
    expect(res.status).toBe(200);
    await waitFor(() => list.received.length > before && list.version > 0, { what: 'the Full after version 0' });
    const view = await inSync(h.csms, station.identity);
    const sent = list.received.at(-1) as { updateType: string; versionNumber: number; localAuthorizationList: Entry[] };
    expect(sent.updateType).toBe('Full');
    expect(sent.versionNumber).toBeGreaterThan(version);
    expect(sent.localAuthorizationList).toHaveLength(3);
    expect(view.version).toBe(sent.versionNumber);
    expect(list.entries.size).toBe(3);
  });
});

describe('keeping the station in step (DRV-LAL)', () => {
  it('DRV-LAL-02: 2,500 entries to a station taking 100 per message: a Full, then Differentials, versions increasing, in sync after the last', async () => {
    const station = await h.csms.bootedStation({ prefix: 'lal' });
    station.setVariable({ component: { name: 'LocalAuthListCtrlr' }, variable: { name: 'ItemsPerMessage' }, value: '100' });
    station.setVariable({ component: { name: 'LocalAuthListCtrlr' }, variable: { name: 'BytesPerMessage' }, value: '60000' });
    const list = new StationList(station);
    const entries = Array.from({ length: 2500 }, (_, i) => card(i));
    const put = await putList(h.csms, station.identity, entries);
    expect(put.status).toBe(202);
    const view = await waitFor(
      async () => {
        const v = (await getList(h.csms, station.identity)).body;
        return v.syncStatus === 'InSync' && v;
      },
      { timeoutMs: 30_000, what: 'the 2,500-entry list in sync' },
    );
    expect(list.received).toHaveLength(25);
    const versions = list.received.map((p) => p.versionNumber as number);
    expect(list.received[0]?.updateType).toBe('Full');
    expect(list.received.slice(1).every((p) => p.updateType === 'Differential')).toBe(true);
    for (let i = 1; i < versions.length; i++) expect(versions[i]).toBe((versions[i - 1] as number) + 1);
    for (const p of list.received) {
      expect((p.localAuthorizationList as Entry[]).length).toBeLessThanOrEqual(100);
      expect(Buffer.byteLength(JSON.stringify(p)) + 64).toBeLessThanOrEqual(60000);
    }
    expect(view.version).toBe(versions.at(-1));
    expect(list.entries.size).toBe(2500);
  });

  it('DRV-LAL-05 / D01.FR.03: VersionMismatch to a Differential brings a Full with a higher version', async () => {
    const { station, list } = await syncedStation();
    list.answers.set(list.received.length, 'VersionMismatch');
    const patch = await h.csms.api.request<{ version: number }>('PATCH', path(station.identity), { upsert: [card(9)] });
    const view = await inSync(h.csms, station.identity);
    const [mismatched, full] = list.received.slice(-2) as [Payload, Payload & { localAuthorizationList: Entry[] }];
    expect(mismatched.updateType).toBe('Differential');
    expect(full.updateType).toBe('Full');
    expect(full.versionNumber).toBeGreaterThan(mismatched.versionNumber as number);
    expect(full.localAuthorizationList.map((e) => e.idToken.idToken).sort()).toEqual(['CARD1', 'CARD2', 'CARD9']);
    expect(view.version).toBe(full.versionNumber);
    expect(view.version).toBeGreaterThanOrEqual(patch.body.version);
  });

  it('DRV-LAL-05: Failed shows syncStatus Failed with lastError, and is not retried at once', async () => {
    const { station, list } = await syncedStation();
    list.answers.set(list.received.length, 'Failed');
    await h.csms.api.request('PATCH', path(station.identity), { upsert: [card(5)] });
    const view = await waitFor(
      async () => {
        const v = (await getList(h.csms, station.identity)).body;
        return v.syncStatus === 'Failed' && v;
      },
      { what: 'syncStatus Failed' },
    );
    expect(view.lastError?.message).toContain('Failed');
    const sent = list.received.length;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(list.received).toHaveLength(sent);
  });

  it('DRV-LAL-06: a token blocked through the id-token API reaches every list that follows it, as a Differential with a new version', async () => {
    const token = `FOLLOW${Date.now()}`;
    expect((await h.csms.api.request('PUT', `/api/v1/id-tokens/Central/${token}`, { status: 'Accepted', groupId: 'FLEET' })).status).toBe(201);
    const follower: Entry = { idToken: { idToken: token, type: 'Central' } };
    const a = await syncedStation([follower, card(1)]);
    const b = await syncedStation([follower]);
    const own = await syncedStation([{ idToken: { idToken: token, type: 'Central' }, idTokenInfo: { status: 'Accepted' } }]);
    expect((a.list.received[0]?.localAuthorizationList as Entry[])[0]?.idTokenInfo).toEqual({ status: 'Accepted', groupIdToken: { idToken: 'FLEET', type: 'Central' } });
    const ownSent = own.list.received.length;

    expect((await h.csms.api.request('PUT', `/api/v1/id-tokens/Central/${token}`, { status: 'Blocked', groupId: 'FLEET' })).status).toBe(200);
    for (const s of [a, b]) {
      await waitFor(() => s.list.entries.get(`Central:${token}`)?.status === 'Blocked', { what: 'the Blocked entry on the station' });
      const sent = s.list.received.at(-1) as { updateType: string; versionNumber: number; localAuthorizationList: Entry[] };
      expect(sent.updateType).toBe('Differential');
      expect(sent.versionNumber).toBeGreaterThan(s.version);
      expect(sent.localAuthorizationList).toEqual([
        { idToken: { idToken: token, type: 'Central' }, idTokenInfo: { status: 'Blocked', groupIdToken: { idToken: 'FLEET', type: 'Central' } } },
      ]);
      await inSync(h.csms, s.station.identity, sent.versionNumber);
    }
    // An entry given with its own idTokenInfo keeps it.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(own.list.received).toHaveLength(ownSent);
  });

  it('a register entry with an expiry and a group is sent once, and nothing more while it does not change', async () => {
    const token = `EXP${Date.now()}`;
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
    await h.csms.api.request('PUT', `/api/v1/id-tokens/Central/${token}`, { status: 'Accepted', groupId: 'EXPG', expiresAt });
    const { list } = await syncedStation([{ idToken: { idToken: token, type: 'Central' } }]);
    expect(list.received).toHaveLength(1);
    expect([...list.entries.values()]).toEqual([{ status: 'Accepted', cacheExpiryDateTime: expiresAt, groupIdToken: { idToken: 'EXPG', type: 'Central' } }]);
    // The same register entry again changes nothing on the station.
    await h.csms.api.request('PUT', `/api/v1/id-tokens/Central/${token}`, { status: 'Accepted', groupId: 'EXPG', expiresAt });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(list.received).toHaveLength(1);
  });

  it('a station that reboots mid-sync and loses its list gets the whole list again as a Full', async () => {
    const creds = await h.csms.register({ prefix: 'lal' });
    const first = await h.csms.connect(creds);
    await first.booted();
    first.setVariable({ component: { name: 'LocalAuthListCtrlr' }, variable: { name: 'ItemsPerMessage' }, value: '2' });
    const list = new StationList(first);
    list.answers.set(1, 'Failed'); // the second part never lands: the station goes down
    const put = await putList(h.csms, creds.identity, [card(1), card(2), card(3), card(4), card(5)]);
    expect(put.status).toBe(202);
    await waitFor(async () => (await getList(h.csms, creds.identity)).body.syncStatus === 'Failed', { what: 'the interrupted sync' });
    await first.close();

    const again = await h.csms.connect(creds);
    again.setVariable({ component: { name: 'LocalAuthListCtrlr' }, variable: { name: 'ItemsPerMessage' }, value: '2' });
    const fresh = new StationList(again); // rebooted: version 0, nothing held
    await again.booted();
    const view = await waitFor(
      async () => {
        const v = (await getList(h.csms, creds.identity)).body;
        return v.syncStatus === 'InSync' && v;
      },
      { timeoutMs: 10_000, what: 'the list in sync after the reboot' },
    );
    expect(again.callsOf('GetLocalListVersion').length).toBeGreaterThanOrEqual(1);
    expect(fresh.received[0]?.updateType).toBe('Full');
    expect(fresh.received.slice(1).every((p) => p.updateType === 'Differential')).toBe(true);
    expect(fresh.received).toHaveLength(3);
    expect(fresh.entries.size).toBe(5);
    expect(view.version).toBe(fresh.version);
    // Never a version used before, not even the ones of the failed attempt.
    const used = list.received.map((p) => p.versionNumber as number);
    expect(Math.min(...fresh.received.map((p) => p.versionNumber as number))).toBeGreaterThan(Math.max(...used));
  });

  it('TC_N_46 / DRV-LAL-11: customer data cleared for a token takes it out of every list holding it, as a Differential v+1 without idTokenInfo', async () => {
    const first = await syncedStation([card('N46'), card(1)]);
    const second = await syncedStation([card('N46')]);
    const res = await h.csms.api.request('POST', `/api/v1/stations/${first.station.identity}/commands/CustomerInformation`, {
      report: true,
      clear: true,
      idToken: { idToken: 'CARDN46', type: 'ISO14443' },
    });
    expect(res.status).toBe(200);
    const request = (await first.station.waitForCall('CustomerInformation')).payload;
    expect(request).not.toHaveProperty('customerIdentifier');
    expect(request).not.toHaveProperty('customerCertificate');
    await inSync(h.csms, first.station.identity, first.version + 1);
    expect(first.list.received.at(-1)).toEqual({
      versionNumber: first.version + 1,
      updateType: 'Differential',
      localAuthorizationList: [{ idToken: { idToken: 'CARDN46', type: 'ISO14443' } }],
    });
    expect([...first.list.entries.keys()]).toEqual(['ISO14443:CARD1']);
    // The other station held only that token: its list is emptied, as the 2024-11 erratum allows, by a Full without it.
    await inSync(h.csms, second.station.identity, second.version + 1);
    expect(second.list.received.at(-1)).toEqual({ versionNumber: second.version + 1, updateType: 'Full' });
    expect(second.list.entries.size).toBe(0);
  });

  it('DRV-LAL-03: changes made while the station is offline go out as one Differential after it reconnects (no boot)', async () => {
    const creds = await h.csms.register({ prefix: 'lal' });
    const online = await h.csms.connect(creds);
    await online.booted();
    const list = new StationList(online);
    const put = await putList(h.csms, creds.identity, [card(1), card(2)]);
    await inSync(h.csms, creds.identity, put.body.version);
    await online.close();

    await h.csms.api.request('PATCH', path(creds.identity), { upsert: [card(1, 'Blocked')] });
    const last = await h.csms.api.request<{ version: number }>('PATCH', path(creds.identity), { upsert: [card(2, 'Blocked')] });
    expect((await getList(h.csms, creds.identity)).body.syncStatus).toBe('Pending');

    const back = await h.csms.connect(creds);
    const held = new StationList(back);
    held.version = list.version;
    held.entries = new Map(list.entries);
    await inSync(h.csms, creds.identity, last.body.version);
    expect(back.callsOf('GetLocalListVersion')).toHaveLength(1);
    expect(held.received).toEqual([
      {
        versionNumber: last.body.version,
        updateType: 'Differential',
        localAuthorizationList: [card(1, 'Blocked'), card(2, 'Blocked')],
      },
    ]);
  });

  it('TC_C_37 / trap 7: ClearCache goes through the commands endpoint and leaves the local list as it is', async () => {
    const { station, list, version } = await syncedStation();
    const res = await h.csms.api.request<{ response: { status: string } }>('POST', `/api/v1/stations/${station.identity}/commands/ClearCache`, {});
    expect(res.status).toBe(200);
    expect(res.body.response.status).toBe('Accepted');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(list.received).toHaveLength(1);
    expect((await getList(h.csms, station.identity)).body).toMatchObject({ syncStatus: 'InSync', version });
  });

  it('roles: a viewer reads the list, only an operator changes it', async () => {
    const station = await h.csms.bootedStation({ prefix: 'lal' });
    const openapi = (await h.csms.api.openapi()).body as { paths: Record<string, Record<string, { 'x-required-role'?: string }>> };
    const ops = openapi.paths['/api/v1/stations/{id}/local-list'];
    expect(ops?.get?.['x-required-role']).toBe('viewer');
    expect(ops?.put?.['x-required-role']).toBe('operator');
    expect(ops?.patch?.['x-required-role']).toBe('operator');
    expect((await getList(h.csms, station.identity)).status).toBe(200);
  });
});

describe('GroupId with the Local Authorization List (C09)', () => {
  for (const tc of ['TC_C_40', 'TC_C_43'] as const) {
    it(`${tc}: the list carries the group of both tokens, and every answer names it, whether the station asked or used its list`, async () => {
      const group = `G${Date.now()}`.slice(0, 20);
      const valid = await registerIdToken(h.csms.api, newIdToken('ISO14443'), { status: 'Accepted', groupId: group });
      const valid2 = await registerIdToken(h.csms.api, newIdToken('ISO14443'), { status: 'Accepted', groupId: group });
      const { station, list } = await syncedStation([{ idToken: valid }, { idToken: valid2 }]);
      const groupIdToken = { idToken: group, type: 'Central' };
      expect([...list.entries.values()]).toEqual([
        { status: 'Accepted', groupIdToken },
        { status: 'Accepted', groupIdToken },
      ]);

      const tx = new ChargingSession(station);
      await tx.evConnectedPreSession();
      const started = await tx.authorized(valid, { viaCache: true });
      expect(started.response.idTokenInfo).toMatchObject({ status: 'Accepted', groupIdToken });
      await tx.energyTransferStarted();
      if (tc === 'TC_C_43') {
        // The station's entry for token 2 is not Accepted, so it asks: the CSMS answers from its own register.
        const answer = await station.authorize(valid2.idToken, valid2.type);
        expect(answer.idTokenInfo).toMatchObject({ status: 'Accepted', groupIdToken });
      }
      const stopped = await tx.stopAuthorized(valid2);
      expect(stopped.response.idTokenInfo).toMatchObject({ status: 'Accepted', groupIdToken });
      await tx.evConnectedPostSession();
      await tx.evDisconnected();
    });
  }
});

describe('OCPP 1.6 stations (CONTRACT §8.1 last bullet)', () => {
  it('get the 1.6 GetLocalListVersion and SendLocalList, with idTag, idTagInfo and parentIdTag from the group', async () => {
    const identity = uniqueIdentity('lal16');
    const password = randomPassword();
    expect((await h.csms.api.putStation(identity, { securityProfile: 1, password, bootPolicy: 'Accepted' })).status).toBe(201);
    const station = await Station16.connect({ url: h.csms.ocppUrl, identity, password });
    try {
      station.handle('GetLocalListVersion', () => ({ listVersion: 0 }));
      station.handle('SendLocalList', () => ({ status: 'Accepted' }));
      await station.booted(1);
      const token = `T16-${Date.now()}`;
      expect((await h.csms.api.request('PUT', `/api/v1/id-tokens/ISO14443/${token}`, { status: 'Accepted', groupId: 'PARENT' })).status).toBe(201);
      const put = await putList(h.csms, identity, [
        { idToken: { idToken: token, type: 'ISO14443' } },
        { idToken: { idToken: 'NOCREDIT', type: 'Central' }, idTokenInfo: { status: 'NoCredit' } },
      ]);
      expect(put.status).toBe(202);
      const sent = await station.waitForCall('SendLocalList');
      expect(await station.waitForCall('GetLocalListVersion')).toEqual({});
      expect(sent).toEqual({
        listVersion: put.body.version,
        updateType: 'Full',
        localAuthorizationList: [
          { idTag: token.toUpperCase(), idTagInfo: { status: 'Accepted', parentIdTag: 'PARENT' } },
          { idTag: 'NOCREDIT', idTagInfo: { status: 'Invalid' } },
        ],
      });
      await inSync(h.csms, identity, put.body.version);
      expect(station.problems()).toEqual([]);
    } finally {
      await station.close();
    }
  });
});
