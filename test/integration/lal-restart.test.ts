/**
 * DRV-LAL-01: local-list versions are the CSMS's, increasing and never reused per station, across a restart of
 * the CSMS; and a list left Pending by a restart is brought to the station when it reconnects.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startTestCsms, type TestCsms } from '../support/csms.js';
import { freshPostgresDatabaseUrl } from '../support/services.js';
import { waitFor } from '../support/station.js';

const running: TestCsms[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((csms) => csms.stop()));
});

async function start(databaseUrl: string): Promise<TestCsms> {
  const csms = await startTestCsms({ DATABASE_URL: databaseUrl, CSMS_CALL_TIMEOUT_MS: 3000 });
  running.push(csms);
  return csms;
}

const entry = (n: number) => ({ idToken: { idToken: `R${n}`, type: 'Central' }, idTokenInfo: { status: 'Accepted' } });

describe('local list versions across a restart (DRV-LAL-01)', () => {
  it('three updates, a restart, a fourth: strictly increasing versions, the station told each', async () => {
    const databaseUrl = await freshPostgresDatabaseUrl();
    let csms = await start(databaseUrl);
    const creds = await csms.register({ prefix: 'lalr' });
    let station = await csms.connect(creds);
    await station.booted();
    const seen: number[] = [];
    const answer = (s: typeof station): void => {
      s.onCall('GetLocalListVersion', () => ({ versionNumber: seen.at(-1) ?? 0 }));
      s.onCall('SendLocalList', (payload) => {
        seen.push(payload.versionNumber as number);
        return { status: 'Accepted' };
      });
    };
    answer(station);
    const path = `/api/v1/stations/${creds.identity}/local-list`;
    const versions: number[] = [];
    for (const n of [1, 2, 3]) {
      const res = await csms.api.request<{ version: number }>('PATCH', path, { upsert: [entry(n)] });
      expect(res.status).toBe(202);
      versions.push(res.body.version);
      await waitFor(() => seen.at(-1) === res.body.version, { what: `version ${res.body.version} on the station` });
    }

    await csms.closeStations();
    await csms.stop();
    running.splice(running.indexOf(csms), 1);
    csms = await start(databaseUrl);

    const fourth = await csms.api.request<{ version: number; syncStatus: string }>('PATCH', path, { upsert: [entry(4)] });
    expect(fourth.status).toBe(202);
    expect(fourth.body.syncStatus).toBe('Pending');
    versions.push(fourth.body.version);
    for (let i = 1; i < versions.length; i++) expect(versions[i]).toBeGreaterThan(versions[i - 1] as number);

    station = await csms.connect(creds);
    answer(station);
    await station.booted();
    await waitFor(async () => (await csms.api.request<{ syncStatus: string; version: number }>('GET', path)).body.syncStatus === 'InSync', {
      what: 'in sync after the restart',
    });
    expect(seen.at(-1)).toBe(fourth.body.version);
    expect(new Set(seen).size).toBe(seen.length);
  });
});
