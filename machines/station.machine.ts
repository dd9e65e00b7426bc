import { assign, setup } from 'xstate';

/**
 * One connected charging station, as the CSMS sees it.
 *
 * Two regions run side by side:
 * - `boot`: Unknown → Pending / Accepted / Rejected, driven by the answers the CSMS gives to
 *   BootNotification (B01–B03). Entering Pending starts onboarding (C-50.1: ask for the full inventory).
 * - `outbound`: the CSMS's own CALLs. Part 4 §4.1.1 allows one in flight per station; the rest wait in
 *   `pendingCalls`, in order. An unanswered call fails after its deadline (`after`, not setTimeout).
 * - open transactions, so a reconnect or reset knows what is still running.
 *
 * The machine is pure: the side effects (writing a frame, settling the caller's promise) are named
 * actions whose implementations the host supplies with `.provide()`, and so is the clock behind the
 * `callTimeout` delay. A unit test drives it with events and no socket.
 */

export type BootStatus = 'Unknown' | 'Pending' | 'Accepted' | 'Rejected';

export interface OutboundCall {
  messageId: string;
  action: string;
  payload: Record<string, unknown>;
  /** Epoch ms after which the caller no longer waits (set when the operator asked, queue time included). */
  deadline: number;
}

export interface StationContext {
  stationId: string;
  bootStatus: BootStatus;
  pendingCalls: OutboundCall[];
  inFlight: OutboundCall | undefined;
  /** Station actions the CSMS itself asked for while the station was Pending (B02.FR.02). */
  triggeredWhilePending: string[];
  /** Whether this connection has already asked for the onboarding inventory. */
  inventoryRequested: boolean;
  openTransactions: string[];
}

export interface StationInput {
  stationId: string;
  bootStatus: BootStatus;
  openTransactions?: string[];
}

export type StationEvent =
  | { type: 'BOOT_ANSWERED'; status: 'Accepted' | 'Pending' | 'Rejected' }
  | { type: 'CALL_REQUESTED'; call: OutboundCall }
  | { type: 'CALL_ANSWERED'; messageId: string }
  | { type: 'CALL_CANCELLED'; messageId: string }
  | { type: 'TRIGGER_ACCEPTED'; action: string }
  | { type: 'TRANSACTION_STARTED'; transactionId: string }
  | { type: 'TRANSACTION_ENDED'; transactionId: string }
  | { type: 'DISCONNECTED' };

export const stationMachine = setup({
  types: {
    context: {} as StationContext,
    events: {} as StationEvent,
    input: {} as StationInput,
  },
  actions: {
    /** Write the in-flight call to the socket. */
    transmit: (_args, _params: { call: OutboundCall }) => {},
    /** Fail a call with a timeout (in flight or expired in the queue). */
    failTimedOut: (_args, _params: { call: OutboundCall }) => {},
    /** Fail calls that can no longer be sent (station rejected, disconnected). */
    failAborted: (_args, _params: { calls: OutboundCall[]; reason: string }) => {},
    /** Refuse a call the boot state does not allow (B02.FR.05, B03.FR.03). */
    refuse: (_args, _params: { call: OutboundCall; reason: string }) => {},
    /** C-50.1: ask a newly Pending station for its full inventory (once per connection). */
    requestInventory: (_args, _params: { alreadyRequested: boolean }) => {},
  },
  guards: {
    bootIs: ({ context }, params: { status: BootStatus }) => context.bootStatus === params.status,
    hasPendingCalls: ({ context }) => context.pendingCalls.length > 0,
    /** Replaced by the host, which owns the clock: the next queued call's deadline has passed. */
    nextCallExpired: ({ context }) => context.pendingCalls.length > 0 && (context.pendingCalls[0] as OutboundCall).deadline <= Date.now(),
    answersInFlight: ({ context, event }) =>
      event.type === 'CALL_ANSWERED' && context.inFlight !== undefined && context.inFlight.messageId === event.messageId,
    callAllowed: ({ context, event }) => event.type === 'CALL_REQUESTED' && callAllowedInBootState(context.bootStatus, event.call.action),
  },
  delays: {
    /** Replaced by the host: time left until the in-flight call's deadline. */
    callTimeout: ({ context }) => Math.max(0, (context.inFlight?.deadline ?? 0) - Date.now()),
  },
}).createMachine({
  id: 'station',
  type: 'parallel',
  context: ({ input }) => ({
    stationId: input.stationId,
    bootStatus: input.bootStatus,
    pendingCalls: [],
    inFlight: undefined,
    triggeredWhilePending: [],
    inventoryRequested: false,
    openTransactions: input.openTransactions ?? [],
  }),
  on: {
    TRANSACTION_STARTED: {
      actions: assign({
        openTransactions: ({ context, event }) =>
          context.openTransactions.includes(event.transactionId) ? context.openTransactions : [...context.openTransactions, event.transactionId],
      }),
    },
    TRANSACTION_ENDED: {
      actions: assign({
        openTransactions: ({ context, event }) => context.openTransactions.filter((id) => id !== event.transactionId),
      }),
    },
    DISCONNECTED: {
      target: '.outbound.closed',
      actions: [
        {
          type: 'failAborted',
          params: ({ context }) => ({
            calls: context.inFlight ? [context.inFlight, ...context.pendingCalls] : context.pendingCalls,
            reason: 'station disconnected',
          }),
        },
        assign({ pendingCalls: [], inFlight: undefined }),
      ],
    },
  },
  states: {
    boot: {
      initial: 'restoring',
      on: {
        BOOT_ANSWERED: [
          { guard: ({ event }) => event.status === 'Accepted', target: '.accepted', actions: assign({ bootStatus: 'Accepted' }) },
          { guard: ({ event }) => event.status === 'Pending', target: '.pending', actions: assign({ bootStatus: 'Pending' }) },
          { target: '.rejected', actions: assign({ bootStatus: 'Rejected' }) },
        ],
      },
      states: {
        // The last boot answer is persisted, so a reconnect without BootNotification resumes where it was.
        restoring: {
          always: [
            { guard: { type: 'bootIs', params: { status: 'Accepted' } }, target: 'accepted' },
            { guard: { type: 'bootIs', params: { status: 'Pending' } }, target: 'pending' },
            { guard: { type: 'bootIs', params: { status: 'Rejected' } }, target: 'rejected' },
            { target: 'unknown' },
          ],
        },
        unknown: {},
        pending: {
          entry: [
            { type: 'requestInventory', params: ({ context }) => ({ alreadyRequested: context.inventoryRequested }) },
            assign({ inventoryRequested: true }),
          ],
          on: {
            TRIGGER_ACCEPTED: {
              actions: assign({
                triggeredWhilePending: ({ context, event }) =>
                  context.triggeredWhilePending.includes(event.action) ? context.triggeredWhilePending : [...context.triggeredWhilePending, event.action],
              }),
            },
          },
        },
        accepted: {
          entry: assign({ triggeredWhilePending: [] }),
        },
        rejected: {
          // B03.FR.03: after Rejected the CSMS initiates nothing, so whatever was queued is dropped.
          entry: [
            {
              type: 'failAborted',
              params: ({ context }) => ({ calls: context.pendingCalls, reason: 'station boot was rejected' }),
            },
            assign({ pendingCalls: [], triggeredWhilePending: [] }),
          ],
        },
      },
    },
    outbound: {
      initial: 'idle',
      on: {
        CALL_REQUESTED: [
          {
            guard: 'callAllowed',
            actions: assign({ pendingCalls: ({ context, event }) => [...context.pendingCalls, event.call] }),
          },
          {
            actions: {
              type: 'refuse',
              params: ({ context, event }) => ({ call: event.call, reason: `not allowed while the station is ${context.bootStatus}` }),
            },
          },
        ],
        CALL_CANCELLED: {
          actions: assign({ pendingCalls: ({ context, event }) => context.pendingCalls.filter((c) => c.messageId !== event.messageId) }),
        },
      },
      states: {
        idle: {
          always: [
            {
              // A call that waited in the queue past its deadline is failed, not sent late.
              guard: 'nextCallExpired',
              actions: [
                { type: 'failTimedOut', params: ({ context }) => ({ call: context.pendingCalls[0] as OutboundCall }) },
                assign({ pendingCalls: ({ context }) => context.pendingCalls.slice(1) }),
              ],
            },
            {
            guard: 'hasPendingCalls',
            target: 'awaitingAnswer',
            actions: [
              assign({
                inFlight: ({ context }) => context.pendingCalls[0],
                pendingCalls: ({ context }) => context.pendingCalls.slice(1),
              }),
              { type: 'transmit', params: ({ context }) => ({ call: context.inFlight as OutboundCall }) },
            ],
            },
          ],
        },
        awaitingAnswer: {
          after: {
            callTimeout: {
              target: 'idle',
              actions: [
                { type: 'failTimedOut', params: ({ context }) => ({ call: context.inFlight as OutboundCall }) },
                assign({ inFlight: undefined }),
              ],
            },
          },
          on: {
            CALL_ANSWERED: { guard: 'answersInFlight', target: 'idle', actions: assign({ inFlight: undefined }) },
            CALL_CANCELLED: {
              // The in-flight call cannot be withdrawn from the station; only queued ones are dropped.
              actions: assign({ pendingCalls: ({ context, event }) => context.pendingCalls.filter((c) => c.messageId !== event.messageId) }),
            },
          },
        },
        closed: { type: 'final' },
      },
    },
  },
});

/**
 * What the CSMS may send in each boot state: nothing after Rejected (B03.FR.03), configuration and
 * inspection while Pending (B02.FR.01/02), and anything once Accepted. Before the first boot answer the
 * station has not identified itself yet, so the CSMS waits too — except that a TriggerMessage for
 * BootNotification is how an operator prompts a silent station.
 */
export function callAllowedInBootState(bootStatus: BootStatus, action: string): boolean {
  switch (bootStatus) {
    case 'Accepted':
      return true;
    case 'Pending':
      return PENDING_ALLOWED.has(action);
    case 'Unknown':
      return action === 'TriggerMessage';
    case 'Rejected':
      return false;
  }
}

const PENDING_ALLOWED: ReadonlySet<string> = new Set(['GetVariables', 'SetVariables', 'GetBaseReport', 'GetReport', 'TriggerMessage']);

/**
 * B02.FR.09 / B03.FR.07: before Accepted, a station may only send BootNotification, plus what the CSMS
 * itself triggered while Pending (B02.FR.02).
 */
export function stationMayCall(context: Pick<StationContext, 'bootStatus' | 'triggeredWhilePending'>, action: string): boolean {
  if (context.bootStatus === 'Accepted' || action === 'BootNotification') return true;
  return context.bootStatus === 'Pending' && context.triggeredWhilePending.includes(action);
}
