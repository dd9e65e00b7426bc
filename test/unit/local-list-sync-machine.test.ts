import { describe, expect, it } from 'vitest';
import { SimulatedClock, createActor, fromPromise } from 'xstate';
import { localListSyncMachine, retryDelayMs, MIN_RETRY_MS, type PushOutcome } from '../../machines/local-list-sync.machine.js';

/**
 * The local-list sync machine with a hand clock: every push and version check is a promise the test settles,
 * so each step of D01/D02 (and the backoff of CONTRACT §8.1) is driven and observed without a station.
 */
function harness() {
  const clock = new SimulatedClock();
  const checks: { resolve: (v: number) => void; reject: (e: Error) => void }[] = [];
  const pushes: { resolve: (o: PushOutcome) => void; reject: (e: Error) => void }[] = [];
  const failures: string[] = [];
  const machine = localListSyncMachine.provide({
    actors: {
      checkVersion: fromPromise<number, { stationId: string }>(() => new Promise((resolve, reject) => checks.push({ resolve, reject }))),
      push: fromPromise<PushOutcome, { stationId: string }>(() => new Promise((resolve, reject) => pushes.push({ resolve, reject }))),
    },
    actions: { recordFailure: (_args, { error }) => void failures.push(error) },
  });
  const actor = createActor(machine, { input: { stationId: 'CS1' }, clock });
  actor.start();
  const flush = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));
  return { actor, clock, checks, pushes, failures, flush, state: () => actor.getSnapshot().value };
}

describe('local list sync machine', () => {
  it('D02: a connect waits for the boot answer to leave, asks the version, then pushes', async () => {
    const h = harness();
    h.actor.send({ type: 'CONNECTED' });
    expect(h.state()).toBe('settling');
    h.clock.increment(499);
    expect(h.checks).toHaveLength(0);
    h.clock.increment(1);
    expect(h.state()).toBe('checking');
    h.checks[0]?.resolve(0);
    await h.flush();
    expect(h.state()).toBe('pushing');
    h.pushes[0]?.resolve({ kind: 'inSync' });
    await h.flush();
    expect(h.state()).toBe('idle');
  });

  it('a boot during the settle delay starts it again: one version check, not two', () => {
    const h = harness();
    h.actor.send({ type: 'CONNECTED' });
    h.clock.increment(400);
    h.actor.send({ type: 'CONNECTED' });
    h.clock.increment(400);
    expect(h.checks).toHaveLength(0);
    h.clock.increment(100);
    expect(h.checks).toHaveLength(1);
  });

  it('a change while a push is out is pushed right after it', async () => {
    const h = harness();
    h.actor.send({ type: 'CHANGED' });
    expect(h.pushes).toHaveLength(1);
    h.actor.send({ type: 'CHANGED' });
    h.pushes[0]?.resolve({ kind: 'inSync' });
    await h.flush();
    expect(h.pushes).toHaveLength(2);
    h.pushes[1]?.resolve({ kind: 'inSync' });
    await h.flush();
    expect(h.state()).toBe('idle');
  });

  it('D01.FR.03: VersionMismatch pushes again (a Full); a second one in a row is a failure, not a loop', async () => {
    const h = harness();
    h.actor.send({ type: 'CHANGED' });
    h.pushes[0]?.resolve({ kind: 'versionMismatch' });
    await h.flush();
    expect(h.pushes).toHaveLength(2);
    h.pushes[1]?.resolve({ kind: 'versionMismatch' });
    await h.flush();
    expect(h.state()).toBe('failed');
    expect(h.failures).toEqual(['the station answered VersionMismatch to a Full list']);
  });

  it('CONTRACT §8.1: Failed is recorded and retried no sooner than 30 s, with a growing backoff; a change meanwhile waits', async () => {
    const h = harness();
    h.actor.send({ type: 'CHANGED' });
    h.pushes[0]?.resolve({ kind: 'failed', error: 'the station answered Failed' });
    await h.flush();
    expect(h.state()).toBe('failed');
    expect(h.failures).toEqual(['the station answered Failed']);
    h.actor.send({ type: 'CHANGED' });
    h.clock.increment(MIN_RETRY_MS - 1);
    expect(h.state()).toBe('failed');
    h.clock.increment(1);
    expect(h.state()).toBe('checking');
    h.checks[0]?.reject(new Error('call timed out'));
    await h.flush();
    expect(h.state()).toBe('failed');
    expect(h.failures.at(-1)).toBe('call timed out');
    h.clock.increment(MIN_RETRY_MS);
    expect(h.state()).toBe('failed');
    h.clock.increment(MIN_RETRY_MS);
    expect(h.state()).toBe('checking');
  });

  it('a reconnect (CONNECTED) ends the wait of a failed list at once', () => {
    const h = harness();
    h.actor.send({ type: 'CHANGED' });
    h.pushes[0]?.reject(new Error('station disconnected'));
    return h.flush().then(() => {
      expect(h.state()).toBe('failed');
      h.actor.send({ type: 'CONNECTED' });
      expect(h.state()).toBe('settling');
    });
  });

  it('the backoff doubles from 30 s and stays bounded', () => {
    expect(retryDelayMs(1)).toBe(30_000);
    expect(retryDelayMs(2)).toBe(60_000);
    expect(retryDelayMs(3)).toBe(120_000);
    expect(retryDelayMs(50)).toBe(600_000);
  });
});
