import { api, get } from './api.js';
import { h, replace, section, text, when } from './dom.js';
import type { Page, PageContext } from './page.js';

interface Tariff {
  id: string;
  currency: string;
  energyPerKWh: string | null;
  timePerHour: string | null;
  sessionFee: string | null;
  idleFeePerHour: string | null;
  description: Record<string, string>;
  groups: string[];
  updatedAt: string;
}

const MONEY = ['energyPerKWh', 'timePerHour', 'sessionFee', 'idleFeePerHour'] as const;

/** CONTRACT §8.4: tariffs as data. Money stays a decimal string end to end: the form sends what was typed. */
async function render(ctx: PageContext): Promise<void> {
  const tbody = h('tbody', {});
  const outcome = h('p', { role: 'status', class: 'outcome', id: 'tariffs-outcome' });
  const field = (name: string, label: string, placeholder = ''): HTMLInputElement => h('input', { name, 'aria-label': label, placeholder });
  const idInput = field('id', 'Tariff id', 'id');
  const currency = field('currency', 'Currency', 'EUR');
  const amounts = MONEY.map((name) => field(name, name, name));
  const textEn = field('description', 'Description (en)', 'text shown to drivers');

  const load = async (): Promise<void> => {
    const res = await get<{ items: Tariff[] }>('/api/v1/tariffs');
    replace(
      tbody,
      ...(res.ok ? res.body.items : []).map((t) =>
        h(
          'tr',
          {},
          h('td', {}, h('code', {}, t.id)),
          h('td', {}, t.currency),
          ...MONEY.map((m) => h('td', {}, text(t[m]))),
          h('td', {}, Object.values(t.description)[0] ?? '—'),
          h('td', {}, t.groups.join(', ') || '—'),
          h('td', {}, when(t.updatedAt)),
          h(
            'td',
            { class: 'actions' },
            h(
              'button',
              {
                type: 'button',
                class: 'danger',
                'aria-label': `Delete tariff ${t.id}`,
                onclick: () =>
                  void (async () => {
                    const del = await api('DELETE', `/api/v1/tariffs/${encodeURIComponent(t.id)}`);
                    outcome.textContent = del.ok ? `Tariff ${t.id} deleted.` : `Refused (${del.status}): ${del.text}`;
                    await load();
                  })(),
              },
              'Delete',
            ),
          ),
        ),
      ),
    );
  };

  const save = async (): Promise<void> => {
    const body: Record<string, unknown> = { currency: currency.value.trim() };
    MONEY.forEach((name, i) => {
      const value = amounts[i]?.value.trim() ?? '';
      if (value !== '') body[name] = value;
    });
    if (textEn.value.trim() !== '') body.description = { en: textEn.value.trim() };
    const res = await api('PUT', `/api/v1/tariffs/${encodeURIComponent(idInput.value.trim())}`, body);
    outcome.textContent = res.ok ? `Tariff ${idInput.value.trim()} saved.` : `Refused (${res.status}): ${res.text}`;
    await load();
  };

  replace(
    ctx.root,
    h('h1', {}, 'Tariffs'),
    section(
      'Tariffs',
      'tariffs',
      h(
        'table',
        {},
        h('caption', { class: 'sr-only' }, 'Tariffs'),
        h('thead', {}, h('tr', {}, ...['Id', 'Currency', ...MONEY, 'Text', 'Groups', 'Updated', ''].map((c) => h('th', { scope: 'col' }, c)))),
        tbody,
      ),
      h('form', { onsubmit: (e: Event) => void (e.preventDefault(), save()) }, idInput, currency, ...amounts, textEn, h('button', { type: 'submit' }, 'Save')),
      outcome,
    ),
  );
  await load();
}

export const tariffsPage: Page = { path: /^\/tariffs$/, title: 'Tariffs', nav: { label: 'Tariffs', href: '#/tariffs' }, render };
