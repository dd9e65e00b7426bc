import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { lockDataDir, type DataDirLock } from './data-dir-lock.js';
import type { EngineMessage, EngineOperation, EngineOptions, EngineRequest, EngineValue, PlainError } from './embedded-worker.js';
import type { Queryable, SqlDatabase, SqlParam, Statement } from './sql.js';

/**
 * The embedded store: PGlite (PostgreSQL compiled to WASM) in `<dataDir>/pglite`, guarded by a pid lock file in
 * `dataDir`. PGlite runs in a worker thread (embedded-worker.ts): its query execution and its synchronous file
 * I/O and fsync happen there, so a slow query or a disk that hangs inside a write or an fsync never blocks the
 * main event loop. The sockets keep answering (Heartbeat, reads from memory, the API) while the store guard
 * (store-guard.ts) turns the missing answers into failures after CSMS_DB_TIMEOUT_MS and reports degraded.
 *
 * Stalls (`restartWhenStalled`): a request the thread has not answered for much longer than the guard's bound
 * means the engine is stuck (a runaway statement, a transaction nobody ends). Everything outstanding then fails,
 * the thread is terminated, and, only once it has really ended, a new one opens the same files: PostgreSQL's WAL
 * recovery, as after a crash, which loses nothing committed since commits are fsync'd. A thread blocked inside a
 * file system call cannot end before the call returns; until it has, no new engine starts (two PGlite instances on
 * one set of files would corrupt them) and every call fails at once. The data dir lock stays on this thread and is
 * released only after the engine thread has ended.
 */

export interface EmbeddedDatabaseOptions {
  /** The data dir's lock, when the caller took it already (start-up takes it before anything slow). */
  lock?: DataDirLock;
  /** Test and bench only: the PGlite default (no fsync). Never set in production. */
  unsafeNoSync?: boolean;
}

/** The engine thread failed, stalled, ended or is restarting: no SQLSTATE, so the store guard counts the store unavailable. */
export class EmbeddedEngineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmbeddedEngineError';
  }
}

/** After close() sent PGlite's close (a shutdown checkpoint), how long it may take before the thread is terminated. */
const CLOSE_MS = 4000;
/** How long a terminated thread may take to end. */
const TERMINATE_MS = 2000;
/** After a failed engine start, calls fail with that error for this long before the next attempt. */
const RESTART_BACKOFF_MS = 5000;

/**
 * The compiled worker module: next to this file in `dist/`; when this file runs from the TypeScript sources
 * (vitest), the one `npm run build` wrote.
 */
function workerScript(): string {
  const candidates = [new URL('./embedded-worker.js', import.meta.url), new URL('../../dist/src/store/embedded-worker.js', import.meta.url)];
  for (const candidate of candidates) {
    const path = fileURLToPath(candidate);
    if (existsSync(path)) return path;
  }
  throw new Error(`embedded-worker.js not found next to ${fileURLToPath(import.meta.url)} nor in dist/ (run npm run build)`);
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** An error of the engine thread as the store expects it: message, and `code` (SQLSTATE) and PostgreSQL's other fields. */
function rebuild(plain: PlainError): Error {
  const error = new Error(plain.message);
  Object.assign(error, plain.fields);
  return error;
}

/** `true` once `promise` has resolved, `false` if it has not after `ms`. */
function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  return Promise.race([promise.then(() => true), timeout]).finally(() => clearTimeout(timer));
}

interface Pending {
  resolve(value: EngineValue): void;
  reject(error: Error): void;
  sentAt: number;
}

/** One engine thread and its requests, correlated by id. */
class EngineThread {
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** Set once the thread failed or is stopping: requests reject with it. */
  private failure: Error | undefined;
  private ended = false;

  constructor(options: EngineOptions) {
    this.worker = new Worker(workerScript(), { workerData: options });
    let opened!: () => void;
    let openFailed!: (error: Error) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      opened = resolve;
      openFailed = reject;
    });
    // Whoever starts the engine awaits `ready`; a failure after that is nobody's unhandled rejection.
    this.ready.catch(() => undefined);
    this.worker.on('message', (message: EngineMessage) => {
      if (message.kind === 'ready') opened();
      else if (message.kind === 'openFailed') openFailed(rebuild(message.error));
      else this.settle(message);
    });
    this.worker.on('error', (error: Error) => {
      const failure = new EmbeddedEngineError(`the embedded engine thread failed: ${error.message}`);
      this.fail(failure);
      openFailed(failure);
    });
    this.exited = new Promise<void>((resolve) => {
      this.worker.once('exit', (code: number) => {
        this.ended = true;
        const failure = new EmbeddedEngineError(`the embedded engine thread ended (exit code ${code})`);
        this.fail(failure);
        openFailed(failure);
        resolve();
      });
    });
  }

  /** Takes requests. */
  get alive(): boolean {
    return this.failure === undefined;
  }

  /** The thread has ended: nothing of it touches the files any more. */
  get hasEnded(): boolean {
    return this.ended;
  }

  request(operation: EngineOperation): Promise<EngineValue> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const id = this.nextId++;
    const request: EngineRequest = { ...operation, id };
    return new Promise<EngineValue>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, sentAt: performance.now() });
      try {
        this.worker.postMessage(request);
      } catch (error) {
        // A parameter structured clone refuses.
        this.pending.delete(id);
        reject(asError(error));
      }
    });
  }

  /** How long the oldest unanswered request has waited, in ms (0 when none). */
  oldestWaitMs(): number {
    const first = this.pending.values().next();
    // A Map iterates in insertion order, and ids only grow: the first entry is the oldest.
    return first.done ? 0 : performance.now() - first.value.sentAt;
  }

  /** Fails every outstanding request with `reason`, refuses new ones and terminates the thread. */
  stop(reason: Error): void {
    this.fail(reason);
    this.worker.terminate().catch(() => undefined);
  }

  private settle(message: Extract<EngineMessage, { kind: 'reply' }>): void {
    const pending = this.pending.get(message.id);
    if (pending === undefined) return;
    this.pending.delete(message.id);
    if (message.ok) pending.resolve(message.value);
    else pending.reject(rebuild(message.error));
  }

  private fail(reason: Error): void {
    this.failure ??= reason;
    for (const pending of this.pending.values()) pending.reject(reason);
    this.pending.clear();
  }
}

/** Starts a thread and waits until PGlite is open in it; on failure, until the thread has ended. */
async function startEngine(options: EngineOptions): Promise<EngineThread> {
  const engine = new EngineThread(options);
  try {
    await engine.ready;
    return engine;
  } catch (error) {
    engine.stop(asError(error));
    await engine.exited;
    throw error;
  }
}

export class EmbeddedDatabase implements SqlDatabase {
  readonly kind = 'embedded';
  private starting: Promise<EngineThread> | undefined;
  private startFailure: { at: number; error: Error } | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly options: EngineOptions,
    private readonly lock: DataDirLock,
    private engine: EngineThread,
  ) {}

  static async open(dataDir: string, options: EmbeddedDatabaseOptions = {}): Promise<EmbeddedDatabase> {
    const lock = options.lock ?? (await lockDataDir(dataDir));
    try {
      const engineOptions: EngineOptions = { path: join(dataDir, 'pglite'), unsafeNoSync: options.unsafeNoSync ?? false };
      return new EmbeddedDatabase(engineOptions, lock, await startEngine(engineOptions));
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  /**
   * From now on, a request unanswered for `stallMs` restarts the engine (see the top of this file). Started after
   * the migrations, whose statements may legitimately run long on a big database; open-store.ts passes 3 ×
   * CSMS_DB_TIMEOUT_MS, so the guard has long reported the store degraded by then.
   */
  restartWhenStalled(stallMs: number): void {
    clearInterval(this.watchdog);
    this.watchdog = setInterval(() => this.checkStall(stallMs), Math.min(1000, Math.max(10, stallMs / 4)));
    this.watchdog.unref();
  }

  async query<T extends object>(text: string, params: readonly SqlParam[] = []): Promise<T[]> {
    const engine = await this.current();
    return (await engine.request({ op: 'query', text, params })) as T[];
  }

  async exec(script: string): Promise<void> {
    const engine = await this.current();
    await engine.request({ op: 'exec', script });
  }

  /**
   * BEGIN in the engine, which then holds its one connection for this transaction (other requests queue behind
   * it, as PGlite's own transaction does), `fn`'s statements, and COMMIT, or ROLLBACK when `fn` throws.
   */
  async transaction<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    const engine = await this.current();
    const tx = (await engine.request({ op: 'begin' })) as number;
    const q: Queryable = {
      async query<R extends object>(text: string, params: readonly SqlParam[] = []): Promise<R[]> {
        return (await engine.request({ op: 'txQuery', tx, text, params })) as R[];
      },
      async exec(script: string): Promise<void> {
        await engine.request({ op: 'txExec', tx, script });
      },
    };
    let result: T;
    try {
      result = await fn(q);
    } catch (error) {
      await engine.request({ op: 'rollback', tx }).catch(() => undefined);
      throw error;
    }
    await engine.request({ op: 'commit', tx });
    return result;
  }

  /** One message to the engine: the statements run one after the other in one transaction there. */
  async batch(statements: readonly Statement[]): Promise<object[][]> {
    const engine = await this.current();
    // Text and parameters only: a BatchStatement's `refused` callback cannot cross to the thread.
    const plain = statements.map((statement) => ({ text: statement.text, params: statement.params }));
    return (await engine.request({ op: 'batch', statements: plain })) as object[][];
  }

  /**
   * Closes PGlite in the engine (a shutdown checkpoint) and ends the thread: within CLOSE_MS + TERMINATE_MS, well
   * inside the 10 s of a shutdown (CONTRACT §1). The lock is released once the thread has ended; a thread that
   * would not end leaves it, to be taken over once this process is gone.
   */
  close(): Promise<void> {
    return (this.closing ??= this.shutdown());
  }

  private async shutdown(): Promise<void> {
    clearInterval(this.watchdog);
    await this.starting?.catch(() => undefined);
    const engine = this.engine;
    let failure: Error | undefined;
    if (engine.alive) {
      const closed = engine.request({ op: 'close' }).then(
        () => true,
        // An engine that died meanwhile has nothing left to close; PGlite's own close error is worth reporting.
        (error: unknown) => {
          if (!(error instanceof EmbeddedEngineError)) failure = asError(error);
          return true;
        },
      );
      if (!(await within(closed, CLOSE_MS))) failure = new EmbeddedEngineError(`the embedded engine did not close within ${CLOSE_MS} ms; terminated`);
      // After its close the thread ends by itself; give it a moment before terminating it.
      if (!(await within(engine.exited, 200))) engine.stop(new EmbeddedEngineError('the embedded store is closed'));
    } else {
      engine.stop(new EmbeddedEngineError('the embedded store is closed'));
    }
    if (!(await within(engine.exited, TERMINATE_MS))) {
      throw new EmbeddedEngineError(`the embedded engine thread did not end within ${TERMINATE_MS} ms of its termination; the data dir lock stays`);
    }
    await this.lock.release();
    if (failure !== undefined) throw failure;
  }

  /** The running engine; after a stall or a crash, a new one once the old thread has ended. */
  private current(): Promise<EngineThread> {
    if (this.engine.alive && this.closing === undefined) return Promise.resolve(this.engine);
    if (this.closing !== undefined) return Promise.reject(new EmbeddedEngineError('the embedded store is closed'));
    if (!this.engine.hasEnded) {
      return Promise.reject(new EmbeddedEngineError('the embedded engine is restarting: its stalled thread has not ended yet (blocked in a file system call?)'));
    }
    return (this.starting ??= this.restart().finally(() => (this.starting = undefined)));
  }

  private async restart(): Promise<EngineThread> {
    const failed = this.startFailure;
    if (failed !== undefined && performance.now() - failed.at < RESTART_BACKOFF_MS) throw failed.error;
    try {
      this.engine = await startEngine(this.options);
      this.startFailure = undefined;
      return this.engine;
    } catch (error) {
      const failure = new EmbeddedEngineError(`the embedded engine could not be restarted: ${asError(error).message}`);
      this.startFailure = { at: performance.now(), error: failure };
      throw failure;
    }
  }

  private checkStall(stallMs: number): void {
    const waited = this.engine.oldestWaitMs();
    if (!this.engine.alive || waited <= stallMs) return;
    this.engine.stop(new EmbeddedEngineError(`the embedded engine did not answer for ${Math.round(waited)} ms; restarting it`));
  }
}
