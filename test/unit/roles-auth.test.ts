/** The pure parts of operator authentication (src/operators/auth.ts) and the audit outcome of a status (src/api/http.ts). */
import { describe, expect, it } from 'vitest';
import { auditOutcome } from '../../src/api/http.js';
import { ApiAuthenticator, cookieValue, newApiKey, roleAllows, secretDigest } from '../../src/operators/auth.js';
import type { StoredPrincipal } from '../../src/operators/store.js';

describe('roles', () => {
  it('a role allows routes of its own rank and below, public routes to everyone', () => {
    expect(roleAllows('viewer', 'public')).toBe(true);
    expect(roleAllows('viewer', 'viewer')).toBe(true);
    expect(roleAllows('viewer', 'operator')).toBe(false);
    expect(roleAllows('operator', 'operator')).toBe(true);
    expect(roleAllows('operator', 'admin')).toBe(false);
    expect(roleAllows('admin', 'operator')).toBe(true);
  });

  it('maps statuses onto the audit outcomes of CONTRACT §8.7', () => {
    expect([200, 201, 204].map(auditOutcome)).toEqual(['ok', 'ok', 'ok']);
    expect([401, 403].map(auditOutcome)).toEqual(['denied', 'denied']);
    expect([400, 404, 409, 413, 429].map(auditOutcome)).toEqual(['rejected', 'rejected', 'rejected', 'rejected', 'rejected']);
    expect([500, 502, 503, 504].map(auditOutcome)).toEqual(['failed', 'failed', 'failed', 'failed']);
  });

  it('reads one cookie out of a Cookie header', () => {
    expect(cookieValue('a=1; stroom_session=abc; b=2', 'stroom_session')).toBe('abc');
    expect(cookieValue('xstroom_session=abc', 'stroom_session')).toBeUndefined();
    expect(cookieValue(undefined, 'stroom_session')).toBeUndefined();
  });
});

describe('ApiAuthenticator', () => {
  const key = newApiKey();
  const keys = new Map<string, StoredPrincipal>([[secretDigest(key), { name: 'robot', role: 'operator' }]]);
  let accounts = false;
  const store = {
    sessionUser: (hash: string) => Promise.resolve(hash === secretDigest('good-session') ? { name: 'ada', role: 'viewer' as const } : undefined),
    apiKeyByHash: (hash: string) => Promise.resolve(keys.get(hash)),
    hasAccounts: () => Promise.resolve(accounts),
  };
  const clock = { now: () => 0 };

  it('resolves the bootstrap token, an API key and a session cookie; anything else is nobody', async () => {
    const auth = new ApiAuthenticator({ apiToken: 'bootstrap-token', store, clock });
    expect(await auth.authenticate({ authorization: 'Bearer bootstrap-token' })).toEqual({ actor: 'token', role: 'admin' });
    expect(await auth.authenticate({ authorization: `Bearer ${key}` })).toEqual({ actor: 'key:robot', role: 'operator' });
    expect(await auth.authenticate({ cookie: 'stroom_session=good-session' })).toEqual({ actor: 'user:ada', role: 'viewer' });
    expect(await auth.authenticate({ authorization: 'Bearer bootstrap-tokeN' })).toBeUndefined();
    expect(await auth.authenticate({ authorization: 'Basic Zm9vOmJhcg==' })).toBeUndefined();
    expect(await auth.authenticate({ cookie: 'stroom_session=stale' })).toBeUndefined();
    expect(await auth.authenticate({})).toBeUndefined();
  });

  it('without a token, is open until an account exists, then closed for good', async () => {
    const auth = new ApiAuthenticator({ apiToken: undefined, store, clock });
    expect(await auth.authenticate({})).toEqual({ actor: 'anonymous', role: 'admin' });
    accounts = true;
    expect(await auth.authenticate({})).toBeUndefined();
    accounts = false;
    expect(await auth.authenticate({})).toBeUndefined();
  });
});
