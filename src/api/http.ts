import { CommandRefusal } from '../station/types.js';
import { StoreUnavailableError } from '../store/store-guard.js';
import { timingSafeEqual, createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { roleAllows, type Principal } from '../operators/auth.js';
import type { AuditOutcome, AuditWrite } from '../operators/store.js';
import type { Logger } from '../log.js';
import type { HttpRequest, HttpResponse, TemplatedApp } from '../transport/uws.js';
import type { ApiValidator } from './api-schemas.js';
import { pathMatcher, uwsPattern, type QueryParam, type RouteSpec } from './route-spec.js';

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

export interface ApiRequest<Body = unknown> {
  method: string;
  path: string;
  params: Record<string, string>;
  /** Declared query parameters have been checked by the router (RouteSpec.query). */
  query: URLSearchParams;
  headers: Record<string, string>;
  /** The JSON body, validated against the route's `body` schema; undefined on routes without one. */
  body: Body;
  remoteAddress: string;
  /** Who is calling (undefined on public routes). */
  principal?: Principal | undefined;
  /** What a handler adds to the audit entry of this request (the login names the user it is about). */
  audit?: { target?: string };
}

/** One state-changing request as the router saw it, for the audit trail (CONTRACT §8.7): never a body or a secret. */
export type AuditedRequest = Omit<AuditWrite, 'at' | 'nodeId' | 'address'> & { address: string };

export interface ApiResponse {
  status: number;
  body?: unknown;
  /** Sent verbatim instead of JSON (metrics). */
  text?: string;
  /** Sent as is (static files), with `contentType`. */
  bytes?: Uint8Array;
  contentType?: string;
  /** Extra response headers (caching, encoding). */
  headers?: Record<string, string>;
  /** A body written over time (CSV, Server-Sent Events) instead of `body` / `text`. */
  stream?: StreamBody;
}

/** A streamed answer: the router writes the status and headers, then hands the connection to `start`. */
export interface StreamBody {
  contentType: string;
  start(out: ResponseStream): void;
}

/**
 * The open response of a streamed answer. uWS keeps whatever `write` could not send at once and says so by
 * returning false; the writer then waits for `onWritable` before writing more, so what is buffered per client
 * stays bounded by what the writer lets pile up (CSV: one page; SSE: see routes/stream.ts).
 */
export interface ResponseStream {
  /** False when (part of) the chunk waits in uWS's buffer: write no more before onWritable. */
  write(chunk: string): boolean;
  /** Called once the buffered data has gone out (after a write returned false). */
  onWritable(listener: () => void): void;
  /** Called once when the client went away (never after `end`). */
  onClose(listener: () => void): void;
  end(): void;
  /** Closes the connection at once, whatever is still buffered (a subscriber dropped for not reading). */
  destroy(): void;
  readonly closed: boolean;
}

/** `?name=true|false`: undefined when absent, a 400 for anything else. */
export function booleanQuery(request: ApiRequest, name: string): boolean | undefined {
  const value = request.query.get(name);
  if (value === null) return undefined;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new ApiError(400, 'invalid_query', `${name} must be true or false`);
}

/** `?name=<integer>`: the fallback when absent, a 400 for anything else. */
export function integerQuery(request: ApiRequest, name: string, fallback: number): number {
  const value = request.query.get(name);
  if (value === null) return fallback;
  if (!/^-?\d{1,15}$/.test(value)) throw new ApiError(400, 'invalid_query', `${name} must be an integer`);
  return Number(value);
}

export interface HttpRouterOptions {
  /** `/api/` routes need `Authorization: Bearer <token>` when one is configured; /health and /metrics do not. */
  apiToken: string | undefined;
  /** CSMS_API_MAX_BODY: larger bodies are answered 413 and the connection is closed. */
  maxBodyBytes: number;
  /** CSMS_API_HOSTS: Host names answered besides the loopback names (an entry without a port allows any port). */
  allowedHosts: readonly string[];
  /** CSMS_API_HOST: a bind address that is an IP literal is a Host the API answers to as well. */
  bindHost: string;
  /**
   * Who the credentials of a request stand for (undefined: missing or unknown → 401). Without it, the
   * bearer token alone is checked, as an admin.
   */
  authenticate?: (headers: Readonly<Record<string, string>>) => Promise<Principal | undefined>;
  /** Records a state-changing request; the answer waits until it resolves (the entry is durable first). */
  audit?: (entry: AuditedRequest) => Promise<void>;
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: '200 OK',
  201: '201 Created',
  204: '204 No Content',
  304: '304 Not Modified',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  409: '409 Conflict',
  413: '413 Payload Too Large',
  415: '415 Unsupported Media Type',
  421: '421 Misdirected Request',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  502: '502 Bad Gateway',
  503: '503 Service Unavailable',
  504: '504 Gateway Timeout',
};

const LOOPBACK_HOST_NAMES: readonly string[] = ['127.0.0.1', 'localhost', '[::1]'];
const HTTP_METHOD: Readonly<Record<RouteSpec['method'], string>> = { get: 'GET', put: 'PUT', patch: 'PATCH', post: 'POST', del: 'DELETE' };

/** What the router writes besides the response itself. */
interface Delivery {
  headers?: Record<string, string>;
  /** Close the connection after the answer (413: the rest of an oversized body is not read). */
  close?: boolean;
}

/**
 * A small router over uWS's own. Before any handler runs it enforces, on every request (CONTRACT §4):
 * Host (421, DNS-rebinding guard), Origin / Sec-Fetch-Site (403, a foreign web page), path and method (404 / 405
 * with Allow), the bearer token (401), body size (413, connection closed), Content-Type (415), JSON syntax
 * (400), the route's body schema and declared query parameters (400). Together these make the API unusable
 * from another site's page: a page can only send a cross-origin body without a CORS preflight as text/plain or
 * a form (415), a browser marks its requests with Origin / Sec-Fetch-Site (403), and DNS rebinding shows up as
 * a foreign Host (421).
 *
 * uWS rules: headers are read synchronously, the body through onData, onAborted is registered before anything
 * asynchronous, and the answer is written corked.
 */
export class HttpRouter {
  private readonly tokenDigest: Buffer | undefined;
  /** Host names allowed with any port. */
  private readonly hostNames: ReadonlySet<string>;
  /** `name:port` entries of CSMS_API_HOSTS, allowed exactly. */
  private readonly hostsWithPort: ReadonlySet<string>;
  private readonly paths: { matcher: RegExp; methods: string[] }[] = [];

  constructor(
    private readonly app: TemplatedApp,
    private readonly log: Logger,
    private readonly validator: ApiValidator,
    private readonly options: HttpRouterOptions,
  ) {
    this.tokenDigest = options.apiToken === undefined ? undefined : sha256(options.apiToken);
    const names = new Set(LOOPBACK_HOST_NAMES);
    const withPort = new Set<string>();
    for (const entry of options.allowedHosts.map((h) => h.trim().toLowerCase()).filter((h) => h.length > 0)) {
      if (splitHost(entry)?.port !== undefined) withPort.add(entry);
      else names.add(entry);
    }
    const bind = options.bindHost.toLowerCase();
    if (isIP(bind) === 4 && bind !== '0.0.0.0') names.add(bind);
    if (isIP(bind) === 6 && bind !== '::') names.add(`[${bind}]`);
    this.hostNames = names;
    this.hostsWithPort = withPort;
  }

  /** Mounts every route, then the fallback that answers 405 (known path) or 404 (unknown path). */
  mount(routes: readonly RouteSpec[]): void {
    for (const route of routes) {
      const body = route.body;
      if (body !== undefined && body !== 'OcppRequest' && !this.validator.has(body)) {
        throw new Error(`route ${route.method} ${route.path}: no API schema ${body}`);
      }
      const paramNames = [...route.path.matchAll(/\{([A-Za-z]+)\}/g)].map((m) => m[1] as string);
      this.app[route.method](uwsPattern(route.path), (res, req) => this.serve(res, req, paramNames, route));
      let known = this.paths.find((p) => p.matcher.source === pathMatcher(route.path).source);
      if (known === undefined) {
        known = { matcher: pathMatcher(route.path), methods: [] };
        this.paths.push(known);
      }
      known.methods.push(HTTP_METHOD[route.method]);
    }
    this.app.any('/*', (res, req) => this.fallback(res, req));
  }

  private fallback(res: HttpResponse, req: HttpRequest): void {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const method = req.getMethod().toUpperCase();
    const path = req.getUrl();
    const refusal = this.refuseRequest(req);
    if (refusal !== undefined) {
      if (refusal.status === 413) discardBody(res, req, () => aborted || deliver(res, errorResponse(refusal), { close: true }));
      else deliver(res, errorResponse(refusal));
      return;
    }
    const methods = this.paths.filter((p) => p.matcher.test(path)).flatMap((p) => p.methods);
    if (methods.length === 0) {
      deliver(res, errorResponse(new ApiError(404, 'not_found', `no route for ${method} ${path}`)));
      return;
    }
    const allow = [...new Set(methods)].join(', ');
    deliver(res, errorResponse(new ApiError(405, 'method_not_allowed', `${method} is not allowed on ${path}; allowed: ${allow}`)), {
      headers: { Allow: allow },
    });
  }

  /** The checks every request goes through, route or not: Host, Origin / Sec-Fetch-Site, declared body size. */
  private refuseRequest(req: HttpRequest): ApiError | undefined {
    const host = req.getHeader('host').toLowerCase();
    if (!this.hostAllowed(host)) {
      return new ApiError(421, 'misdirected_request', `this API does not answer to Host "${host}" (loopback names and CSMS_API_HOSTS only)`);
    }
    if (req.getHeader('sec-fetch-site').toLowerCase() === 'cross-site') {
      return new ApiError(403, 'cross_site_request', 'cross-site requests are refused');
    }
    const origin = req.getHeader('origin');
    if (origin !== '' && !sameOrigin(origin, host)) {
      return new ApiError(403, 'foreign_origin', `requests from origin "${origin}" are refused`);
    }
    const declaredLength = req.getHeader('content-length');
    if (/^\d+$/.test(declaredLength) && Number(declaredLength) > this.options.maxBodyBytes) {
      return tooLarge(this.options.maxBodyBytes);
    }
    return undefined;
  }

  private hostAllowed(host: string): boolean {
    if (this.hostsWithPort.has(host)) return true;
    const parts = splitHost(host);
    return parts !== undefined && this.hostNames.has(parts.name);
  }

  private serve(res: HttpResponse, req: HttpRequest, paramNames: string[], route: RouteSpec): void {
    let aborted = false;
    let onAbort: (() => void) | undefined;
    res.onAborted(() => {
      aborted = true;
      onAbort?.();
    });
    const method = req.getMethod().toUpperCase();
    const path = req.getUrl();
    const headers: Record<string, string> = {};
    req.forEach((key, value) => {
      headers[key] = value;
    });
    const params: Record<string, string> = {};
    paramNames.forEach((name, i) => {
      params[name] = safeDecode(req.getParameter(i));
    });
    const remoteAddress = Buffer.from(res.getRemoteAddressAsText()).toString('latin1');
    let answered = false;
    const request: ApiRequest = {
      method,
      path,
      params,
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- typed string, but it comes from uWS's native binding, which nothing checks
      query: new URLSearchParams(req.getQuery() ?? ''),
      headers,
      body: undefined,
      remoteAddress,
      audit: {},
    };

    const deliverNow = (response: ApiResponse, delivery: Delivery): void => {
      if (aborted) return;
      if (response.stream !== undefined) {
        const stream = new UwsResponseStream(res);
        onAbort = () => stream.aborted();
        deliverStream(res, response, response.stream, stream);
        return;
      }
      aborted = true; // answered: nothing else may touch res
      deliver(res, response, delivery);
    };
    // Every request that may change something is audited, refused or not (CONTRACT §8.7); its answer leaves once
    // the entry is committed, so no change is ever acknowledged without its trace.
    const finish = (response: ApiResponse, delivery: Delivery = {}): void => {
      if (answered) return;
      answered = true;
      const audit = this.options.audit;
      if (audit === undefined || method === 'GET') {
        deliverNow(response, delivery);
        return;
      }
      // A login names its user after the fact (request.principal), so the entry is built when the answer is ready.
      const entry = auditEntry(route, method, path, params, request.principal, request.audit?.target, response.status, remoteAddress);
      audit(entry).then(
        () => deliverNow(response, delivery),
        (err: unknown) => {
          // Only when the store refuses writes (CONTRACT §1 degraded). What was done is done (a command reached
          // its station): answering an error would invite the operator to do it twice. The answer says the
          // trace is missing, and the log keeps the entry.
          this.log.error({ err, event: 'audit_unwritten', ...entry }, 'audit entry not written');
          deliverNow({ ...response, headers: { ...response.headers, 'Stroom-Audit': 'unwritten' } }, delivery);
        },
      );
    };
    const fail = (err: ApiError): void => finish(errorResponse(err), { close: err.status === 413 });

    const refusal = this.refuseRequest(req);
    if (refusal !== undefined) {
      if (refusal.status === 413) discardBody(res, req, () => fail(refusal));
      else fail(refusal);
      return;
    }

    // Credentials are checked while the body arrives (uWS hands the body over only to a reader registered now);
    // nothing is decided on the body before the caller is known and allowed.
    const bodyName = route.body;
    const jsonBody = bodyName !== undefined && isJsonContentType(headers['content-type'] ?? '');
    let bodyRead: { value: unknown; error: ApiError | undefined } | undefined = jsonBody ? undefined : { value: undefined, error: undefined };
    const body = jsonBody
      ? new Promise<{ value: unknown; error: ApiError | undefined }>((resolve) => {
          readJsonBody(res, this.options.maxBodyBytes, (value, error) => resolve((bodyRead = { value, error })));
        })
      : Promise.resolve({ value: undefined, error: undefined });

    const authenticated: Promise<Principal | undefined> = route.role === 'public' ? Promise.resolve(undefined) : this.authenticate(headers);
    void authenticated
      .then(
        (who) => ({ who, error: undefined }),
        (err: unknown) => {
          this.log.error({ err, method, path }, 'credentials could not be checked');
          return { who: undefined, error: new ApiError(503, 'store_unavailable', 'credentials cannot be checked right now') };
        },
      )
      .then(async ({ who, error }) => {
        request.principal = who;
        if (error !== undefined || (route.role !== 'public' && (who === undefined || !roleAllows(who.role, route.role)))) {
          // Answered at once: a caller that may not send this request gets no say in how much of it we read. A body
          // still arriving (or an oversized one) is not read on; the connection closes after the answer.
          const close = bodyRead === undefined || bodyRead.error?.status === 413;
          if (error !== undefined) return finish(errorResponse(error), { close });
          if (who === undefined) {
            return finish(
              errorResponse(new ApiError(401, 'unauthorized', 'valid credentials are required: "Authorization: Bearer <token or API key>" or a session cookie')),
              { close },
            );
          }
          return finish(errorResponse(new ApiError(403, 'forbidden', `this needs the ${route.role} role; ${who.actor} has ${who.role}`)), { close });
        }
        const queryError = checkQuery(request.query, route.query ?? {});
        if (queryError !== undefined) return fail(queryError);
        if (bodyName !== undefined) {
          if (!jsonBody) return fail(new ApiError(415, 'unsupported_media_type', 'the request body must be sent as Content-Type: application/json'));
          const { value, error: bodyError } = await body;
          if (aborted) return undefined;
          try {
            if (bodyError !== undefined) throw bodyError;
            if (bodyName === 'OcppRequest') {
              if (typeof value !== 'object' || value === null || Array.isArray(value)) {
                throw new ApiError(400, 'invalid_body', 'the body must be a JSON object (the OCPP request payload)');
              }
            } else {
              this.validator.check(bodyName, value);
            }
          } catch (err) {
            return fail(err instanceof ApiError ? err : new ApiError(400, 'invalid_body', 'request body rejected'));
          }
          request.body = value;
        }
        try {
          return finish(await dispatch(route, request));
        } catch (err) {
          if (!(err instanceof ApiError) && !(err instanceof CommandRefusal)) this.log.error({ err, method: request.method, path: request.path }, 'API handler failed');
          return finish(errorResponse(err));
        }
      });
  }

  private authenticate(headers: Readonly<Record<string, string>>): Promise<Principal | undefined> {
    if (this.options.authenticate !== undefined) return this.options.authenticate(headers);
    if (this.tokenDigest === undefined) return Promise.resolve({ actor: 'anonymous', role: 'admin' });
    const match = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? '');
    if (match === null) return Promise.resolve(undefined);
    // Digests have equal length, so the comparison time says nothing about the token.
    return Promise.resolve(timingSafeEqual(sha256(match[1] as string), this.tokenDigest) ? { actor: 'token', role: 'admin' } : undefined);
  }
}

/** CONTRACT §8.7 outcome of an HTTP status. */
export function auditOutcome(status: number): AuditOutcome {
  if (status < 400) return 'ok';
  if (status === 401 || status === 403) return 'denied';
  if (status < 500) return 'rejected';
  return 'failed';
}

/**
 * The audit entry of a request. Its target is the station the path names (so `?stationId=` finds refused requests
 * too), else the user, key, webhook, site or tariff id in it, else what the handler named (a new user or key), else
 * the id token, else the first parameter.
 */
function auditEntry(
  route: RouteSpec,
  method: string,
  path: string,
  params: Readonly<Record<string, string>>,
  principal: Principal | undefined,
  handlerTarget: string | undefined,
  status: number,
  address: string,
): AuditedRequest {
  const stationId = route.path.startsWith('/api/v1/stations/{id}') ? params.id : params.stationId;
  const named = Object.values(params)[0];
  return {
    actor: principal?.actor ?? 'anonymous',
    role: principal?.role,
    method,
    path,
    target: stationId ?? params.username ?? params.id ?? handlerTarget ?? params.idToken ?? named,
    stationId,
    action: route.path.endsWith('/commands/{action}') ? params.action : undefined,
    outcome: auditOutcome(status),
    status,
    address,
  };
}

/**
 * Calls the route's handler with a request whose body the router has validated against `route.body`: the one
 * place where the validated `unknown` body becomes the route's generated body type.
 */
function dispatch(route: RouteSpec, request: ApiRequest): Promise<ApiResponse> | ApiResponse {
  return (route.handler as (request: ApiRequest) => Promise<ApiResponse> | ApiResponse)(request);
}

function checkQuery(query: URLSearchParams, declared: Record<string, QueryParam>): ApiError | undefined {
  for (const [name, spec] of Object.entries(declared)) {
    const values = query.getAll(name);
    if (values.length === 0) continue;
    if (values.length > 1) return new ApiError(400, 'invalid_query', `${name} may be given once`);
    const value = values[0] as string;
    if (spec.type === 'boolean' && value !== 'true' && value !== 'false') {
      return new ApiError(400, 'invalid_query', `${name} must be true or false`);
    }
    if (spec.type === 'integer') {
      const n = /^-?\d{1,15}$/.test(value) ? Number(value) : NaN;
      const min = spec.minimum ?? Number.MIN_SAFE_INTEGER;
      const max = spec.maximum ?? Number.MAX_SAFE_INTEGER;
      if (!Number.isInteger(n) || n < min || n > max) {
        return new ApiError(400, 'invalid_query', `${name} must be an integer from ${min} to ${max}`);
      }
    }
  }
  return undefined;
}

/** `name[:port]` with `[v6]` literals kept bracketed; undefined when it is not a host at all. */
function splitHost(host: string): { name: string; port: string | undefined } | undefined {
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(host);
  if (match === null) return undefined;
  return { name: match[1] as string, port: match[2] };
}

/** The API's own origin is `http(s)://<the Host it was asked under>`; anything else (`null` included) is foreign. */
function sameOrigin(origin: string, host: string): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  return url.host === host || `${url.hostname}:${url.protocol === 'https:' ? '443' : '80'}` === host;
}

/** `application/json`, optionally with a UTF-8 charset parameter. */
function isJsonContentType(value: string): boolean {
  const [mediaType, ...parameters] = value.split(';').map((part) => part.trim().toLowerCase());
  if (mediaType !== 'application/json') return false;
  return parameters.every((parameter) => {
    const [name, raw] = parameter.split('=', 2).map((s) => s.trim());
    return name === 'charset' && (raw === 'utf-8' || raw === '"utf-8"' || raw === 'utf8');
  });
}

function tooLarge(maxBodyBytes: number): ApiError {
  return new ApiError(413, 'payload_too_large', `request body exceeds ${maxBodyBytes} bytes (CSMS_API_MAX_BODY)`);
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

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * How much of an oversized body is still read (and thrown away) before the 413 goes out. Closing a socket
 * that has unread data makes the kernel answer with a reset, and the client may lose the 413 with it: so the
 * rest of the body is drained first, in constant memory. Beyond this the answer is written and the
 * connection closed at once (a client sending that much after the limit gets what it asked for).
 */
const DRAIN_LIMIT_BYTES = 64 * 1024 * 1024;

/** A request announced too large by its Content-Length: read the rest away (up to the drain limit), then answer. */
function discardBody(res: HttpResponse, req: HttpRequest, answer: () => void): void {
  const declared = Number(req.getHeader('content-length'));
  if (!(declared <= DRAIN_LIMIT_BYTES)) {
    answer();
    return;
  }
  let size = 0;
  let answered = false;
  res.onData((chunk, isLast) => {
    if (answered) return;
    size += chunk.byteLength;
    if (isLast || size > DRAIN_LIMIT_BYTES) {
      answered = true;
      answer();
    }
  });
}

/**
 * Reads the whole body and parses it as JSON. Too large (drained as above, then answered), empty, not UTF-8 or
 * not JSON: an ApiError.
 */
function readJsonBody(res: HttpResponse, maxBodyBytes: number, done: (body: unknown, error?: ApiError) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let settled = false;
  res.onData((chunk, isLast) => {
    if (settled) return;
    size += chunk.byteLength;
    if (size > maxBodyBytes) {
      chunks.length = 0;
      if (isLast || size > DRAIN_LIMIT_BYTES) {
        settled = true;
        done(undefined, tooLarge(maxBodyBytes));
      }
      return;
    }
    // The chunk is only valid during this callback.
    chunks.push(Buffer.from(chunk.slice(0)));
    if (!isLast) return;
    settled = true;
    let text: string;
    try {
      text = utf8.decode(Buffer.concat(chunks));
    } catch {
      done(undefined, new ApiError(400, 'invalid_json', 'request body is not UTF-8'));
      return;
    }
    if (text.trim() === '') {
      done(undefined, new ApiError(400, 'invalid_json', 'request body is empty; this route takes a JSON body'));
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
  // A command the CSMS refused before sending (CONTRACT §4 commands table), from whichever route ran it.
  if (err instanceof ApiError || err instanceof CommandRefusal) {
    return { status: err.status, body: { error: { code: err.code, message: err.message, ...(err.details !== undefined ? { details: err.details } : {}) } } };
  }
  // CONTRACT §1 degraded: the request was not carried out and may be repeated once the store is back.
  if (err instanceof StoreUnavailableError) {
    return {
      status: 503,
      headers: { 'Retry-After': '5' },
      body: { error: { code: 'store_unavailable', message: 'the store is unavailable; nothing was changed, retry later' } },
    };
  }
  return { status: 500, body: { error: { code: 'internal_error', message: 'internal error' } } };
}

/** Writes the answer corked. With `close`, uWS adds `Connection: close` and closes the connection once it is sent. */
function deliver(res: HttpResponse, response: ApiResponse, delivery: Delivery = {}): void {
  res.cork(() => {
    res.writeStatus(STATUS_TEXT[response.status] ?? `${response.status} Status`);
    for (const [name, value] of Object.entries({ ...delivery.headers, ...response.headers })) res.writeHeader(name, value);
    if (response.bytes !== undefined) {
      res.writeHeader('Content-Type', response.contentType ?? 'application/octet-stream').end(response.bytes, delivery.close ?? false);
      return;
    }
    if (response.status === 204 || response.status === 304) {
      res.end(undefined, delivery.close ?? false);
      return;
    }
    if (response.text !== undefined) {
      res.writeHeader('Content-Type', response.contentType ?? 'text/plain; charset=utf-8').end(response.text, delivery.close ?? false);
      return;
    }
    res.writeHeader('Content-Type', 'application/json').end(JSON.stringify(response.body ?? {}), delivery.close ?? false);
  });
}

/** Status and headers, then the stream's own writes; the first chunk leaves with the headers (corked). */
function deliverStream(res: HttpResponse, response: ApiResponse, body: StreamBody, stream: UwsResponseStream): void {
  res.cork(() => {
    res.writeStatus(STATUS_TEXT[response.status] ?? `${response.status} Status`);
    for (const [name, value] of Object.entries(response.headers ?? {})) res.writeHeader(name, value);
    res.writeHeader('Content-Type', body.contentType);
    stream.corked = true;
    try {
      body.start(stream);
    } finally {
      stream.corked = false;
    }
  });
}

class UwsResponseStream implements ResponseStream {
  #closed = false;
  #writable: (() => void) | undefined;
  #close: (() => void) | undefined;
  #waiting = false;
  /** Inside a cork already (the first writes leave with the headers): a nested cork would uncork too early. */
  corked = false;

  constructor(private readonly res: HttpResponse) {}

  get closed(): boolean {
    return this.#closed;
  }

  write(chunk: string): boolean {
    if (this.#closed) return false;
    let ok = false;
    if (this.corked) ok = this.res.write(chunk);
    else
      this.res.cork(() => {
        ok = this.res.write(chunk);
      });
    if (!ok && !this.#waiting) {
      this.#waiting = true;
      this.res.onWritable(() => {
        this.#waiting = false;
        if (!this.#closed) this.#writable?.();
        // uWS buffered the whole chunk: nothing to retry here.
        return true;
      });
    }
    return ok;
  }

  onWritable(listener: () => void): void {
    this.#writable = listener;
  }

  onClose(listener: () => void): void {
    this.#close = listener;
  }

  end(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.corked) this.res.end();
    else this.res.cork(() => this.res.end());
  }

  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    // uWS calls onAborted for this; `aborted` then finds the stream closed already.
    this.res.close();
  }

  /** The client went away: res must not be touched any more. */
  aborted(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#close?.();
  }
}
