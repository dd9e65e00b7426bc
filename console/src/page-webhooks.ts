import { api, get } from './api.js';
import { badge, h, replace, section, text, when } from './dom.js';
import type { Page, PageContext } from './page.js';

interface Webhook {
  id: string;
  url: string;
  events: string[];
  active: boolean;
  secret?: string;
  updatedAt: string;
}

interface Delivery {
  eventId: string;
  type: string;
  attempt: number;
  at: string;
  status: number | null;
  outcome: 'delivered' | 'failed' | 'pending' | 'dead';
}

const KINDS = [
  'transaction.started',
  'transaction.updated',
  'transaction.ended',
  'station.connected',
  'station.disconnected',
  'station.boot',
  'station.status',
  'connector.status',
  'command.result',
  'station.event',
  'security.event',
  'firmware.status',
];

const OUTCOME_TONE = { delivered: 'ok', failed: 'warn', pending: 'muted', dead: 'bad' } as const;

function webhookPath(id: string): string {
  return `/api/v1/webhooks/${encodeURIComponent(id)}`;
}

/** Webhooks: list, add (the generated secret is shown once), deactivate, delete. */
async function renderList(ctx: PageContext): Promise<void> {
  const tbody = h('tbody', {});
  const outcome = h('p', { role: 'status', class: 'outcome', id: 'webhooks-outcome' });
  const secretShown = h('p', { id: 'webhook-secret', class: 'outcome' });

  const load = async (): Promise<void> => {
    const res = await get<{ items: Webhook[] }>('/api/v1/webhooks');
    if (!res.ok) return;
    replace(tbody);
    for (const w of res.body.items) {
      tbody.appendChild(
        h(
          'tr',
          { 'data-webhook': w.id },
          h('td', {}, h('a', { href: `#/webhooks/${encodeURIComponent(w.id)}` }, w.id)),
          h('td', {}, h('code', {}, w.url)),
          h('td', {}, w.events.join(', ')),
          h('td', {}, badge(w.active ? 'active' : 'inactive', w.active ? 'ok' : 'muted')),
          h(
            'td',
            { class: 'actions' },
            h(
              'button',
              {
                type: 'button',
                class: 'secondary',
                'aria-label': `${w.active ? 'Deactivate' : 'Activate'} ${w.id}`,
                onclick: () =>
                  void (async () => {
                    const res = await api('PUT', webhookPath(w.id), { url: w.url, events: w.events, active: !w.active });
                    outcome.textContent = res.ok ? `${w.id}: ${w.active ? 'inactive' : 'active'}.` : `Refused (${res.status}): ${res.text}`;
                    await load();
                  })(),
              },
              w.active ? 'Deactivate' : 'Activate',
            ),
            h(
              'button',
              {
                type: 'button',
                class: 'danger',
                'aria-label': `Delete ${w.id}`,
                onclick: () =>
                  void (async () => {
                    const res = await api('DELETE', webhookPath(w.id));
                    outcome.textContent = res.ok ? `${w.id} deleted.` : `Refused (${res.status}): ${res.text}`;
                    await load();
                  })(),
              },
              'Delete',
            ),
          ),
        ),
      );
    }
    if (tbody.childElementCount === 0) tbody.appendChild(h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No webhooks.')));
  };

  const id = h('input', { id: 'new-webhook-id', type: 'text', required: true, maxlength: 64, pattern: '[A-Za-z0-9._~\\-]+' });
  const url = h('input', { id: 'new-webhook-url', type: 'url', required: true });
  const boxes = KINDS.map((kind) => h('input', { type: 'checkbox', id: `kind-${kind}`, value: kind, checked: kind.startsWith('transaction.') }));
  replace(
    ctx.root,
    h('h1', {}, 'Webhooks'),
    section(
      'Add a webhook',
      'webhook-add',
      h(
        'form',
        {
          onsubmit: (event: Event) => {
            event.preventDefault();
            void (async () => {
              const events = boxes.filter((box) => box.checked).map((box) => box.value);
              const res = await api<Webhook>('PUT', webhookPath(id.value.trim()), { url: url.value.trim(), events });
              outcome.textContent = res.ok ? `${id.value.trim()} saved.` : `Refused (${res.status}): ${res.text}`;
              // Shown once: the API never returns it again.
              secretShown.textContent = res.ok && res.body.secret !== undefined ? `Signing secret (shown only now): ${res.body.secret}` : '';
              await load();
            })();
          },
        },
        h('div', { class: 'field' }, h('label', { for: 'new-webhook-id' }, 'Id'), id),
        h('div', { class: 'field' }, h('label', { for: 'new-webhook-url' }, 'URL'), url),
        h('fieldset', {}, h('legend', {}, 'Events'), ...boxes.map((box) => h('label', { class: 'check' }, box, ` ${box.value}`))),
        h('button', { type: 'submit', id: 'new-webhook-add' }, 'Save'),
      ),
      outcome,
      secretShown,
    ),
    section(
      'Webhooks',
      'webhooks',
      h(
        'table',
        {},
        h('caption', { class: 'sr-only' }, 'Configured webhooks'),
        h('thead', {}, h('tr', {}, ...['Id', 'URL', 'Events', 'State', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
        tbody,
      ),
    ),
  );
  await load();
}

/** One webhook's delivery attempts, newest first, with a replay per event. */
async function renderDeliveries(ctx: PageContext): Promise<void> {
  const id = ctx.params[0] ?? '';
  const tbody = h('tbody', {});
  const outcome = h('p', { role: 'status', class: 'outcome', id: 'deliveries-outcome' });
  const load = async (): Promise<void> => {
    const res = await get<{ items: Delivery[] }>(`${webhookPath(id)}/deliveries?limit=200`);
    if (!res.ok) {
      outcome.textContent = `Could not read the deliveries (${res.status}).`;
      return;
    }
    replace(tbody);
    for (const d of res.body.items) {
      tbody.appendChild(
        h(
          'tr',
          { 'data-event': d.eventId, 'data-outcome': d.outcome },
          h('td', {}, when(d.at)),
          h('td', {}, h('code', {}, d.eventId)),
          h('td', {}, d.type),
          h('td', {}, String(d.attempt)),
          h('td', {}, text(d.status)),
          h('td', {}, badge(d.outcome, OUTCOME_TONE[d.outcome])),
          h(
            'td',
            { class: 'actions' },
            h(
              'button',
              {
                type: 'button',
                class: 'secondary',
                'aria-label': `Replay ${d.eventId} (attempt ${d.attempt})`,
                onclick: () =>
                  void (async () => {
                    const res = await api('POST', `${webhookPath(id)}/deliveries/${encodeURIComponent(d.eventId)}/replay`);
                    outcome.textContent = res.ok ? `${d.eventId} queued again.` : `Refused (${res.status}): ${res.text}`;
                    await load();
                  })(),
              },
              'Replay',
            ),
          ),
        ),
      );
    }
    if (tbody.childElementCount === 0) tbody.appendChild(h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No deliveries yet.')));
  };
  const refresh = h('button', { type: 'button', class: 'secondary', id: 'deliveries-refresh', onclick: () => void load() }, 'Refresh');
  replace(
    ctx.root,
    h('h1', {}, `Webhook ${id}`),
    h('p', {}, h('a', { href: '#/webhooks' }, 'All webhooks')),
    section(
      'Deliveries',
      'deliveries',
      refresh,
      outcome,
      h(
        'table',
        {},
        h('caption', { class: 'sr-only' }, `Delivery attempts of webhook ${id}, newest first`),
        h('thead', {}, h('tr', {}, ...['At', 'Event', 'Type', 'Attempt', 'HTTP status', 'Outcome', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
        tbody,
      ),
    ),
  );
  await load();
}

export const webhooksPage: Page = { path: /^\/webhooks$/, title: 'Webhooks', nav: { label: 'Webhooks', href: '#/webhooks' }, render: renderList };
export const webhookDeliveriesPage: Page = { path: /^\/webhooks\/([^/]+)$/, title: 'Webhook deliveries', render: renderDeliveries };
