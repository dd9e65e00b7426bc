import { api, get } from './api.js';
import { badge, h, replace, section, when } from './dom.js';
import type { Page, PageContext } from './page.js';

interface User {
  username: string;
  role: string;
  createdAt: string;
  updatedAt: string;
}

export const ROLES = ['viewer', 'operator', 'admin'];

function userPath(username: string): string {
  return `/api/v1/users/${encodeURIComponent(username)}`;
}

function roleSelect(id: string, selected: string, label: string): HTMLSelectElement {
  return h('select', { id, 'aria-label': label }, ...ROLES.map((r) => h('option', { value: r, selected: r === selected }, r)));
}

/** Operator accounts (CONTRACT §8.7): create, change role or password, delete. Admins only may change them. */
async function render(ctx: PageContext): Promise<void> {
  const tbody = h('tbody', {});
  const outcome = h('p', { role: 'status', class: 'outcome', id: 'users-outcome' });
  const report = (ok: boolean, done: string, text: string, status: number): void => {
    outcome.textContent = ok ? done : `Refused (${status}): ${text}`;
  };

  const row = (u: User): HTMLElement => {
    const role = roleSelect(`role-${u.username}`, u.role, `Role of ${u.username}`);
    role.addEventListener('change', () => {
      void (async () => {
        const res = await api('PATCH', userPath(u.username), { role: role.value });
        report(res.ok, `${u.username} is now ${role.value}.`, res.text, res.status);
        await load();
      })();
    });
    return h(
      'tr',
      { 'data-user': u.username },
      h('td', {}, h('code', {}, u.username)),
      h('td', {}, role),
      h('td', {}, when(u.createdAt)),
      h('td', {}, when(u.updatedAt)),
      h(
        'td',
        { class: 'actions' },
        h(
          'button',
          {
            type: 'button',
            class: 'danger',
            'aria-label': `Delete ${u.username}`,
            onclick: () =>
              void (async () => {
                const res = await api('DELETE', userPath(u.username));
                report(res.ok, `${u.username} deleted; their sessions have ended.`, res.text, res.status);
                await load();
              })(),
          },
          'Delete',
        ),
      ),
    );
  };

  const passwordUser = h('select', { id: 'password-user' });
  const load = async (): Promise<void> => {
    const res = await get<{ items: User[] }>('/api/v1/users');
    if (!res.ok) return;
    replace(tbody, ...res.body.items.map(row));
    if (res.body.items.length === 0) tbody.appendChild(h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No users yet.')));
    replace(passwordUser, ...res.body.items.map((u) => h('option', { value: u.username }, u.username)));
  };

  const username = h('input', { id: 'new-user-name', type: 'text', required: true, maxlength: 64, autocomplete: 'off' });
  const password = h('input', { id: 'new-user-password', type: 'password', required: true, minlength: 12, maxlength: 128, autocomplete: 'new-password' });
  const role = roleSelect('new-user-role', 'viewer', 'Role');
  const newPassword = h('input', { id: 'password-new', type: 'password', required: true, minlength: 12, maxlength: 128, autocomplete: 'new-password' });

  replace(
    ctx.root,
    h('h1', {}, 'Users'),
    h(
      'p',
      {},
      'Viewers read everything but secrets; operators also send commands and manage id tokens; admins also register stations and manage users, keys and webhooks.',
    ),
    section(
      'Add a user',
      'user-add',
      h(
        'form',
        {
          class: 'inline',
          onsubmit: (event: Event) => {
            event.preventDefault();
            void (async () => {
              const res = await api('POST', '/api/v1/users', { username: username.value.trim(), password: password.value, role: role.value });
              report(res.ok, `${username.value.trim()} added as ${role.value}.`, res.text, res.status);
              password.value = '';
              if (res.ok) username.value = '';
              await load();
            })();
          },
        },
        h('div', { class: 'field' }, h('label', { for: 'new-user-name' }, 'Username'), username),
        h('div', { class: 'field' }, h('label', { for: 'new-user-password' }, 'Password (12+ characters)'), password),
        h('div', { class: 'field' }, h('label', { for: 'new-user-role' }, 'Role'), role),
        h('button', { type: 'submit', id: 'new-user-add' }, 'Add'),
      ),
      outcome,
    ),
    section(
      'Users',
      'users',
      h(
        'table',
        {},
        h('caption', { class: 'sr-only' }, 'Operator accounts'),
        h('thead', {}, h('tr', {}, ...['Username', 'Role', 'Created', 'Changed', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
        tbody,
      ),
    ),
    section(
      'Set a password',
      'user-password',
      h('p', { class: 'muted' }, badge('ends sessions', 'warn'), ' A new password signs the user out everywhere.'),
      h(
        'form',
        {
          class: 'inline',
          onsubmit: (event: Event) => {
            event.preventDefault();
            void (async () => {
              const res = await api('PATCH', userPath(passwordUser.value), { password: newPassword.value });
              report(res.ok, `New password for ${passwordUser.value}.`, res.text, res.status);
              newPassword.value = '';
            })();
          },
        },
        h('div', { class: 'field' }, h('label', { for: 'password-user' }, 'User'), passwordUser),
        h('div', { class: 'field' }, h('label', { for: 'password-new' }, 'New password'), newPassword),
        h('button', { type: 'submit', id: 'password-set' }, 'Set'),
      ),
    ),
  );
  await load();
}

export const usersPage: Page = { path: /^\/users$/, title: 'Users', nav: { label: 'Users', href: '#/users' }, render };
