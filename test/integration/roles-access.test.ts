/**
 * CONTRACT §8.7 roles: every mounted route, walked with every kind of caller, is allowed or refused exactly as the
 * role it declares (OpenAPI `x-required-role`) says; a refused request changes nothing; API keys are shown once,
 * listed without the key, and stop working at once when revoked; without CSMS_API_TOKEN the API stays open until
 * the first account exists.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/api.js';
import { startTestCsms, withCsms, type TestCsms } from '../support/csms.js';
import { CookieClient, createKey, createUser, login, type Role } from '../support/operators.js';
import { randomPassword, uniqueIdentity } from '../support/station.js';

const TOKEN = 'roles-access-bootstrap-token-0123456789';
const h = withCsms({ CSMS_API_TOKEN: TOKEN, CSMS_CALL_TIMEOUT_MS: 1000 });

type Caller = 'none' | 'wrong key' | 'revoked key' | Role | 'viewer session' | 'admin token';
const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

interface Operation {
  method: string;
  path: string;
  role: 'public' | Role;
  hasBody: boolean;
}

/** A value for each path parameter that names nothing that exists, so an allowed request finds nothing to change. */
function concretePath(path: string): string {
  return path.replace(/\{([A-Za-z]+)\}/g, (_m, name: string) => {
    if (name === 'id' && path.startsWith('/api/v1/api-keys')) return '999999';
    if (name === 'action') return 'Reset';
    if (name === 'file') return 'main.js';
    return `walk-${name}-nothing`;
  });
}

describe('every route with every role', { timeout: 60_000 }, () => {
  const clients = new Map<Caller, ApiClient>();
  let operations: Operation[] = [];

  beforeAll(async () => {
    const admin = h.csms.api;
    const url = h.csms.apiUrl;
    for (const role of ['viewer', 'operator', 'admin'] as const) {
      const { key } = await createKey(admin, `walk-${role}`, role);
      clients.set(role, new ApiClient(url, key));
    }
    const revoked = await createKey(admin, 'walk-revoked', 'admin');
    expect((await admin.request('DELETE', `/api/v1/api-keys/${revoked.id}`)).status).toBe(204);
    clients.set('revoked key', new ApiClient(url, revoked.key));
    clients.set('none', new ApiClient(url));
    clients.set('wrong key', new ApiClient(url, 'stroom_not-a-key-anyone-was-given'));
    clients.set('admin token', admin);
    const password = randomPassword();
    await createUser(admin, 'walk-viewer-user', password, 'viewer');
    const session = await login(url, 'walk-viewer-user', password);
    clients.set('viewer session', new CookieClient(url, session.cookie ?? ''));

    const doc = await admin.openapi();
    const paths = doc.body.paths as Record<string, Record<string, { 'x-required-role': Operation['role']; requestBody?: unknown }>>;
    operations = Object.entries(paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({ method: method.toUpperCase(), path, role: op['x-required-role'], hasBody: op.requestBody !== undefined })),
    );
    // Logging out ends the walking session: that one goes last.
    const logout = (op: Operation): number => (op.method === 'DELETE' && op.path === '/api/v1/session' ? 1 : 0);
    operations.sort((a, b) => logout(a) - logout(b));
  });

  it('the OpenAPI document declares a role on every operation, and lists the operator routes', () => {
    expect(operations.length).toBeGreaterThan(20);
    for (const op of operations) expect(['public', 'viewer', 'operator', 'admin'], `${op.method} ${op.path}`).toContain(op.role);
    const names = operations.map((op) => `${op.method} ${op.path}`);
    for (const expected of ['POST /api/v1/users', 'PATCH /api/v1/users/{username}', 'DELETE /api/v1/api-keys/{id}', 'GET /api/v1/audit', 'POST /api/v1/session']) {
      expect(names).toContain(expected);
    }
  });

  it('allows or refuses each (route, caller) exactly as the declared role says: 401 without valid credentials, 403 below the role', async () => {
    const mismatches: string[] = [];
    for (const op of operations) {
      for (const [caller, client] of clients) {
        const role: Role | undefined =
          caller === 'viewer session'
            ? 'viewer'
            : caller === 'admin token'
              ? 'admin'
              : caller === 'viewer' || caller === 'operator' || caller === 'admin'
                ? caller
                : undefined;
        const expected = op.role === 'public' ? 'allowed' : role === undefined ? 401 : RANK[role] < RANK[op.role] ? 403 : 'allowed';
        // An allowed request with a body gets `{}`: its schema (or the OCPP one) refuses it after the role check.
        const controller = new AbortController();
        const init: RequestInit = { method: op.method, signal: controller.signal, headers: {} };
        const headers = init.headers as Record<string, string>;
        if (client.token !== undefined) headers.Authorization = `Bearer ${client.token}`;
        if (client instanceof CookieClient) headers.Cookie = client.cookie;
        if (op.hasBody) {
          headers['Content-Type'] = 'application/json';
          init.body = '{}';
        }
        const res = await fetch(`${h.csms.apiUrl}${concretePath(op.path)}`, init);
        // Streams (SSE) never end: the status is all this test needs.
        controller.abort();
        const got = res.status;
        const ok = expected === 'allowed' ? got !== 401 && got !== 403 : got === expected;
        if (!ok) mismatches.push(`${op.method} ${op.path} as ${caller}: expected ${String(expected)}, got ${got}`);
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('a refused request changes nothing: an operator cannot register a station, a viewer cannot create a user or a key', async () => {
    const operator = clients.get('operator') as ApiClient;
    const viewer = clients.get('viewer') as ApiClient;
    const id = uniqueIdentity('refused');
    expect((await operator.putStation(id, { securityProfile: 1, password: randomPassword() })).status).toBe(403);
    expect((await h.csms.api.getStation(id)).status).toBe(404);
    expect((await viewer.request('POST', '/api/v1/users', { username: 'never-made', password: randomPassword(), role: 'admin' })).status).toBe(403);
    expect((await h.csms.api.request('GET', '/api/v1/users/never-made')).status).toBe(404);
    expect((await viewer.request('POST', '/api/v1/api-keys', { name: 'never-made', role: 'admin' })).status).toBe(403);
    const keys = await h.csms.api.request<{ items: { name: string }[] }>('GET', '/api/v1/api-keys');
    expect(keys.body.items.map((k) => k.name)).not.toContain('never-made');
    // An operator may act on stations, though: its command reaches the command service (404: no such station).
    expect((await operator.command('no-such-station', 'Reset', { type: 'Immediate' })).status).toBe(404);
  });
});

describe('API keys', () => {
  it('are shown once, listed without the key, refused for a name in use, and stop working at once when revoked', async () => {
    const admin = h.csms.api;
    const created = await admin.request<{ id: number; name: string; role: string; key: string }>('POST', '/api/v1/api-keys', { name: 'ci-pipeline', role: 'operator' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'ci-pipeline', role: 'operator' });
    expect(Number.isInteger(created.body.id) && created.body.id > 0).toBe(true);
    expect(created.body.key).toMatch(/^stroom_[A-Za-z0-9_-]{43}$/);
    expect((await admin.request('POST', '/api/v1/api-keys', { name: 'ci-pipeline', role: 'viewer' })).status).toBe(409);

    const list = await admin.request<{ items: Record<string, unknown>[] }>('GET', '/api/v1/api-keys');
    const listed = list.body.items.find((k) => k.id === created.body.id);
    expect(listed).toMatchObject({ name: 'ci-pipeline', role: 'operator', revoked: false });
    expect(list.text).not.toContain(created.body.key);

    const machine = new ApiClient(h.csms.apiUrl, created.body.key);
    expect((await machine.request<{ actor: string; role: string }>('GET', '/api/v1/session')).body).toEqual({ actor: 'key:ci-pipeline', role: 'operator' });
    expect((await machine.listStations()).status).toBe(200);

    expect((await admin.request('DELETE', `/api/v1/api-keys/${created.body.id}`)).status).toBe(204);
    expect((await machine.listStations()).status).toBe(401);
    const after = await admin.request<{ items: Record<string, unknown>[] }>('GET', '/api/v1/api-keys');
    expect(after.body.items.find((k) => k.id === created.body.id)).toMatchObject({ revoked: true });
    expect((await admin.request('DELETE', '/api/v1/api-keys/424242')).status).toBe(404);
    // The name is free again once its key is revoked.
    expect((await admin.request('POST', '/api/v1/api-keys', { name: 'ci-pipeline', role: 'viewer' })).status).toBe(201);
  });
});

describe('without CSMS_API_TOKEN', { timeout: 60_000 }, () => {
  let open: TestCsms;
  beforeAll(async () => {
    open = await startTestCsms({});
  });
  afterAll(async () => {
    await open.stop();
  });

  it('the API stays open (as before accounts existed) until the first account, then needs credentials; the last admin cannot be removed', async () => {
    const anonymous = new ApiClient(open.apiUrl);
    expect((await anonymous.listStations()).status).toBe(200);
    expect((await anonymous.request('GET', '/api/v1/session')).body).toEqual({ actor: 'anonymous', role: 'admin' });
    const password = randomPassword();
    await createUser(anonymous, 'first-admin', password, 'admin');
    expect((await anonymous.listStations()).status).toBe(401);
    expect((await anonymous.request('POST', '/api/v1/users', { username: 'sneaky', password: randomPassword(), role: 'admin' })).status).toBe(401);

    const session = await login(open.apiUrl, 'first-admin', password);
    expect(session.answer.status).toBe(200);
    const admin = new CookieClient(open.apiUrl, session.cookie ?? '');
    expect((await admin.listStations()).status).toBe(200);
    // Nobody could manage accounts any more: refused while it is the only admin.
    expect((await admin.request('DELETE', '/api/v1/users/first-admin')).status).toBe(409);
    expect((await admin.request('PATCH', '/api/v1/users/first-admin', { role: 'viewer' })).status).toBe(409);
    await createUser(admin, 'second-admin', randomPassword(), 'admin');
    expect((await admin.request('PATCH', '/api/v1/users/second-admin', { role: 'viewer' })).status).toBe(200);
  });
});
