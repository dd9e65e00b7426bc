import { describe, expect, it } from 'vitest';
import { afterAttempt, pendingDelivery } from '../../machines/webhook-delivery.machine.js';

const SCHEDULE = [5_000, 300_000, 1_800_000];

describe('webhook delivery machine (CONTRACT §8.7 retries)', () => {
  it('a 2xx on the first attempt delivers', () => {
    const next = afterAttempt(pendingDelivery(0, SCHEDULE), true);
    expect(next.value).toBe('delivered');
    expect(next.status).toBe('done');
  });

  it('each failure waits the next delay of the schedule, in order', () => {
    let snapshot = pendingDelivery(0, SCHEDULE);
    const waits: (number | undefined)[] = [];
    for (let i = 0; i < SCHEDULE.length; i++) {
      snapshot = afterAttempt(snapshot, false);
      expect(snapshot.value).toBe('pending');
      waits.push(snapshot.context.retryInMs);
    }
    expect(waits).toEqual(SCHEDULE);
    expect(snapshot.context.tries).toBe(3);
  });

  it('the attempt after the last delay failing is dead: 1 + schedule.length attempts in all', () => {
    let snapshot = pendingDelivery(0, SCHEDULE);
    let attempts = 0;
    while (snapshot.value === 'pending') {
      snapshot = afterAttempt(snapshot, false);
      attempts++;
    }
    expect(snapshot.value).toBe('dead');
    expect(attempts).toBe(SCHEDULE.length + 1);
    expect(snapshot.context.retryInMs).toBeUndefined();
  });

  it('resumes from a stored count of failures (after a restart or on another node)', () => {
    expect(afterAttempt(pendingDelivery(2, SCHEDULE), false).context.retryInMs).toBe(1_800_000);
    expect(afterAttempt(pendingDelivery(3, SCHEDULE), false).value).toBe('dead');
    expect(afterAttempt(pendingDelivery(3, SCHEDULE), true).value).toBe('delivered');
  });

  it('an empty schedule means one attempt only', () => {
    expect(afterAttempt(pendingDelivery(0, []), false).value).toBe('dead');
  });
});
