import { createRedisCommandClient, parseRedisEndpoint, type RedisClient } from '../cluster/redis-connection.js';
import type { Clock } from '../clock.js';
import { SampledLog, type Logger } from '../log.js';
import { LocalAttemptCounter, peekedVerdict, verdictFor, type AttemptCounter, type AttemptLimits, type AttemptVerdict } from './throttle.js';

/**
 * INCR + expiry in one step: the first attempt of a window sets the window's expiry, the attempt after the last
 * allowed one restarts the expiry as the cool-down. Returns the count and the remaining milliseconds.
 */
const ATTEMPT_SCRIPT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if n == tonumber(ARGV[2]) + 1 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}`;

/** DECR only an existing key: a key that expired meanwhile must not come back as -1 without an expiry. */
const RETRACT_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end
return 0`;

/** The count and remaining milliseconds of a key, counting nothing; {0, 0} when there is none. */
const PEEK_SCRIPT = `
local n = redis.call('GET', KEYS[1])
if not n then return {0, 0} end
return {tonumber(n), redis.call('PTTL', KEYS[1])}`;

/**
 * The attempt counter of cluster mode (REDIS_URL): one Redis key per throttle key, so the limits hold across
 * workers and nodes. While Redis is unreachable this node counts in process (each node then throttles on its
 * own: weaker, never fail-open), and says so in a sampled warning.
 */
export class RedisAttemptCounter implements AttemptCounter {
  private readonly fallback: LocalAttemptCounter;
  private readonly sampled: SampledLog;

  private constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    clock: Clock,
    log: Logger,
  ) {
    this.fallback = new LocalAttemptCounter(clock);
    this.sampled = new SampledLog(log);
  }

  static connect(options: { redisUrl: string; cluster: boolean; prefix: string; connectionName: string; clock: Clock; log: Logger }): RedisAttemptCounter {
    const endpoint = parseRedisEndpoint(options.redisUrl, options.cluster ? '1' : undefined);
    const redis = createRedisCommandClient(endpoint, `${options.connectionName}:throttle`);
    // Connection problems are the router's to report; this client only falls back while they last.
    redis.on('error', () => undefined);
    return new RedisAttemptCounter(redis, `${options.prefix}throttle:`, options.clock, options.log);
  }

  async attempt(key: string, limits: AttemptLimits): Promise<AttemptVerdict> {
    try {
      const reply = (await this.redis.eval(ATTEMPT_SCRIPT, 1, this.prefix + key, limits.windowMs, limits.maxAttempts, limits.cooldownMs)) as [unknown, unknown];
      return verdictFor(Number(reply[0]), Number(reply[1]), limits);
    } catch (err) {
      this.sampled.warn('throttle_redis_failed', { err: (err as Error).message }, 'Redis unreachable: failed upgrade attempts are counted on this node only');
      return this.fallback.attemptNow(key, limits);
    }
  }

  async retract(key: string): Promise<void> {
    try {
      await this.redis.eval(RETRACT_SCRIPT, 1, this.prefix + key);
    } catch {
      this.fallback.retractNow(key);
    }
  }

  async peek(key: string, limits: AttemptLimits): Promise<AttemptVerdict> {
    try {
      const reply = (await this.redis.eval(PEEK_SCRIPT, 1, this.prefix + key)) as [unknown, unknown];
      return peekedVerdict(Number(reply[0]), Number(reply[1]), limits);
    } catch {
      return this.fallback.peekNow(key, limits);
    }
  }

  async close(): Promise<void> {
    this.redis.disconnect();
    return Promise.resolve();
  }
}
