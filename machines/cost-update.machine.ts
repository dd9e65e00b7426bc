import { assign, setup } from 'xstate';

/**
 * The running cost of one priced transaction between its TransactionEvents (I02.FR.01, CONTRACT §8.4): every
 * answer to a TransactionEvent carries `totalCost`; when no event comes for `intervalMs`, the CSMS sends the
 * running cost as CostUpdated, and again every `intervalMs` while none comes. An event resets the wait (its
 * answer carried the cost already); Ended stops it for good (no CostUpdated after Ended). A CostUpdated that
 * cannot be delivered (the station left) stops it too: the next event of the transaction starts a new one.
 *
 * Pure: `sendCostUpdated` is supplied by the host with `.provide()`, and reports back with DELIVERED or
 * UNDELIVERED. A unit test drives it with events and short delays, no socket.
 */

export interface CostUpdateContext {
  stationId: string;
  transactionId: string;
  /** The running cost as last computed (a JSON number equal to the rounded decimal). */
  totalCost: number;
  intervalMs: number;
}

export interface CostUpdateInput {
  stationId: string;
  transactionId: string;
  totalCost: number;
  intervalMs: number;
}

export type CostUpdateEvent = { type: 'PRICED'; totalCost: number } | { type: 'ENDED' } | { type: 'DELIVERED' } | { type: 'UNDELIVERED' };

export const costUpdateMachine = setup({
  types: {
    context: {} as CostUpdateContext,
    input: {} as CostUpdateInput,
    events: {} as CostUpdateEvent,
  },
  actions: {
    /** Host: send CostUpdated{totalCost, transactionId} and answer DELIVERED or UNDELIVERED. */
    sendCostUpdated: (_, _params: { stationId: string; transactionId: string; totalCost: number }) => undefined,
  },
  delays: {
    costInterval: ({ context }) => context.intervalMs,
  },
}).createMachine({
  id: 'costUpdate',
  context: ({ input }) => ({ ...input }),
  initial: 'waiting',
  on: {
    ENDED: '.ended',
  },
  states: {
    waiting: {
      after: { costInterval: 'sending' },
      on: {
        // The event's own answer carried the cost: the interval starts again from it.
        PRICED: { target: 'waiting', reenter: true, actions: assign({ totalCost: ({ event }) => event.totalCost }) },
      },
    },
    sending: {
      entry: {
        type: 'sendCostUpdated',
        params: ({ context }) => ({ stationId: context.stationId, transactionId: context.transactionId, totalCost: context.totalCost }),
      },
      on: {
        PRICED: { target: 'waiting', actions: assign({ totalCost: ({ event }) => event.totalCost }) },
        DELIVERED: 'waiting',
        UNDELIVERED: 'ended',
      },
    },
    ended: { type: 'final' },
  },
});
