import { ApiError, type ApiRequest } from '../../api/http.js';
import type { RouteSpec } from '../../api/route-spec.js';
import { requireStation, stationIdParam } from '../../api/routes/stations.js';
import type { MonitoringStore } from '../../store/monitoring-sql.js';
import type { Store } from '../../store/store.js';
import { reportComplete } from './monitors.js';

function requestIdParam(request: ApiRequest): number {
  const raw = request.params.requestId ?? '';
  if (!/^-?\d{1,10}$/.test(raw)) throw new ApiError(400, 'invalid_request_id', 'requestId must be an integer');
  return Number(raw);
}

/** Station answers to GetMonitoringReport after which no NotifyMonitoringReport follows (N02.FR.10, refusals, no answer). */
const NOTHING_TO_COME: ReadonlySet<string> = new Set(['EmptyResultSet', 'Rejected', 'NotSupported', 'Failed']);

/**
 * CONTRACT §8.5: the monitors of a station (as the CSMS set them and as the station reported them) and its
 * monitoring reports per requestId. The monitoring commands themselves go through the commands endpoint
 * (CONTRACT §4), where this block's plans split and check them.
 */
export function monitoringRoutes(deps: { store: Store; monitoring: MonitoringStore }): RouteSpec[] {
  const { store, monitoring } = deps;
  return [
    {
      method: 'get',
      path: '/api/v1/stations/{id}/monitors',
      role: 'viewer',
      summary:
        'Monitors as the CSMS set them (SetVariableMonitoring answers, source CSMS) and as the station last reported them (NotifyMonitoringReport, source station), with the active monitoring base and level',
      tag: 'Monitoring',
      responses: {
        200: '{items:[{id, component, variable, type, value, severity, transaction, source, status, updatedAt}], monitoringBase, monitoringLevel}',
        404: 'Unknown station',
      },
      handler: async (request) => {
        const id = stationIdParam(request);
        await requireStation(store, id);
        const [monitors, settings] = await Promise.all([monitoring.listMonitors(id), monitoring.getSettings(id)]);
        return {
          status: 200,
          body: {
            items: monitors.map((m) => ({
              id: m.id,
              component: m.component,
              variable: m.variable,
              type: m.type,
              value: m.value,
              severity: m.severity,
              transaction: m.transaction,
              source: m.source,
              status: m.status,
              updatedAt: m.updatedAt.toISOString(),
            })),
            monitoringBase: settings.monitoringBase,
            monitoringLevel: settings.monitoringLevel,
          },
        };
      },
    },
    {
      method: 'get',
      path: '/api/v1/stations/{id}/monitoring-reports/{requestId}',
      role: 'viewer',
      summary:
        'NotifyMonitoringReport parts assembled per requestId: complete:false from the moment the station accepted the request until the part without tbc arrived and no seqNo is missing',
      tag: 'Monitoring',
      responses: { 200: '{requestId, complete, status, parts, monitors}', 404: 'Unknown station or report' },
      handler: async (request) => {
        const id = stationIdParam(request);
        const requestId = requestIdParam(request);
        await requireStation(store, id);
        const [parts, asked] = await Promise.all([monitoring.getReportParts(id, requestId), monitoring.getReportRequest(id, requestId)]);
        if (parts.length === 0 && asked === undefined) throw new ApiError(404, 'monitoring_report_not_found', `no monitoring report ${requestId} from ${id}`);
        // Without parts: under way once Accepted; complete (and empty) when the station said nothing will come.
        const complete = parts.length > 0 ? reportComplete(parts) : NOTHING_TO_COME.has(asked?.status ?? '');
        return {
          status: 200,
          body: { requestId, complete, status: asked?.status ?? null, parts: parts.length, monitors: parts.flatMap((part) => part.monitor) },
        };
      },
    },
  ];
}
