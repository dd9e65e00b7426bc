import { get, type ApiResult } from './api.js';
import { badge, h, replace, section, statusTone, when } from './dom.js';
import type { Page, PageContext } from './page.js';

/** The orders GET /api/v1/stations takes (`sort`), as the list's select offers them. */
const SORTS: readonly (readonly [string, string])[] = [
  ['id', 'Id A→Z'],
  ['-id', 'Id Z→A'],
  ['vendor', 'Vendor A→Z'],
  ['-vendor', 'Vendor Z→A'],
  ['model', 'Model A→Z'],
  ['-model', 'Model Z→A'],
  ['-connected', 'Connected first'],
  ['connected', 'Disconnected first'],
  ['bootStatus', 'Boot status'],
  ['ocppVersion', 'OCPP version'],
];

interface StationRow {
  id: string;
  connected: boolean;
  bootStatus: string;
  lastSeen: string | null;
  chargingStation: { vendorName?: string; model?: string; serialNumber?: string; firmwareVersion?: string } | null;
  evses: { id: number; connectors: { id: number; status: string }[] }[];
}

interface Summary {
  stations: number;
  connected: number;
  bootStatus: Record<string, number>;
  connectorStatus: Record<string, number>;
  ocppVersion: Record<string, number>;
  activeTransactions: number;
}

const ROW_HEIGHT = 36;
const PAGE_SIZE = 500;
/** Rows drawn beyond the visible ones, so a quick scroll shows no gap. */
const OVERSCAN = 10;

function tile(label: string, value: number | string, id: string): HTMLElement {
  return h('div', { class: 'tile', id }, h('div', { class: 'tile-value' }, String(value)), h('div', { class: 'tile-label' }, label));
}

function counts(title: string, values: Record<string, number>, id: string): HTMLElement {
  const entries = Object.entries(values).sort((a, b) => b[1] - a[1]);
  return h(
    'div',
    { class: 'tile counts', id },
    h('div', { class: 'tile-label' }, title),
    entries.length === 0 ? h('div', { class: 'muted' }, 'none') : h('ul', {}, ...entries.map(([k, n]) => h('li', {}, badge(k, statusTone(k)), ' ', String(n)))),
  );
}

function connectorsText(row: StationRow): string {
  return row.evses.flatMap((e) => e.connectors.map((c) => `${e.id}/${c.id} ${c.status}`)).join(', ');
}

/**
 * The fleet: summary tiles, and every station in one virtualized list. Only the rows in view are in the DOM
 * (about 30, whatever the fleet's size); pages of 500 are fetched as the list is scrolled towards their end, and
 * changes from the stream update the rows in place, drawn at most once per animation frame.
 */
async function render(ctx: PageContext): Promise<void> {
  const tiles = h('div', { class: 'tiles', 'aria-live': 'polite' });
  const search = h('input', { type: 'search', id: 'fleet-search', placeholder: 'id, vendor, model, serial', 'aria-label': 'Search stations' });
  const connected = h(
    'select',
    { id: 'fleet-connected', 'aria-label': 'Connection' },
    h('option', { value: '' }, 'Any connection'),
    h('option', { value: 'true' }, 'Connected'),
    h('option', { value: 'false' }, 'Disconnected'),
  );
  const boot = h(
    'select',
    { id: 'fleet-boot', 'aria-label': 'Boot status' },
    h('option', { value: '' }, 'Any boot status'),
    ...['Accepted', 'Pending', 'Rejected', 'Unknown'].map((s) => h('option', { value: s }, s)),
  );
  const status = h(
    'select',
    { id: 'fleet-status', 'aria-label': 'Connector status' },
    h('option', { value: '' }, 'Any connector status'),
    ...['Available', 'Occupied', 'Reserved', 'Unavailable', 'Faulted'].map((s) => h('option', { value: s }, s)),
  );
  const version = h(
    'select',
    { id: 'fleet-version', 'aria-label': 'OCPP version' },
    h('option', { value: '' }, 'Any OCPP version'),
    h('option', { value: '2.0.1' }, 'OCPP 2.0.1'),
    h('option', { value: '1.6' }, 'OCPP 1.6'),
  );
  const order = h('select', { id: 'fleet-sort', 'aria-label': 'Order' }, ...SORTS.map(([value, label]) => h('option', { value }, label)));
  const count = h('span', { class: 'muted', id: 'fleet-count', 'aria-live': 'polite' });
  const header = h(
    'div',
    { class: 'vrow header', role: 'row' },
    ...['Station', 'Connection', 'Boot', 'Vendor / model', 'Connectors', 'Last seen'].map((label) => h('div', { role: 'columnheader' }, label)),
  );
  // Rows are placed absolutely inside `body`, whose height stands for every loaded row.
  const body = h('div', { class: 'vlist-body', role: 'rowgroup' });
  // The scroller is focusable (keyboard scrolling) and wraps the whole table, so the table's children stay rows.
  const viewport = h(
    'div',
    { class: 'vlist', id: 'fleet-list', tabindex: 0 },
    h('div', { role: 'table', 'aria-label': 'Stations', class: 'vtable' }, h('div', { role: 'rowgroup', class: 'vhead' }, header), body),
  );
  replace(
    ctx.root,
    h('h1', {}, 'Fleet'),
    tiles,
    section('Stations', 'stations', h('div', { class: 'filters' }, search, connected, boot, status, version, order, count), viewport),
  );

  // The list: loaded rows, where the next page starts, and a generation that makes stale answers harmless.
  let rows: StationRow[] = [];
  const indexOf = new Map<string, number>();
  let next: string | null = null;
  let loading = false;
  let generation = 0;
  let drawScheduled = false;

  const query = (): string => {
    const params = new URLSearchParams({ limit: String(PAGE_SIZE), sort: order.value });
    if (search.value.trim() !== '') params.set('q', search.value.trim());
    if (connected.value !== '') params.set('connected', connected.value);
    if (boot.value !== '') params.set('bootStatus', boot.value);
    if (status.value !== '') params.set('status', status.value);
    if (version.value !== '') params.set('ocppVersion', version.value);
    return params.toString();
  };

  const draw = (): void => {
    drawScheduled = false;
    body.style.height = `${(rows.length + (next !== null ? 1 : 0)) * ROW_HEIGHT}px`;
    const first = Math.max(0, Math.floor(viewport.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(rows.length, Math.ceil((viewport.scrollTop + viewport.clientHeight) / ROW_HEIGHT) + OVERSCAN);
    const visible: HTMLElement[] = [];
    for (let i = first; i < last; i++) {
      const row = rows[i] as StationRow;
      const cs = row.chargingStation;
      const element = h(
        'div',
        { class: 'vrow', role: 'row', 'data-station': row.id, 'aria-rowindex': i + 2 },
        h('div', { role: 'cell' }, h('a', { href: `#/stations/${encodeURIComponent(row.id)}` }, row.id)),
        h('div', { role: 'cell' }, row.connected ? badge('connected', 'ok') : badge('offline', 'muted')),
        h('div', { role: 'cell' }, badge(row.bootStatus, statusTone(row.bootStatus))),
        h('div', { role: 'cell' }, cs === null ? '—' : `${cs.vendorName ?? ''} ${cs.model ?? ''}`),
        h('div', { role: 'cell', class: 'connectors' }, connectorsText(row)),
        h('div', { role: 'cell' }, when(row.lastSeen)),
      );
      // Through the CSSOM: the Content-Security-Policy (style-src 'self') refuses style attributes.
      element.style.transform = `translateY(${i * ROW_HEIGHT}px)`;
      visible.push(element);
    }
    replace(body, ...visible);
    count.textContent = `${rows.length}${next !== null ? '+' : ''} stations`;
    if (next !== null && !loading && last + OVERSCAN * 5 >= rows.length) void loadMore();
  };
  const schedule = (): void => {
    if (drawScheduled) return;
    drawScheduled = true;
    requestAnimationFrame(draw);
  };

  const loadMore = async (): Promise<void> => {
    const mine = generation;
    loading = true;
    const res: ApiResult<{ items: StationRow[]; next: string | null }> = await get(
      `/api/v1/stations?${query()}${next !== null && rows.length > 0 ? `&cursor=${encodeURIComponent(next)}` : ''}`,
    );
    loading = false;
    if (mine !== generation || !res.ok) return;
    for (const item of res.body.items) {
      indexOf.set(item.id, rows.length);
      rows.push(item);
    }
    next = res.body.next;
    schedule();
  };

  const reload = async (): Promise<void> => {
    generation++;
    rows = [];
    indexOf.clear();
    next = null;
    viewport.scrollTop = 0;
    await loadMore();
  };

  const loadSummary = async (): Promise<void> => {
    const res = await get<Summary>('/api/v1/fleet/summary');
    if (!res.ok) return;
    const s = res.body;
    replace(
      tiles,
      tile('Stations', s.stations, 'tile-stations'),
      tile('Connected', s.connected, 'tile-connected'),
      tile('Active transactions', s.activeTransactions, 'tile-transactions'),
      counts('Boot status', s.bootStatus, 'tile-boot'),
      counts('Connectors', s.connectorStatus, 'tile-connectors'),
    );
  };

  // The summary follows changes, but at most once a second: a busy fleet changes far more often than a person reads.
  let summaryTimer: number | undefined;
  const refreshSummary = (): void => {
    summaryTimer ??= window.setTimeout(() => {
      summaryTimer = undefined;
      void loadSummary();
    }, 1000);
  };
  ctx.onLeave(() => window.clearTimeout(summaryTimer));

  let searchTimer: number | undefined;
  search.addEventListener('input', () => {
    window.clearTimeout(searchTimer);
    searchTimer = window.setTimeout(() => void reload(), 200);
  });
  for (const select of [connected, boot, status, version, order]) select.addEventListener('change', () => void reload());
  viewport.addEventListener('scroll', schedule, { passive: true });
  const resize = new ResizeObserver(schedule);
  resize.observe(viewport);
  ctx.onLeave(() => resize.disconnect());

  ctx.onChange((change) => {
    refreshSummary();
    const index = indexOf.get(change.data.stationId);
    if (index === undefined) return;
    const row = rows[index] as StationRow;
    const d = change.data;
    if (change.kind === 'station.connected') row.connected = true;
    else if (change.kind === 'station.disconnected') row.connected = false;
    else if (change.kind === 'station.boot') {
      row.bootStatus = String(d.bootStatus);
      row.chargingStation = (d.chargingStation as StationRow['chargingStation']) ?? row.chargingStation;
    } else if (change.kind === 'connector.status') {
      const evseId = Number(d.evseId);
      const connectorId = Number(d.connectorId);
      let evse = row.evses.find((e) => e.id === evseId);
      if (evse === undefined) row.evses.push((evse = { id: evseId, connectors: [] }));
      const connector = evse.connectors.find((c) => c.id === connectorId);
      if (connector === undefined) evse.connectors.push({ id: connectorId, status: String(d.status) });
      else connector.status = String(d.status);
    } else return;
    row.lastSeen = d.at;
    schedule();
  });

  await Promise.all([loadSummary(), reload()]);
}

export const fleetPage: Page = { path: /^\/$/, title: 'Fleet', nav: { label: 'Fleet', href: '#/' }, render };
