/**
 * CONTRACT §8.7 "every command sent to a station is there": the CALLs the CSMS sends on its own — here the local list
 * sync's GetLocalListVersion and SendLocalList (catalogue DRV-LAL, D01) — are audit entries of actor `system` with
 * the action, the station and the outcome, while an operator's command stays one entry: its request's.
 */
import { describe, expect, it } from 'vitest';
import { withCsms } from '../support/csms.js';
import { Reply, waitFor } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 1000 });

interface AuditItem {
  id: number;
  actor: string;
  role: string | null;
  method: string;
  path: string;
  target: string | null;
  outcome: string;
  status: number;
  stationId: string | null;
  action: string | null;
}

async function trail(stationId: string): Promise<AuditItem[]> {
  const res = await h.csms.api.request<{ items: AuditItem[] }>('GET', `/api/v1/audit?stationId=${encodeURIComponent(stationId)}&limit=500`);
  expect(res.status).toBe(200);
  return res.body.items;
}

const card = { idToken: { idToken: 'SYSCARD1', type: 'ISO14443' }, idTokenInfo: { status: 'Accepted' } };

describe('audit of the CALLs the CSMS sends on its own', { timeout: 60_000 }, () => {
  it('DRV-LAL: the sync started by a local list PUT is audited as system, each CALL with its action and outcome', async () => {
    const station = await h.csms.bootedStation({ prefix: 'audit-sys' });
    station.onCall('GetLocalListVersion', () => ({ versionNumber: 0 }));
    station.onCall('SendLocalList', () => ({ status: 'Accepted' }));
    const put = await h.csms.api.request('PUT', `/api/v1/stations/${station.identity}/local-list`, { entries: [card] });
    expect(put.status).toBe(202);

    const sent = await waitFor(
      async () => {
        const entries = (await trail(station.identity)).filter((e) => e.actor === 'system' && e.action === 'SendLocalList');
        return entries.length > 0 && entries;
      },
      { what: 'the SendLocalList audit entry' },
    );
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      method: 'CALL',
      path: 'SendLocalList',
      target: station.identity,
      stationId: station.identity,
      outcome: 'ok',
      status: 200,
      role: null,
    });
    const items = await trail(station.identity);
    // The operator's PUT is there as itself, once; the sync's CALLs are not attributed to it.
    expect(items.filter((e) => e.path.endsWith('/local-list'))).toMatchObject([
      { actor: 'anonymous', path: `/api/v1/stations/${station.identity}/local-list`, outcome: 'ok', status: 202 },
    ]);
    expect(items.some((e) => e.actor === 'system' && e.action === 'GetLocalListVersion' && e.outcome === 'ok')).toBe(true);
  });

  it('D01: a SendLocalList answered with a CALLERROR, or not answered in time, is audited as failed (502, 504)', async () => {
    const refusing = await h.csms.bootedStation({ prefix: 'audit-sys-err' });
    const silent = await h.csms.bootedStation({ prefix: 'audit-sys-mute' });
    for (const station of [refusing, silent]) station.onCall('GetLocalListVersion', () => ({ versionNumber: 0 }));
    refusing.onCall('SendLocalList', () => Reply.error('InternalError', 'list memory busy'));
    silent.onCall('SendLocalList', () => Reply.none);
    for (const station of [refusing, silent]) {
      expect((await h.csms.api.request('PUT', `/api/v1/stations/${station.identity}/local-list`, { entries: [card] })).status).toBe(202);
    }
    const first = async (stationId: string): Promise<AuditItem> =>
      waitFor(async () => (await trail(stationId)).find((e) => e.actor === 'system' && e.action === 'SendLocalList'), { what: `${stationId}'s SendLocalList entry` });
    expect(await first(refusing.identity)).toMatchObject({ outcome: 'failed', status: 502 });
    expect(await first(silent.identity)).toMatchObject({ outcome: 'failed', status: 504 });
  });

  it("an operator's command is one entry, its request's, and never a second one as system", async () => {
    const station = await h.csms.bootedStation({ prefix: 'audit-sys-op' });
    expect((await h.csms.api.command(station.identity, 'ClearCache', {})).status).toBe(200);
    // Something the CSMS sends afterwards on its own lands after it, so waiting for it proves the trail is complete.
    station.onCall('GetLocalListVersion', () => ({ versionNumber: 0 }));
    station.onCall('SendLocalList', () => ({ status: 'Accepted' }));
    expect((await h.csms.api.request('PUT', `/api/v1/stations/${station.identity}/local-list`, { entries: [card] })).status).toBe(202);
    await waitFor(async () => (await trail(station.identity)).some((e) => e.actor === 'system' && e.action === 'SendLocalList'), { what: 'the sync entry' });
    const clearCache = (await trail(station.identity)).filter((e) => e.action === 'ClearCache');
    expect(clearCache.map((e) => [e.actor, e.method, e.outcome, e.status])).toEqual([['anonymous', 'POST', 'ok', 200]]);
  });
});
