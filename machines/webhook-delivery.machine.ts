import { assign, setup, transition, type SnapshotFrom } from 'xstate';

/**
 * One event on its way to one webhook (CONTRACT §8.7): pending until an attempt is answered 2xx (delivered), or
 * until the attempt after the last delay of the retry schedule fails too (dead).
 *
 * The wait between attempts is not an `after` transition held by an actor: it lasts up to hours (about 28 h with
 * the default schedule), must survive a restart, and may end on any node of a cluster. So the host keeps the
 * snapshot's two facts in the outbox row (the state and `tries`), the machine decides what an attempt's outcome
 * leads to and when the next attempt is due (`retryInMs`), and the database's clock schedules it.
 */
export interface WebhookDeliveryContext {
  /** Attempts of this delivery that failed so far. */
  tries: number;
  /** The delays before each retry (CSMS_WEBHOOK_RETRY_SCHEDULE), in ms. */
  schedule: readonly number[];
  /** After a failure that is not the last: how long until the next attempt. */
  retryInMs: number | undefined;
}

export type WebhookDeliveryEvent = { type: 'DELIVERED' } | { type: 'FAILED' };

export const webhookDeliveryMachine = setup({
  types: {
    context: {} as WebhookDeliveryContext,
    events: {} as WebhookDeliveryEvent,
    input: {} as { tries: number; schedule: readonly number[] },
  },
  guards: {
    /** One retry per delay of the schedule: the delivery is dead when the attempt after the last delay fails. */
    retriesLeft: ({ context }) => context.tries < context.schedule.length,
  },
  actions: {
    scheduleRetry: assign(({ context }) => ({ tries: context.tries + 1, retryInMs: context.schedule[context.tries] ?? 0 })),
    countFailure: assign(({ context }) => ({ tries: context.tries + 1, retryInMs: undefined })),
  },
}).createMachine({
  id: 'webhookDelivery',
  initial: 'pending',
  context: ({ input }) => ({ tries: input.tries, schedule: input.schedule, retryInMs: undefined }),
  states: {
    pending: {
      on: {
        DELIVERED: { target: 'delivered' },
        FAILED: [
          { guard: 'retriesLeft', target: 'pending', reenter: true, actions: 'scheduleRetry' },
          { target: 'dead', actions: 'countFailure' },
        ],
      },
    },
    delivered: { type: 'final' },
    dead: { type: 'final' },
  },
});

export type WebhookDeliverySnapshot = SnapshotFrom<typeof webhookDeliveryMachine>;

/** A pending delivery with `tries` failures behind it, as stored. */
export function pendingDelivery(tries: number, schedule: readonly number[]): WebhookDeliverySnapshot {
  return webhookDeliveryMachine.resolveState({ value: 'pending', context: { tries, schedule, retryInMs: undefined } });
}

/** What one attempt's outcome leads to: the next snapshot (pure; no actor, no timer). */
export function afterAttempt(snapshot: WebhookDeliverySnapshot, delivered: boolean): WebhookDeliverySnapshot {
  const [next] = transition(webhookDeliveryMachine, snapshot, delivered ? { type: 'DELIVERED' } : { type: 'FAILED' });
  return next;
}
