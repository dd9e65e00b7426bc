import { api, get, stationPath } from './api.js';
import { badge, h, replace, section, statusTone, text, when } from './dom.js';

/**
 * Two sections of the station page for the driver-facing profiles: the Local Authorization List the CSMS keeps on
 * the station (CONTRACT §8.1: versions, what the station reported, sync status) and its display messages (§8.5:
 * what the CSMS set and what the station reported; set a text message, clear one).
 */

interface ListEntry {
  idToken: { idToken: string; type: string };
  idTokenInfo?: { status?: string };
  followsRegister?: boolean;
}

interface LocalListView {
  managed: boolean;
  entries: ListEntry[];
  version: number | null;
  stationVersion: number | null;
  syncStatus: 'InSync' | 'Pending' | 'Failed';
  lastError: { message?: string; at?: string } | null;
}

interface MessageItem {
  id: number;
  source: 'CSMS' | 'station';
  status: string;
  message: { priority?: string; state?: string; message?: { format?: string; content?: string } };
}

/** A list of thousands of entries is not read on a page: the first ones, and how many more. */
const SHOWN_ENTRIES = 100;

function syncTone(status: string): 'ok' | 'warn' | 'bad' | 'muted' {
  return status === 'InSync' ? 'ok' : status === 'Failed' ? 'bad' : 'warn';
}

function refusal(res: { status: number; body: unknown; text: string }): string {
  const error = (res.body as { error?: { message?: string; details?: { rule?: string } } } | null)?.error;
  if (error === undefined) return `Refused (${res.status}): ${res.text.slice(0, 200)}`;
  return `Refused (${res.status})${error.details?.rule !== undefined ? `, rule ${error.details.rule}` : ''}: ${error.message ?? ''}`;
}

/** Reloaded by the station page on each `local-list.updated` change (a version, an answer, a status). */
export function localListSection(stationId: string): { element: HTMLElement; load: () => Promise<void> } {
  const facts = h('dl', { class: 'facts', id: 'local-list-facts' });
  const entries = h('div', { id: 'local-list-entries' });

  const load = async (): Promise<void> => {
    const res = await get<LocalListView>(`${stationPath(stationId)}/local-list`);
    if (!res.ok) {
      replace(facts, h('dt', {}, 'Local list'), h('dd', { class: 'error' }, `The API answered ${res.status}.`));
      return;
    }
    const list = res.body;
    const fact = (label: string, value: Node | string): Node[] => [h('dt', {}, label), h('dd', {}, value)];
    replace(
      facts,
      ...fact('Managed by the CSMS', list.managed ? 'yes' : 'no'),
      ...fact('Version', text(list.version)),
      ...fact('Station version', text(list.stationVersion)),
      ...fact('Sync status', h('span', { id: 'local-list-sync' }, badge(list.syncStatus, syncTone(list.syncStatus)))),
      ...fact('Last error', list.lastError === null ? '—' : `${text(list.lastError.message)}${list.lastError.at !== undefined ? ` (${when(list.lastError.at)})` : ''}`),
      ...fact('Entries', String(list.entries.length)),
    );
    replace(
      entries,
      list.entries.length === 0
        ? h('p', { class: 'muted' }, list.managed ? 'The list is empty.' : 'The CSMS manages no list for this station.')
        : h(
            'table',
            {},
            h('caption', { class: 'sr-only' }, 'Local list entries'),
            h('thead', {}, h('tr', {}, ...['Id token', 'Type', 'Status'].map((c) => h('th', { scope: 'col' }, c)))),
            h(
              'tbody',
              {},
              ...list.entries
                .slice(0, SHOWN_ENTRIES)
                .map((e) =>
                  h(
                    'tr',
                    {},
                    h('td', {}, h('code', {}, e.idToken.idToken)),
                    h('td', {}, e.idToken.type),
                    h(
                      'td',
                      {},
                      e.followsRegister === true ? badge('follows register', 'muted') : badge(e.idTokenInfo?.status ?? '—', statusTone(e.idTokenInfo?.status ?? '')),
                    ),
                  ),
                ),
            ),
          ),
      list.entries.length > SHOWN_ENTRIES ? h('p', { class: 'muted' }, `… and ${list.entries.length - SHOWN_ENTRIES} more.`) : null,
    );
  };

  const refresh = h('button', { type: 'button', class: 'secondary', id: 'local-list-refresh', onclick: () => void load() }, 'Refresh');
  return { element: section('Local list', 'local-list', facts, refresh, entries), load };
}

/** Reloaded by the station page on each `display-messages.updated` change (an answer, a report part). */
export function displayMessagesSection(stationId: string): { element: HTMLElement; load: () => Promise<void> } {
  const table = h('div', { id: 'display-messages-table' });
  const outcome = h('p', { role: 'status', id: 'display-message-outcome' });
  const base = `${stationPath(stationId)}/display-messages`;

  const clear = async (item: MessageItem): Promise<void> => {
    const res = await api<{ response?: { status?: string } }>('DELETE', `${base}/${item.id}`);
    outcome.textContent = res.ok ? `Message ${item.id}: the station answered ${res.body.response?.status ?? '—'}.` : refusal(res);
    await load();
  };

  const load = async (): Promise<void> => {
    const res = await get<{ items: MessageItem[] }>(base);
    const items = res.ok ? res.body.items : [];
    replace(
      table,
      items.length === 0
        ? h('p', { class: 'muted' }, 'No display messages known.')
        : h(
            'table',
            {},
            h('caption', { class: 'sr-only' }, 'Display messages of this station'),
            h('thead', {}, h('tr', {}, ...['Id', 'Source', 'Priority', 'State', 'Message', 'Status', ''].map((c) => h('th', { scope: 'col' }, c)))),
            h(
              'tbody',
              {},
              ...items.map((m) =>
                h(
                  'tr',
                  { 'data-message': `${m.source}/${m.id}` },
                  h('td', {}, String(m.id)),
                  h('td', {}, m.source),
                  h('td', {}, text(m.message.priority)),
                  h('td', {}, text(m.message.state)),
                  h('td', {}, text(m.message.message?.content)),
                  h('td', {}, badge(m.status, statusTone(m.status === 'Reported' ? 'Accepted' : m.status))),
                  h(
                    'td',
                    {},
                    // What the station shows can be cleared; a message it never took has nothing to clear.
                    m.status === 'Accepted' || m.status === 'Reported'
                      ? h('button', { type: 'button', class: 'secondary', 'aria-label': `Clear display message ${m.id}`, onclick: () => void clear(m) }, 'Clear')
                      : null,
                  ),
                ),
              ),
            ),
          ),
    );
  };

  const content = h('input', { type: 'text', id: 'display-message-text', required: true, maxlength: 512 });
  const priority = h('select', { id: 'display-message-priority' }, ...['NormalCycle', 'InFront', 'AlwaysFront'].map((p) => h('option', { value: p }, p)));
  const form = h(
    'form',
    {
      class: 'inline',
      onsubmit: (event: Event) => {
        event.preventDefault();
        void (async () => {
          const message = { priority: priority.value, message: { format: 'UTF8', content: content.value } };
          const res = await api<{ id: number; status: string }>('POST', base, { message });
          outcome.textContent = res.ok ? `Message ${res.body.id}: the station answered ${res.body.status}.` : refusal(res);
          if (res.ok) content.value = '';
          await load();
        })();
      },
    },
    h('div', { class: 'field' }, h('label', { for: 'display-message-text' }, 'Message text'), content),
    h('div', { class: 'field' }, h('label', { for: 'display-message-priority' }, 'Priority'), priority),
    h('button', { type: 'submit' }, 'Set message'),
  );
  return { element: section('Display messages', 'display-messages', table, form, outcome), load };
}
