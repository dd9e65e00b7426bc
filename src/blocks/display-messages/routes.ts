import { commandFailure } from '../../api/command-failure.js';
import { ApiError, errorResponse, type ApiResponse } from '../../api/http.js';
import type { RouteSpec } from '../../api/route-spec.js';
import { requireStation, stationIdParam } from '../../api/routes/stations.js';
import type { CommandService } from '../../commands/service.js';
import type { JsonObject } from '../../json.js';
import type { Clock } from '../../clock.js';
import type { BillingStore } from '../../store/billing-store.js';
import type { Store } from '../../store/store.js';
import { displayCapabilities } from './capabilities.js';
import type { DisplayMessageRecord, DisplayMessageStore } from './display-message-store.js';

export interface DisplayMessageRouteDeps {
  store: Store & BillingStore;
  messages: DisplayMessageStore;
  commands: CommandService;
  clock: Clock;
}

function view(record: DisplayMessageRecord, status: string): object {
  return {
    id: record.id,
    source: record.source,
    message: record.message,
    status,
    ...(record.response !== undefined ? { response: record.response } : {}),
    ...(record.requestId !== undefined ? { requestId: record.requestId } : {}),
    updatedAt: record.updatedAt.toISOString(),
  };
}

export function displayMessageRoutes(deps: DisplayMessageRouteDeps): RouteSpec[] {
  const { store, messages, commands, clock } = deps;

  /**
   * What became of a message the station accepted: past its endDateTime it is Expired (O01, DRV-AUI-06); tied to
   * a transaction that ended, Removed (O02.FR.02, DRV-AUI-07). The station removes both by itself, unasked.
   */
  async function lifecycle(stationId: string, record: DisplayMessageRecord): Promise<string> {
    if (record.source !== 'CSMS' || record.status !== 'Accepted') return record.status;
    const { endDateTime, transactionId } = record.message;
    if (typeof endDateTime === 'string' && Date.parse(endDateTime) <= clock.now()) return 'Expired';
    if (typeof transactionId === 'string') {
      const tx = await store.getTransaction(stationId, transactionId);
      if (tx !== undefined && !tx.active) return 'Removed';
    }
    return record.status;
  }

  function refused(rule: string, message: string, details: JsonObject): ApiError {
    return new ApiError(400, 'ocpp_rule', message, { rule, message, ...details });
  }

  /**
   * DRV-AUI-11 (and O01.FR.11 for DRV-AUI-08): what the station said it cannot show is refused before anything is
   * sent, with the values as the station reported them. A capability never reported refuses nothing.
   */
  async function checkCapabilities(stationId: string, message: JsonObject): Promise<void> {
    const caps = displayCapabilities(await store.getVariables(stationId));
    const checks: [string, readonly string[] | undefined, unknown][] = [
      ['SupportedPriorities', caps.priorities, message.priority],
      ['SupportedFormats', caps.formats, (message.message as JsonObject | undefined)?.format],
      ['SupportedStates', caps.states, message.state],
    ];
    for (const [variable, supported, value] of checks) {
      if (supported === undefined || typeof value !== 'string' || supported.includes(value)) continue;
      throw refused('DRV-AUI-11', `the station reports DisplayMessageCtrlr.${variable} = ${supported.join(',')}; ${value} is not among them`, {
        variable: `DisplayMessageCtrlr.${variable}`,
        reported: supported.join(','),
        value,
      });
    }
    if (caps.maxMessages === undefined) return;
    // What the station holds: the messages it accepted from us that are still shown, and those it reported.
    // A message with an id it already holds replaces that one (O06.FR.01) and takes no new room.
    const held = new Set<number>();
    for (const record of await messages.list(stationId)) {
      const status = await lifecycle(stationId, record);
      if (record.source === 'station' || status === 'Accepted') held.add(record.id);
    }
    if (typeof message.id === 'number' && held.has(message.id)) return;
    if (held.size >= caps.maxMessages) {
      throw refused('DRV-AUI-08', `the station holds ${held.size} messages and reports DisplayMessageCtrlr.DisplayMessages maxLimit = ${caps.maxMessages}`, {
        spec: 'O01.FR.11',
        variable: 'DisplayMessageCtrlr.DisplayMessages maxLimit',
        reported: caps.maxMessages,
        held: held.size,
      });
    }
  }

  /** One command through the one command path (cluster-routed, schema-checked, with its deadline). */
  async function send(stationId: string, action: string, payload: JsonObject): Promise<{ response: JsonObject } | ApiResponse> {
    const report = await commands.run(stationId, action, payload, 'operator');
    return report.outcome.kind === 'result' ? { response: report.outcome.response } : errorResponse(commandFailure(report.outcome));
  }

  return [
    {
      method: 'post',
      path: '/api/v1/stations/{id}/display-messages',
      role: 'operator',
      summary: 'Set a display message on the station (SetDisplayMessage); its id is assigned when left out',
      tag: 'Display messages',
      body: 'DisplayMessagePost',
      responses: {
        201: '{id, message, source, status, response}',
        400: 'The message violates the OCPP 2.0.1 MessageInfoType schema, a rule of O01/O02, or what the station reports it can show (DRV-AUI-08/11)',
        404: 'Unknown station',
        409: 'Not connected',
        502: 'CALLERROR',
        504: 'No answer in time',
      },
      handler: async (request) => {
        const stationId = stationIdParam(request);
        await requireStation(store, stationId);
        const message: JsonObject = { ...(request.body.message as JsonObject) };
        const { startDateTime, endDateTime } = message;
        // O01: startDateTime and endDateTime bound when a message shows; a window that ends before it starts is a mistake.
        if (typeof startDateTime === 'string' && typeof endDateTime === 'string' && Date.parse(endDateTime) <= Date.parse(startDateTime)) {
          throw new ApiError(400, 'ocpp_rule', 'endDateTime must be after startDateTime', {
            rule: 'O01',
            message: 'a message whose endDateTime is not after its startDateTime is never shown',
          });
        }
        await checkCapabilities(stationId, message);
        if (message.id === undefined) message.id = await messages.nextId(stationId);
        const sent = await send(stationId, 'SetDisplayMessage', { message });
        if (!('response' in sent)) return sent;
        return { status: 201, body: { id: message.id, message, source: 'CSMS', status: sent.response.status, response: sent.response } };
      },
    },
    {
      method: 'get',
      path: '/api/v1/stations/{id}/display-messages',
      role: 'viewer',
      summary: 'The messages the CSMS set (source CSMS) and those the station last reported (source station)',
      tag: 'Display messages',
      responses: { 200: '{items:[…], report}', 404: 'Unknown station' },
      handler: async (request) => {
        const stationId = stationIdParam(request);
        await requireStation(store, stationId);
        const [items, report] = await Promise.all([messages.list(stationId), messages.report(stationId)]);
        const shown = await Promise.all(items.map(async (item) => view(item, await lifecycle(stationId, item))));
        return { status: 200, body: { items: shown, report: report ?? null } };
      },
    },
    {
      method: 'del',
      path: '/api/v1/stations/{id}/display-messages/{messageId}',
      role: 'operator',
      summary: 'Clear a display message (ClearDisplayMessage); it leaves the list once the station accepted',
      tag: 'Display messages',
      responses: { 200: '{id, response}', 400: 'Not a message id', 404: 'Unknown station', 409: 'Not connected', 502: 'CALLERROR', 504: 'No answer in time' },
      handler: async (request) => {
        const stationId = stationIdParam(request);
        const raw = request.params.messageId ?? '';
        const id = Number(raw);
        if (!/^\d{1,10}$/.test(raw) || !Number.isSafeInteger(id) || id > 2_147_483_647) throw new ApiError(400, 'invalid_message_id', 'a message id is an integer ≥ 0');
        await requireStation(store, stationId);
        const sent = await send(stationId, 'ClearDisplayMessage', { id });
        if (!('response' in sent)) return sent;
        return { status: 200, body: { id, response: sent.response } };
      },
    },
  ];
}
