import type { RouteHandler } from './http.js';

/**
 * One operator route, described once: the router mounts it, the OpenAPI document is generated from it,
 * and `body` names the schema (schemas/api.schema.json) its handler validates against.
 */
export interface RouteSpec {
  method: 'get' | 'put' | 'patch' | 'post' | 'del';
  /** OpenAPI style: /api/v1/stations/{id} */
  path: string;
  summary: string;
  tag: string;
  /** A definition of schemas/api.schema.json, or 'OcppRequest' for the commands endpoint. */
  body?: string;
  query?: Record<string, string>;
  responses: Record<number, string>;
  /** Served without the bearer token (/health, /metrics). */
  public?: boolean;
  handler: RouteHandler;
}

/** `/api/v1/stations/{id}` → uWS's `/api/v1/stations/:id`. */
export function uwsPattern(path: string): string {
  return path.replace(/\{([A-Za-z]+)\}/g, ':$1');
}
