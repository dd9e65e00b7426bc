import { monitorEventFields } from '../../blocks/monitoring/monitors.js';
import type { Store } from '../../store/store.js';
import { ApiError, integerQuery, type ApiRequest } from '../http.js';
import type { RouteSpec } from '../route-spec.js';
import { requireStation, stationIdParam } from './stations.js';

function requestIdParam(request: ApiRequest): number {
  const raw = request.params.requestId ?? '';
  if (!/^-?\d{1,10}$/.test(raw)) throw new ApiError(400, 'invalid_request_id', 'requestId must be an integer');
  return Number(raw);
}

const DEFAULT_EVENT_LIMIT = 100;
const MAX_EVENT_LIMIT = 1000;

/** What stations reported: assembled reports, the device model, customer information, event history. */
export function stationDataRoutes(store: Store): RouteSpec[] {
  return [
    {
      method: 'get',
      path: '/api/v1/stations/{id}/reports/{requestId}',
      role: 'viewer',
      summary: 'A NotifyReport assembled per requestId: complete once the part with tbc=false arrived and no seqNo is missing',
      tag: 'Station data',
      responses: { 200: '{requestId, complete, reportData}', 404: 'Unknown station or report' },
      handler: async (request) => {
        const id = stationIdParam(request);
        const requestId = requestIdParam(request);
        await requireStation(store, id);
        const parts = await store.getReportParts(id, requestId);
        if (parts.length === 0) {
          // Accepted by the station, nothing arrived yet: under way, not unknown (CONTRACT §3.2 "Reports").
          if (await store.hasReportRequest(id, requestId)) return { status: 200, body: { requestId, complete: false, parts: 0, reportData: [] } };
          throw new ApiError(404, 'report_not_found', `no report ${requestId} from ${id}`);
        }
        return { status: 200, body: { requestId, complete: isComplete(parts), parts: parts.length, reportData: parts.flatMap((p) => p.reportData) } };
      },
    },
    {
      method: 'get',
      path: '/api/v1/stations/{id}/variables',
      role: 'viewer',
      summary: "The station's device model as last reported, read or set",
      tag: 'Station data',
      responses: { 200: '[{component, variable, attributes}]', 404: 'Unknown station' },
      handler: async (request) => {
        const id = stationIdParam(request);
        await requireStation(store, id);
        return { status: 200, body: await store.getVariables(id) };
      },
    },
    {
      method: 'get',
      path: '/api/v1/stations/{id}/customer-information/{requestId}',
      role: 'viewer',
      summary: 'NotifyCustomerInformation parts assembled per requestId',
      tag: 'Station data',
      responses: { 200: '{requestId, complete, data}', 404: 'Unknown station or request' },
      handler: async (request) => {
        const id = stationIdParam(request);
        const requestId = requestIdParam(request);
        await requireStation(store, id);
        const parts = await store.getCustomerInformation(id, requestId);
        if (parts.length === 0) throw new ApiError(404, 'customer_information_not_found', `no customer information ${requestId} from ${id}`);
        return { status: 200, body: { requestId, complete: isComplete(parts), data: parts.map((p) => p.data).join('') } };
      },
    },
    {
      method: 'get',
      path: '/api/v1/stations/{id}/events',
      role: 'viewer',
      summary: 'NotifyEvent, SecurityEventNotification, FirmwareStatusNotification and LogStatusNotification history, newest first; ?limit= (default 100, max 1000)',
      tag: 'Station data',
      query: { limit: { type: 'integer', minimum: 1, maximum: MAX_EVENT_LIMIT, description: `how many events, newest first (default ${DEFAULT_EVENT_LIMIT})` } },
      responses: { 200: '{items:[{id, kind, payload, receivedAt, alerts?, severity?, trigger?, actualValue?, variableMonitoringId?}]}', 404: 'Unknown station' },
      handler: async (request) => {
        const id = stationIdParam(request);
        const limit = integerQuery(request, 'limit', DEFAULT_EVENT_LIMIT);
        await requireStation(store, id);
        const events = await store.listEvents(id, limit);
        return {
          status: 200,
          body: {
            items: events.map((e) => ({
              id: e.id,
              kind: e.kind,
              payload: e.payload,
              receivedAt: e.receivedAt.toISOString(),
              // CONTRACT §8.5: a NotifyEvent's alerts of monitors, with the monitor's severity.
              ...(e.kind === 'NotifyEvent' ? monitorEventFields(e.payload) : {}),
            })),
          },
        };
      },
    },
  ];
}

/** Parts arrive with seqNo 0, 1, … and the last says tbc=false; a gap means a part is still missing. */
export function isComplete(parts: readonly { seqNo: number; tbc: boolean }[]): boolean {
  const last = parts[parts.length - 1];
  if (last === undefined || last.tbc) return false;
  return parts.every((part, index) => part.seqNo === index);
}
