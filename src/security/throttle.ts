import type { Clock } from '../clock.js';
import { RecentMap } from '../recent-map.js';

/** How many failures in how long start a cool-down, how long it lasts, and how many keys are remembered. */
export interface ThrottleLimits {
  /** Failures within `windowMs` that start a cool-down. */
  maxFailures: number;
  windowMs: number;
  cooldownMs: number;
  /** Keys remembered at most; beyond this the least recently failed key is forgotten (bounded memory). */
  maxKeys: number;
}

interface FailureRecord {
  /** Times of the failures inside the window, oldest first; never more than `maxFailures`. */
  failures: number[];
  /** While now < blockedUntil the key is cooling down. */
  blockedUntil: number;
}

/**
 * A sliding-window failure counter per key (a remote address, a station identity): `maxFailures` failures
 * within `windowMs` block the key for `cooldownMs`. Memory is bounded twice: each key keeps at most
 * `maxFailures` timestamps, and at most `maxKeys` keys are kept (the Map's insertion order doubles as
 * "least recently failed first", so eviction is O(1)).
 */
export class FailureThrottle {
  private readonly records: RecentMap<string, FailureRecord>;

  constructor(
    private readonly limits: ThrottleLimits,
    private readonly clock: Clock,
  ) {
    if (limits.maxFailures < 1 || limits.windowMs <= 0 || limits.cooldownMs <= 0 || limits.maxKeys < 1) {
      throw new RangeError('throttle limits must be positive');
    }
    this.records = new RecentMap(limits.maxKeys);
  }

  /** Keys currently remembered (for tests and metrics). */
  get size(): number {
    return this.records.size;
  }

  /** Milliseconds `key` still has to wait; 0 when it may try. */
  remainingCooldown(key: string): number {
    const record = this.records.get(key);
    if (record === undefined) return 0;
    const now = this.clock.now();
    if (record.blockedUntil > now) return record.blockedUntil - now;
    const newest = record.failures[record.failures.length - 1];
    // Nothing left to remember: neither cooling down nor any failure inside the window.
    if (newest === undefined || newest <= now - this.limits.windowMs) this.records.delete(key);
    return 0;
  }

  /** Records one failure of `key`; true when this failure starts a cool-down. */
  fail(key: string): boolean {
    const now = this.clock.now();
    const record = this.records.get(key) ?? { failures: [], blockedUntil: 0 };
    const cutoff = now - this.limits.windowMs;
    while (record.failures.length > 0 && (record.failures[0] as number) <= cutoff) record.failures.shift();
    let started = false;
    if (record.blockedUntil <= now) {
      record.failures.push(now);
      if (record.failures.length >= this.limits.maxFailures) {
        record.blockedUntil = now + this.limits.cooldownMs;
        record.failures = [];
        started = true;
      }
    }
    // Set again, the key becomes the newest: the least recently failed keys are the ones forgotten.
    this.records.set(key, record);
    return started;
  }

  /** A success forgets the key's failures (not a running cool-down: that one is served in full). */
  succeed(key: string): void {
    const record = this.records.get(key);
    if (record !== undefined && record.blockedUntil <= this.clock.now()) this.records.delete(key);
  }
}

/**
 * Defaults for failed WebSocket upgrades. Per identity: 10 failures a minute lock the identity for a minute
 * (online guessing, and a misconfigured station hammering us with a wrong password). Per address the
 * threshold is higher, because many honest stations can share one address (a depot behind NAT, a
 * TLS-terminating proxy that does not forward the client address).
 */
export const IDENTITY_THROTTLE: ThrottleLimits = { maxFailures: 10, windowMs: 60_000, cooldownMs: 60_000, maxKeys: 10_000 };
export const ADDRESS_THROTTLE: ThrottleLimits = { maxFailures: 30, windowMs: 60_000, cooldownMs: 60_000, maxKeys: 10_000 };
