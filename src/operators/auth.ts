import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { ApiRole, RouteRole } from '../api/route-spec.js';
import type { OperatorStore } from './store.js';

/** Who is calling, as the audit names them (CONTRACT §8.7): `user:<name>`, `key:<name>`, `token`, or `anonymous`. */
export interface Principal {
  actor: string;
  role: ApiRole;
}

/** The session cookie's name; its value is 32 random bytes, and the store keeps only their SHA-256. */
export const SESSION_COOKIE = 'stroom_session';
/** API keys carry a recognisable prefix, so a leaked one is easy to find in logs and repositories. */
export const API_KEY_PREFIX = 'stroom_';
/** How long a console session lasts, whatever its use: a login a working day ago must be repeated. */
export const SESSION_LIFETIME_MS = 12 * 60 * 60 * 1000;

const ROLE_RANK: Readonly<Record<ApiRole, number>> = { viewer: 1, operator: 2, admin: 3 };

/** True when `role` may call a route that needs `required`. */
export function roleAllows(role: ApiRole, required: RouteRole): boolean {
  return required === 'public' || ROLE_RANK[role] >= ROLE_RANK[required];
}

/**
 * SHA-256 of a secret we generated (a session cookie, an API key): both carry 256 random bits, so a fast hash is
 * as good as a slow one against guessing, and lets a request be checked with one indexed lookup.
 */
export function secretDigest(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function newSessionToken(): string {
  return randomBytes(32).toString('base64url');
}

export function newApiKey(): string {
  return `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** The value of one cookie of a `Cookie` header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * `Set-Cookie` for a session: HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it),
 * Path=/ (the console and the API share the origin). Not `Secure`: the API speaks plain HTTP on loopback by
 * default, where a Secure cookie would never come back; behind a TLS proxy the proxy should add it.
 */
export function sessionCookie(token: string, maxAgeSeconds: number): string {
  return `${SESSION_COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAgeSeconds}`;
}

export interface ApiAuthenticatorOptions {
  /** CSMS_API_TOKEN: the bootstrap admin key. */
  apiToken: string | undefined;
  store: Pick<OperatorStore, 'sessionUser' | 'apiKeyByHash' | 'hasAccounts'>;
  clock: Clock;
}

/**
 * Resolves the credentials of a request to a principal. In order: an `Authorization: Bearer` header (the
 * CSMS_API_TOKEN, else an API key), else the session cookie. Keys and sessions are read from the store on every
 * request, so a revoked key, a deleted user or a changed password stops working on every node at once.
 *
 * The open API: with no CSMS_API_TOKEN and no account ever created, every request is an admin (`anonymous`),
 * which is how the API behaved before accounts existed (a loopback-only default, CONTRACT §2). The first user
 * or API key closes it, for good: this node remembers that it saw one.
 */
export class ApiAuthenticator {
  private readonly tokenDigest: Buffer | undefined;
  private closed: boolean;

  constructor(private readonly options: ApiAuthenticatorOptions) {
    this.tokenDigest = options.apiToken === undefined ? undefined : sha256(options.apiToken);
    this.closed = options.apiToken !== undefined;
  }

  async authenticate(headers: Readonly<Record<string, string>>): Promise<Principal | undefined> {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization ?? '')?.[1];
    if (bearer !== undefined) {
      // Digests have equal length, so the comparison time says nothing about the token.
      if (this.tokenDigest !== undefined && timingSafeEqual(sha256(bearer), this.tokenDigest)) return { actor: 'token', role: 'admin' };
      if (bearer.startsWith(API_KEY_PREFIX)) {
        const key = await this.options.store.apiKeyByHash(secretDigest(bearer));
        if (key !== undefined) return { actor: `key:${key.name}`, role: key.role };
      }
    } else {
      const session = cookieValue(headers.cookie, SESSION_COOKIE);
      if (session !== undefined && session !== '') {
        const user = await this.options.store.sessionUser(secretDigest(session), new Date(this.options.clock.now()));
        if (user !== undefined) return { actor: `user:${user.name}`, role: user.role };
      }
    }
    return (await this.isOpen()) ? { actor: 'anonymous', role: 'admin' } : undefined;
  }

  private async isOpen(): Promise<boolean> {
    if (this.closed) return false;
    try {
      if (await this.options.store.hasAccounts()) this.closed = true;
    } catch {
      // The store is degraded (CONTRACT §1: the API keeps answering): the API was open at the last look, and no
      // account can be created while the store refuses writes, so it still is.
    }
    return !this.closed;
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
