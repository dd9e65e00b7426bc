import { isIP } from 'node:net';
import type { Clock } from '../clock.js';
import { RecentMap } from '../recent-map.js';

/**
 * Throttling of unproven upgrade attempts (CONTRACT §3.2 "Throttling"). Only an attempt that presents a password
 * to be checked counts; it is counted *before* the (slow, asynchronous) check, so parallel guesses see each other.
 * A key that reached `maxAttempts` within `windowMs` is refused for `cooldownMs` from that moment. A request that
 * proves itself takes its own attempt back (`retract`), so a station's correct logins never add up.
 *
 * The counter is a fixed-window INCR + expiry per key: the same arithmetic in process (`LocalAttemptCounter`) and
 * in Redis (`RedisAttemptCounter`, shared by every worker and node).
 */
export interface AttemptLimits {
  /** Attempts within `windowMs` that may be checked; the next one starts the cool-down. */
  maxAttempts: number;
  windowMs: number;
  cooldownMs: number;
}

export interface AttemptVerdict {
  /** False: refuse with 429 without checking anything. */
  allowed: boolean;
  /** While refused: how long until the key may try again. */
  retryAfterMs: number;
  /** This very attempt started the cool-down (log it once). */
  startedCooldown: boolean;
}

export interface AttemptCounter {
  /** Counts one attempt of `key` and says whether it may be checked. Never rejects. */
  attempt(key: string, limits: AttemptLimits): Promise<AttemptVerdict>;
  /** Takes back one attempt of `key` (the request proved its identity). Never rejects. */
  retract(key: string): Promise<void>;
  /** The verdict `key` stands at, counting nothing (is it cooling down?). Never rejects. */
  peek(key: string, limits: AttemptLimits): Promise<AttemptVerdict>;
  close(): Promise<void>;
}

/** What both counters compute from the count after the increment and the key's remaining lifetime. */
export function verdictFor(count: number, remainingMs: number, limits: AttemptLimits): AttemptVerdict {
  if (count <= limits.maxAttempts) return { allowed: true, retryAfterMs: 0, startedCooldown: false };
  return { allowed: false, retryAfterMs: Math.max(1, remainingMs), startedCooldown: count === limits.maxAttempts + 1 };
}

/** A peek never starts a cool-down: only the attempt that crossed the limit did, and it was logged then. */
export function peekedVerdict(count: number, remainingMs: number, limits: AttemptLimits): AttemptVerdict {
  return { ...verdictFor(count, remainingMs, limits), startedCooldown: false };
}

interface CounterEntry {
  count: number;
  expiresAt: number;
}

/** In-process counter (one node, no REDIS_URL). Bounded: at most `maxKeys` keys, the least recently hit forgotten. */
export class LocalAttemptCounter implements AttemptCounter {
  private readonly entries: RecentMap<string, CounterEntry>;

  constructor(
    private readonly clock: Clock,
    maxKeys = 100_000,
  ) {
    this.entries = new RecentMap(maxKeys);
  }

  get size(): number {
    return this.entries.size;
  }

  attemptNow(key: string, limits: AttemptLimits): AttemptVerdict {
    const now = this.clock.now();
    let entry = this.entries.get(key);
    if (entry === undefined || entry.expiresAt <= now) entry = { count: 0, expiresAt: now + limits.windowMs };
    entry.count += 1;
    // The attempt after the last allowed one starts the cool-down, counted from now.
    if (entry.count === limits.maxAttempts + 1) entry.expiresAt = now + limits.cooldownMs;
    this.entries.set(key, entry);
    return verdictFor(entry.count, entry.expiresAt - now, limits);
  }

  attempt(key: string, limits: AttemptLimits): Promise<AttemptVerdict> {
    return Promise.resolve(this.attemptNow(key, limits));
  }

  retractNow(key: string): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    if (entry.expiresAt <= this.clock.now() || entry.count <= 1) this.entries.delete(key);
    else entry.count -= 1;
  }

  retract(key: string): Promise<void> {
    this.retractNow(key);
    return Promise.resolve();
  }

  peekNow(key: string, limits: AttemptLimits): AttemptVerdict {
    const now = this.clock.now();
    const entry = this.entries.get(key);
    if (entry === undefined || entry.expiresAt <= now) return verdictFor(0, 0, limits);
    return peekedVerdict(entry.count, entry.expiresAt - now, limits);
  }

  peek(key: string, limits: AttemptLimits): Promise<AttemptVerdict> {
    return Promise.resolve(this.peekNow(key, limits));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Password checks per key run a few at a time; the others wait their turn (at most `maxQueued` per key, beyond
 * which they are refused at once). A whole fleet reconnecting through one NAT or proxy address is a queue, not a
 * refusal; a burst of guesses from one address is checked a few at a time, so the failures it piles up throttle
 * the rest of the burst before it is ever checked. With `maxQueued` 0 the excess is refused at once. Per process:
 * what it protects is this process's thread pool.
 */
export class CheckSlots {
  private readonly running = new Map<string, number>();
  private readonly waiting = new Map<string, (() => void)[]>();

  constructor(
    private readonly maxRunning: number,
    private readonly maxQueued: number,
  ) {}

  /** Resolves true once a slot is held (give it back with `release`), false when the queue is full. */
  acquire(key: string): Promise<boolean> {
    const running = this.running.get(key) ?? 0;
    if (running < this.maxRunning) {
      this.running.set(key, running + 1);
      return Promise.resolve(true);
    }
    const queue = this.waiting.get(key) ?? [];
    if (queue.length >= this.maxQueued) return Promise.resolve(false);
    this.waiting.set(key, queue);
    // The slot passes straight from the releasing check to the next in line: `running` stays as it is.
    return new Promise((resolve) => queue.push(() => resolve(true)));
  }

  release(key: string): void {
    const queue = this.waiting.get(key);
    const next = queue?.shift();
    if (next !== undefined) {
      if (queue?.length === 0) this.waiting.delete(key);
      next();
      return;
    }
    const running = this.running.get(key) ?? 0;
    if (running <= 1) this.running.delete(key);
    else this.running.set(key, running - 1);
  }
}

/**
 * The address an attempt is counted under: IPv4 as is (IPv4-mapped IPv6 as IPv4), IPv6 by its /64 (one
 * subscriber usually holds a whole /64, so counting single IPv6 addresses would count nothing).
 */
export function throttleAddress(address: string): string {
  const mapped = /^(?:0{1,4}:){5}ffff:|^::ffff:/i.exec(address);
  if (mapped !== null) {
    const tail = address.slice(mapped[0].length);
    if (isIP(tail) === 4) return tail;
  }
  if (isIP(address) !== 6) return address;
  const [head = '', tail] = address.replace(/%.*$/, '').split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? 0 : Math.max(0, 8 - headGroups.length - tailGroups.length);
  const groups = [...headGroups, ...Array<string>(zeros).fill('0'), ...tailGroups];
  return `${groups
    .slice(0, 4)
    .map((group) => parseInt(group, 16).toString(16))
    .join(':')}::/64`;
}

/**
 * Defaults. Per (identity, address): 10 unproven attempts a minute, then a minute of 429 (online guessing, or a
 * station with a stale password hammering us). Per address the threshold is higher, because many honest stations
 * can share one address (a depot behind NAT). Neither key ever names only the identity: failures from one address
 * never lock the station out for another.
 */
export const IDENTITY_ADDRESS_LIMITS: AttemptLimits = { maxAttempts: 10, windowMs: 60_000, cooldownMs: 60_000 };
export const ADDRESS_LIMITS: AttemptLimits = { maxAttempts: 30, windowMs: 60_000, cooldownMs: 60_000 };
/** Password checks running at once per (identity, address) and per address. */
export const MAX_CHECKS_IN_FLIGHT = { identityAddress: 2, address: 8 } as const;
/** Checks that may wait for a slot of one address (a fleet behind one NAT reconnecting after a restart). */
export const MAX_CHECKS_QUEUED_PER_ADDRESS = 10_000;
