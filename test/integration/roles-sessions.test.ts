/**
 * CONTRACT §8.7 console sessions: login sets an HttpOnly, SameSite=Strict cookie; logout, a password change and
 * deleting the user end sessions at once (on another node too); failed logins are throttled per (username,
 * address) and per address, never per username alone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/api.js';
import { startTestCsms, withCsms, type TestCsms } from '../support/csms.js';
import { CookieClient, createUser, httpCall, login } from '../support/operators.js';
import { freshPostgresDatabaseUrl } from '../support/services.js';
import { randomPassword } from '../support/station.js';

const TOKEN = 'roles-sessions-bootstrap-token-0123456789';
const h = withCsms({ CSMS_API_TOKEN: TOKEN });

describe('login and the session cookie', { timeout: 60_000 }, () => {
  it('sets an HttpOnly, SameSite=Strict cookie that authenticates later requests, and never returns the password', async () => {
    const password = randomPassword();
    await createUser(h.csms.api, 'olivia', password, 'operator');
    const { answer, setCookie, cookie } = await login(h.csms.apiUrl, 'olivia', password);
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ username: 'olivia', role: 'operator' });
    expect(answer.text).not.toContain(password);
    expect(setCookie).toMatch(/^stroom_session=[A-Za-z0-9_-]{43};/);
    expect(setCookie).toMatch(/;\s*HttpOnly/i);
    expect(setCookie).toMatch(/;\s*SameSite=Strict/i);
    expect(setCookie).toMatch(/;\s*Path=\//);
    const olivia = new CookieClient(h.csms.apiUrl, cookie ?? '');
    expect((await olivia.request('GET', '/api/v1/session')).body).toEqual({ actor: 'user:olivia', role: 'operator' });
    expect((await olivia.listStations()).status).toBe(200);
    // A bearer header wins over the cookie: a wrong one is refused even with a good cookie beside it.
    expect((await olivia.request('GET', '/api/v1/stations', undefined, { Authorization: 'Bearer stroom_wrong' })).status).toBe(401);
    const user = await h.csms.api.request('GET', '/api/v1/users/olivia');
    expect(user.body).toMatchObject({ username: 'olivia', role: 'operator' });
    expect(user.text).not.toMatch(/password|scrypt/);
  });

  it('refuses an unknown user and a wrong password alike, with 401 and no cookie', async () => {
    await createUser(h.csms.api, 'walter', randomPassword(), 'viewer');
    const wrong = await login(h.csms.apiUrl, 'walter', 'not-the-password-at-all');
    const unknown = await login(h.csms.apiUrl, 'nobody-by-that-name', 'not-the-password-at-all');
    for (const attempt of [wrong, unknown]) {
      expect(attempt.answer.status).toBe(401);
      expect(attempt.setCookie).toBeUndefined();
    }
    expect((wrong.answer.json as { error: { message: string } }).error.message).toBe((unknown.answer.json as { error: { message: string } }).error.message);
  });

  it('logout, a role change, a password change and deleting the user take effect on the next request', async () => {
    const password = randomPassword();
    await createUser(h.csms.api, 'uma', password, 'viewer');
    const first = new CookieClient(h.csms.apiUrl, (await login(h.csms.apiUrl, 'uma', password)).cookie ?? '');
    const second = new CookieClient(h.csms.apiUrl, (await login(h.csms.apiUrl, 'uma', password)).cookie ?? '');
    const third = new CookieClient(h.csms.apiUrl, (await login(h.csms.apiUrl, 'uma', password)).cookie ?? '');

    const logout = await first.request('DELETE', '/api/v1/session');
    expect(logout.status).toBe(204);
    expect(logout.headers.get('set-cookie')).toMatch(/^stroom_session=;.*Max-Age=0/);
    expect((await first.listStations()).status).toBe(401);
    expect((await second.listStations()).status).toBe(200);

    expect((await second.request('POST', '/api/v1/api-keys', { name: 'uma-key', role: 'viewer' })).status).toBe(403);
    expect((await h.csms.api.request('PATCH', '/api/v1/users/uma', { role: 'admin' })).status).toBe(200);
    expect((await second.request('GET', '/api/v1/session')).body).toEqual({ actor: 'user:uma', role: 'admin' });

    const newPassword = randomPassword();
    expect((await h.csms.api.request('PATCH', '/api/v1/users/uma', { password: newPassword })).status).toBe(200);
    expect((await second.listStations()).status).toBe(401);
    expect((await third.listStations()).status).toBe(401);
    expect((await login(h.csms.apiUrl, 'uma', password)).answer.status).toBe(401);
    const fourth = new CookieClient(h.csms.apiUrl, (await login(h.csms.apiUrl, 'uma', newPassword)).cookie ?? '');
    expect((await fourth.listStations()).status).toBe(200);

    expect((await h.csms.api.request('DELETE', '/api/v1/users/uma')).status).toBe(204);
    expect((await fourth.listStations()).status).toBe(401);
    expect((await h.csms.api.request('GET', '/api/v1/users/uma')).status).toBe(404);
  });
});

describe('login throttling', { timeout: 60_000 }, () => {
  it('counts failures per (username, address): the right password is refused 429 from that address, works at once from another', async () => {
    const password = randomPassword();
    await createUser(h.csms.api, 'tessa', password, 'operator');
    for (let i = 0; i < 5; i += 1) expect((await login(h.csms.apiUrl, 'tessa', `wrong-guess-number-${i}`)).answer.status).toBe(401);
    const refused = await login(h.csms.apiUrl, 'tessa', password);
    expect(refused.answer.status).toBe(429);
    expect(Number(refused.answer.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(refused.answer.headers['retry-after'])).toBeLessThanOrEqual(30);
    expect(refused.setCookie).toBeUndefined();
    // Never per username alone: the same user from another address logs in at once.
    const elsewhere = await login(h.csms.apiUrl, 'tessa', password, '127.0.0.2');
    expect(elsewhere.answer.status).toBe(200);
    // And another user from the throttled address is not locked out by tessa's failures.
    const other = randomPassword();
    await createUser(h.csms.api, 'teodor', other, 'viewer');
    expect((await login(h.csms.apiUrl, 'teodor', other)).answer.status).toBe(200);
  });

  it('counts failures per address across usernames too', async () => {
    const password = randomPassword();
    await createUser(h.csms.api, 'spray-target', password, 'viewer');
    // One guess per username from one address: only the per-address count can stop it. Sent together (each
    // counts on arrival), as a sprayer would.
    const answers = await Promise.all(
      Array.from({ length: 32 }, (_, i) =>
        httpCall(h.csms.apiUrl, 'POST', '/api/v1/session', { body: { username: `sprayed-${i}`, password: 'wrong-password-here' }, localAddress: '127.0.0.3' }),
      ),
    );
    expect(answers.filter((res) => res.status === 429).length).toBeGreaterThan(0);
    expect((await login(h.csms.apiUrl, 'spray-target', password, '127.0.0.3')).answer.status).toBe(429);
    expect((await login(h.csms.apiUrl, 'spray-target', password, '127.0.0.4')).answer.status).toBe(200);
  }, 90_000);
});

describe('two nodes on one PostgreSQL', { timeout: 60_000 }, () => {
  let nodeA: TestCsms;
  let nodeB: TestCsms;
  beforeAll(async () => {
    const url = await freshPostgresDatabaseUrl();
    nodeA = await startTestCsms({ DATABASE_URL: url, CSMS_API_TOKEN: TOKEN, CSMS_NODE_ID: 'roles-a' });
    nodeB = await startTestCsms({ DATABASE_URL: url, CSMS_API_TOKEN: TOKEN, CSMS_NODE_ID: 'roles-b' });
  });
  afterAll(async () => {
    await nodeA.stop();
    await nodeB.stop();
  });

  it('a session made on one node works on the other, and ends on both as soon as either deletes the user or changes the password', async () => {
    const password = randomPassword();
    await createUser(nodeA.api, 'nina', password, 'admin');
    const cookie = (await login(nodeA.apiUrl, 'nina', password)).cookie ?? '';
    const onA = new CookieClient(nodeA.apiUrl, cookie);
    const onB = new CookieClient(nodeB.apiUrl, cookie);
    expect((await onB.listStations()).status).toBe(200);
    expect((await nodeB.api.request('PATCH', '/api/v1/users/nina', { password: randomPassword() })).status).toBe(200);
    expect((await onA.listStations()).status).toBe(401);

    const again = randomPassword();
    await createUser(nodeB.api, 'nils', again, 'viewer');
    const nils = new CookieClient(nodeA.apiUrl, (await login(nodeA.apiUrl, 'nils', again)).cookie ?? '');
    expect((await nils.listStations()).status).toBe(200);
    expect((await nodeB.api.request('DELETE', '/api/v1/users/nils')).status).toBe(204);
    expect((await nils.listStations()).status).toBe(401);
    // A key revoked on one node is refused by the other at once.
    const key = await nodeA.api.request<{ id: number; key: string }>('POST', '/api/v1/api-keys', { name: 'cross-node', role: 'viewer' });
    const machine = new ApiClient(nodeB.apiUrl, key.body.key);
    expect((await machine.listStations()).status).toBe(200);
    expect((await nodeA.api.request('DELETE', `/api/v1/api-keys/${key.body.id}`)).status).toBe(204);
    expect((await machine.listStations()).status).toBe(401);
  });
});
