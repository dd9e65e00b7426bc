/**
 * CONTRACT §8.7 audit trail: every state-changing request (refused ones too) and every command with its outcome,
 * newest first, filtered by actor, station and time, paged by cursor, and never a password, key, token or body.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/api.js';
import { withCsms } from '../support/csms.js';
import { createKey, createUser, login } from '../support/operators.js';
import { Reply, randomPassword, uniqueIdentity } from '../support/station.js';

const TOKEN = 'roles-audit-bootstrap-token-0123456789';
const h = withCsms({ CSMS_API_TOKEN: TOKEN, CSMS_CALL_TIMEOUT_MS: 1000 });

interface AuditItem {
  id: number;
  at: string;
  actor: string;
  role: string | null;
  method: string;
  path: string;
  target: string | null;
  outcome: 'ok' | 'denied' | 'rejected' | 'failed';
  status: number;
  stationId: string | null;
  action: string | null;
}

async function audit(query: string): Promise<{ items: AuditItem[]; next: string | null; text: string }> {
  const res = await h.csms.api.request<{ items: AuditItem[]; next: string | null }>('GET', `/api/v1/audit${query}`);
  expect(res.status).toBe(200);
  return { ...res.body, text: res.text };
}

async function allPages(query: string, limit: number): Promise<{ items: AuditItem[]; text: string }> {
  const items: AuditItem[] = [];
  let text = '';
  let cursor: string | null = null;
  do {
    const page = await audit(`?limit=${limit}${query}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
    items.push(...page.items);
    text += page.text;
    cursor = page.next;
  } while (cursor !== null);
  return { items, text };
}

describe('the audit trail', { timeout: 60_000 }, () => {
  let registrar: ApiClient;
  let operator: ApiClient;
  beforeAll(async () => {
    registrar = new ApiClient(h.csms.apiUrl, (await createKey(h.csms.api, 'registrar', 'admin')).key);
    operator = new ApiClient(h.csms.apiUrl, (await createKey(h.csms.api, 'night-shift', 'operator')).key);
  });

  it('records registration changes with actor, target and outcome, and refused ones too', async () => {
    const id = uniqueIdentity('audit-reg');
    expect((await registrar.putStation(id, { securityProfile: 1, password: randomPassword() })).status).toBe(201);
    expect((await registrar.patchStation(id, { bootPolicy: 'Pending' })).status).toBe(200);
    expect((await operator.putStation(id, { securityProfile: 2 })).status).toBe(403);
    expect((await new ApiClient(h.csms.apiUrl).deleteStation(id)).status).toBe(401);
    expect((await registrar.request('PATCH', `/api/v1/stations/${id}`, { bootPolicy: 'Sometimes' })).status).toBe(400);
    expect((await registrar.deleteStation(id)).status).toBe(204);
    // Reads are not state changes: not in the trail.
    expect((await registrar.getStation(id)).status).toBe(404);

    const { items } = await audit(`?stationId=${encodeURIComponent(id)}`);
    const seen = items.map((e) => [e.actor, e.method, e.outcome, e.status]);
    expect(seen).toEqual([
      ['key:registrar', 'DELETE', 'ok', 204],
      ['key:registrar', 'PATCH', 'rejected', 400],
      ['anonymous', 'DELETE', 'denied', 401],
      ['key:night-shift', 'PUT', 'denied', 403],
      ['key:registrar', 'PATCH', 'ok', 200],
      ['key:registrar', 'PUT', 'ok', 201],
    ]);
    for (const entry of items) {
      expect(entry.target).toBe(id);
      expect(entry.path).toBe(`/api/v1/stations/${id}`);
      expect(Date.parse(entry.at)).not.toBeNaN();
    }
    expect(items.find((e) => e.actor === 'key:registrar')?.role).toBe('admin');
    expect(items[0]?.id).toBeGreaterThan(items[1]?.id ?? Infinity);
  });

  it('records every command with its action and outcome: answered, timed out, refused', async () => {
    const station = await h.csms.bootedStation({ prefix: 'audit-cmd' });
    station.onCall('ChangeAvailability', () => Reply.none);
    expect((await operator.command(station.identity, 'ClearCache', {})).status).toBe(200);
    expect((await operator.command(station.identity, 'ChangeAvailability', { operationalStatus: 'Inoperative', evse: { id: 1 } })).status).toBe(504);
    expect((await operator.command(station.identity, 'Reset', { type: 'Sometime' })).status).toBe(400);
    const viewer = new ApiClient(h.csms.apiUrl, (await createKey(h.csms.api, 'audit-viewer', 'viewer')).key);
    expect((await viewer.command(station.identity, 'Reset', { type: 'Immediate' })).status).toBe(403);

    const commands = (await audit(`?stationId=${encodeURIComponent(station.identity)}`)).items.filter((e) => e.path.includes('/commands/'));
    expect(commands.map((e) => [e.actor, e.action, e.outcome, e.status])).toEqual([
      ['key:audit-viewer', 'Reset', 'denied', 403],
      ['key:night-shift', 'Reset', 'rejected', 400],
      ['key:night-shift', 'ChangeAvailability', 'failed', 504],
      ['key:night-shift', 'ClearCache', 'ok', 200],
    ]);
    for (const entry of commands) expect(entry.target).toBe(station.identity);
  });

  it('names the id token as the target of an id-token change', async () => {
    const value = `AUDIT${Date.now()}`;
    expect((await operator.request('PUT', `/api/v1/id-tokens/ISO14443/${value}`, { status: 'Accepted' })).status).toBeLessThan(300);
    const entry = (await audit('?actor=key%3Anight-shift&limit=20')).items.find((e) => e.path === `/api/v1/id-tokens/ISO14443/${value}`);
    expect(entry).toMatchObject({ method: 'PUT', target: value, outcome: 'ok', stationId: null });
  });

  it('records account changes and logins, and never holds a password, key, token or body', async () => {
    const userPassword = randomPassword();
    const stationPassword = randomPassword();
    await createUser(h.csms.api, 'secretive', userPassword, 'viewer');
    expect((await h.csms.api.request('PATCH', '/api/v1/users/secretive', { password: `${userPassword}-new` })).status).toBe(200);
    expect((await login(h.csms.apiUrl, 'secretive', `${userPassword}-new`)).answer.status).toBe(200);
    expect((await login(h.csms.apiUrl, 'secretive', userPassword)).answer.status).toBe(401);
    const key = await createKey(h.csms.api, 'secret-bearer', 'viewer');
    const stationId = uniqueIdentity('audit-secret');
    await h.csms.api.putStation(stationId, { securityProfile: 1, password: stationPassword });
    await new ApiClient(h.csms.apiUrl, key.key).putStation(stationId, { securityProfile: 1, password: stationPassword });

    const users = (await audit('?limit=500')).items.filter((e) => e.target === 'secretive');
    expect(users.map((e) => [e.actor, e.method, e.path, e.outcome])).toEqual([
      ['anonymous', 'POST', '/api/v1/session', 'denied'],
      ['user:secretive', 'POST', '/api/v1/session', 'ok'],
      ['token', 'PATCH', '/api/v1/users/secretive', 'ok'],
      ['token', 'POST', '/api/v1/users', 'ok'],
    ]);
    const keyEntry = (await audit('?actor=token&limit=50')).items.find((e) => e.path === '/api/v1/api-keys');
    expect(keyEntry?.target).toBe(String(key.id));

    const { text } = await allPages('', 500);
    for (const secret of [userPassword, stationPassword, key.key, TOKEN]) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/"password"|"body"|"key"\s*:/);
  });

  it('filters by exact actor and by time, and pages newest first with a cursor, each entry once', async () => {
    for (let i = 0; i < 5; i += 1) await operator.putStation(uniqueIdentity('audit-page'), { securityProfile: 1, password: randomPassword() });
    const mine = await allPages('&actor=key%3Anight-shift', 2);
    expect(mine.items.length).toBeGreaterThanOrEqual(5);
    expect(new Set(mine.items.map((e) => e.id)).size).toBe(mine.items.length);
    for (const entry of mine.items) expect(entry.actor).toBe('key:night-shift');
    const ids = mine.items.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect((await audit('?actor=key%3Anight')).items).toEqual([]);

    const newest = mine.items[0] as AuditItem;
    const oldest = mine.items[mine.items.length - 1] as AuditItem;
    const window = await allPages(`&actor=key%3Anight-shift&from=${encodeURIComponent(newest.at)}`, 100);
    expect(window.items.map((e) => e.id)).toContain(newest.id);
    for (const entry of window.items) expect(Date.parse(entry.at)).toBeGreaterThanOrEqual(Date.parse(newest.at));
    const before = await allPages(`&actor=key%3Anight-shift&to=${encodeURIComponent(newest.at)}`, 100);
    expect(before.items.map((e) => e.id)).not.toContain(newest.id);
    expect(before.items.map((e) => e.id)).toContain(oldest.id);

    expect((await h.csms.api.request('GET', '/api/v1/audit?from=yesterday')).status).toBe(400);
    expect((await h.csms.api.request('GET', '/api/v1/audit?cursor=forged')).status).toBe(400);
  });
});
