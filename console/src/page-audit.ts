import { get } from './api.js';
import { badge, h, replace, section, text, when } from './dom.js';
import type { Page, PageContext } from './page.js';

interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  role: string | null;
  method: string;
  path: string;
  target: string | null;
  outcome: 'ok' | 'denied' | 'rejected' | 'failed';
  status: number;
  action: string | null;
}

const TONE = { ok: 'ok', denied: 'bad', rejected: 'warn', failed: 'bad' } as const;

/** The audit trail (CONTRACT §8.7), newest first, filtered by actor, station and time, a page at a time. */
async function render(ctx: PageContext): Promise<void> {
  const tbody = h('tbody', {});
  const more = h('button', { type: 'button', id: 'audit-more', hidden: true }, 'Load more');
  const actor = h('input', { id: 'audit-actor', type: 'text', placeholder: 'user:alice, key:ci, token' });
  const station = h('input', { id: 'audit-station', type: 'text' });
  const from = h('input', { id: 'audit-from', type: 'datetime-local' });
  const to = h('input', { id: 'audit-to', type: 'datetime-local' });
  let next: string | null = null;

  const row = (e: AuditEntry): HTMLElement =>
    h(
      'tr',
      { 'data-audit': String(e.id) },
      h('td', {}, when(e.at)),
      h('td', {}, e.actor, e.role === null ? null : h('span', { class: 'muted' }, ` (${e.role})`)),
      h('td', {}, h('code', {}, `${e.method} ${e.path}`)),
      h('td', {}, text(e.target)),
      h('td', {}, badge(e.outcome, TONE[e.outcome]), ` ${e.status}`),
    );

  const load = async (reset: boolean): Promise<void> => {
    const p = new URLSearchParams({ limit: '100' });
    if (actor.value.trim() !== '') p.set('actor', actor.value.trim());
    if (station.value.trim() !== '') p.set('stationId', station.value.trim());
    if (from.value !== '') p.set('from', new Date(from.value).toISOString());
    if (to.value !== '') p.set('to', new Date(to.value).toISOString());
    if (!reset && next !== null) p.set('cursor', next);
    const res = await get<{ items: AuditEntry[]; next: string | null }>(`/api/v1/audit?${p.toString()}`);
    if (!res.ok) return;
    if (reset) replace(tbody);
    for (const e of res.body.items) tbody.appendChild(row(e));
    if (tbody.childElementCount === 0) tbody.appendChild(h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'Nothing recorded that matches.')));
    next = res.body.next;
    more.hidden = next === null;
  };
  more.addEventListener('click', () => void load(false));

  replace(
    ctx.root,
    h('h1', {}, 'Audit log'),
    section(
      'Filter',
      'audit-filter',
      h(
        'form',
        {
          class: 'inline',
          onsubmit: (event: Event) => {
            event.preventDefault();
            void load(true);
          },
        },
        h('div', { class: 'field' }, h('label', { for: 'audit-actor' }, 'Actor'), actor),
        h('div', { class: 'field' }, h('label', { for: 'audit-station' }, 'Station'), station),
        h('div', { class: 'field' }, h('label', { for: 'audit-from' }, 'From'), from),
        h('div', { class: 'field' }, h('label', { for: 'audit-to' }, 'To'), to),
        h('button', { type: 'submit', id: 'audit-apply' }, 'Show'),
      ),
    ),
    section(
      'Entries',
      'audit',
      h(
        'table',
        {},
        h('caption', { class: 'sr-only' }, 'Audit entries, newest first'),
        h('thead', {}, h('tr', {}, ...['When', 'Actor', 'Request', 'Target', 'Outcome'].map((c) => h('th', { scope: 'col' }, c)))),
        tbody,
      ),
      more,
    ),
  );
  await load(true);
}

export const auditPage: Page = { path: /^\/audit$/, title: 'Audit log', nav: { label: 'Audit', href: '#/audit' }, render };
