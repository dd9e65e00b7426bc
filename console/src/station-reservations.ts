import { api, stationPath } from './api.js';
import { h } from './dom.js';

/** OCPP 2.0.1 ConnectorEnumType: what a reservation by connector type may name (H01.FR.*). */
const CONNECTOR_TYPES = [
  'cCCS1',
  'cCCS2',
  'cG105',
  'cTesla',
  'cType1',
  'cType2',
  's309-1P-16A',
  's309-1P-32A',
  's309-3P-16A',
  's309-3P-32A',
  'sBS1361',
  'sCEE-7-7',
  'sType2',
  'sType3',
  'Other1PhMax16A',
  'Other1PhOver16A',
  'Other3Ph',
  'Pan',
  'wInductive',
  'wResonant',
  'Undetermined',
  'Unknown',
] as const;

/** OCPP 2.0.1 IdTokenEnumType (1.6 stations get the token's value as idTag whatever its type). */
const TOKEN_TYPES = ['ISO14443', 'ISO15693', 'eMAID', 'Central', 'KeyCode', 'Local', 'MacAddress', 'NoAuthorization'] as const;

/** A `datetime-local` value (the operator's local time, to the minute) `minutes` from now. */
function localInput(minutes: number): string {
  const at = new Date(Date.now() + minutes * 60_000);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}`;
}

/**
 * CONTRACT §8.2: book a reservation on this station — a specific EVSE, a connector type, both or neither (any EVSE),
 * for a token, until a time the operator picks in their own time zone (sent as UTC). The CSMS assigns the id and
 * sends ReserveNow; the station's answer is shown, and the list follows through `reservation.updated`.
 */
export function reservationForm(id: string, evseIds: readonly number[], reload: () => Promise<void>): HTMLElement {
  const evse = h(
    'select',
    { id: 'reserve-evse', name: 'evseId' },
    h('option', { value: '' }, 'Any EVSE'),
    ...evseIds.map((e) => h('option', { value: String(e) }, `EVSE ${e}`)),
  );
  const connectorType = h(
    'select',
    { id: 'reserve-connector-type', name: 'connectorType' },
    h('option', { value: '' }, 'Any type'),
    ...CONNECTOR_TYPES.map((t) => h('option', { value: t }, t)),
  );
  const token = h('input', { id: 'reserve-token', name: 'idToken', required: true, maxlength: 36, autocomplete: 'off' });
  const tokenType = h('select', { id: 'reserve-token-type', name: 'type' }, ...TOKEN_TYPES.map((t) => h('option', { value: t }, t)));
  const expires = h('input', { id: 'reserve-expires', name: 'expiresAt', type: 'datetime-local', required: true, value: localInput(30) });
  const outcome = h('p', { role: 'status', class: 'outcome', id: 'reserve-outcome' });

  const book = async (): Promise<void> => {
    const expiresAt = new Date(expires.value);
    if (Number.isNaN(expiresAt.getTime())) {
      outcome.textContent = 'Pick when the reservation expires.';
      return;
    }
    const body: Record<string, unknown> = { idToken: { idToken: token.value.trim(), type: tokenType.value }, expiresAt: expiresAt.toISOString() };
    if (evse.value !== '') body.evseId = Number(evse.value);
    if (connectorType.value !== '') body.connectorType = connectorType.value;
    outcome.textContent = 'Sending ReserveNow…';
    const res = await api<{ id: number; status: string; error?: { message: string } }>('POST', `${stationPath(id)}/reservations`, body);
    outcome.textContent = res.status === 201 ? `Reservation ${res.body.id}: ${res.body.status}.` : `Refused (${res.status}): ${res.body.error?.message ?? res.text}`;
    await reload();
  };

  return h(
    'form',
    { class: 'inline', id: 'reserve-form', 'aria-label': 'Book a reservation', onsubmit: (e: Event) => void (e.preventDefault(), book()) },
    h('div', { class: 'field' }, h('label', { for: 'reserve-evse' }, 'EVSE'), evse),
    h('div', { class: 'field' }, h('label', { for: 'reserve-connector-type' }, 'Connector type'), connectorType),
    h('div', { class: 'field' }, h('label', { for: 'reserve-token' }, 'Token'), token),
    h('div', { class: 'field' }, h('label', { for: 'reserve-token-type' }, 'Token type'), tokenType),
    h('div', { class: 'field' }, h('label', { for: 'reserve-expires' }, 'Expires (your time)'), expires),
    h('button', { type: 'submit', id: 'reserve-submit' }, 'Reserve'),
    outcome,
  );
}
