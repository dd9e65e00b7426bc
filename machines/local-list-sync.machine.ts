import { assign, fromPromise, setup } from 'xstate';

/**
 * Keeping one connected station's Local Authorization List where the CSMS wants it (D01/D02, CONTRACT §8.1).
 * One actor per connected station with a managed list, on the node that holds its connection.
 *
 * - `settling`: the station just connected or booted; its BootNotification answer leaves first.
 * - `checking`: GetLocalListVersion — what the station holds after a reboot or reconnect (D02).
 * - `pushing`: SendLocalList parts until the station holds the desired version: a Full when versions disagree,
 *   after VersionMismatch or when nothing is known yet, a Differential for changes. A change that arrives
 *   meanwhile is pushed right after.
 * - `failed`: the station answered Failed (or did not answer); retried after a backoff of at least 30 s, and at
 *   the next reconnect (a new actor).
 *
 * The work itself (calls, store) is the host's: `checkVersion` and `push` are supplied at `provide`.
 */

/** What one push ended with: the station holds the desired list, asked for a Full, or refused. */
export type PushOutcome = { kind: 'inSync' } | { kind: 'versionMismatch' } | { kind: 'failed'; error: string };

export interface LocalListSyncContext {
  stationId: string;
  /** Failures in a row: the backoff doubles with each. */
  failures: number;
  /** VersionMismatch answers in a row: a second one after a Full is a failure, not a loop. */
  mismatches: number;
  /** A change arrived while a push was running. */
  changedMeanwhile: boolean;
  lastError: string | undefined;
}

export type LocalListSyncEvent =
  /** The station connected (already Accepted) or answered an Accepted boot: learn what it holds. */
  | { type: 'CONNECTED' }
  /** The desired list changed (an operator, a register change). */
  | { type: 'CHANGED' };

/** CONTRACT §8.1: a failed list is retried not more than once per 30 s. */
export const MIN_RETRY_MS = 30_000;
const MAX_RETRY_MS = 10 * 60_000;

export function retryDelayMs(failures: number): number {
  return Math.min(MAX_RETRY_MS, MIN_RETRY_MS * 2 ** Math.max(0, failures - 1));
}

export const localListSyncMachine = setup({
  types: {
    context: {} as LocalListSyncContext,
    events: {} as LocalListSyncEvent,
    input: {} as { stationId: string },
  },
  actors: {
    checkVersion: fromPromise<number, { stationId: string }>(() => Promise.reject(new Error('checkVersion is supplied by the host'))),
    push: fromPromise<PushOutcome, { stationId: string }>(() => Promise.reject(new Error('push is supplied by the host'))),
  },
  actions: {
    /** Record syncStatus Failed with lastError (the host writes it to the store). */
    recordFailure: (_args, _params: { error: string }) => {},
  },
  delays: {
    /** Lets the BootNotification answer (and the boot's own requests) go out before the list is looked at. */
    settle: 500,
    retry: ({ context }) => retryDelayMs(context.failures),
  },
}).createMachine({
  id: 'localListSync',
  context: ({ input }) => ({ stationId: input.stationId, failures: 0, mismatches: 0, changedMeanwhile: false, lastError: undefined }),
  initial: 'idle',
  on: {
    CONNECTED: { target: '.settling', reenter: true },
  },
  states: {
    idle: {
      on: { CHANGED: 'pushing' },
    },
    settling: {
      after: { settle: 'checking' },
    },
    checking: {
      invoke: {
        src: 'checkVersion',
        input: ({ context }) => ({ stationId: context.stationId }),
        onDone: 'pushing',
        onError: {
          target: 'failed',
          actions: assign({ lastError: ({ event }) => (event.error instanceof Error ? event.error.message : String(event.error)) }),
        },
      },
    },
    pushing: {
      entry: assign({ changedMeanwhile: false }),
      invoke: {
        src: 'push',
        input: ({ context }) => ({ stationId: context.stationId }),
        onDone: [
          {
            // D01.FR.03: after VersionMismatch the whole list goes again as a Full (the host marked it so).
            guard: ({ context, event }) => event.output.kind === 'versionMismatch' && context.mismatches < 1,
            target: 'pushing',
            reenter: true,
            actions: assign({ mismatches: ({ context }) => context.mismatches + 1 }),
          },
          {
            guard: ({ event }) => event.output.kind !== 'inSync',
            target: 'failed',
            actions: assign({
              lastError: ({ event }) => (event.output.kind === 'failed' ? event.output.error : 'the station answered VersionMismatch to a Full list'),
            }),
          },
          {
            guard: ({ context }) => context.changedMeanwhile,
            target: 'pushing',
            reenter: true,
            actions: assign({ failures: 0, mismatches: 0 }),
          },
          { target: 'idle', actions: assign({ failures: 0, mismatches: 0, lastError: undefined }) },
        ],
        onError: {
          target: 'failed',
          actions: assign({ lastError: ({ event }) => (event.error instanceof Error ? event.error.message : String(event.error)) }),
        },
      },
      on: { CHANGED: { actions: assign({ changedMeanwhile: true }) } },
    },
    failed: {
      entry: [
        assign({ failures: ({ context }) => context.failures + 1, mismatches: 0 }),
        { type: 'recordFailure', params: ({ context }) => ({ error: context.lastError ?? 'unknown failure' }) },
      ],
      // A change while failed waits for the retry: the station is not asked more than once per 30 s.
      after: { retry: 'checking' },
    },
  },
});
