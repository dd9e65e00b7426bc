import type { CommandOutcome } from '../cluster/command-router.js';
import { ApiError } from './http.js';

/**
 * CONTRACT §4's commands table, for every outcome other than an answer: the one mapping the commands endpoint and
 * every resource that sends a message to a station (CONTRACT §8 intro) answer with.
 */
export function commandFailure(outcome: Exclude<CommandOutcome, { kind: 'result' }>): ApiError {
  switch (outcome.kind) {
    case 'callError':
      return new ApiError(502, outcome.code, outcome.description, outcome.details);
    case 'timeout':
      return new ApiError(504, 'timeout', 'the station did not answer in time');
    case 'notConnected':
      return new ApiError(409, 'not_connected', outcome.reason);
    case 'refused':
      return new ApiError(409, 'not_allowed', outcome.reason);
    case 'unavailable':
      return new ApiError(503, 'unavailable', outcome.reason);
  }
}
