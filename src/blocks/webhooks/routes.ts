import { ApiError, type ApiRequest } from '../../api/http.js';
import type { RouteSpec } from '../../api/route-spec.js';
import { generateSecret, secretProblem } from './signing.js';
import type { WebhookRecord, WebhookSql } from './webhook-sql.js';

const WEBHOOK_ID = /^[A-Za-z0-9._~-]{1,64}$/;
const DEFAULT_DELIVERIES = 100;
const MAX_DELIVERIES = 500;

function webhookId(request: ApiRequest): string {
  const id = request.params.id ?? '';
  if (!WEBHOOK_ID.test(id)) throw new ApiError(400, 'invalid_webhook_id', 'a webhook id is 1-64 letters, digits, ".", "_", "~" or "-"');
  return id;
}

/** A webhook as the API shows it: never its secret (CONTRACT §8.7). */
export function webhookView(webhook: WebhookRecord): Record<string, unknown> {
  return {
    id: webhook.id,
    url: webhook.url,
    events: webhook.events,
    active: webhook.active,
    createdAt: webhook.createdAt.toISOString(),
    updatedAt: webhook.updatedAt.toISOString(),
  };
}

function checkUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ApiError(400, 'invalid_url', 'url is not a URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new ApiError(400, 'invalid_url', 'url must be http or https');
}

/** CONTRACT §8.7 webhooks: admins manage them, viewers read them (never the secret). */
export function webhookRoutes(deps: { sql: WebhookSql; onChange: () => Promise<void> }): RouteSpec[] {
  const { sql, onChange } = deps;
  const requireWebhook = async (request: ApiRequest): Promise<WebhookRecord> => {
    const webhook = await sql.get(webhookId(request));
    if (webhook === undefined) throw new ApiError(404, 'unknown_webhook', `no webhook ${request.params.id ?? ''}`);
    return webhook;
  };
  return [
    {
      method: 'put',
      path: '/api/v1/webhooks/{id}',
      role: 'admin',
      summary: 'Create or replace a webhook; a generated secret is returned in this answer only',
      tag: 'Webhooks',
      body: 'WebhookPut',
      responses: { 200: 'Webhook updated', 201: 'Webhook created (with `secret` when it was generated)', 400: 'Invalid id or body' },
      handler: async (request) => {
        const id = webhookId(request);
        const body = request.body;
        checkUrl(body.url);
        if (body.secret !== undefined) {
          const problem = secretProblem(body.secret);
          if (problem !== undefined) throw new ApiError(400, 'invalid_secret', problem);
        }
        const generated = generateSecret();
        const { webhook, created } = await sql.put(id, { url: body.url, events: body.events, secret: body.secret, active: body.active ?? true }, generated);
        await onChange();
        // Shown once: only when this answer created the secret (a given one, or the one kept on update, never).
        const view = created && body.secret === undefined ? { ...webhookView(webhook), secret: generated } : webhookView(webhook);
        return { status: created ? 201 : 200, body: view };
      },
    },
    {
      method: 'get',
      path: '/api/v1/webhooks',
      role: 'viewer',
      summary: 'Every webhook (without secrets)',
      tag: 'Webhooks',
      responses: { 200: '{items:[webhook]}' },
      handler: async () => ({ status: 200, body: { items: (await sql.list()).map(webhookView) } }),
    },
    {
      method: 'get',
      path: '/api/v1/webhooks/{id}',
      role: 'viewer',
      summary: 'One webhook (without its secret)',
      tag: 'Webhooks',
      responses: { 200: 'The webhook', 404: 'Unknown webhook' },
      handler: async (request) => ({ status: 200, body: webhookView(await requireWebhook(request)) }),
    },
    {
      method: 'del',
      path: '/api/v1/webhooks/{id}',
      role: 'admin',
      summary: 'Delete a webhook with its outbox and delivery history',
      tag: 'Webhooks',
      responses: { 204: 'Deleted', 404: 'Unknown webhook' },
      handler: async (request) => {
        if (!(await sql.delete(webhookId(request)))) throw new ApiError(404, 'unknown_webhook', `no webhook ${request.params.id ?? ''}`);
        await onChange();
        return { status: 204 };
      },
    },
    {
      method: 'get',
      path: '/api/v1/webhooks/{id}/deliveries',
      role: 'viewer',
      summary: 'Delivery attempts, one item per attempt (and one per attempt still to come), newest first',
      tag: 'Webhooks',
      query: {
        eventId: { type: 'string', description: 'only this event' },
        limit: { type: 'integer', minimum: 1, maximum: MAX_DELIVERIES, description: `items (default ${DEFAULT_DELIVERIES})` },
      },
      responses: { 200: '{items:[{eventId,type,attempt,at,status,outcome}]}', 404: 'Unknown webhook' },
      handler: async (request) => {
        const webhook = await requireWebhook(request);
        const limit = request.query.get('limit');
        const items = await sql.deliveries(webhook.id, {
          eventId: request.query.get('eventId') ?? undefined,
          limit: limit === null ? DEFAULT_DELIVERIES : Number(limit),
        });
        return { status: 200, body: { items } };
      },
    },
    {
      method: 'post',
      path: '/api/v1/webhooks/{id}/deliveries/{eventId}/replay',
      role: 'admin',
      summary: 'Deliver an event again (same webhook-id), whatever its state',
      tag: 'Webhooks',
      responses: { 202: 'Queued', 404: 'Unknown webhook or event' },
      handler: async (request) => {
        const webhook = await requireWebhook(request);
        const eventId = request.params.eventId ?? '';
        if (!(await sql.replay(webhook.id, eventId))) throw new ApiError(404, 'unknown_event', `webhook ${webhook.id} has no event ${eventId}`);
        return { status: 202, body: { eventId, queued: true } };
      },
    },
  ];
}
