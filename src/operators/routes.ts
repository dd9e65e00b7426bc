import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import { decodeCursor, encodeCursor } from '../api/cursor.js';
import { ApiError, errorResponse, type ApiRequest, type ApiResponse } from '../api/http.js';
import type { ApiRole, RouteSpec } from '../api/route-spec.js';
import type { Logger } from '../log.js';
import { hashPassword, verifyPassword } from '../security/passwords.js';
import { throttleAddress, type AttemptCounter, type AttemptLimits } from '../security/throttle.js';
import { SESSION_COOKIE, SESSION_LIFETIME_MS, cookieValue, newApiKey, newSessionToken, secretDigest, sessionCookie } from './auth.js';
import type { ApiKeyRecord, AuditRecord, OperatorStore, UserRecord } from './store.js';

/**
 * Failed logins (CONTRACT §8.7), counted like station upgrades: per (username, address) and per address, never per
 * username alone, so a guesser cannot lock an operator out from elsewhere. A key that crossed its limit cools
 * down 30 s from that moment, so the right password from the same address works again within 30 s after the
 * failures stop.
 */
export const LOGIN_LIMITS: { userAddress: AttemptLimits; address: AttemptLimits } = {
  userAddress: { maxAttempts: 5, windowMs: 30_000, cooldownMs: 30_000 },
  address: { maxAttempts: 30, windowMs: 30_000, cooldownMs: 30_000 },
};

export interface OperatorRouteDeps {
  store: OperatorStore;
  /** Where failed logins are counted: Redis in cluster mode (every node sees them), in process otherwise. */
  attempts: AttemptCounter;
  clock: Clock;
  log: Logger;
  /** Whether CSMS_API_TOKEN is set: without it, the last admin user is all that stands between the API and nobody. */
  hasApiToken: boolean;
  /** Login throttle limits (tests shorten them). */
  loginLimits?: typeof LOGIN_LIMITS;
}

function userView(user: UserRecord): Record<string, unknown> {
  return { username: user.username, role: user.role, createdAt: user.createdAt.toISOString(), updatedAt: user.updatedAt.toISOString() };
}

function keyView(key: ApiKeyRecord): Record<string, unknown> {
  return {
    id: key.id,
    name: key.name,
    role: key.role,
    createdAt: key.createdAt.toISOString(),
    revoked: key.revokedAt !== undefined,
    ...(key.revokedAt !== undefined ? { revokedAt: key.revokedAt.toISOString() } : {}),
  };
}

function auditView(entry: AuditRecord): Record<string, unknown> {
  return {
    id: entry.id,
    at: entry.at.toISOString(),
    actor: entry.actor,
    role: entry.role ?? null,
    method: entry.method,
    path: entry.path,
    target: entry.target ?? null,
    outcome: entry.outcome,
    status: entry.status,
    stationId: entry.stationId ?? null,
    action: entry.action ?? null,
    address: entry.address ?? null,
    nodeId: entry.nodeId ?? null,
  };
}

function dateQuery(request: ApiRequest, name: string): Date | undefined {
  const value = request.query.get(name);
  if (value === null) return undefined;
  const date = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(date.getTime())) throw new ApiError(400, 'invalid_query', `${name} must be an ISO 8601 date-time`);
  return date;
}

function throttled(retryAfterMs: number): ApiResponse {
  const seconds = Math.ceil(retryAfterMs / 1000);
  const refusal = errorResponse(new ApiError(429, 'too_many_attempts', `too many failed logins; retry in ${seconds} s`, { retryAfterSeconds: seconds }));
  return { ...refusal, headers: { 'Retry-After': String(seconds) } };
}

/** CONTRACT §8.7: users, the console session, API keys and the audit trail. */
export function operatorRoutes(deps: OperatorRouteDeps): RouteSpec[] {
  const { store, attempts, clock } = deps;
  const limits = deps.loginLimits ?? LOGIN_LIMITS;
  // An unknown username costs the same scrypt derivation as a known one, so timing does not tell which exist.
  let decoyHash: Promise<string> | undefined;
  const decoy = (): Promise<string> => (decoyHash ??= hashPassword(randomBytes(24).toString('base64')));

  /** Without CSMS_API_TOKEN, removing the last admin would leave nobody able to manage accounts. */
  const guardLastAdmin = async (user: UserRecord, newRole: ApiRole | undefined): Promise<void> => {
    if (deps.hasApiToken || user.role !== 'admin' || newRole === 'admin') return;
    if ((await store.countAdmins()) <= 1) {
      throw new ApiError(409, 'last_admin', `${user.username} is the last admin and CSMS_API_TOKEN is not set: nobody could manage accounts any more`);
    }
  };

  const login = async (request: ApiRequest<{ username: string; password: string }>): Promise<ApiResponse> => {
    const { username, password } = request.body;
    request.audit = { target: username };
    const address = throttleAddress(request.remoteAddress);
    const userAddressKey = `login-ua:${username}|${address}`;
    const addressKey = `login-a:${address}`;
    const perUserAddress = await attempts.attempt(userAddressKey, limits.userAddress);
    if (!perUserAddress.allowed) return throttled(perUserAddress.retryAfterMs);
    const perAddress = await attempts.attempt(addressKey, limits.address);
    if (!perAddress.allowed) {
      await attempts.retract(userAddressKey);
      return throttled(perAddress.retryAfterMs);
    }
    const stored = await store.passwordHashOf(username);
    const right = await verifyPassword(password, stored?.passwordHash ?? (await decoy()));
    if (stored === undefined || !right) {
      deps.log.info({ event: 'login_failed', username, remoteAddress: request.remoteAddress }, 'operator login failed');
      throw new ApiError(401, 'invalid_credentials', 'unknown username or wrong password');
    }
    await Promise.all([attempts.retract(userAddressKey), attempts.retract(addressKey)]);
    const token = newSessionToken();
    await store.createSession(secretDigest(token), username, new Date(clock.now() + SESSION_LIFETIME_MS), new Date(clock.now()));
    request.principal = { actor: `user:${username}`, role: stored.user.role };
    return {
      status: 200,
      body: { username, role: stored.user.role, expiresInSeconds: SESSION_LIFETIME_MS / 1000 },
      headers: { 'Set-Cookie': sessionCookie(token, SESSION_LIFETIME_MS / 1000), 'Cache-Control': 'no-store' },
    };
  };

  return [
    {
      method: 'post',
      path: '/api/v1/users',
      role: 'admin',
      summary: 'Create an operator account (the password is stored hashed and never returned)',
      tag: 'Operators',
      body: 'UserCreate',
      responses: { 201: 'The user', 409: 'The username is taken' },
      handler: async (request) => {
        const { username, password, role } = request.body;
        request.audit = { target: username };
        const user = await store.createUser(username, await hashPassword(password), role);
        if (user === undefined) throw new ApiError(409, 'user_exists', `user ${username} exists already`);
        return { status: 201, body: userView(user) };
      },
    },
    {
      method: 'get',
      path: '/api/v1/users',
      role: 'viewer',
      summary: 'Every operator account, by username',
      tag: 'Operators',
      responses: { 200: '{items:[user]}' },
      handler: async () => ({ status: 200, body: { items: (await store.listUsers()).map(userView) } }),
    },
    {
      method: 'get',
      path: '/api/v1/users/{username}',
      role: 'viewer',
      summary: 'One operator account',
      tag: 'Operators',
      responses: { 200: 'The user', 404: 'No such user' },
      handler: async (request) => {
        const user = await store.getUser(request.params.username ?? '');
        if (user === undefined) throw new ApiError(404, 'user_not_found', `no user ${request.params.username ?? ''}`);
        return { status: 200, body: userView(user) };
      },
    },
    {
      method: 'patch',
      path: '/api/v1/users/{username}',
      role: 'admin',
      summary: "Change a user's role or password; a new password ends the user's sessions at once",
      tag: 'Operators',
      body: 'UserPatch',
      responses: { 200: 'The user', 404: 'No such user', 409: 'The last admin would be demoted (without CSMS_API_TOKEN)' },
      handler: async (request) => {
        const username = request.params.username ?? '';
        const existing = await store.getUser(username);
        if (existing === undefined) throw new ApiError(404, 'user_not_found', `no user ${username}`);
        await guardLastAdmin(existing, request.body.role);
        const passwordHash = request.body.password === undefined ? undefined : await hashPassword(request.body.password);
        const user = await store.updateUser(username, { role: request.body.role, passwordHash });
        if (user === undefined) throw new ApiError(404, 'user_not_found', `no user ${username}`);
        return { status: 200, body: userView(user) };
      },
    },
    {
      method: 'del',
      path: '/api/v1/users/{username}',
      role: 'admin',
      summary: 'Delete a user; its sessions end at once',
      tag: 'Operators',
      responses: { 204: 'Deleted', 404: 'No such user', 409: 'The last admin (without CSMS_API_TOKEN)' },
      handler: async (request) => {
        const username = request.params.username ?? '';
        const existing = await store.getUser(username);
        if (existing === undefined) throw new ApiError(404, 'user_not_found', `no user ${username}`);
        await guardLastAdmin(existing, undefined);
        if (!(await store.deleteUser(username))) throw new ApiError(404, 'user_not_found', `no user ${username}`);
        return { status: 204 };
      },
    },
    {
      method: 'post',
      path: '/api/v1/session',
      role: 'public',
      summary: 'Log in: sets an HttpOnly, SameSite=Strict session cookie that authenticates later requests',
      tag: 'Operators',
      body: 'SessionCreate',
      responses: { 200: '{username, role, expiresInSeconds} and the cookie', 401: 'Unknown username or wrong password', 429: 'Too many failed logins from this address' },
      handler: login,
    },
    {
      method: 'get',
      path: '/api/v1/session',
      role: 'viewer',
      summary: 'Who the credentials of this request stand for: {actor, role}',
      tag: 'Operators',
      responses: { 200: '{actor, role}' },
      handler: (request) => ({ status: 200, body: { actor: request.principal?.actor ?? 'anonymous', role: request.principal?.role ?? 'admin' } }),
    },
    {
      method: 'del',
      path: '/api/v1/session',
      role: 'public',
      summary: 'Log out: ends the session of the cookie sent and clears the cookie',
      tag: 'Operators',
      responses: { 204: 'Logged out (also when there was no session)' },
      handler: async (request) => {
        const token = cookieValue(request.headers.cookie, SESSION_COOKIE);
        if (token !== undefined && token !== '') await store.deleteSession(secretDigest(token));
        return { status: 204, headers: { 'Set-Cookie': sessionCookie('', 0) } };
      },
    },
    {
      method: 'post',
      path: '/api/v1/api-keys',
      role: 'admin',
      summary: 'Create an API key with a role; the key is in this answer only (use it as Authorization: Bearer <key>)',
      tag: 'Operators',
      body: 'ApiKeyCreate',
      responses: { 201: '{id, name, role, key}', 409: 'A live key has that name' },
      handler: async (request) => {
        const key = newApiKey();
        const record = await store.createApiKey(request.body.name, request.body.role, secretDigest(key));
        if (record === undefined) throw new ApiError(409, 'api_key_exists', `a live API key is named ${request.body.name}`);
        request.audit = { target: String(record.id) };
        return { status: 201, body: { ...keyView(record), key }, headers: { 'Cache-Control': 'no-store' } };
      },
    },
    {
      method: 'get',
      path: '/api/v1/api-keys',
      role: 'viewer',
      summary: 'Every API key, without the keys themselves; revoked ones are marked revoked:true',
      tag: 'Operators',
      responses: { 200: '{items:[{id, name, role, createdAt, revoked}]}' },
      handler: async () => ({ status: 200, body: { items: (await store.listApiKeys()).map(keyView) } }),
    },
    {
      method: 'del',
      path: '/api/v1/api-keys/{id}',
      role: 'admin',
      summary: 'Revoke an API key; it stops working at once, on every node',
      tag: 'Operators',
      responses: { 204: 'Revoked', 404: 'No such key' },
      handler: async (request) => {
        const raw = request.params.id ?? '';
        const id = /^[1-9]\d{0,15}$/.test(raw) ? Number(raw) : undefined;
        if (id === undefined || !(await store.revokeApiKey(id))) throw new ApiError(404, 'api_key_not_found', `no API key ${raw}`);
        return { status: 204 };
      },
    },
    {
      method: 'get',
      path: '/api/v1/audit',
      role: 'viewer',
      summary: 'The audit trail, newest first: every state-changing request (refused ones too) and every command, never a body or a secret',
      tag: 'Operators',
      query: {
        actor: { type: 'string', description: 'exactly this actor: user:<name>, key:<name>, token or anonymous' },
        stationId: { type: 'string', description: 'requests whose path names this station' },
        from: { type: 'string', description: 'at or after this date-time' },
        to: { type: 'string', description: 'before this date-time' },
        limit: { type: 'integer', minimum: 1, maximum: 500, description: 'page size (default 100)' },
        cursor: { type: 'string', description: 'the "next" of the previous page' },
      },
      responses: { 200: '{items:[{id, at, actor, role, method, path, target, outcome, status}], next}' },
      handler: async (request) => {
        const limit = Number(request.query.get('limit') ?? 100);
        const cursor = decodeCursor(request.query.get('cursor'), 1);
        const beforeId = cursor === undefined ? undefined : Number(cursor[0]);
        if (beforeId !== undefined && !Number.isSafeInteger(beforeId))
          throw new ApiError(400, 'invalid_cursor', 'cursor must be a value a previous page returned as "next"');
        const filter = {
          actor: request.query.get('actor') ?? undefined,
          stationId: request.query.get('stationId') ?? undefined,
          from: dateQuery(request, 'from'),
          to: dateQuery(request, 'to'),
        };
        const rows = await store.listAudit(filter, beforeId, limit + 1);
        const items = rows.slice(0, limit);
        const last = items[items.length - 1];
        const next = rows.length > limit && last !== undefined ? encodeCursor([String(last.id)]) : null;
        return { status: 200, body: { items: items.map(auditView), next } };
      },
    },
  ];
}
