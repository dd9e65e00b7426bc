/**
 * Operator API request rules (CONTRACT §4, top; issue 13 item 2): a web page must not be able to drive the API.
 * Every route is taken from the served OpenAPI document, so a new route is walked without touching this file:
 * Host (421), Origin / Sec-Fetch-Site (403), wrong method (405 + Allow), Content-Type (415), malformed JSON,
 * wrong types, unknown fields, huge strings (400), and bodies over CSMS_API_MAX_BODY (413, answered — not a
 * reset — then the connection closes). All over real sockets against a real CSMS.
 */
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config.js';
import { rawHttp, type RawHttpRequest, type RawHttpResponse } from '../support/api.js';
import { withCsms, type TestCsms } from '../support/csms.js';
import { uniqueIdentity } from '../support/station.js';

const HTTP_METHODS = ['get', 'put', 'patch', 'post', 'delete'] as const;
type HttpMethod = (typeof HTTP_METHODS)[number];

interface SchemaObject {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  properties?: Record<string, SchemaObject>;
  required?: string[];
  minLength?: number;
  minimum?: number;
  format?: string;
}

interface Operation {
  method: HttpMethod;
  /** OpenAPI path, e.g. /api/v1/stations/{id} */
  template: string;
  /** Name of the body schema (components.schemas), when the operation takes a body. */
  bodySchema: string | undefined;
  /** Every method the path answers to. */
  pathMethods: HttpMethod[];
  isPublic: boolean;
}

interface OpenApiDocument {
  paths: Record<string, Partial<Record<HttpMethod, { requestBody?: { content: Record<string, { schema: SchemaObject }> }; security?: unknown[] }>>>;
  components: { schemas: Record<string, SchemaObject> };
}

async function openApi(csms: TestCsms): Promise<OpenApiDocument> {
  const res = await csms.api.openapi();
  expect(res.status).toBe(200);
  return res.body as unknown as OpenApiDocument;
}

function operations(doc: OpenApiDocument): Operation[] {
  const out: Operation[] = [];
  for (const [template, item] of Object.entries(doc.paths)) {
    const pathMethods = HTTP_METHODS.filter((m) => item[m] !== undefined);
    for (const method of pathMethods) {
      const op = item[method];
      const ref = op?.requestBody?.content['application/json']?.schema.$ref;
      out.push({
        method,
        template,
        bodySchema: ref?.replace('#/components/schemas/', ''),
        pathMethods,
        isPublic: Array.isArray(op?.security) && op.security.length === 0,
      });
    }
  }
  return out;
}

/** Path parameters that reach past the parameter checks (a registered station, a real action, a token type). */
function concretePath(template: string, stationId: string): string {
  const values: Record<string, string> = {
    id: encodeURIComponent(stationId),
    action: 'Reset',
    type: 'ISO14443',
    idToken: uniqueIdentity('tok').slice(-20).toUpperCase(),
    requestId: '1',
    transactionId: 'tx-1',
  };
  return template.replace(/\{([A-Za-z]+)\}/g, (_, name: string) => values[name] ?? 'x');
}

function resolve(doc: OpenApiDocument, schema: SchemaObject): SchemaObject {
  return schema.$ref === undefined ? schema : resolve(doc, doc.components.schemas[schema.$ref.replace('#/components/schemas/', '')] ?? {});
}

/** A small valid value of a schema (first enum value, shortest string, …). */
function validValue(doc: OpenApiDocument, raw: SchemaObject): unknown {
  const schema = resolve(doc, raw);
  if (schema.enum !== undefined) return schema.enum[0];
  if (schema.format === 'date-time') return '2030-01-01T00:00:00Z';
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (type === 'string') return 'x'.repeat(schema.minLength ?? 1);
  if (type === 'integer' || type === 'number') return schema.minimum ?? 1;
  if (type === 'boolean') return true;
  return {};
}

/** Property names and schemas of a body; OcppRequest is the Reset request here (the path names Reset). */
function bodyProperties(doc: OpenApiDocument, bodySchema: string): Record<string, SchemaObject> {
  if (bodySchema === 'OcppRequest') return { type: { enum: ['Immediate', 'OnIdle'] }, evseId: { type: 'integer' } };
  return resolve(doc, { $ref: `#/components/schemas/${bodySchema}` }).properties ?? {};
}

function validBody(doc: OpenApiDocument, bodySchema: string): Record<string, unknown> {
  if (bodySchema === 'OcppRequest') return { type: 'Immediate' };
  const schema = resolve(doc, { $ref: `#/components/schemas/${bodySchema}` });
  const properties = schema.properties ?? {};
  const names = (schema.required ?? []).length > 0 ? (schema.required ?? []) : Object.keys(properties).slice(-1);
  return Object.fromEntries(names.map((name) => [name, validValue(doc, properties[name] ?? {})]));
}

function expectError(res: RawHttpResponse, status: number, what: string): void {
  expect(res.status, `${what}: ${res.text.slice(0, 300)}`).toBe(status);
  expect(res.json, `${what}: JSON error body`).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } });
}

function describeOp(op: Operation, note: string): string {
  return `${op.method.toUpperCase()} ${op.template}: ${note}`;
}

/** Sends `request` to every operation's concrete path (with the token when there is one). */
function tokenHeader(csms: TestCsms): Record<string, string> {
  return csms.api.token === undefined ? {} : { Authorization: `Bearer ${csms.api.token}` };
}

async function send(csms: TestCsms, request: RawHttpRequest): Promise<RawHttpResponse> {
  return rawHttp(csms.csms.apiPort, { ...request, headers: { ...tokenHeader(csms), ...request.headers } });
}

const JSON_TYPE = { 'Content-Type': 'application/json' };

/**
 * What stays true after any refused request: nothing was created or changed. Registered by each walk: a fresh
 * station id (PUT would create it), a fresh token (PUT would create it), and a registered station whose
 * bootPolicy a PATCH would change.
 */
async function expectNothingDone(csms: TestCsms, stationId: string, path: string): Promise<void> {
  if (/^\/api\/v1\/stations\/[^/]+$/.test(path) && path.endsWith(encodeURIComponent(stationId))) {
    const station = await csms.api.getStation(stationId);
    expect(station.status, `${path} left the station alone`).toBe(200);
    expect(station.body.bootPolicy).toBe('Pending');
  }
  if (path.startsWith('/api/v1/id-tokens/')) {
    expect((await send(csms, { method: 'GET', path })).status, `${path} was not created`).toBe(404);
  }
}

function walkRules(h: { readonly csms: TestCsms }): void {
  /** A registered station (bootPolicy Pending, never connected): commands to it would answer 409 if they got through. */
  async function setUp(): Promise<{ doc: OpenApiDocument; ops: Operation[]; stationId: string }> {
    const { identity } = await h.csms.register({ prefix: 'harden', bootPolicy: 'Pending' });
    const doc = await openApi(h.csms);
    const ops = operations(doc);
    expect(ops.length).toBeGreaterThanOrEqual(15);
    expect(ops.filter((op) => op.bodySchema !== undefined).map((op) => op.bodySchema)).toEqual(
      expect.arrayContaining(['StationPut', 'StationPatch', 'IdTokenPut', 'OcppRequest']),
    );
    return { doc, ops, stationId: identity };
  }

  it('answers a foreign Host with 421 on every route, /health and /metrics included; loopback names pass', async () => {
    const { ops, stationId } = await setUp();
    const port = h.csms.csms.apiPort;
    for (const op of ops) {
      const path = concretePath(op.template, stationId);
      for (const host of ['evil.example', `evil.example:${port}`, `localhost.evil.example:${port}`, `127.0.0.1.nip.io:${port}`, '']) {
        const res = await send(h.csms, { method: op.method.toUpperCase(), path, headers: { Host: host, ...JSON_TYPE }, body: op.bodySchema ? '{}' : undefined });
        expectError(res, 421, describeOp(op, `Host "${host}"`));
      }
      await expectNothingDone(h.csms, stationId, path);
    }
    for (const host of ['127.0.0.1', `127.0.0.1:${port}`, `localhost:${port}`, 'LOCALHOST', `[::1]:${port}`]) {
      const res = await send(h.csms, { method: 'GET', path: '/health', headers: { Host: host } });
      expect(res.status, `Host ${host}`).toBe(200);
    }
  });

  it('answers a foreign Origin, Origin null and Sec-Fetch-Site: cross-site with 403 on every route; its own origin passes', async () => {
    const { doc, ops, stationId } = await setUp();
    const port = h.csms.csms.apiPort;
    const foreign: Record<string, string>[] = [
      { Origin: 'https://evil.example' },
      { Origin: 'null' },
      // Same site (localhost), other port: another local web app is still a foreign origin.
      { Origin: `http://localhost:${port + 1}` },
      { Origin: `http://127.0.0.1:${port}.evil.example` },
      { 'Sec-Fetch-Site': 'cross-site' },
    ];
    for (const op of ops) {
      const path = concretePath(op.template, stationId);
      for (const headers of foreign) {
        const body = op.bodySchema === undefined ? undefined : JSON.stringify(validBody(doc, op.bodySchema));
        const res = await send(h.csms, { method: op.method.toUpperCase(), path, headers: { ...headers, ...JSON_TYPE }, body });
        expectError(res, 403, describeOp(op, JSON.stringify(headers)));
      }
      await expectNothingDone(h.csms, stationId, path);
    }
    const own = await send(h.csms, {
      method: 'GET',
      path: `/api/v1/stations/${stationId}`,
      headers: { Origin: `http://127.0.0.1:${port}`, 'Sec-Fetch-Site': 'same-origin' },
    });
    expect(own.status).toBe(200);
  });

  it('answers a wrong method with 405 and an Allow header listing the methods; unknown paths stay 404', async () => {
    const { ops, stationId } = await setUp();
    const seen = new Set<string>();
    for (const op of ops) {
      if (seen.has(op.template)) continue;
      seen.add(op.template);
      const path = concretePath(op.template, stationId);
      const allowed = op.pathMethods.map((m) => m.toUpperCase());
      for (const method of HTTP_METHODS.filter((m) => !op.pathMethods.includes(m))) {
        const res = await send(h.csms, { method: method.toUpperCase(), path, headers: JSON_TYPE, body: method === 'get' || method === 'delete' ? undefined : '{}' });
        expectError(res, 405, `${method.toUpperCase()} ${op.template}`);
        const allow = String(res.headers.allow ?? '')
          .split(',')
          .map((m) => m.trim())
          .filter((m) => m !== '');
        expect(allow.sort(), `${method.toUpperCase()} ${op.template}: Allow`).toEqual([...allowed].sort());
      }
      await expectNothingDone(h.csms, stationId, path);
    }
    for (const path of ['/api/v1/nothing-here', '/api/v2/stations', `/api/v1/stations/${stationId}/nothing`]) {
      for (const method of ['GET', 'POST', 'DELETE']) {
        expectError(await send(h.csms, { method, path, headers: JSON_TYPE, body: method === 'POST' ? '{}' : undefined }), 404, `${method} ${path}`);
      }
    }
  });

  it('answers a body that is not application/json with 415 (the cross-site form and text/plain POST) and does nothing', async () => {
    const { doc, ops, stationId } = await setUp();
    const bodyOps = ops.filter((op) => op.bodySchema !== undefined);
    for (const op of bodyOps) {
      const path = concretePath(op.template, stationId);
      const body = JSON.stringify(validBody(doc, op.bodySchema ?? ''));
      for (const contentType of [
        'text/plain',
        'text/plain;charset=UTF-8',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/jsonx',
        'application/json; charset=latin1',
        undefined,
      ]) {
        const headers: Record<string, string> = contentType === undefined ? {} : { 'Content-Type': contentType };
        const res = await send(h.csms, { method: op.method.toUpperCase(), path, headers, body });
        expectError(res, 415, describeOp(op, `Content-Type ${contentType ?? '(none)'}`));
      }
      // The charset parameter is allowed.
      const withCharset = await send(h.csms, {
        method: op.method.toUpperCase(),
        path,
        headers: { 'Content-Type': 'application/json; charset=utf-8' },
        body: '{"zzUnknown":1}',
      });
      expect(withCharset.status, describeOp(op, 'charset=utf-8 reaches validation')).toBe(400);
      await expectNothingDone(h.csms, stationId, path);
    }
  });

  it('answers malformed, empty, non-object and non-UTF-8 bodies with 400 on every route that takes a body', async () => {
    const { ops, stationId } = await setUp();
    const bad: Array<[string, string | Buffer]> = [
      ['truncated', '{"securityProfile":'],
      ['trailing garbage', '{"bootPolicy":"Accepted"} x'],
      ['single quotes', "{'bootPolicy':'Accepted'}"],
      ['empty', ''],
      ['whitespace', '  \r\n '],
      ['null', 'null'],
      ['array', '[{"bootPolicy":"Accepted"}]'],
      ['string', '"Accepted"'],
      ['number', '1'],
      ['not UTF-8', Buffer.from([0x7b, 0x22, 0x73, 0x74, 0x61, 0x74, 0x75, 0x73, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
    ];
    for (const op of ops.filter((o) => o.bodySchema !== undefined)) {
      const path = concretePath(op.template, stationId);
      for (const [what, body] of bad) {
        const res = await send(h.csms, { method: op.method.toUpperCase(), path, headers: JSON_TYPE, body });
        expectError(res, 400, describeOp(op, what));
      }
      await expectNothingDone(h.csms, stationId, path);
    }
  });

  it('answers wrong types, unknown fields and huge strings with 400 listing the violations', async () => {
    const { doc, ops, stationId } = await setUp();
    const limit = Number(h.csms.config.CSMS_API_MAX_BODY ?? 1024 * 1024);
    for (const op of ops.filter((o) => o.bodySchema !== undefined)) {
      const schema = op.bodySchema ?? '';
      const path = concretePath(op.template, stationId);
      const valid = validBody(doc, schema);
      const properties = Object.keys(bodyProperties(doc, schema));
      expect(properties.length, describeOp(op, 'has properties')).toBeGreaterThan(0);
      // As long as the body stays under CSMS_API_MAX_BODY (this is about content, not size).
      const huge = 'A'.repeat(Math.min(200_000, Math.floor(limit / (properties.length + 2)) - 64));
      const cases: Array<[string, Record<string, unknown>]> = [
        ['unknown field', { ...valid, zzUnknown: 1 }],
        ['wrong types', Object.fromEntries(properties.map((p) => [p, { nested: [true] }]))],
        ['huge strings', { ...valid, ...Object.fromEntries(properties.map((p) => [p, huge])) }],
        ['huge unknown field', { ...valid, [`k${huge.slice(0, huge.length / 4)}`]: huge.slice(0, huge.length / 2) }],
      ];
      for (const [what, body] of cases) {
        const res = await send(h.csms, { method: op.method.toUpperCase(), path, headers: JSON_TYPE, body: JSON.stringify(body) });
        expectError(res, 400, describeOp(op, what));
        expect((res.json as { error: { details?: unknown } }).error.details, describeOp(op, `${what}: violations listed`)).toBeDefined();
        expect(res.text.length, describeOp(op, `${what}: the answer does not echo the huge input`)).toBeLessThan(100_000);
      }
      await expectNothingDone(h.csms, stationId, path);
    }
  });

  it('answers a body over CSMS_API_MAX_BODY with a 413 JSON answer (not a reset), then closes the connection', async () => {
    const { ops, stationId } = await setUp();
    const limit = Number(h.csms.config.CSMS_API_MAX_BODY ?? 1024 * 1024);
    const padded = (size: number): string => `{"password":"${'p'.repeat(size - 15)}"}`;
    for (const op of ops) {
      const path = concretePath(op.template, stationId);
      const method = op.method.toUpperCase();
      const declared = await send(h.csms, { method, path, headers: JSON_TYPE, body: padded(limit + 1) });
      expectError(declared, 413, describeOp(op, `${limit + 1} bytes`));
      expect(declared.headers.connection, describeOp(op, 'connection closes')).toBe('close');
      if (op.bodySchema === undefined) continue;
      // Without Content-Length (chunked) the size is only known while reading: still a 413 answer.
      const chunked = await send(h.csms, { method, path, headers: { ...JSON_TYPE, 'Transfer-Encoding': 'chunked' }, body: padded(limit * 2) });
      expectError(chunked, 413, describeOp(op, 'chunked body over the limit'));
      expect(chunked.headers.connection).toBe('close');
      await expectNothingDone(h.csms, stationId, path);
    }
    // 10 MB: the 413 answer arrives before the connection goes.
    const big = await send(h.csms, { method: 'PUT', path: `/api/v1/stations/${uniqueIdentity('big')}`, headers: JSON_TYPE, body: Buffer.alloc(10 * 1024 * 1024, 0x20) });
    expectError(big, 413, '10 MB PUT');
    // Exactly at the limit is read (and then judged on its content).
    const atLimit = await send(h.csms, { method: 'PATCH', path: `/api/v1/stations/${stationId}`, headers: JSON_TYPE, body: padded(limit) });
    expectError(atLimit, 400, 'a body of exactly CSMS_API_MAX_BODY bytes is read');
    expect((await h.csms.api.health()).status).toBe(200);
  });

  it('checks declared query parameters before the handler runs', async () => {
    const { stationId } = await setUp();
    for (const path of [
      '/api/v1/stations?connected=yes',
      `/api/v1/stations/${stationId}/events?limit=0`,
      `/api/v1/stations/${stationId}/events?limit=abc`,
      `/api/v1/stations/${stationId}/transactions?active=1`,
    ]) {
      expectError(await send(h.csms, { method: 'GET', path }), 400, path);
    }
    expect((await send(h.csms, { method: 'GET', path: `/api/v1/stations/${stationId}/events?limit=5` })).status).toBe(200);
  });

  it('still serves well-formed requests after all of the above', async () => {
    const id = uniqueIdentity('after');
    const put = await send(h.csms, {
      method: 'PUT',
      path: `/api/v1/stations/${id}`,
      headers: { 'Content-Type': 'application/json; charset=UTF-8' },
      body: '{"securityProfile":1}',
    });
    expect(put.status).toBe(201);
    expect((await h.csms.api.patchStation(id, { bootPolicy: 'Accepted' })).body.bootPolicy).toBe('Accepted');
  });
}

describe('without CSMS_API_TOKEN (loopback default)', () => {
  const h = withCsms();
  walkRules(h);
});

describe('with CSMS_API_TOKEN, CSMS_API_HOSTS and a smaller CSMS_API_MAX_BODY', () => {
  const token = 'hardening-test-token-0123456789';
  const h = withCsms({ CSMS_API_TOKEN: token, CSMS_API_HOSTS: 'csms.example.test, ops.example.test:8443', CSMS_API_MAX_BODY: 4096 });
  walkRules(h);

  it('answers to the CSMS_API_HOSTS names (an entry with a port only on that port)', async () => {
    const port = h.csms.csms.apiPort;
    for (const host of ['csms.example.test', `csms.example.test:${port}`, 'CSMS.example.test', 'ops.example.test:8443']) {
      expect((await send(h.csms, { method: 'GET', path: '/health', headers: { Host: host } })).status, host).toBe(200);
    }
    for (const host of ['ops.example.test', `ops.example.test:${port}`, 'example.test']) {
      expectError(await send(h.csms, { method: 'GET', path: '/health', headers: { Host: host } }), 421, host);
    }
    const viaName = await send(h.csms, {
      method: 'GET',
      path: '/api/v1/stations',
      headers: { Host: `csms.example.test:${port}`, Origin: `http://csms.example.test:${port}` },
    });
    expect(viaName.status).toBe(200);
  });

  it('a request without the token is refused with 401 before its body is looked at', async () => {
    const res = await rawHttp(h.csms.csms.apiPort, {
      method: 'PUT',
      path: `/api/v1/stations/${uniqueIdentity('notoken')}`,
      headers: JSON_TYPE,
      body: '{"securityProfile":1}',
    });
    expectError(res, 401, 'no token');
  });
});

describe('configuration', () => {
  it('refuses a non-loopback CSMS_API_HOST without CSMS_API_TOKEN, naming the key in one line', () => {
    expect(() => resolveConfig({ CSMS_API_HOST: '0.0.0.0' })).toThrow(/^invalid configuration: CSMS_API_TOKEN: .*$/);
    expect(() => resolveConfig({ CSMS_API_HOST: '0.0.0.0', CSMS_API_TOKEN: 'a-long-enough-token-123' })).not.toThrow();
    expect(resolveConfig({}).apiMaxBodyBytes).toBe(1024 * 1024);
    expect(resolveConfig({ CSMS_API_HOSTS: 'a.example, b.example:1' }).apiHosts).toEqual(['a.example', 'b.example:1']);
    expect(() => resolveConfig({ CSMS_API_MAX_BODY: 'lots' })).toThrow(/CSMS_API_MAX_BODY/);
  });
});
