import type { CommandOutcome } from '../../cluster/command-router.js';
import type { CommandService } from '../../commands/service.js';
import type { JsonObject } from '../../json.js';
import type { CsmsMetrics } from '../../metrics.js';
import { commandFailure } from '../command-failure.js';
import { ApiError, errorResponse, type ApiResponse } from '../http.js';
import type { RouteSpec } from '../route-spec.js';
import { stationIdParam } from './stations.js';

export interface CommandRouteDeps {
  commands: CommandService;
  metrics: CsmsMetrics;
  /** Every answer to a command that reached the command service (the change stream's `command.result`). */
  onOutcome?: (stationId: string, action: string, response: ApiResponse) => void;
}

/** The commands endpoint: parse, run the command service, answer with the HTTP status of its outcome. */
export function commandRoutes(deps: CommandRouteDeps): RouteSpec[] {
  const { commands, metrics } = deps;
  return [
    {
      method: 'get',
      path: '/api/v1/commands',
      role: 'viewer',
      summary: 'The CSMS-initiated actions the commands endpoint takes (of one OCPP version with ?ocppVersion=)',
      tag: 'Commands',
      query: { ocppVersion: { type: 'string', description: 'only the actions of this version (1.6 or 2.0.1)' } },
      responses: { 200: '{actions:[name]}', 404: 'A version this CSMS does not serve' },
      handler: (request) => {
        const version = request.query.get('ocppVersion');
        const actions = version === null ? commands.actions : commands.actionsOf(version);
        if (actions === undefined) throw new ApiError(404, 'unknown_version', `OCPP ${version ?? ''} is not served here`);
        return { status: 200, body: { actions } };
      },
    },
    {
      method: 'get',
      path: '/api/v1/commands/{action}/schema',
      role: 'viewer',
      summary: "An action's official OCPP request schema (JSON Schema draft 06), as the commands endpoint validates it",
      tag: 'Commands',
      query: { ocppVersion: { type: 'string', description: 'the schema of this version (1.6 or 2.0.1); default the first served version that has the action' } },
      responses: { 200: '{action, ocppVersion, schema}', 404: 'Not a CSMS-initiated action (of that version)' },
      handler: (request) => {
        const action = request.params.action ?? '';
        const found = commands.requestSchema(action, request.query.get('ocppVersion') ?? undefined);
        if (found === undefined) throw new ApiError(404, 'unknown_action', `${action} is not a CSMS-initiated action`);
        return { status: 200, body: { action, ocppVersion: found.version, schema: found.schema } };
      },
    },
    {
      method: 'post',
      path: '/api/v1/stations/{id}/commands/{action}',
      role: 'operator',
      summary: `Send a CSMS-initiated OCPP request (of the station's version: 2.0.1 or 1.6) to the station and wait for its answer. action is one of: ${commands.actions.join(', ')}`,
      tag: 'Commands',
      body: 'OcppRequest',
      responses: {
        200: 'The station answered: {request, response}',
        400: "Unknown action, an action of the other OCPP version than the station's, or the body violates the official OCPP schema (violations listed)",
        404: 'Unknown station',
        409: 'Station not connected, or the command is not allowed in its boot state',
        502: 'The station answered with a CALLERROR (or an invalid CALLRESULT)',
        503: 'The station is held by another node that cannot be reached',
        504: `No answer within CSMS_CALL_TIMEOUT_MS (queue time included)`,
      },
      handler: async (request) => {
        const stationId = stationIdParam(request);
        const action = request.params.action ?? '';
        // A refusal before sending (CommandRefusal) is answered by the router as its 4xx.
        const report = await commands.run(stationId, action, request.body, 'operator');
        const response = toHttp(report.request, report.outcome, report.parts);
        metrics.commandsTotal.labels(action, String(response.status)).inc();
        deps.onOutcome?.(stationId, action, response);
        return response;
      },
    },
  ];
}

function toHttp(request: JsonObject, outcome: CommandOutcome, parts: number): ApiResponse {
  if (outcome.kind === 'result') return { status: 200, body: { request, response: outcome.response, ...(parts > 1 ? { parts } : {}) } };
  return errorResponse(commandFailure(outcome));
}
