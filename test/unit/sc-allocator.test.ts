/**
 * The site allocator and its push ordering (CONTRACT §8.3; DRV-SC-07, DRV-SC-08, DRV-SC-13), and the push
 * machine with a simulated clock.
 */
import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, SimulatedClock } from 'xstate';
import { profilePushMachine, retryDelayMs, type AttemptOutcome, type PushRequest } from '../../machines/profile-push.machine.js';
import { allocate, exposureSum, fromAmps, nextPushes, toAmps, type EvseDemand, type EvseLimitState } from '../../src/blocks/smart-charging/allocator.js';

const demand = (key: string, sessionStart: number, extra: Partial<EvseDemand> = {}): EvseDemand => ({ key, charging: true, sessionStart, maxAmps: 32, ...extra });
const sum = (shares: Map<string, number>): number => [...shares.values()].reduce((a, b) => a + b, 0);

describe('allocate', () => {
  it('shares the limit equally among charging EVSEs; idle and suspended ones get 0', () => {
    const shares = allocate(60, 0, [demand('a', 1), demand('b', 2), demand('c', 3, { charging: false })]);
    expect(shares).toEqual(
      new Map([
        ['a', 30],
        ['b', 30],
        ['c', 0],
      ]),
    );
  });

  it('gives what a capped EVSE cannot take to the others', () => {
    const shares = allocate(60, 0, [demand('a', 1, { maxAmps: 10 }), demand('b', 2), demand('c', 3)]);
    expect(shares.get('a')).toBe(10);
    expect(shares.get('b')).toBe(25);
    expect(shares.get('c')).toBe(25);
  });

  it('serves in session-start order when the limit cannot give everyone minPerEvse', () => {
    const shares = allocate(20, 8, [demand('late', 3), demand('first', 1), demand('second', 2)]);
    expect(shares).toEqual(
      new Map([
        ['late', 0],
        ['first', 10],
        ['second', 10],
      ]),
    );
  });

  it('never gives more than the limit, rounding each share down to 0.1 A', () => {
    for (let n = 1; n <= 40; n++) {
      const shares = allocate(
        100,
        0,
        Array.from({ length: n }, (_, i) => demand(`e${i}`, i)),
      );
      expect(sum(shares)).toBeLessThanOrEqual(100 + 1e-9);
    }
    expect(allocate(100, 0, [demand('a', 1), demand('b', 2), demand('c', 3)]).get('a')).toBe(32);
    expect(allocate(10, 0, [demand('a', 1), demand('b', 2), demand('c', 3)]).get('a')).toBe(3.3);
  });

  it('converts W and A with voltage and phases (K01.FR.50)', () => {
    const site = { voltage: 230, phases: 3 as const };
    expect(toAmps({ value: 22080, unit: 'W' }, site)).toBe(32);
    expect(fromAmps(32, 'W', site)).toBe(22080);
    expect(toAmps({ value: 16, unit: 'A' }, site)).toBe(16);
    expect(toAmps({ value: 7360, unit: 'W' }, { voltage: 230, phases: 1 })).toBe(32);
  });
});

const state = (key: string, counted: number, target: number, extra: Partial<EvseLimitState> = {}): EvseLimitState => ({
  key,
  counted,
  uncertain: undefined,
  busy: false,
  target,
  ...extra,
});

describe('nextPushes', () => {
  it('DRV-SC-08: lowers go out at once, the raise waits until they are accepted', () => {
    const states = [state('a', 60, 30), state('b', 0, 30)];
    expect(nextPushes(60, states)).toEqual([{ key: 'a', amps: 30 }]);
    // a's lower is in flight: b still cannot be raised (a may not accept)
    expect(nextPushes(60, [state('a', 60, 30, { busy: true, uncertain: 30 }), state('b', 0, 30)])).toEqual([]);
    // a accepted: b fits
    expect(nextPushes(60, [state('a', 30, 30), state('b', 0, 30)])).toEqual([{ key: 'b', amps: 30 }]);
  });

  it('counts a push without an answer at its value until an answer settles it', () => {
    // b was sent 40 and never answered: a raise to c must leave room for it
    const states = [state('a', 20, 20), state('b', 0, 20, { uncertain: 40 }), state('c', 0, 20)];
    expect(nextPushes(60, states)).toEqual([{ key: 'b', amps: 20 }]);
  });

  it('raises in the given (session-start) order, as many as fit', () => {
    const states = [state('a', 0, 30), state('b', 0, 30), state('c', 20, 20)];
    expect(nextPushes(70, states)).toEqual([{ key: 'a', amps: 30 }]);
  });

  it('DRV-SC-07: whatever the answers, the accepted sum never exceeds the limit (random walk)', () => {
    let seed = 42;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const limit = 100;
    const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
    const accepted = new Map(keys.map((k) => [k, 0]));
    const inFlight = new Map<string, number>();
    const unknown = new Map<string, number>();
    let charging = new Set<string>();
    for (let step = 0; step < 3000; step++) {
      if (random() < 0.2) {
        const key = keys[Math.floor(random() * keys.length)] as string;
        if (charging.has(key)) charging.delete(key);
        else charging.add(key);
        charging = new Set(charging);
      }
      const shares = allocate(
        limit,
        0,
        keys.map((k, i) => demand(k, i, { charging: charging.has(k) })),
      );
      const states = keys.map((k) => {
        const pushed = inFlight.get(k);
        const u = Math.max(pushed ?? 0, unknown.get(k) ?? 0);
        return state(k, accepted.get(k) ?? 0, shares.get(k) ?? 0, { busy: pushed !== undefined, uncertain: pushed !== undefined || unknown.has(k) ? u : undefined });
      });
      for (const push of nextPushes(limit, states)) inFlight.set(push.key, push.amps);
      // the station answers some pushes: accepted, rejected, or never (the push is retried later)
      for (const [key, amps] of [...inFlight]) {
        const r = random();
        if (r < 0.4) {
          accepted.set(key, amps);
          unknown.delete(key);
          inFlight.delete(key);
        } else if (r < 0.55) {
          inFlight.delete(key);
        } else if (r < 0.65) {
          unknown.set(key, Math.max(unknown.get(key) ?? 0, amps));
          inFlight.delete(key);
          // a silent station may still have applied it
          if (random() < 0.5) accepted.set(key, amps);
        }
      }
      const acceptedSum = [...accepted.values()].reduce((a, b) => a + b, 0);
      expect(acceptedSum).toBeLessThanOrEqual(limit + 1e-9);
      expect(exposureSum(states)).toBeGreaterThanOrEqual(0);
    }
  });
});

describe('profile push machine', () => {
  const request: PushRequest = { stationId: 'CS1', evseId: 1, amps: 16, transactionId: 'T1' };

  function harness(answers: (() => Promise<AttemptOutcome>)[]) {
    const clock = new SimulatedClock();
    const log: string[] = [];
    let attempt = 0;
    const machine = profilePushMachine.provide({
      actors: {
        send: fromPromise<AttemptOutcome, PushRequest>(() => {
          const answer = answers[Math.min(attempt, answers.length - 1)] as () => Promise<AttemptOutcome>;
          attempt++;
          log.push(`send ${attempt}`);
          return answer();
        }),
      },
      actions: {
        accepted: () => void log.push('accepted'),
        refused: (_, p) => void log.push(`refused ${p.status}`),
        unanswered: (_, p) => void log.push(`unanswered ${p.reason}`),
      },
    });
    const actor = createActor(machine, { input: { request, attemptTimeoutMs: 5_000 }, clock });
    actor.start();
    return { actor, clock, log };
  }
  const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  it('retries a refusal with a growing backoff, then ends Accepted', async () => {
    const { actor, clock, log } = harness([async () => ({ kind: 'answered', status: 'Rejected' }), async () => ({ kind: 'answered', status: 'Accepted' })]);
    await flush();
    expect(log).toEqual(['send 1', 'refused Rejected']);
    clock.increment(retryDelayMs(1) - 1);
    await flush();
    expect(log).toHaveLength(2);
    clock.increment(1);
    await flush();
    expect(log).toEqual(['send 1', 'refused Rejected', 'send 2', 'accepted']);
    expect(actor.getSnapshot().value).toBe('accepted');
    expect(retryDelayMs(2)).toBe(2 * retryDelayMs(1));
    expect(retryDelayMs(100)).toBe(30_000);
  });

  it('an attempt without an answer times out at its deadline and is sent again', async () => {
    const { clock, log } = harness([() => new Promise<AttemptOutcome>(() => undefined)]);
    await flush();
    clock.increment(5_000);
    await flush();
    expect(log).toEqual(['send 1', 'unanswered timeout']);
    clock.increment(retryDelayMs(1));
    await flush();
    expect(log.at(-1)).toBe('send 2');
  });

  it('a push for a transaction that ended is dropped and never sent again', async () => {
    const { actor, clock, log } = harness([async () => ({ kind: 'failed', reason: 'notConnected' })]);
    await flush();
    actor.send({ type: 'TRANSACTION_ENDED' });
    clock.increment(60_000);
    await flush();
    expect(log).toEqual(['send 1', 'unanswered notConnected']);
    expect(actor.getSnapshot().value).toBe('dropped');
  });

  it('a superseded push stops', async () => {
    const { actor } = harness([() => new Promise<AttemptOutcome>(() => undefined)]);
    actor.send({ type: 'SUPERSEDED' });
    expect(actor.getSnapshot().value).toBe('superseded');
    expect(actor.getSnapshot().status).toBe('done');
  });
});
