import { api, get } from './api.js';
import { badge, h, replace, section, when } from './dom.js';
import type { Page, PageContext } from './page.js';
import { ROLES } from './page-users.js';

interface ApiKey {
  id: number;
  name: string;
  role: string;
  createdAt: string;
  revoked: boolean;
  revokedAt?: string;
}

/** API keys for machines (CONTRACT §8.7): the key is shown once, right after it is made; revoking is immediate. */
async function render(ctx: PageContext): Promise<void> {
  const tbody = h('tbody', {});
  const outcome = h('p', { role: 'status', class: 'outcome', id: 'keys-outcome' });
  const shown = h('div', { id: 'new-key', hidden: true });

  const row = (k: ApiKey): HTMLElement =>
    h(
      'tr',
      { 'data-key': String(k.id) },
      h('td', {}, String(k.id)),
      h('td', {}, k.name),
      h('td', {}, k.role),
      h('td', {}, when(k.createdAt)),
      h('td', {}, k.revoked ? badge('revoked', 'muted') : badge('active', 'ok')),
      h(
        'td',
        { class: 'actions' },
        k.revoked
          ? null
          : h(
              'button',
              {
                type: 'button',
                class: 'danger',
                'aria-label': `Revoke ${k.name}`,
                onclick: () =>
                  void (async () => {
                    const res = await api('DELETE', `/api/v1/api-keys/${k.id}`);
                    outcome.textContent = res.ok ? `${k.name} revoked.` : `Refused (${res.status}): ${res.text}`;
                    await load();
                  })(),
              },
              'Revoke',
            ),
      ),
    );

  const load = async (): Promise<void> => {
    const res = await get<{ items: ApiKey[] }>('/api/v1/api-keys');
    if (!res.ok) return;
    replace(tbody, ...res.body.items.map(row));
    if (res.body.items.length === 0) tbody.appendChild(h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No API keys.')));
  };

  const name = h('input', { id: 'new-key-name', type: 'text', required: true, maxlength: 64, autocomplete: 'off' });
  const role = h('select', { id: 'new-key-role' }, ...ROLES.map((r) => h('option', { value: r }, r)));
  replace(
    ctx.root,
    h('h1', {}, 'API keys'),
    section(
      'Create a key',
      'key-add',
      h(
        'form',
        {
          class: 'inline',
          onsubmit: (event: Event) => {
            event.preventDefault();
            void (async () => {
              const res = await api<{ name: string; key: string }>('POST', '/api/v1/api-keys', { name: name.value.trim(), role: role.value });
              if (res.ok) {
                outcome.textContent = `${res.body.name} created.`;
                replace(
                  shown,
                  h('p', {}, 'Copy the key now: it is not shown again. Send it as ', h('code', {}, 'Authorization: Bearer <key>'), '.'),
                  h('p', {}, h('code', { id: 'new-key-value' }, res.body.key)),
                );
                shown.hidden = false;
                name.value = '';
              } else {
                outcome.textContent = `Refused (${res.status}): ${res.text}`;
              }
              await load();
            })();
          },
        },
        h('div', { class: 'field' }, h('label', { for: 'new-key-name' }, 'Name'), name),
        h('div', { class: 'field' }, h('label', { for: 'new-key-role' }, 'Role'), role),
        h('button', { type: 'submit', id: 'new-key-add' }, 'Create'),
      ),
      outcome,
      shown,
    ),
    section(
      'Keys',
      'keys',
      h(
        'table',
        {},
        h('caption', { class: 'sr-only' }, 'API keys'),
        h('thead', {}, h('tr', {}, ...['Id', 'Name', 'Role', 'Created', 'State', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
        tbody,
      ),
    ),
  );
  await load();
}

export const apiKeysPage: Page = { path: /^\/api-keys$/, title: 'API keys', nav: { label: 'API keys', href: '#/api-keys' }, render };
