import { statfs } from 'node:fs/promises';
import type { Queryable, SqlDatabase, SqlParam, Statement } from './sql.js';

/**
 * CONTRACT §1 "degraded": the store is unreachable, stalled (no answer within CSMS_DB_TIMEOUT_MS) or, for the
 * embedded store, below CSMS_MIN_FREE_BYTES of free disk. A store call then rejects (a station CALL that must be
 * stored gets CALLERROR InternalError, so the station keeps and resends it) instead of hanging; reads keep working
 * while only the disk is low; `/health` and `csms_store_up` show the state; a probe notices when the cause goes.
 */

/** The store cannot take this call now; nothing of it was committed by us (a timed-out COMMIT may still land). */
export class StoreUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreUnavailableError';
  }
}

export interface StoreHealth {
  up: boolean;
  /** Why the store is degraded; undefined while up. */
  reason: string | undefined;
}

export interface StoreGuardOptions {
  /** CSMS_DB_TIMEOUT_MS: a call that has not settled by then rejects and marks the store degraded. */
  timeoutMs: number;
  /** Embedded store: writes are refused while the file system of `dir` has fewer than `minFreeBytes` free. */
  freeSpace?: { dir: string; minFreeBytes: number } | undefined;
  /** How often the free space is looked at, and the store probed while degraded (default 1000 ms). */
  checkIntervalMs?: number;
  /** A probe also runs when nothing succeeded for this long, so an idle store's failure shows (default 5000 ms). */
  idleProbeMs?: number;
  /** Every change between up and degraded. */
  onChange?: (health: StoreHealth) => void;
}

/** SQLSTATE classes that say the server (or its disk) cannot work, as opposed to a refused statement. */
const UNAVAILABLE_CLASSES = new Set(['08', '53', '57', '58', 'XX']);

/** True when `error` says the database itself is unreachable or broken, not that it refused one statement. */
export function isUnavailable(error: unknown): boolean {
  if (error instanceof StoreUnavailableError) return true;
  const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
  // A SQLSTATE: the server answered. Anything else (ECONNREFUSED, ECONNRESET, a terminated connection, a
  // driver-side timeout) comes from below SQL.
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return UNAVAILABLE_CLASSES.has(code.slice(0, 2));
  return true;
}

/** Statements that only read; everything else counts as a write (refused while the disk is low). */
const READ_ONLY = /^\s*(select|show|values|explain)\b/i;

/**
 * A SqlDatabase that bounds every call by the timeout, refuses writes while the disk is low, and fails fast while
 * the database is known to be unreachable (otherwise the group committer's one-by-one retries would each wait out
 * the timeout before the station gets its error).
 */
export class GuardedDatabase implements SqlDatabase {
  readonly kind: SqlDatabase['kind'];
  #unreachable: string | undefined;
  #diskLow: string | undefined;
  #lastSuccess = Date.now();
  #probing = false;
  #closed = false;
  readonly #timer: NodeJS.Timeout;

  private constructor(
    private readonly inner: SqlDatabase,
    private readonly options: StoreGuardOptions,
  ) {
    this.kind = inner.kind;
    const interval = options.checkIntervalMs ?? 1000;
    this.#timer = setInterval(() => void this.check(), interval);
    // Health checks are no reason to keep a process alive.
    this.#timer.unref();
  }

  /** Wraps `inner`, having looked at the free space once (so a full disk refuses the very first write). */
  static async create(inner: SqlDatabase, options: StoreGuardOptions): Promise<GuardedDatabase> {
    const guarded = new GuardedDatabase(inner, options);
    await guarded.checkFreeSpace();
    return guarded;
  }

  get health(): StoreHealth {
    const reason = this.#unreachable ?? this.#diskLow;
    return { up: reason === undefined, reason };
  }

  query<T extends object>(text: string, params: readonly SqlParam[] = []): Promise<T[]> {
    return this.guard(!READ_ONLY.test(text), () => this.inner.query<T>(text, params));
  }

  exec(script: string): Promise<void> {
    return this.guard(true, () => this.inner.exec(script));
  }

  transaction<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    return this.guard(true, () => this.inner.transaction(fn));
  }

  batch(statements: readonly Statement[]): Promise<object[][]> {
    return this.guard(true, () => this.inner.batch(statements));
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.inner.close();
  }

  private async guard<T>(write: boolean, call: () => Promise<T>): Promise<T> {
    if (this.#unreachable !== undefined) throw new StoreUnavailableError(`store unavailable: ${this.#unreachable}`);
    if (write && this.#diskLow !== undefined) throw new StoreUnavailableError(`store refuses writes: ${this.#diskLow}`);
    try {
      const value = await this.bounded(call());
      this.#lastSuccess = Date.now();
      return value;
    } catch (error) {
      if (isUnavailable(error)) this.setUnreachable(describe(error));
      else this.#lastSuccess = Date.now(); // the server answered: it is there
      throw error;
    }
  }

  private bounded<T>(call: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new StoreUnavailableError(`no answer from the store within ${this.options.timeoutMs} ms (CSMS_DB_TIMEOUT_MS)`)),
        this.options.timeoutMs,
      );
    });
    // A call that settles after its timeout is nobody's business any more.
    call.catch(() => undefined);
    return Promise.race([call, timeout]).finally(() => clearTimeout(timer));
  }

  private async check(): Promise<void> {
    if (this.#closed) return;
    await this.checkFreeSpace();
    const idle = Date.now() - this.#lastSuccess > (this.options.idleProbeMs ?? 5000);
    if ((this.#unreachable !== undefined || idle) && !this.#probing) await this.probe();
  }

  /** `SELECT 1` within the timeout: the one call let through while the store counts as unreachable. */
  private async probe(): Promise<void> {
    this.#probing = true;
    try {
      await this.bounded(this.inner.query('SELECT 1'));
      this.#lastSuccess = Date.now();
      this.setUnreachable(undefined);
    } catch (error) {
      this.setUnreachable(describe(error));
    } finally {
      this.#probing = false;
    }
  }

  private async checkFreeSpace(): Promise<void> {
    const limits = this.options.freeSpace;
    if (limits === undefined) return;
    let low: string | undefined;
    try {
      const fs = await statfs(limits.dir);
      const free = fs.bavail * fs.bsize;
      low = free < limits.minFreeBytes ? `${free} bytes free in ${limits.dir}, below CSMS_MIN_FREE_BYTES (${limits.minFreeBytes})` : undefined;
    } catch (error) {
      low = `cannot read the free space of ${limits.dir}: ${describe(error)}`;
    }
    this.update(() => (this.#diskLow = low));
  }

  private setUnreachable(reason: string | undefined): void {
    this.update(() => (this.#unreachable = reason));
  }

  private update(change: () => void): void {
    const before = this.health;
    change();
    const after = this.health;
    // Only the transitions: a reason's wording (free bytes, the driver's message) changes with every check.
    if (before.up !== after.up) this.options.onChange?.(after);
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = 'code' in error && typeof error.code === 'string' ? `${error.code}: ` : '';
    return `${code}${error.message}`.slice(0, 300);
  }
  return String(error).slice(0, 300);
}
