import { download, get, stationPath, type JsonObject } from './api.js';
import { badge, h, pretty, replace, section, text, when } from './dom.js';
import { lineChart, type Series } from './chart.js';
import type { Page, PageContext } from './page.js';

interface TransactionItem {
  stationId: string;
  transactionId: string;
  evseId: number | null;
  idToken: { idToken?: string; type?: string } | null;
  active: boolean;
  startedAt: string | null;
  endedAt: string | null;
  energyWh: number | null;
  stoppedReason: string | null;
  chargingState: string | null;
}

interface TransactionDetail extends TransactionItem {
  events: { seqNo: number; eventType: string; timestamp: string; triggerReason: string; offline: boolean; request: JsonObject; response: JsonObject }[];
  meterValues: { timestamp?: string; sampledValue?: { value: number; measurand?: string; unitOfMeasure?: { unit?: string; multiplier?: number } }[] }[];
}

function link(t: { stationId: string; transactionId: string }): HTMLElement {
  return h('a', { href: `#/stations/${encodeURIComponent(t.stationId)}/transactions/${encodeURIComponent(t.transactionId)}` }, t.transactionId);
}

function field(id: string, label: string, input: HTMLElement): HTMLElement {
  return h('div', { class: 'field' }, h('label', { for: id }, label), input);
}

/** Fleet-wide transactions: filters, pages of 100 ("Load more"), and the CSV of the same filter. */
async function renderList(ctx: PageContext): Promise<void> {
  const station = h('input', { id: 'tx-station', type: 'text' });
  const token = h('input', { id: 'tx-token', type: 'text' });
  const active = h('select', { id: 'tx-active' }, h('option', { value: '' }, 'Any'), h('option', { value: 'true' }, 'Active'), h('option', { value: 'false' }, 'Ended'));
  const from = h('input', { id: 'tx-from', type: 'datetime-local' });
  const to = h('input', { id: 'tx-to', type: 'datetime-local' });
  const tbody = h('tbody', {});
  const more = h('button', { type: 'button', id: 'tx-more', hidden: true }, 'Load more');
  let next: string | null = null;
  let generation = 0;

  const params = (): URLSearchParams => {
    const p = new URLSearchParams();
    if (station.value.trim() !== '') p.set('stationId', station.value.trim());
    if (token.value.trim() !== '') p.set('idToken', token.value.trim());
    if (active.value !== '') p.set('active', active.value);
    if (from.value !== '') p.set('from', new Date(from.value).toISOString());
    if (to.value !== '') p.set('to', new Date(to.value).toISOString());
    return p;
  };
  const load = async (reset: boolean): Promise<void> => {
    const mine = reset ? ++generation : generation;
    const p = params();
    if (!reset && next !== null) p.set('cursor', next);
    const res = await get<{ items: TransactionItem[]; next: string | null }>(`/api/v1/transactions?${p.toString()}`);
    if (mine !== generation || !res.ok) return;
    if (reset) replace(tbody);
    for (const t of res.body.items) {
      tbody.appendChild(
        h(
          'tr',
          { 'data-transaction': t.transactionId },
          h('td', {}, h('a', { href: `#/stations/${encodeURIComponent(t.stationId)}` }, t.stationId)),
          h('td', {}, link(t)),
          h('td', {}, text(t.evseId)),
          h('td', {}, text(t.idToken?.idToken)),
          h('td', {}, t.active ? badge(t.chargingState ?? 'active', 'warn') : badge('ended', 'muted')),
          h('td', {}, when(t.startedAt)),
          h('td', {}, when(t.endedAt)),
          h('td', { class: 'num' }, text(t.energyWh)),
          h('td', {}, text(t.stoppedReason)),
        ),
      );
    }
    if (tbody.childElementCount === 0) tbody.appendChild(h('tr', {}, h('td', { colspan: 9, class: 'muted' }, 'No transactions match.')));
    next = res.body.next;
    more.hidden = next === null;
  };
  more.addEventListener('click', () => void load(false));

  replace(
    ctx.root,
    h('h1', {}, 'Transactions'),
    section(
      'Filter',
      'tx-filter',
      h(
        'form',
        {
          class: 'inline',
          onsubmit: (event: Event) => {
            event.preventDefault();
            void load(true);
          },
        },
        field('tx-station', 'Station', station),
        field('tx-token', 'Id token', token),
        field('tx-active', 'State', active),
        field('tx-from', 'Started from', from),
        field('tx-to', 'Started before', to),
        h('button', { type: 'submit' }, 'Apply'),
        h(
          'button',
          { type: 'button', id: 'tx-csv', class: 'secondary', onclick: () => void download(`/api/v1/transactions.csv?${params().toString()}`, 'transactions.csv') },
          'Export CSV',
        ),
      ),
    ),
    section(
      'Transactions',
      'tx-list',
      h(
        'table',
        {},
        h('caption', { class: 'sr-only' }, 'Transactions, newest first'),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ...['Station', 'Transaction', 'EVSE', 'Id token', 'State', 'Started', 'Ended', 'Energy (Wh)', 'Stop reason'].map((c) => h('th', { scope: 'col' }, c)),
          ),
        ),
        tbody,
      ),
      more,
    ),
  );
  let refresh: number | undefined;
  ctx.onChange((change) => {
    if (!change.kind.startsWith('transaction.')) return;
    window.clearTimeout(refresh);
    refresh = window.setTimeout(() => void load(true), 500);
  });
  ctx.onLeave(() => window.clearTimeout(refresh));
  await load(true);
}

/** Power (W) and energy (Wh) readings from the transaction's meter values, in time order. */
function series(detail: TransactionDetail): Series[] {
  const power: Series = { name: 'Power', unit: 'W', points: [], className: 'power' };
  const energy: Series = { name: 'Energy', unit: 'Wh', points: [], className: 'energy' };
  for (const mv of detail.meterValues) {
    const t = Date.parse(mv.timestamp ?? '');
    if (Number.isNaN(t)) continue;
    for (const sv of mv.sampledValue ?? []) {
      const unit = sv.unitOfMeasure?.unit;
      const scale = 10 ** (sv.unitOfMeasure?.multiplier ?? 0) * (unit === 'kWh' || unit === 'kW' ? 1000 : 1);
      const measurand = sv.measurand ?? 'Energy.Active.Import.Register';
      if (measurand === 'Power.Active.Import') power.points.push({ t, v: sv.value * scale });
      else if (measurand === 'Energy.Active.Import.Register') energy.points.push({ t, v: sv.value * scale });
    }
  }
  return [power, energy];
}

async function renderDetail(ctx: PageContext): Promise<void> {
  const [stationId = '', transactionId = ''] = ctx.params;
  const holder = h('div', {});
  replace(ctx.root, h('h1', {}, 'Transaction ', h('span', { id: 'transaction-id' }, transactionId)), holder);
  const load = async (): Promise<void> => {
    const res = await get<TransactionDetail>(`${stationPath(stationId)}/transactions/${encodeURIComponent(transactionId)}`);
    if (!res.ok) {
      replace(holder, h('p', { class: 'error' }, `The API answered ${res.status}.`));
      return;
    }
    const t = res.body;
    replace(
      holder,
      section(
        'Summary',
        'tx-summary',
        h(
          'dl',
          { class: 'facts' },
          ...(
            [
              ['Station', h('a', { href: `#/stations/${encodeURIComponent(stationId)}` }, stationId)],
              ['State', t.active ? badge(t.chargingState ?? 'active', 'warn') : badge('ended', 'muted')],
              ['EVSE', text(t.evseId)],
              ['Id token', text(t.idToken?.idToken)],
              ['Started', when(t.startedAt)],
              ['Ended', when(t.endedAt)],
              ['Energy', t.energyWh === null ? '—' : `${t.energyWh} Wh`],
              ['Stop reason', text(t.stoppedReason)],
            ] as [string, Node | string][]
          ).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
        ),
      ),
      section('Power and energy', 'tx-chart', lineChart('Power and energy over time', series(t))),
      section(
        'Events',
        'tx-events',
        h(
          'table',
          {},
          h('caption', { class: 'sr-only' }, 'TransactionEvents in seqNo order'),
          h('thead', {}, h('tr', {}, ...['seqNo', 'Type', 'Trigger', 'Timestamp', 'Offline', 'Request'].map((c) => h('th', { scope: 'col' }, c)))),
          h(
            'tbody',
            {},
            ...t.events.map((e) =>
              h(
                'tr',
                {},
                h('td', {}, String(e.seqNo)),
                h('td', {}, e.eventType),
                h('td', {}, e.triggerReason),
                h('td', {}, when(e.timestamp)),
                h('td', {}, e.offline ? 'yes' : 'no'),
                h('td', {}, h('details', {}, h('summary', {}, 'payload'), h('pre', {}, pretty(e.request)))),
              ),
            ),
          ),
        ),
      ),
    );
  };
  ctx.onChange((change) => {
    if (change.data.stationId === stationId && change.data.transactionId === transactionId) void load();
  });
  await load();
}

export const transactionsPage: Page = { path: /^\/transactions$/, title: 'Transactions', nav: { label: 'Transactions', href: '#/transactions' }, render: renderList };
export const transactionPage: Page = { path: /^\/stations\/([^/]+)\/transactions\/([^/]+)$/, title: 'Transaction', render: renderDetail };
