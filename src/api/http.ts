import { timingSafeEqual, createHash } from 'node:crypto';
import type { Logger } from '../log.js';
import type { HttpRequest, HttpResponse, TemplatedApp } from '../transport/uws.js';

/** An operator-facing failure: `{"error":{"code","message","details"}}` with its HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export interface ApiRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  headers: Record<string, string>;
  /** Parsed JSON body; undefined when there was none. */
  body: unknown;
  remoteAddress: string;
}

export interface ApiResponse {
  status: number;
  body?: unknown;
  /** Sent verbatim instead of JSON (metrics). */
  text?: string;
  contentType?: string;
}

/** `?name=true|false`: undefined when absent, a 400 for anything else. */
export function booleanQuery(request: ApiRequest, name: string): boolean | undefined {
  const value = request.query.get(name);
  if (value === null) return undefined;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new ApiError(400, 'invalid_query', `${name} must be true or false`);
}

export type RouteHandler = (request: ApiRequest) => Promise<ApiResponse> | ApiResponse;

export interface RouteOptions {
  /** `/api/` routes need the bearer token when one is configured; /health and /metrics do not. */
  public?: boolean;
}

const MAX_BODY_BYTES = 1024 * 1024;

const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: '200 OK',
  201: '201 Created',
  204: '204 No Content',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  409: '409 Conflict',
  413: '413 Payload Too Large',
  415: '415 Unsupported Media Type',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  502: '502 Bad Gateway',
  503: '503 Service Unavailable',
  504: '504 Gateway Timeout',
};

type Method = 'get' | 'put' | 'patch' | 'post' | 'del';

/**
 * A small router over uWS's own: reads headers synchronously, the body through onData, registers
 * onAborted, and writes the answer corked. No framework: uWS already routes by pattern.
 */
export class HttpRouter {
  private readonly tokenDigest: Buffer | undefined;

  constructor(
    private readonly app: TemplatedApp,
    private readonly log: Logger,
    apiToken: string | undefined,
  ) {
    this.tokenDigest = apiToken === undefined ? undefined : sha256(apiToken);
  }

  route(method: Method, pattern: string, handler: RouteHandler, options: RouteOptions = {}): void {
    const paramNames = [...pattern.matchAll(/:([A-Za-z]+)/g)].map((m) => m[1] as string);
    this.app[method](pattern, (res, req) => this.serve(res, req, paramNames, handler, options));
  }

  /** Anything no route matched: 404 for unknown paths. */
  fallback(): void {
    this.app.any('/*', (res, req) => {
      const path = req.getUrl();
      res.onAborted(() => {});
      writeResponse(res, errorResponse(new ApiError(404, 'not_found', `no route for ${req.getMethod().toUpperCase()} ${path}`)));
    });
  }

  private serve(res: HttpResponse, req: HttpRequest, paramNames: string[], handler: RouteHandler, options: RouteOptions): void {
    const params: Record<string, string> = {};
    paramNames.forEach((name, i) => {
      params[name] = safeDecode(req.getParameter(i));
    });
    const headers: Record<string, string> = {};
    req.forEach((key, value) => {
      headers[key] = value;
    });
    const request: ApiRequest = {
      method: req.getMethod().toUpperCase(),
      path: req.getUrl(),
      params,
      query: new URLSearchParams(req.getQuery() ?? ''),
      headers,
      body: undefined,
      remoteAddress: Buffer.from(res.getRemoteAddressAsText()).toString('latin1'),
    };
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const finish = (response: ApiResponse): void => {
      if (aborted) return;
      res.cork(() => writeResponse(res, response));
    };

    if (!options.public && !this.authorized(headers.authorization)) {
      finish(errorResponse(new ApiError(401, 'unauthorized', 'a valid "Authorization: Bearer <token>" header is required')));
      return;
    }

    const run = (): void => {
      Promise.resolve()
        .then(() => handler(request))
        .then(finish, (err: unknown) => {
          if (!(err instanceof ApiError)) this.log.error({ err, method: request.method, path: request.path }, 'API handler failed');
          finish(errorResponse(err));
        });
    };

    if (request.method === 'GET' || request.method === 'DELETE' || request.method === 'HEAD') {
      run();
      return;
    }
    readBody(res, (body, error) => {
      if (aborted) return;
      if (error !== undefined) {
        finish(errorResponse(error));
        return;
      }
      request.body = body;
      run();
    });
  }

  private authorized(header: string | undefined): boolean {
    if (this.tokenDigest === undefined) return true;
    const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
    if (match === null) return false;
    // Digests have equal length, so the comparison time says nothing about the token.
    return timingSafeEqual(sha256(match[1] as string), this.tokenDigest);
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function readBody(res: HttpResponse, done: (body: unknown, error?: ApiError) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let failed = false;
  res.onData((chunk, isLast) => {
    if (failed) return;
    size += chunk.byteLength;
    if (size > MAX_BODY_BYTES) {
      failed = true;
      done(undefined, new ApiError(413, 'payload_too_large', `request body exceeds ${MAX_BODY_BYTES} bytes`));
      return;
    }
    // The chunk is only valid during this callback.
    chunks.push(Buffer.from(chunk.slice(0)));
    if (!isLast) return;
    const text = Buffer.concat(chunks).toString('utf8');
    if (text.trim() === '') {
      done(undefined);
      return;
    }
    try {
      done(JSON.parse(text));
    } catch {
      done(undefined, new ApiError(400, 'invalid_json', 'request body is not valid JSON'));
    }
  });
}

export function errorResponse(err: unknown): ApiResponse {
  if (err instanceof ApiError) {
    return { status: err.status, body: { error: { code: err.code, message: err.message, ...(err.details !== undefined ? { details: err.details } : {}) } } };
  }
  return { status: 500, body: { error: { code: 'internal_error', message: 'internal error' } } };
}

function writeResponse(res: HttpResponse, response: ApiResponse): void {
  res.writeStatus(STATUS_TEXT[response.status] ?? `${response.status} Status`);
  if (response.status === 204) {
    res.end();
    return;
  }
  if (response.text !== undefined) {
    res.writeHeader('Content-Type', response.contentType ?? 'text/plain; charset=utf-8').end(response.text);
    return;
  }
  res.writeHeader('Content-Type', 'application/json').end(JSON.stringify(response.body ?? {}));
}
