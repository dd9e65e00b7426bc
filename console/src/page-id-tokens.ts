import { api, get } from './api.js';
import { badge, h, replace, section, statusTone, text, when } from './dom.js';
import type { Page, PageContext } from './page.js';

interface Token {
  type: string;
  idToken: string;
  status: string;
  groupId: string | null;
  expiresAt: string | null;
  updatedAt: string;
}

const TYPES = ['ISO14443', 'ISO15693', 'Central', 'Local', 'KeyCode', 'eMAID', 'MacAddress', 'NoAuthorization'];

function tokenPath(t: { type: string; idToken: string }): string {
  return `/api/v1/id-tokens/${encodeURIComponent(t.type)}/${encodeURIComponent(t.idToken)}`;
}

/** Who may charge: list, add, block, expire, delete. */
async function render(ctx: PageContext): Promise<void> {
  const search = h('input', { type: 'search', id: 'tokens-search', 'aria-label': 'Search id tokens', placeholder: 'token or group' });
  const tbody = h('tbody', {});
  const more = h('button', { type: 'button', hidden: true }, 'Load more');
  const outcome = h('p', { role: 'status', class: 'outcome', id: 'tokens-outcome' });
  let next: string | null = null;

  const put = async (t: Token | { type: string; idToken: string; groupId: string | null; expiresAt: string | null }, status: string): Promise<void> => {
    const body: Record<string, string> = { status };
    if (t.groupId !== null && t.groupId !== '') body.groupId = t.groupId;
    if (t.expiresAt !== null && t.expiresAt !== '') body.expiresAt = t.expiresAt;
    const res = await api('PUT', tokenPath(t), body);
    outcome.textContent = res.ok ? `${t.idToken}: ${status}.` : `Refused (${res.status}): ${res.text}`;
    await load(true);
  };

  const row = (t: Token): HTMLElement =>
    h(
      'tr',
      { 'data-token': t.idToken },
      h('td', {}, h('code', {}, t.idToken)),
      h('td', {}, t.type),
      h('td', {}, badge(t.status, statusTone(t.status))),
      h('td', {}, text(t.groupId)),
      h('td', {}, when(t.expiresAt)),
      h(
        'td',
        { class: 'actions' },
        h('button', { type: 'button', class: 'secondary', 'aria-label': `Block ${t.idToken}`, onclick: () => void put(t, 'Blocked') }, 'Block'),
        h('button', { type: 'button', class: 'secondary', 'aria-label': `Expire ${t.idToken}`, onclick: () => void put(t, 'Expired') }, 'Expire'),
        h('button', { type: 'button', class: 'secondary', 'aria-label': `Accept ${t.idToken}`, onclick: () => void put(t, 'Accepted') }, 'Accept'),
        h(
          'button',
          {
            type: 'button',
            class: 'danger',
            'aria-label': `Delete ${t.idToken}`,
            onclick: () =>
              void (async () => {
                const res = await api('DELETE', tokenPath(t));
                outcome.textContent = res.ok ? `${t.idToken} deleted.` : `Refused (${res.status}): ${res.text}`;
                await load(true);
              })(),
          },
          'Delete',
        ),
      ),
    );

  const load = async (reset: boolean): Promise<void> => {
    const p = new URLSearchParams({ limit: '100' });
    if (search.value.trim() !== '') p.set('q', search.value.trim());
    if (!reset && next !== null) p.set('cursor', next);
    const res = await get<{ items: Token[]; next: string | null }>(`/api/v1/id-tokens?${p.toString()}`);
    if (!res.ok) return;
    if (reset) replace(tbody);
    for (const t of res.body.items) tbody.appendChild(row(t));
    if (tbody.childElementCount === 0) tbody.appendChild(h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No id tokens.')));
    next = res.body.next;
    more.hidden = next === null;
  };
  more.addEventListener('click', () => void load(false));
  search.addEventListener('input', () => void load(true));

  const type = h('select', { id: 'new-token-type' }, ...TYPES.map((t) => h('option', { value: t }, t)));
  const value = h('input', { id: 'new-token-value', type: 'text', required: true, maxlength: 36 });
  const group = h('input', { id: 'new-token-group', type: 'text', maxlength: 36 });
  const expires = h('input', { id: 'new-token-expires', type: 'datetime-local' });
  replace(
    ctx.root,
    h('h1', {}, 'Id tokens'),
    section(
      'Add a token',
      'token-add',
      h(
        'form',
        {
          class: 'inline',
          onsubmit: (event: Event) => {
            event.preventDefault();
            void put(
              {
                type: type.value,
                idToken: value.value.trim(),
                groupId: group.value.trim(),
                expiresAt: expires.value === '' ? null : new Date(expires.value).toISOString(),
              },
              'Accepted',
            ).then(() => {
              value.value = '';
            });
          },
        },
        h('div', { class: 'field' }, h('label', { for: 'new-token-type' }, 'Type'), type),
        h('div', { class: 'field' }, h('label', { for: 'new-token-value' }, 'Token'), value),
        h('div', { class: 'field' }, h('label', { for: 'new-token-group' }, 'Group'), group),
        h('div', { class: 'field' }, h('label', { for: 'new-token-expires' }, 'Expires'), expires),
        h('button', { type: 'submit', id: 'new-token-add' }, 'Add'),
      ),
      outcome,
    ),
    section(
      'Tokens',
      'tokens',
      search,
      h(
        'table',
        {},
        h('caption', { class: 'sr-only' }, 'Registered id tokens'),
        h('thead', {}, h('tr', {}, ...['Token', 'Type', 'Status', 'Group', 'Expires', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
        tbody,
      ),
      more,
    ),
  );
  await load(true);
}

export const idTokensPage: Page = { path: /^\/id-tokens$/, title: 'Id tokens', nav: { label: 'Id tokens', href: '#/id-tokens' }, render };
