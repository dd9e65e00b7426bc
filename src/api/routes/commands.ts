import type { Clock } from '../../clock.js';
import type { CommandOutcome, CommandRouter } from '../../cluster/command-router.js';
import { newRequestId } from '../../ids.js';
import type { CsmsMetrics } from '../../metrics.js';
import { CSMS_INITIATED, isCsmsAction } from '../../ocpp/actions.js';
import type { JsonPayload } from '../../ocpp/frame.js';
import type { OcppSchemas } from '../../ocpp/validation.js';
import type { SetNetworkProfileRequest } from '../../ocpp/generated/ocpp-types.js';
import { checkNetworkProfileCommand } from '../../station/admission.js';
import { CommandPlanError, needsDeviceModel, planCommand } from '../../station/command-plans.js';
import type { Store } from '../../store/store.js';
import { ApiError, type ApiResponse } from '../http.js';
import type { RouteSpec } from '../route-spec.js';
import { requireStation, stationIdParam } from './stations.js';

export interface CommandRouteDeps {
  store: Store;
  router: CommandRouter;
  schemas: OcppSchemas;
  metrics: CsmsMetrics;
  clock: Clock;
  callTimeoutMs: number;
}

/** Ids the operator may leave out: the CSMS assigns them (CONTRACT §4). */
const ASSIGNED_IDS = ['requestId', 'remoteStartId'] as const;

function isPlainObject(value: unknown): value is JsonPayload {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function commandRoutes(deps: CommandRouteDeps): RouteSpec[] {
  const { store, router, schemas, metrics, clock, callTimeoutMs } = deps;
  return [
    {
      method: 'post',
      path: '/api/v1/stations/{id}/commands/{action}',
      summary: `Send a CSMS-initiated OCPP 2.0.1 request to the station and wait for its answer. action is one of: ${CSMS_INITIATED.join(', ')}`,
      tag: 'Commands',
      body: 'OcppRequest',
      responses: {
        200: 'The station answered: {request, response}',
        400: 'Unknown action, or the body violates the official OCPP schema (violations listed)',
        404: 'Unknown station',
        409: 'Station not connected, or the command is not allowed in its boot state',
        502: 'The station answered with a CALLERROR (or an invalid CALLRESULT)',
        503: 'The station is held by another node that cannot be reached',
        504: `No answer within CSMS_CALL_TIMEOUT_MS (queue time included)`,
      },
      handler: async (request) => {
        // The deadline starts now: time spent queued behind the station's other calls counts (CONTRACT §4).
        const deadline = clock.now() + callTimeoutMs;
        const id = stationIdParam(request);
        const action = request.params.action ?? '';
        if (!isCsmsAction(action)) {
          throw new ApiError(400, 'unknown_action', `${action} is not a CSMS-initiated OCPP 2.0.1 action`, { actions: CSMS_INITIATED });
        }
        const body = request.body ?? {};
        if (!isPlainObject(body)) throw new ApiError(400, 'invalid_body', 'the body must be a JSON object (the OCPP request payload)');
        const payload: JsonPayload = { ...body };
        const properties = schemas.properties(action, 'Request');
        for (const key of ASSIGNED_IDS) {
          if (properties.includes(key) && payload[key] === undefined) payload[key] = newRequestId();
        }
        const violations = schemas.violations(action, 'Request', payload);
        if (violations.length > 0) {
          throw new ApiError(400, 'invalid_payload', `the ${action} request violates the OCPP 2.0.1 schema`, violations);
        }
        const station = await requireStation(store, id);
        if (action === 'SetNetworkProfile') {
          // DRV-A05-01: never lower a station's security profile over OCPP.
          const refusal = checkNetworkProfileCommand(station, payload as unknown as SetNetworkProfileRequest);
          if (refusal !== undefined) throw new ApiError(409, 'security_profile_refused', refusal);
        }
        let plan;
        try {
          plan = planCommand(action, payload, needsDeviceModel(action) ? await store.getVariables(id) : []);
        } catch (err) {
          if (err instanceof CommandPlanError) throw new ApiError(400, 'invalid_payload', err.message, err.details);
          throw err;
        }
        // Split requests go one after the other: the station sees at most one CALL at a time anyway.
        const answers: JsonPayload[] = [];
        let outcome: CommandOutcome = { kind: 'result', response: {} };
        for (const part of plan.requests) {
          outcome = await router.send(id, action, part, deadline);
          if (outcome.kind !== 'result') break;
          answers.push(outcome.response);
        }
        if (outcome.kind === 'result') outcome = { kind: 'result', response: plan.merge(answers) };
        const response = toHttp(payload, outcome, plan.requests.length);
        metrics.commandsTotal.labels(action, String(response.status)).inc();
        return response;
      },
    },
  ];
}

function toHttp(request: JsonPayload, outcome: CommandOutcome, parts: number): ApiResponse {
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
