import { assign, fromPromise, setup } from 'xstate';

/**
 * One charging-profile push of the site load manager to one EVSE (CONTRACT §8.3): send the limit, and when the
 * station refuses it, does not answer in time or cannot be reached, try again after a growing delay. A push ends
 * when the station accepted it, when a newer push for the same EVSE replaced it (`SUPERSEDED`), or when the
 * transaction it limits ended (`TRANSACTION_ENDED`: never sent after that).
 *
 * Pure: the CALL itself is the `send` actor and what the manager learns from the answers are named actions, both
 * supplied by the host with `.provide()`; the delays are named, so a test drives it with a simulated clock.
 */

export interface PushRequest {
  stationId: string;
  evseId: number;
  /** The limit in A per phase. */
  amps: number;
  transactionId: string | undefined;
}

export interface PushInput {
  request: PushRequest;
  /** How long one attempt may wait for the station's answer. */
  attemptTimeoutMs?: number;
}

export interface PushContext {
  request: PushRequest;
  attempt: number;
  attemptTimeoutMs: number;
  lastOutcome: string | undefined;
}

/** What the station answered one attempt: its SetChargingProfile status, or why there was no answer. */
export type AttemptOutcome = { kind: 'answered'; status: string } | { kind: 'failed'; reason: string };

export type PushEvent = { type: 'SUPERSEDED' } | { type: 'TRANSACTION_ENDED' };

/** The first retry waits RETRY_BASE_MS, each next one twice as long, never more than RETRY_MAX_MS. */
export const RETRY_BASE_MS = 1_000;
export const RETRY_MAX_MS = 30_000;
export const DEFAULT_ATTEMPT_TIMEOUT_MS = 30_000;

export function retryDelayMs(attempt: number): number {
  return Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.max(0, attempt - 1));
}

export const profilePushMachine = setup({
  types: {
    context: {} as PushContext,
    input: {} as PushInput,
    events: {} as PushEvent,
  },
  actors: {
    /** The SetChargingProfile CALL; the host supplies it. */
    send: fromPromise<AttemptOutcome, PushRequest>(() => Promise.reject(new Error('the host provides send'))),
  },
  actions: {
    /** The station accepted the limit: it is in force. */
    accepted: (_, _params: { request: PushRequest }) => undefined,
    /** The station answered something else (Rejected): it keeps what it had. */
    refused: (_, _params: { request: PushRequest; status: string }) => undefined,
    /** No answer (timeout, CALLERROR, not connected): the station may or may not have it. */
    unanswered: (_, _params: { request: PushRequest; reason: string }) => undefined,
  },
  delays: {
    attemptTimeout: ({ context }) => context.attemptTimeoutMs,
    retryDelay: ({ context }) => retryDelayMs(context.attempt),
  },
}).createMachine({
  id: 'profilePush',
  context: ({ input }) => ({ request: input.request, attempt: 1, attemptTimeoutMs: input.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS, lastOutcome: undefined }),
  initial: 'sending',
  on: {
    SUPERSEDED: '.superseded',
    TRANSACTION_ENDED: '.dropped',
  },
  states: {
    sending: {
      invoke: {
        src: 'send',
        input: ({ context }) => context.request,
        onDone: [
          {
            guard: ({ event }) => event.output.kind === 'answered' && event.output.status === 'Accepted',
            target: 'accepted',
            actions: { type: 'accepted', params: ({ context }) => ({ request: context.request }) },
          },
          {
            guard: ({ event }) => event.output.kind === 'answered',
            target: 'waiting',
            actions: [
              { type: 'refused', params: ({ context, event }) => ({ request: context.request, status: event.output.kind === 'answered' ? event.output.status : '' }) },
              assign({ lastOutcome: ({ event }) => (event.output.kind === 'answered' ? event.output.status : event.output.reason) }),
            ],
          },
          {
            target: 'waiting',
            actions: [
              { type: 'unanswered', params: ({ context, event }) => ({ request: context.request, reason: event.output.kind === 'failed' ? event.output.reason : '' }) },
              assign({ lastOutcome: ({ event }) => (event.output.kind === 'failed' ? event.output.reason : event.output.status) }),
            ],
          },
        ],
        onError: {
          target: 'waiting',
          actions: [
            { type: 'unanswered', params: ({ context, event }) => ({ request: context.request, reason: String(event.error) }) },
            assign({ lastOutcome: ({ event }) => String(event.error) }),
          ],
        },
      },
      after: {
        attemptTimeout: {
          target: 'waiting',
          actions: [{ type: 'unanswered', params: ({ context }) => ({ request: context.request, reason: 'timeout' }) }, assign({ lastOutcome: 'timeout' })],
        },
      },
    },
    waiting: {
      after: {
        retryDelay: { target: 'sending', actions: assign({ attempt: ({ context }) => context.attempt + 1 }) },
      },
    },
    accepted: { type: 'final' },
    superseded: { type: 'final' },
    dropped: { type: 'final' },
  },
});
