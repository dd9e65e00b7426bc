/** Operator accounts, API keys and sessions for black-box tests (CONTRACT §8.7). */
import { request as httpRequest } from 'node:http';
import { ApiClient, type ApiResponse } from './api.js';

export type Role = 'viewer' | 'operator' | 'admin';

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: unknown;
  text: string;
}

/**
 * One request with node's http client, so a test can choose the source address (any 127.0.0.0/8 address reaches a
 * loopback listener: a second "client address" for the login throttle) and read Set-Cookie as sent.
 */
export function httpCall(
  apiUrl: string,
  method: string,
  path: string,
  opts: { body?: unknown; headers?: Record<string, string>; localAddress?: string } = {},
): Promise<HttpAnswer> {
  const url = new URL(path, apiUrl);
  const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method,
        localAddress: opts.localAddress,
        headers: {
          ...(body !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } : {}),
          ...opts.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text.length > 0 ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, json, text });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export async function createUser(admin: ApiClient, username: string, password: string, role: Role): Promise<void> {
  const res = await admin.request('POST', '/api/v1/users', { username, password, role });
  if (res.status !== 201) throw new Error(`POST /api/v1/users answered ${res.status}: ${res.text}`);
}

export async function createKey(admin: ApiClient, name: string, role: Role): Promise<{ id: number; key: string }> {
  const res = await admin.request<{ id: number; key: string }>('POST', '/api/v1/api-keys', { name, role });
  if (res.status !== 201) throw new Error(`POST /api/v1/api-keys answered ${res.status}: ${res.text}`);
  return res.body;
}

/** Logs in; `cookie` is the `name=value` pair to send back (undefined when the login failed). */
export async function login(
  apiUrl: string,
  username: string,
  password: string,
  localAddress?: string,
): Promise<{ answer: HttpAnswer; setCookie: string | undefined; cookie: string | undefined }> {
  const answer = await httpCall(apiUrl, 'POST', '/api/v1/session', { body: { username, password }, ...(localAddress !== undefined ? { localAddress } : {}) });
  const raw = answer.headers['set-cookie'];
  const setCookie = Array.isArray(raw) ? raw[0] : raw;
  return { answer, setCookie, cookie: answer.status === 200 ? setCookie?.split(';')[0] : undefined };
}

/** An API client that authenticates with a session cookie instead of a bearer token. */
export class CookieClient extends ApiClient {
  constructor(
    baseUrl: string,
    readonly cookie: string,
  ) {
    super(baseUrl);
  }

  override request<T = unknown>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse<T>> {
    return super.request<T>(method, path, body, { ...headers, Cookie: this.cookie });
  }
}
