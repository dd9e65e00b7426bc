/**
 * Operator REST API (CONTRACT §4) and observability (§1 /health, §5 /metrics): station CRUD, the OpenAPI document,
 * and every outcome of a command (200, 400, 404, 409, 502, 504).
 */
import { describe, expect, it } from 'vitest';
import { withCsms } from '../support/csms.js';
import { metricValue } from '../support/api.js';
import { Reply, randomPassword, sleep, uniqueIdentity, waitFor } from '../support/station.js';

const CALL_TIMEOUT_MS = 1500;
const h = withCsms({ CSMS_CALL_TIMEOUT_MS: CALL_TIMEOUT_MS });

const getOfflineThreshold = {
  getVariableData: [{ component: { name: 'OCPPCommCtrlr' }, variable: { name: 'OfflineThreshold' } }],
};

function expectErrorShape(body: unknown): void {
  expect(body).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } });
}

describe('service endpoints', () => {
  it('GET /health answers 200 {"status":"ok"}', async () => {
    const res = await h.csms.api.health();
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('GET /api/v1/openapi.json serves an OpenAPI 3.1 document describing stations and commands', async () => {
    const res = await h.csms.api.openapi();
    expect(res.status).toBe(200);
    expect(String(res.body.openapi)).toMatch(/^3\.1\./);
    const paths = Object.keys(res.body.paths ?? {});
    expect(paths.some((p) => /^\/api\/v1\/stations\/\{[^}]+\}$/.test(p))).toBe(true);
    expect(paths.some((p) => /^\/api\/v1\/stations\/\{[^}]+\}\/commands\/\{[^}]+\}$/.test(p) || p.includes('/commands/'))).toBe(true);
    expect(paths.some((p) => p.includes('/reports/'))).toBe(true);
  });

  it('GET /metrics exposes every contract metric with its type, and counts traffic', async () => {
    const station = await h.csms.bootedStation({ prefix: 'metrics' });
    await station.call('FooBar', {}).catch(() => undefined); // one CALLERROR for csms_rpc_errors_total
    await h.csms.api.command(station.identity, 'GetVariables', getOfflineThreshold);

    const text = await h.csms.api.metrics();
    const expected: Array<[string, string]> = [
      ['csms_connected_stations', 'gauge'],
      ['csms_ocpp_response_seconds', 'histogram'],
      ['csms_authorize_response_seconds', 'histogram'],
      ['csms_outbound_call_seconds', 'histogram'],
      ['csms_messages_total', 'counter'],
      ['csms_rpc_errors_total', 'counter'],
    ];
    for (const [name, type] of expected) expect(text, `# TYPE ${name} ${type}`).toMatch(new RegExp(`^# TYPE ${name} ${type}$`, 'm'));

    expect(metricValue(text, 'csms_connected_stations')).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'csms_messages_total')).toBeGreaterThan(0);
    expect(metricValue(text, 'csms_ocpp_response_seconds_count', { action: 'BootNotification' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'csms_outbound_call_seconds_count', { action: 'GetVariables', outcome: 'result' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'csms_rpc_errors_total', { code: 'NotImplemented' })).toBeGreaterThanOrEqual(1);

    // Buckets resolve 100 µs … 60 s.
    const les = [...text.matchAll(/^csms_ocpp_response_seconds_bucket\{[^}]*le="([^"]+)"/gm)]
      .map((m) => m[1])
      .filter((le) => le !== '+Inf')
      .map(Number);
    expect(Math.min(...les)).toBeLessThanOrEqual(0.0001);
    expect(Math.max(...les)).toBeGreaterThanOrEqual(60);
  });
});

describe('stations', () => {
  it('registers, reads, lists, updates and deletes a station; the password is never returned', async () => {
    const id = uniqueIdentity('crud');
    const password = randomPassword(20);
    const created = await h.csms.api.putStation(id, { securityProfile: 1, password, bootPolicy: 'Pending' });
    expect([200, 201]).toContain(created.status);
    expect(created.body).toMatchObject({ id, securityProfile: 1, bootPolicy: 'Pending', connected: false });
    expect(created.text).not.toContain(password);
    expect(created.body).not.toHaveProperty('password');

    const again = await h.csms.api.putStation(id, { securityProfile: 1, password, bootPolicy: 'Accepted' });
    expect(again.status).toBe(200);
    expect(again.body.bootPolicy).toBe('Accepted');

    const read = await h.csms.api.getStation(id);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ id, securityProfile: 1, bootPolicy: 'Accepted', connected: false });
    expect(read.text).not.toContain(password);

    const all = await h.csms.api.listStations();
    expect(all.status).toBe(200);
    expect(all.body.items.map((s) => s.id)).toContain(id);
    expect((await h.csms.api.listStations({ connected: true })).body.items.map((s) => s.id)).not.toContain(id);
    expect((await h.csms.api.listStations({ connected: false })).body.items.map((s) => s.id)).toContain(id);

    const patched = await h.csms.api.patchStation(id, { bootPolicy: 'Rejected' });
    expect(patched.status).toBe(200);
    expect(patched.body.bootPolicy).toBe('Rejected');
    expect((await h.csms.api.getStation(id)).body.bootPolicy).toBe('Rejected');

    const deleted = await h.csms.api.deleteStation(id);
    expect(deleted.status).toBe(204);
    const gone = await h.csms.api.getStation(id);
    expect(gone.status).toBe(404);
    expectErrorShape(gone.body);
  });

  it('lastSeen follows the station traffic, not only its boots', async () => {
    const station = await h.csms.bootedStation({ prefix: 'last-seen' });
    const afterBoot = Date.parse(String((await h.csms.api.getStation(station.identity)).body.lastSeen));
    await sleep(1100);
    await station.heartbeat();
    const view = await waitFor(
      async () => {
        const res = await h.csms.api.getStation(station.identity);
        return Date.parse(String(res.body.lastSeen)) > afterBoot ? res.body : undefined;
      },
      { what: 'lastSeen moved on after a Heartbeat' },
    );
    expect(Date.parse(String(view.lastSeen))).toBeGreaterThan(afterBoot);
  });

  it('lists a connected station under connected=true and disconnects it when it is deleted', async () => {
    const station = await h.csms.bootedStation({ prefix: 'del-conn' });
    await waitFor(async () => (await h.csms.api.listStations({ connected: true })).body.items.some((s) => s.id === station.identity), {
      what: 'station listed as connected',
    });
    const deleted = await h.csms.api.deleteStation(station.identity);
    expect(deleted.status).toBe(204);
    await station.waitForClose();
    expect((await h.csms.api.getStation(station.identity)).status).toBe(404);
  });

  it('rejects an invalid registration with 400 and the error shape', async () => {
    const id = uniqueIdentity('bad-reg');
    const res = await h.csms.api.request('PUT', `/api/v1/stations/${id}`, { securityProfile: 7, password: 'short' });
    expect(res.status).toBe(400);
    expectErrorShape(res.body);
    const notJson = await h.csms.api.request('PUT', `/api/v1/stations/${id}`, '{"securityProfile":', { 'Content-Type': 'application/json' });
    expect(notJson.status).toBe(400);
    expect((await h.csms.api.getStation(id)).status).toBe(404);
  });

  it('PATCH and DELETE of an unknown station answer 404', async () => {
    const id = uniqueIdentity('nobody');
    expect((await h.csms.api.patchStation(id, { bootPolicy: 'Accepted' })).status).toBe(404);
    expect((await h.csms.api.deleteStation(id)).status).toBe(404);
  });
});

describe('commands', () => {
  it('200: returns the request as sent and the station answer', async () => {
    const station = await h.csms.bootedStation({ prefix: 'cmd-200' });
    const res = await h.csms.api.command(station.identity, 'GetVariables', getOfflineThreshold);
    expect(res.status).toBe(200);
    expect(res.body.request).toEqual(getOfflineThreshold);
    const call = await station.waitForCall('GetVariables');
    expect(call.payload).toEqual(getOfflineThreshold);
    expect(res.body.response).toEqual({
      getVariableResult: [{ component: { name: 'OCPPCommCtrlr' }, variable: { name: 'OfflineThreshold' }, attributeStatus: 'Accepted', attributeValue: '60' }],
    });
  });

  it('200: assigns a requestId when it is omitted and sends the same one to the station', async () => {
    const station = await h.csms.bootedStation({ prefix: 'cmd-reqid' });
    const mark = station.mark();
    const res = await h.csms.api.command<{ requestId: number; reportBase: string }>(station.identity, 'GetBaseReport', {
      reportBase: 'ConfigurationInventory',
    });
    expect(res.status).toBe(200);
    expect(Number.isInteger(res.body.request.requestId)).toBe(true);
    const call = await station.waitForCall('GetBaseReport', { afterSeq: mark, where: (p) => p.reportBase === 'ConfigurationInventory' });
    expect(call.payload.requestId).toBe(res.body.request.requestId);
    expect(res.body.response).toEqual({ status: 'Accepted' });
  });

  it('400: rejects a payload that violates the official schema, listing the violations, and sends nothing', async () => {
    const station = await h.csms.bootedStation({ prefix: 'cmd-400' });
    const before = station.csmsCalls.length;
    const res = await h.csms.api.command(station.identity, 'Reset', { type: 'Sometime', extra: true });
    expect(res.status).toBe(400);
    expectErrorShape(res.body);
    expect(JSON.stringify(res.body.error.details ?? res.body.error.message)).toMatch(/type|extra/);
    const missing = await h.csms.api.command(station.identity, 'GetVariables', {});
    expect(missing.status).toBe(400);
    await station.heartbeat();
    expect(station.csmsCalls.slice(before).filter((c) => c.action === 'Reset' || c.action === 'GetVariables')).toEqual([]);
  });

  it('404: refuses a command to an unknown station', async () => {
    const res = await h.csms.api.command(uniqueIdentity('ghost'), 'Reset', { type: 'Immediate' });
    expect(res.status).toBe(404);
    expectErrorShape(res.body);
  });

  it('409: refuses a command to a registered station that is not connected', async () => {
    const { identity } = await h.csms.register({ prefix: 'cmd-409' });
    const res = await h.csms.api.command(identity, 'Reset', { type: 'Immediate' });
    expect(res.status).toBe(409);
    expectErrorShape(res.body);
  });

  it('409: refuses a command a Rejected station may not receive', async () => {
    const station = await h.csms.newStation({ prefix: 'cmd-409r', bootPolicy: 'Rejected' });
    await station.boot({ expect: 'Rejected' });
    const res = await h.csms.api.command(station.identity, 'Reset', { type: 'Immediate' });
    expect(res.status).toBe(409);
    expect(station.callsOf('Reset')).toEqual([]);
  });

  it('502: reports the OCPP error code of a station CALLERROR', async () => {
    const station = await h.csms.bootedStation({ prefix: 'cmd-502' });
    station.onCall('UnlockConnector', () => Reply.error('GenericError', 'jammed', { reason: 'test' }));
    const res = await h.csms.api.command(station.identity, 'UnlockConnector', { evseId: 1, connectorId: 1 });
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('GenericError');
  });

  it('504: times out when the station does not answer, and the next command still works', async () => {
    const station = await h.csms.bootedStation({ prefix: 'cmd-504' });
    station.onCall('ChangeAvailability', () => Reply.none);
    const res = await h.csms.api.command(station.identity, 'ChangeAvailability', { operationalStatus: 'Inoperative', evse: { id: 1 } });
    expect(res.status).toBe(504);
    expectErrorShape(res.body);
    const next = await h.csms.api.command(station.identity, 'ClearCache', {});
    expect(next.status).toBe(200);
    expect(next.body.response).toEqual({ status: 'Accepted' });
  });

  it('504: counts time spent queued behind an unanswered CALL of the same station', async () => {
    const station = await h.csms.bootedStation({ prefix: 'cmd-504q' });
    const T = CALL_TIMEOUT_MS;
    station.onCall('ChangeAvailability', () => Reply.none);
    const first = h.csms.api.command(station.identity, 'ChangeAvailability', { operationalStatus: 'Inoperative', evse: { id: 1 } });
    await station.waitForCall('ChangeAvailability');
    await sleep(T / 2);
    // Issued at ~T/2, so its deadline is ~1.5T. It can only go out at ~T (when the first CALL times out); the
    // station answers 0.75T later, i.e. at ~1.75T: too late if queued time counts (contract), in time if it did not.
    station.onCall('ClearCache', async () => {
      await sleep(T * 0.75);
      return { status: 'Accepted' };
    });
    const second = h.csms.api.command(station.identity, 'ClearCache', {});
    const [r1, r2] = await Promise.all([first, second]);
    expect(r1.status).toBe(504);
    expect(r2.status).toBe(504);
  });
});
