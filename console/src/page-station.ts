import { api, get, stationPath, type JsonObject } from './api.js';
import { badge, h, pretty, replace, section, statusTone, text, when } from './dom.js';
import type { Page, PageContext } from './page.js';
import { schemaForm, type Schema } from './schema-form.js';
import { certificatesSection } from './station-certificates.js';
import { displayMessagesSection, localListSection } from './station-lists.js';
import { monitorsSection } from './station-monitors.js';
import { reservationForm } from './station-reservations.js';

interface StationView {
  id: string;
  ocppVersion: string | null;
  securityProfile: number;
  bootPolicy: string;
  bootStatus: string;
  connected: boolean;
  nodeId: string | null;
  lastSeen: string | null;
  lastBootReason: string | null;
  chargingStation: { vendorName?: string; model?: string; serialNumber?: string; firmwareVersion?: string } | null;
  status: string | null;
  evses: { id: number; connectors: { id: number; status: string; updatedAt: string }[] }[];
  firmwareStatus: JsonObject | null;
  logStatus: JsonObject | null;
  certificates: JsonObject | null;
  certificateSigning: JsonObject | null;
}

/** Commands whose answer changes the certificates section (the inventory the station reports, a signing it starts). */
const CERTIFICATE_COMMANDS: ReadonlySet<string> = new Set([
  'InstallCertificate',
  'DeleteCertificate',
  'GetInstalledCertificateIds',
  'CertificateSigned',
  'TriggerMessage',
]);

interface TransactionItem {
  transactionId: string;
  evseId: number | null;
  active: boolean;
  startedAt: string | null;
  endedAt: string | null;
  energyWh: number | null;
  chargingState: string | null;
  cost: string | null;
  currency: string | null;
}

interface ReservationItem {
  id: number;
  evseId: number | null;
  connectorType: string | null;
  idToken: { idToken: string; type: string };
  expiresAt: string;
  status: string;
}

/** CONTRACT §8.2: the station's reservations with their status; a live one can be cancelled. */
function reservationsTable(id: string, items: readonly ReservationItem[], reload: () => Promise<void>): HTMLElement {
  if (items.length === 0) return h('p', { class: 'muted' }, 'No reservations.');
  const outcome = h('p', { role: 'status', class: 'outcome' });
  const cancel = async (r: ReservationItem): Promise<void> => {
    const res = await api('DELETE', `${stationPath(id)}/reservations/${r.id}`);
    outcome.textContent = res.ok ? `Reservation ${r.id}: cancel sent.` : `Refused (${res.status}): ${res.text}`;
    await reload();
  };
  return h(
    'div',
    {},
    h(
      'table',
      {},
      h('caption', { class: 'sr-only' }, 'Reservations of this station'),
      h('thead', {}, h('tr', {}, ...['Id', 'EVSE / type', 'Token', 'Expires', 'Status', ''].map((c) => h('th', { scope: 'col' }, c)))),
      h(
        'tbody',
        {},
        ...items.map((r) =>
          h(
            'tr',
            { 'data-reservation': String(r.id), 'data-status': r.status },
            h('td', {}, String(r.id)),
            h('td', {}, r.evseId !== null ? `EVSE ${r.evseId}` : (r.connectorType ?? 'any')),
            h('td', {}, h('code', {}, r.idToken.idToken)),
            h('td', {}, when(r.expiresAt)),
            h('td', {}, badge(r.status, statusTone(r.status))),
            h(
              'td',
              { class: 'actions' },
              r.status === 'Accepted'
                ? h('button', { type: 'button', class: 'secondary', 'aria-label': `Cancel reservation ${r.id}`, onclick: () => void cancel(r) }, 'Cancel')
                : '',
            ),
          ),
        ),
      ),
    ),
    outcome,
  );
}

interface DeviceVariable {
  component: { name: string; instance?: string; evse?: { id: number; connectorId?: number } };
  variable: { name: string; instance?: string };
  attributes: { type: string; value?: string }[];
}

function dl(entries: [string, unknown][]): HTMLElement {
  return h('dl', { class: 'facts' }, ...entries.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v instanceof Node ? v : text(v))]));
}

function identity(view: StationView): HTMLElement {
  const cs = view.chargingStation;
  return section(
    'Identity and connection',
    'identity',
    dl([
      ['Connection', view.connected ? badge(`connected${view.nodeId !== null ? ` to ${view.nodeId}` : ''}`, 'ok') : badge('offline', 'muted')],
      ['Boot status', badge(view.bootStatus, statusTone(view.bootStatus))],
      ['OCPP version', view.ocppVersion],
      ['Station status', view.status],
      ['Last seen', when(view.lastSeen)],
      ['Last boot reason', view.lastBootReason],
      ['Vendor', cs?.vendorName],
      ['Model', cs?.model],
      ['Serial number', cs?.serialNumber],
      ['Firmware', cs?.firmwareVersion],
      ['Firmware status', view.firmwareStatus?.status],
      ['Log status', view.logStatus?.status],
    ]),
  );
}

function evsesTable(view: StationView): HTMLElement {
  const rows = view.evses.flatMap((evse) =>
    evse.connectors.map((c) =>
      h(
        'tr',
        { 'data-connector': `${evse.id}/${c.id}` },
        h('td', {}, String(evse.id)),
        h('td', {}, String(c.id)),
        h('td', { class: 'connector-status' }, badge(c.status, statusTone(c.status))),
        h('td', {}, when(c.updatedAt)),
      ),
    ),
  );
  return h(
    'table',
    {},
    h('caption', { class: 'sr-only' }, 'EVSEs and connectors'),
    h(
      'thead',
      {},
      h('tr', {}, h('th', { scope: 'col' }, 'EVSE'), h('th', { scope: 'col' }, 'Connector'), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col' }, 'Since')),
    ),
    h('tbody', {}, rows.length === 0 ? h('tr', {}, h('td', { colspan: 4, class: 'muted' }, 'No connector reported yet')) : rows),
  );
}

function registration(view: StationView, reload: () => Promise<void>): HTMLElement {
  const profile = h('select', { id: 'reg-profile' }, ...[1, 2, 3].map((p) => h('option', { value: p, selected: p === view.securityProfile }, `Profile ${p}`)));
  const policy = h('select', { id: 'reg-policy' }, ...['Accepted', 'Pending', 'Rejected'].map((p) => h('option', { value: p, selected: p === view.bootPolicy }, p)));
  const password = h('input', { id: 'reg-password', type: 'password', autocomplete: 'new-password', minlength: 16, maxlength: 64 });
  const outcome = h('p', { class: 'outcome', role: 'status' });
  const save = async (patch: Record<string, unknown>): Promise<void> => {
    const res = await api('PATCH', stationPath(view.id), patch);
    outcome.textContent = res.ok ? 'Saved.' : `Refused (${res.status}): ${res.text}`;
    if (res.ok) await reload();
  };
  const pending = view.bootStatus === 'Pending' || view.bootPolicy === 'Pending';
  return section(
    'Registration',
    'registration',
    pending
      ? h(
          'div',
          { class: 'callout' },
          h('p', {}, 'This station waits for an operator: its boot is answered Pending.'),
          h('button', { type: 'button', id: 'accept-station', onclick: () => void save({ bootPolicy: 'Accepted' }) }, 'Accept station'),
        )
      : null,
    h(
      'form',
      {
        class: 'inline',
        onsubmit: (event: Event) => {
          event.preventDefault();
          const patch: Record<string, unknown> = { securityProfile: Number(profile.value), bootPolicy: policy.value };
          if (password.value !== '') patch.password = password.value;
          password.value = '';
          void save(patch);
        },
      },
      h('div', { class: 'field' }, h('label', { for: 'reg-profile' }, 'Security profile'), profile),
      h('div', { class: 'field' }, h('label', { for: 'reg-policy' }, 'Boot policy'), policy),
      h('div', { class: 'field' }, h('label', { for: 'reg-password' }, 'New password (16–64)'), password),
      h('button', { type: 'submit' }, 'Save registration'),
    ),
    outcome,
  );
}

/** Pick an action, fill the form generated from its official schema, send, and see exactly what the API answered. */
async function commandPanel(stationId: string, ocppVersion: string | null, onReportRequested: (requestId: number) => void): Promise<HTMLElement> {
  // The actions and schemas of the version the station speaks (1.6 or 2.0.1); all of them before it ever connected.
  const versionQuery = ocppVersion === null ? '' : `?ocppVersion=${encodeURIComponent(ocppVersion)}`;
  const actions = await get<{ actions: string[] }>(`/api/v1/commands${versionQuery}`);
  const select = h(
    'select',
    { id: 'command-action' },
    h('option', { value: '' }, 'choose an action…'),
    ...(actions.ok ? actions.body.actions : []).map((a) => h('option', { value: a }, a)),
  );
  const formHolder = h('div', { class: 'command-form' });
  const json = h('textarea', { id: 'command-json', rows: 8, spellcheck: 'false' }, '{}');
  const send = h('button', { type: 'submit', id: 'command-send', disabled: true }, 'Send');
  const result = h('div', { id: 'command-result', 'aria-live': 'polite' });

  select.addEventListener('change', () => {
    void (async () => {
      replace(formHolder);
      replace(result);
      send.disabled = select.value === '';
      if (select.value === '') return;
      const schema = await get<{ schema: Schema }>(`/api/v1/commands/${encodeURIComponent(select.value)}/schema${versionQuery}`);
      if (!schema.ok) return;
      const built = schemaForm(schema.body.schema, () => (json.value = pretty(built.value())));
      replace(formHolder, built.element);
      json.value = pretty(built.value());
    })();
  });

  const submit = async (): Promise<void> => {
    let body: unknown;
    try {
      body = JSON.parse(json.value);
    } catch {
      replace(result, h('p', { class: 'error' }, 'The request is not valid JSON.'));
      return;
    }
    send.disabled = true;
    replace(result, h('p', { class: 'muted' }, `Sent ${select.value}; waiting for the station…`));
    const res = await api<{ request?: unknown; response?: unknown; error?: { code: string; message: string } }>(
      'POST',
      `${stationPath(stationId)}/commands/${encodeURIComponent(select.value)}`,
      json.value,
    );
    send.disabled = false;
    const sent = res.body.request as { requestId?: unknown } | undefined;
    if (res.status === 200 && (select.value === 'GetBaseReport' || select.value === 'GetReport') && typeof sent?.requestId === 'number')
      onReportRequested(sent.requestId);
    const outcome =
      res.status === 200
        ? badge('answered', 'ok')
        : res.status === 502
          ? badge(`CALLERROR ${res.body.error?.code ?? ''}`, 'bad')
          : res.status === 504
            ? badge('timeout: no answer', 'bad')
            : badge(`refused (${res.status})`, 'warn');
    replace(
      result,
      h('p', { id: 'command-outcome', 'data-status': res.status }, 'HTTP ', String(res.status), ' ', outcome),
      h('h3', {}, 'Request as sent'),
      h('pre', { id: 'command-request' }, pretty(res.status === 200 ? res.body.request : body)),
      h('h3', {}, res.status === 200 ? "The station's answer" : 'Error'),
      h('pre', { id: 'command-response' }, pretty(res.status === 200 ? res.body.response : res.body)),
    );
  };

  return section(
    'Command',
    'command',
    h(
      'form',
      {
        onsubmit: (event: Event) => {
          event.preventDefault();
          void submit();
        },
      },
      h('div', { class: 'field' }, h('label', { for: 'command-action' }, 'Action'), select),
      formHolder,
      h('div', { class: 'field' }, h('label', { for: 'command-json' }, 'Request (JSON, as it will be sent)'), json),
      send,
    ),
    result,
  );
}

/** A report (GetBaseReport, GetReport) as the station sent it, by requestId: the command panel fills the id in. */
function reportsSection(stationId: string): { element: HTMLElement; show(requestId: number): void } {
  const input = h('input', { id: 'report-request-id', type: 'number', min: 0, step: 1 });
  const result = h('div', { id: 'report-result', 'aria-live': 'polite' });
  const show = async (): Promise<void> => {
    if (input.value === '') return;
    const res = await get<{ requestId: number; complete: boolean; parts: number; reportData: unknown[] }>(
      `${stationPath(stationId)}/reports/${encodeURIComponent(input.value)}`,
    );
    if (!res.ok) {
      replace(result, h('p', { class: 'muted' }, res.status === 404 ? `No report ${input.value} from this station.` : `The API answered ${res.status}.`));
      return;
    }
    replace(
      result,
      h('p', {}, res.body.complete ? badge('complete', 'ok') : badge('in progress', 'warn'), ` ${res.body.parts} part(s), ${res.body.reportData.length} variables`),
      h('pre', {}, pretty(res.body.reportData).slice(0, 20_000)),
    );
  };
  const element = section(
    'Reports',
    'reports',
    h(
      'form',
      {
        class: 'inline',
        onsubmit: (event: Event) => {
          event.preventDefault();
          void show();
        },
      },
      h('div', { class: 'field' }, h('label', { for: 'report-request-id' }, 'Report requestId'), input),
      h('button', { type: 'submit' }, 'Show report'),
    ),
    result,
  );
  return {
    element,
    show: (requestId) => {
      input.value = String(requestId);
      void show();
    },
  };
}

function variablesSection(variables: DeviceVariable[]): HTMLElement {
  const filter = h('input', { type: 'search', id: 'variables-search', 'aria-label': 'Search variables', placeholder: 'component or variable' });
  const list = h('div', { class: 'tree' });
  const draw = (): void => {
    const q = filter.value.toLowerCase();
    const byComponent = new Map<string, DeviceVariable[]>();
    for (const v of variables) {
      const c = v.component;
      const key = `${c.name}${c.instance !== undefined ? `/${c.instance}` : ''}${c.evse !== undefined ? ` (EVSE ${c.evse.id}${c.evse.connectorId !== undefined ? `/${c.evse.connectorId}` : ''})` : ''}`;
      if (q !== '' && !`${key} ${v.variable.name}`.toLowerCase().includes(q)) continue;
      const group = byComponent.get(key) ?? [];
      group.push(v);
      byComponent.set(key, group);
    }
    replace(
      list,
      byComponent.size === 0
        ? h('p', { class: 'muted' }, variables.length === 0 ? 'No device model reported yet (GetBaseReport fills it).' : 'Nothing matches.')
        : [...byComponent.entries()].map(([component, vars]) =>
            h(
              'details',
              { open: q !== '' || byComponent.size <= 3 },
              h('summary', {}, component, h('span', { class: 'muted' }, ` ${vars.length}`)),
              h(
                'ul',
                {},
                ...vars.map((v) =>
                  h(
                    'li',
                    {},
                    h('code', {}, `${v.variable.name}${v.variable.instance !== undefined ? `/${v.variable.instance}` : ''}`),
                    ' = ',
                    v.attributes.map((a) => `${a.type}: ${a.value ?? '—'}`).join(', '),
                  ),
                ),
              ),
            ),
          ),
    );
  };
  filter.addEventListener('input', draw);
  draw();
  return section('Device variables', 'variables', filter, list);
}

async function render(ctx: PageContext): Promise<void> {
  const id = ctx.params[0] ?? '';
  const holder = h('div', {});
  replace(ctx.root, h('h1', {}, 'Station ', h('span', { id: 'station-id' }, id)), holder);

  const evses = h('div', { id: 'evses-table' });
  const events = h('ol', { class: 'timeline', id: 'events-list' });
  const openTransactions = h('div', {});
  let view: StationView | undefined;

  const loadTransactions = async (): Promise<void> => {
    const res = await get<{ items: TransactionItem[] }>(`${stationPath(id)}/transactions`);
    const items = res.ok ? res.body.items.slice(0, 20) : [];
    replace(
      openTransactions,
      items.length === 0
        ? h('p', { class: 'muted' }, 'No transactions yet.')
        : h(
            'table',
            {},
            h('caption', { class: 'sr-only' }, 'Transactions of this station'),
            h('thead', {}, h('tr', {}, ...['Transaction', 'EVSE', 'State', 'Started', 'Ended', 'Energy (Wh)', 'Cost'].map((c) => h('th', { scope: 'col' }, c)))),
            h(
              'tbody',
              {},
              ...items.map((t) =>
                h(
                  'tr',
                  {},
                  h('td', {}, h('a', { href: `#/stations/${encodeURIComponent(id)}/transactions/${encodeURIComponent(t.transactionId)}` }, t.transactionId)),
                  h('td', {}, text(t.evseId)),
                  h('td', {}, t.active ? badge(t.chargingState ?? 'active', 'warn') : badge('ended', 'muted')),
                  h('td', {}, when(t.startedAt)),
                  h('td', {}, when(t.endedAt)),
                  h('td', {}, text(t.energyWh)),
                  h('td', {}, t.cost === null ? '—' : `${t.cost} ${t.currency ?? ''}`),
                ),
              ),
            ),
          ),
    );
  };

  const reservations = h('div', {});
  const loadReservations = async (): Promise<void> => {
    const res = await get<{ items: ReservationItem[] }>(`${stationPath(id)}/reservations`);
    replace(reservations, reservationsTable(id, res.ok ? [...res.body.items].reverse().slice(0, 20) : [], loadReservations));
  };

  const loadEvents = async (): Promise<void> => {
    const res = await get<{ items: { id: number; kind: string; payload: JsonObject; receivedAt: string }[] }>(`${stationPath(id)}/events?limit=50`);
    replace(
      events,
      ...(res.ok ? res.body.items : []).map((e) =>
        h('li', {}, h('time', { datetime: e.receivedAt }, when(e.receivedAt)), ' ', h('strong', {}, e.kind), ' ', h('code', {}, JSON.stringify(e.payload).slice(0, 200))),
      ),
    );
    if (events.childElementCount === 0) events.appendChild(h('li', { class: 'muted' }, 'No events yet.'));
  };

  const identityHolder = h('div', {});
  const registrationHolder = h('div', {});
  const certificatesHolder = h('div', {});
  const reports = reportsSection(id);
  const monitors = monitorsSection(id);
  const localList = localListSection(id);
  const displayMessages = displayMessagesSection(id);
  let built = false;

  /** Re-reads the station; the panels that hold what an operator is typing (command, variables search) are built once. */
  const reload = async (): Promise<void> => {
    const res = await get<StationView>(stationPath(id));
    if (!res.ok) {
      replace(holder, h('p', { class: 'error' }, res.status === 404 ? `No station ${id}.` : `The API answered ${res.status}.`));
      built = false;
      return;
    }
    const current = res.body;
    view = current;
    replace(evses, evsesTable(current));
    replace(identityHolder, identity(current));
    replace(registrationHolder, registration(current, reload));
    replace(certificatesHolder, await certificatesSection(id, current.certificates, current.certificateSigning));
    if (!built) {
      built = true;
      const variables = await get<DeviceVariable[]>(`${stationPath(id)}/variables`);
      replace(
        holder,
        h(
          'div',
          { class: 'grid' },
          identityHolder,
          registrationHolder,
          section('EVSEs and connectors', 'evses', evses),
          section('Transactions', 'transactions', openTransactions),
          section(
            'Reservations',
            'reservations',
            reservationForm(
              id,
              current.evses.map((e) => e.id),
              loadReservations,
            ),
            reservations,
          ),
          localList.element,
          displayMessages.element,
          await commandPanel(id, current.ocppVersion, (requestId) => window.setTimeout(() => reports.show(requestId), 1000)),
          reports.element,
          variablesSection(variables.ok ? variables.body : []),
          section('Events', 'events', events),
          monitors.element,
          certificatesHolder,
        ),
      );
      await Promise.all([loadTransactions(), loadEvents(), monitors.load(), loadReservations(), localList.load(), displayMessages.load()]);
    }
  };

  ctx.onChange((change) => {
    if (change.data.stationId !== id || view === undefined) return;
    const d = change.data;
    if (change.kind === 'connector.status') {
      const evseId = Number(d.evseId);
      const connectorId = Number(d.connectorId);
      let evse = view.evses.find((e) => e.id === evseId);
      if (evse === undefined) {
        view.evses.push((evse = { id: evseId, connectors: [] }));
        view.evses.sort((a, b) => a.id - b.id);
      }
      const connector = evse.connectors.find((c) => c.id === connectorId);
      const updatedAt = typeof d.timestamp === 'string' ? d.timestamp : d.at;
      if (connector === undefined) evse.connectors.push({ id: connectorId, status: String(d.status), updatedAt });
      else Object.assign(connector, { status: String(d.status), updatedAt });
      replace(evses, evsesTable(view));
    } else if (change.kind.startsWith('transaction.')) void loadTransactions();
    else if (change.kind === 'station.event') void Promise.all([loadEvents(), monitors.load()]);
    // A monitoring command's answer changes the monitors the CSMS holds; a certificate command's, the station's inventory.
    else if (change.kind === 'command.result') void (CERTIFICATE_COMMANDS.has(String(d.action)) ? Promise.all([monitors.load(), reload()]) : monitors.load());
    else if (change.kind === 'reservation.updated') void loadReservations();
    else if (change.kind === 'local-list.updated') void localList.load();
    else if (change.kind === 'display-messages.updated') void displayMessages.load();
    else if (['station.connected', 'station.disconnected', 'station.boot', 'station.registered', 'station.status'].includes(change.kind)) void reload();
  });

  await reload();
}

export const stationPage: Page = { path: /^\/stations\/([^/]+)$/, title: 'Station', render };
