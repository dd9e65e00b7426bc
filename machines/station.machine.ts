import { and, assign, raise, setup } from 'xstate';

/**
 * One connected charging station, as the CSMS sees it: the live state of one connection.
 *
 * Two regions run side by side:
 * - `boot`: Unknown → Pending / Accepted / Rejected, driven by the answers the CSMS gives to
 *   BootNotification (B01–B03).
 * - `onboarding`: entering Pending asks for the full inventory (C-50.1). Stations that only report once
 *   Accepted are asked again when they are, and once more after `inventoryRetry` if it still has not come:
 *   at most INVENTORY_REQUESTS requests per connection.
 * - `outbound`: the CSMS's own CALLs. Part 4 §4.1.1 allows one in flight per station; the rest wait in
 *   `pendingCalls`, in order. Every call fails at its own deadline, in flight or still queued (`after`,
 *   not setTimeout): the actor is the one timer that watches a command's deadline on the node holding the
 *   station.
 * The context also holds the station's open transactions and the EVSE each runs on. They do not survive
 * the connection: a new session loads them from the store the first time a message needs them.
 *
 * The machine is pure: the side effects (writing a frame, settling the caller's promise) are named
 * actions whose implementations the host supplies with `.provide()`, and the clock comes in as input.
 * A unit test drives it with events, a hand-held clock and no socket.
 */

export type BootStatus = 'Unknown' | 'Pending' | 'Accepted' | 'Rejected';

export interface OutboundCall {
  messageId: string;
  action: string;
  payload: Record<string, unknown>;
  /** Epoch ms after which the caller no longer waits (set when the operator asked, queue time included). */
  deadline: number;
}

export interface OpenTransaction {
  transactionId: string;
  /** The EVSE it runs on, once a TransactionEvent named it (MeterValues carry only the evseId). */
  evseId: number | undefined;
}

export interface StationContext {
  stationId: string;
  bootStatus: BootStatus;
  /** Epoch ms; the host's clock. */
  now: () => number;
  pendingCalls: OutboundCall[];
  /** The most calls `pendingCalls` may hold; a call beyond it is refused (README "Budgets and retention"). */
  maxPendingCalls: number;
  inFlight: OutboundCall | undefined;
  /** Station actions the CSMS itself asked for while the station was Pending (B02.FR.02). */
  triggeredWhilePending: string[];
  /** How many onboarding inventory requests this connection asked for. */
  inventoryAsked: number;
  /** requestIds of those requests, as the host reports them (GetBaseReport FullInventory). */
  inventoryRequests: number[];
  /** undefined until loaded from the store (the first message of this session that needs them). */
  openTransactions: OpenTransaction[] | undefined;
}

export interface StationInput {
  stationId: string;
  bootStatus: BootStatus;
  now?: () => number;
  /** Default DEFAULT_MAX_PENDING_CALLS. */
  maxPendingCalls?: number;
}

export const DEFAULT_MAX_PENDING_CALLS = 100;

export type StationEvent =
  | { type: 'BOOT_ANSWERED'; status: 'Accepted' | 'Pending' | 'Rejected' }
  | { type: 'CALL_REQUESTED'; call: OutboundCall }
  | { type: 'CALL_ANSWERED'; messageId: string }
  | { type: 'CALL_CANCELLED'; messageId: string }
  | { type: 'TRIGGER_ACCEPTED'; action: string }
  | { type: 'INVENTORY_REQUESTED'; requestId: number }
  | { type: 'REPORT_ARRIVED'; requestId: number }
  | { type: 'ONBOARDING_PENDING' }
  | { type: 'ONBOARDING_ACCEPTED' }
  | { type: 'TRANSACTIONS_LOADED'; transactions: OpenTransaction[] }
  | { type: 'TRANSACTION_SEEN'; transactionId: string; evseId: number | undefined }
  | { type: 'TRANSACTION_ENDED'; transactionId: string }
  | { type: 'DISCONNECTED' };

/** Events that arrived while the store was read are kept: they are newer than what it returned. */
function seenTransaction(list: readonly OpenTransaction[], transactionId: string, evseId: number | undefined): OpenTransaction[] {
  const known = list.find((tx) => tx.transactionId === transactionId);
  if (known !== undefined && (evseId === undefined || known.evseId === evseId)) return [...list];
  // One transaction per EVSE: a new one on the same EVSE means the old one's end was never reported.
  const others = list.filter((tx) => tx.transactionId !== transactionId && (evseId === undefined || tx.evseId !== evseId));
  return [...others, { transactionId, evseId: evseId ?? known?.evseId }];
}

function expired(calls: readonly OutboundCall[], now: number): OutboundCall[] {
  return calls.filter((call) => call.deadline <= now);
}

export const stationMachine = setup({
  types: {
    context: {} as StationContext,
    events: {} as StationEvent,
    input: {} as StationInput,
  },
  actions: {
    /** Write the in-flight call to the socket. */
    transmit: (_args, _params: { call: OutboundCall }) => {},
    /** Fail calls with a timeout (in flight or expired in the queue). */
    failTimedOut: (_args, _params: { calls: OutboundCall[] }) => {},
    /** Fail calls that can no longer be sent (station rejected, disconnected). */
    failAborted: (_args, _params: { calls: OutboundCall[]; reason: string }) => {},
    /** Refuse a call the boot state does not allow (B02.FR.05, B03.FR.03), or one the full queue cannot take. */
    refuse: (_args, _params: { call: OutboundCall; reason: string; budget?: 'queued_calls' }) => {},
    /** C-50.1: ask the station for its full inventory; the host answers with INVENTORY_REQUESTED. */
    requestInventory: () => {},
    countInventoryRequest: assign({ inventoryAsked: ({ context }) => context.inventoryAsked + 1 }),
  },
  guards: {
    bootIs: ({ context }, params: { status: BootStatus }) => context.bootStatus === params.status,
    hasPendingCalls: ({ context }) => context.pendingCalls.length > 0,
    /** The next queued call's deadline has passed. */
    nextCallExpired: ({ context }) => context.pendingCalls.length > 0 && (context.pendingCalls[0] as OutboundCall).deadline <= context.now(),
    inFlightExpired: ({ context }) => context.inFlight !== undefined && context.inFlight.deadline <= context.now(),
    answersInFlight: ({ context, event }) => event.type === 'CALL_ANSWERED' && context.inFlight !== undefined && context.inFlight.messageId === event.messageId,
    /** Allowed in the boot state, and the queue has room for it. */
    callAllowed: and(['bootStateAllowsCall', 'queueHasRoom']),
    bootStateAllowsCall: ({ context, event }) => event.type === 'CALL_REQUESTED' && callAllowedInBootState(context.bootStatus, event.call.action),
    queueHasRoom: ({ context }) => context.pendingCalls.length < context.maxPendingCalls,
    /** The call's deadline is earlier than every deadline the running timer watches. */
    deadlineBeforeWatched: ({ context, event }) =>
      event.type === 'CALL_REQUESTED' &&
      event.call.deadline < Math.min(context.inFlight?.deadline ?? Number.POSITIVE_INFINITY, ...context.pendingCalls.map((call) => call.deadline)),
    mayAskInventoryAgain: ({ context }) => context.inventoryAsked < INVENTORY_REQUESTS,
    isInventory: ({ context, event }) => event.type === 'REPORT_ARRIVED' && context.inventoryRequests.includes(event.requestId),
  },
  delays: {
    /** Time left until the earliest deadline, of the call in flight or of one still queued. */
    callTimeout: ({ context }) => {
      let earliest = context.inFlight?.deadline ?? Number.POSITIVE_INFINITY;
      for (const call of context.pendingCalls) if (call.deadline < earliest) earliest = call.deadline;
      return Math.max(0, Math.min(earliest, context.now() + 2 ** 31 - 1) - context.now());
    },
    /** How long an Accepted station gets to send the inventory before it is asked once more. */
    inventoryRetry: 30_000,
  },
}).createMachine({
  id: 'station',
  type: 'parallel',
  context: ({ input }) => ({
    stationId: input.stationId,
    bootStatus: input.bootStatus,
    now: input.now ?? Date.now,
    pendingCalls: [],
    maxPendingCalls: input.maxPendingCalls ?? DEFAULT_MAX_PENDING_CALLS,
    inFlight: undefined,
    triggeredWhilePending: [],
    inventoryAsked: 0,
    inventoryRequests: [],
    openTransactions: undefined,
  }),
  on: {
    TRANSACTIONS_LOADED: {
      // Loaded once; what this session learnt meanwhile is newer than the store's answer and wins.
      actions: assign({
        openTransactions: ({ context, event }) =>
          context.openTransactions !== undefined
            ? context.openTransactions.reduce((list, tx) => seenTransaction(list, tx.transactionId, tx.evseId), event.transactions)
            : event.transactions,
      }),
    },
    TRANSACTION_SEEN: {
      actions: assign({
        openTransactions: ({ context, event }) => seenTransaction(context.openTransactions ?? [], event.transactionId, event.evseId),
      }),
    },
    TRANSACTION_ENDED: {
      actions: assign({
        openTransactions: ({ context, event }) => (context.openTransactions ?? []).filter((tx) => tx.transactionId !== event.transactionId),
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
          entry: raise({ type: 'ONBOARDING_PENDING' }),
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
          entry: [assign({ triggeredWhilePending: [] }), raise({ type: 'ONBOARDING_ACCEPTED' })],
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
    onboarding: {
      initial: 'idle',
      on: {
        INVENTORY_REQUESTED: { actions: assign({ inventoryRequests: ({ context, event }) => [...context.inventoryRequests, event.requestId] }) },
      },
      states: {
        idle: {
          on: { ONBOARDING_PENDING: { target: 'askedWhilePending', actions: ['requestInventory', 'countInventoryRequest'] } },
        },
        // Many stations report only once Accepted (B02.FR.02 lets a Pending one report what was asked).
        askedWhilePending: {
          on: {
            REPORT_ARRIVED: { guard: 'isInventory', target: 'received' },
            ONBOARDING_ACCEPTED: { target: 'askedWhileAccepted', actions: ['requestInventory', 'countInventoryRequest'] },
          },
        },
        askedWhileAccepted: {
          on: { REPORT_ARRIVED: { guard: 'isInventory', target: 'received' } },
          after: {
            inventoryRetry: [
              { guard: 'mayAskInventoryAgain', target: 'askedWhileAccepted', reenter: true, actions: ['requestInventory', 'countInventoryRequest'] },
              { target: 'gaveUp' },
            ],
          },
        },
        received: { type: 'final' },
        gaveUp: { type: 'final' },
      },
    },
    outbound: {
      initial: 'idle',
      on: {
        CALL_REQUESTED: [
          {
            guard: 'callAllowed',
            // A full queue refuses at once: a caller learns now, not at its deadline, that the station is behind.
            // (Copying the array per enqueue keeps the machine pure; at ≤ 100 entries it costs well under a µs.)
            actions: assign({ pendingCalls: ({ context, event }) => [...context.pendingCalls, event.call] }),
          },
          {
            guard: 'bootStateAllowsCall',
            actions: {
              type: 'refuse',
              params: ({ context, event }) => ({
                call: event.call,
                reason: `${context.pendingCalls.length} calls already wait for this station (the most it may queue); retry once they are answered`,
                budget: 'queued_calls' as const,
              }),
            },
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
                { type: 'failTimedOut', params: ({ context }) => ({ calls: [context.pendingCalls[0] as OutboundCall] }) },
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
            callTimeout: [
              {
                guard: 'inFlightExpired',
                target: 'idle',
                actions: [
                  { type: 'failTimedOut', params: ({ context }) => ({ calls: [context.inFlight as OutboundCall, ...expired(context.pendingCalls, context.now())] }) },
                  assign({ inFlight: undefined, pendingCalls: ({ context }) => context.pendingCalls.filter((call) => call.deadline > context.now()) }),
                ],
              },
              {
                // A queued call's deadline came first: it fails now, not when it reaches the head.
                target: 'awaitingAnswer',
                reenter: true,
                actions: [
                  { type: 'failTimedOut', params: ({ context }) => ({ calls: expired(context.pendingCalls, context.now()) }) },
                  assign({ pendingCalls: ({ context }) => context.pendingCalls.filter((call) => call.deadline > context.now()) }),
                ],
              },
            ],
          },
          on: {
            CALL_REQUESTED: {
              // Earlier than every deadline watched so far (another node's command, say): re-arm the timer.
              guard: and(['callAllowed', 'deadlineBeforeWatched']),
              target: 'awaitingAnswer',
              reenter: true,
              actions: assign({ pendingCalls: ({ context, event }) => [...context.pendingCalls, event.call] }),
            },
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

/** Onboarding inventory requests per connection, in all (CONTRACT §3.2 "Reports"). */
export const INVENTORY_REQUESTS = 3;

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

const PENDING_ALLOWED: ReadonlySet<string> = new Set([
  'GetVariables',
  'SetVariables',
  'GetBaseReport',
  'GetReport',
  'TriggerMessage',
  // OCPP 1.6 §4.2.1: a Pending charge point may be configured and triggered the same way.
  'GetConfiguration',
  'ChangeConfiguration',
  'ExtendedTriggerMessage',
]);

/**
 * B02.FR.09 / B03.FR.07: before Accepted, a station may only send BootNotification, plus what the CSMS
 * itself triggered while Pending (B02.FR.02).
 */
export function stationMayCall(context: Pick<StationContext, 'bootStatus' | 'triggeredWhilePending'>, action: string): boolean {
  if (context.bootStatus === 'Accepted' || action === 'BootNotification') return true;
  return context.bootStatus === 'Pending' && context.triggeredWhilePending.includes(action);
}
