import type { CommandOutcome } from '../../cluster/command-router.js';
import type { CommandService } from '../../commands/service.js';
import type { JsonObject } from '../../json.js';
import type { CsmsMetrics } from '../../metrics.js';
import { CommandRefusal } from '../../station/types.js';
import { ApiError, type ApiResponse } from '../http.js';
import type { RouteSpec } from '../route-spec.js';
import { stationIdParam } from './stations.js';

export interface CommandRouteDeps {
  commands: CommandService;
  metrics: CsmsMetrics;
}

/** The commands endpoint: parse, run the command service, answer with the HTTP status of its outcome. */
export function commandRoutes(deps: CommandRouteDeps): RouteSpec[] {
  const { commands, metrics } = deps;
  return [
    {
      method: 'post',
      path: '/api/v1/stations/{id}/commands/{action}',
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
        let report;
        try {
          report = await commands.run(stationId, action, request.body);
        } catch (err) {
          if (err instanceof CommandRefusal) throw new ApiError(err.status, err.code, err.message, err.details);
          throw err;
        }
        const response = toHttp(report.request, report.outcome, report.parts);
        metrics.commandsTotal.labels(action, String(response.status)).inc();
        return response;
      },
    },
  ];
}

function toHttp(request: JsonObject, outcome: CommandOutcome, parts: number): ApiResponse {
  switch (outcome.kind) {
    case 'result':
      return { status: 200, body: { request, response: outcome.response, ...(parts > 1 ? { parts } : {}) } };
    case 'callError':
      return { status: 502, body: { error: { code: outcome.code, message: outcome.description, details: outcome.details } } };
    case 'timeout':
      return { status: 504, body: { error: { code: 'timeout', message: 'the station did not answer in time' } } };
    case 'notConnected':
      return { status: 409, body: { error: { code: 'not_connected', message: outcome.reason } } };
    case 'refused':
      return { status: 409, body: { error: { code: 'not_allowed', message: outcome.reason } } };
    case 'unavailable':
      return { status: 503, body: { error: { code: 'unavailable', message: outcome.reason } } };
  }
}
