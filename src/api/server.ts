import type { Logger } from '../log.js';
import type { CsmsMetrics } from '../metrics.js';
import type { TemplatedApp } from '../transport/uws.js';
import { ApiValidator } from './api-schemas.js';
import { HttpRouter, type HttpRouterOptions } from './http.js';
import { buildOpenApi } from './openapi.js';
import type { RouteSpec } from './route-spec.js';

export interface ApiServerDeps {
  metrics: CsmsMetrics;
  log: Logger;
  apiToken: string | undefined;
  /** CSMS_API_MAX_BODY */
  maxBodyBytes: number;
  /** CSMS_API_HOSTS */
  allowedHosts: readonly string[];
  /** CSMS_API_HOST (an IP literal bind address is an allowed Host too) */
  bindHost: string;
  version: string;
  /** Becomes true once every listener is up (CONTRACT §1: /health answers 200 only then). */
  isReady: () => boolean;
  /** The store's state (CONTRACT §1 "degraded"); /health answers 503 degraded while it is down. */
  storeHealth?: () => { up: boolean; reason: string | undefined };
  /** Accounts, keys and sessions (src/operators/auth.ts); without it only CSMS_API_TOKEN is checked. */
  authenticate?: HttpRouterOptions['authenticate'];
  /** Where state-changing requests are recorded (the audit trail). */
  audit?: HttpRouterOptions['audit'];
}

/** Mounts the operator API, /health, /metrics and /api/v1/openapi.json on a uWS app. */
export function mountApi(app: TemplatedApp, deps: ApiServerDeps, routes: readonly RouteSpec[]): void {
  const router = new HttpRouter(app, deps.log, new ApiValidator(), {
    apiToken: deps.apiToken,
    maxBodyBytes: deps.maxBodyBytes,
    allowedHosts: deps.allowedHosts,
    bindHost: deps.bindHost,
    ...(deps.authenticate !== undefined ? { authenticate: deps.authenticate } : {}),
    ...(deps.audit !== undefined ? { audit: deps.audit } : {}),
  });
  const builtIn: RouteSpec[] = [
    {
      method: 'get',
      path: '/health',
      summary: 'Readiness: 200 {"status":"ok"} once every listener is up and while the store takes writes',
      tag: 'Operations',
      role: 'public',
      responses: { 200: 'Ready', 503: 'Starting or stopping, or the store is degraded ({"status":"degraded","reason":…})' },
      handler: () => {
        if (!deps.isReady()) return { status: 503, body: { status: 'unavailable' } };
        const store = deps.storeHealth?.();
        if (store !== undefined && !store.up) return { status: 503, body: { status: 'degraded', reason: store.reason ?? 'store unavailable' } };
        return { status: 200, body: { status: 'ok' } };
      },
    },
    {
      method: 'get',
      path: '/metrics',
      summary: 'Prometheus metrics (text exposition format)',
      tag: 'Operations',
      role: 'public',
      responses: { 200: 'Metrics' },
      handler: async () => ({ status: 200, text: await deps.metrics.render(), contentType: deps.metrics.registry.contentType }),
    },
  ];
  let openApi: object | undefined;
  const openApiRoute: RouteSpec = {
    method: 'get',
    path: '/api/v1/openapi.json',
    role: 'viewer',
    summary: 'This document',
    tag: 'Operations',
    responses: { 200: 'OpenAPI 3.1 document' },
    handler: () => ({ status: 200, body: (openApi ??= buildOpenApi(all, deps.version)) }),
  };
  const all: RouteSpec[] = [...builtIn, openApiRoute, ...routes];
  router.mount(all);
}
