/**
 * The embedded engine's thread: PGlite (PostgreSQL compiled to WASM) runs here, in a `worker_threads` Worker, so
 * that its query execution and its synchronous file I/O and fsync never block the main event loop (the station
 * sockets). `EmbeddedDatabase` (embedded-database.ts) starts this module and talks to it with the messages below.
 *
 * One PGlite has one connection: every request runs after the previous one, and an open transaction (`begin` …
 * `commit`/`rollback`) holds the connection until it ends, other requests queuing behind it (PGlite's own
 * transaction lock does that).
 */
import { fsyncSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, type PGliteOptions, type Transaction } from '@electric-sql/pglite';
import { NodeFS } from '@electric-sql/pglite/nodefs';
import type { SqlParam } from './sql.js';

/** What the thread is started with (`workerData`). */
export interface EngineOptions {
  /** PGlite's directory, `<dataDir>/pglite`. */
  path: string;
  /** Test and bench only: PGlite's defaults (no fsync). */
  unsafeNoSync: boolean;
}

/** A statement as it crosses to the thread: text and parameters only (a BatchStatement's callbacks stay behind). */
export interface EngineStatement {
  text: string;
  params: readonly SqlParam[];
}

/** The operations; `tx` is the id of the `begin` request that opened the transaction. */
export type EngineOperation =
  | { op: 'query'; text: string; params: readonly SqlParam[] }
  | { op: 'exec'; script: string }
  | { op: 'batch'; statements: readonly EngineStatement[] }
  | { op: 'begin' }
  | { op: 'txQuery'; tx: number; text: string; params: readonly SqlParam[] }
  | { op: 'txExec'; tx: number; script: string }
  | { op: 'commit'; tx: number }
  | { op: 'rollback'; tx: number }
  | { op: 'close' };

export type EngineRequest = EngineOperation & { id: number };

/**
 * An error as it crosses back: its message and every string or number field (PostgreSQL's `code` (SQLSTATE),
 * `severity`, `detail`, `constraint`, `table`, …, and the failed `query`), rebuilt as an Error on the main thread.
 */
export interface PlainError {
  message: string;
  fields: Record<string, string | number>;
}

/** query: rows; batch: rows per statement; begin: the transaction id; the rest: null. */
export type EngineValue = object[] | object[][] | number | null;

export type EngineMessage =
  | { kind: 'ready' }
  | { kind: 'openFailed'; error: PlainError }
  | { kind: 'reply'; id: number; ok: true; value: EngineValue }
  | { kind: 'reply'; id: number; ok: false; error: PlainError };

/**
 * PGlite's own start parameters (0.5.16, `defaultStartParams`) minus `-F`, which turns fsync off. The rest keep
 * the single-user WASM backend working (no worker processes, synchronous I/O).
 */
// prettier-ignore
const START_PARAMS = [
  '--single',
  '-O',
  '-j',
  '-c', 'search_path=public',
  '-c', 'exit_on_error=false',
  '-c', 'log_checkpoints=false',
  '-c', 'max_worker_processes=0',
  '-c', 'max_parallel_workers=0',
  '-c', 'max_parallel_workers_per_gather=0',
  '-c', 'io_method=sync',
  '-c', 'max_parallel_maintenance_workers=0',
  // CONTRACT §1 "durable": a COMMIT returns only after its WAL is on disk.
  '-c', 'fsync=on',
  '-c', 'synchronous_commit=on',
  '-c', 'full_page_writes=on',
  // Emscripten's fdatasync() is a no-op that returns 0; fsync() reaches the file system's stream_ops.fsync,
  // which DurableNodeFS below makes a real fsync(2). So the WAL is flushed with fsync, not fdatasync.
  '-c', 'wal_sync_method=fsync',
];

/** The part of an Emscripten NODEFS stream this file touches: the host file descriptor behind it. */
interface NodeFsStream {
  nfd?: unknown;
}
interface StreamOps {
  fsync?: (stream: NodeFsStream) => number;
}

/**
 * Emscripten's NODEFS (the file system PGlite uses on Node) has no `fsync` stream operation, so PostgreSQL's
 * fsync() of a WAL segment or a data file silently did nothing: a COMMIT was in the page cache only. This adds
 * the operation: fsync(2) on the host descriptor.
 */
class DurableNodeFS extends NodeFS {
  override async init(pg: PGlite, opts: Parameters<NodeFS['init']>[1]): ReturnType<NodeFS['init']> {
    const result = await super.init(pg, opts);
    const preRun = result.emscriptenOpts.preRun ?? [];
    result.emscriptenOpts.preRun = [
      ...preRun,
      (mod) => {
        const nodefs = mod.NODEFS as unknown as { stream_ops?: StreamOps };
        const ops = nodefs.stream_ops;
        if (ops === undefined) throw new Error('PGlite NODEFS has no stream_ops: cannot make commits durable');
        ops.fsync = (stream) => {
          if (typeof stream.nfd === 'number') fsyncSync(stream.nfd);
          return 0;
        };
      },
    ];
    return result;
  }
}

export function plainError(error: unknown): PlainError {
  if (!(error instanceof Error)) return { message: String(error), fields: {} };
  const fields: Record<string, string | number> = {};
  // PGlite's DatabaseError keeps PostgreSQL's fields as own properties (`params` and `queryOptions` are not sent:
  // they may hold values that cannot be cloned, and the caller has them).
  for (const [key, value] of Object.entries(error)) if (typeof value === 'string' || typeof value === 'number') fields[key] = value;
  if (typeof fields.name !== 'string') fields.name = error.name;
  return { message: error.message, fields };
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(reason: unknown): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** The reason handed to PGlite's transaction to make it roll back. */
class RollbackRequested extends Error {}

interface OpenTransaction {
  tx: Transaction;
  /** Resolved: COMMIT; rejected with RollbackRequested: ROLLBACK. */
  end: Deferred;
  /** PGlite's transaction(): settles once COMMIT or ROLLBACK ran. */
  done: Promise<void>;
}

class Engine {
  private readonly open = new Map<number, OpenTransaction>();

  constructor(private readonly db: PGlite) {}

  async handle(request: EngineRequest): Promise<EngineValue> {
    switch (request.op) {
      case 'query':
        return (await this.db.query<object>(request.text, [...request.params])).rows;
      case 'exec':
        await this.db.exec(request.script);
        return null;
      case 'batch':
        return this.db.transaction(async (tx) => {
          const results: object[][] = [];
          for (const statement of request.statements) results.push((await tx.query<object>(statement.text, [...statement.params])).rows);
          return results;
        });
      case 'begin':
        await this.begin(request.id);
        return request.id;
      case 'txQuery':
        return (await this.transaction(request.tx).tx.query<object>(request.text, [...request.params])).rows;
      case 'txExec':
        await this.transaction(request.tx).tx.exec(request.script);
        return null;
      case 'commit':
        await this.end(request.tx, true);
        return null;
      case 'rollback':
        await this.end(request.tx, false);
        return null;
      case 'close':
        await this.db.close();
        return null;
    }
  }

  /** Resolves once BEGIN ran; PGlite's transaction then holds the connection until `end`. */
  private begin(id: number): Promise<void> {
    return new Promise<void>((began, failed) => {
      const end = deferred();
      let entered = false;
      const done = this.db.transaction(async (tx) => {
        entered = true;
        this.open.set(id, { tx, end, done });
        began();
        await end.promise;
      });
      done.catch((error: unknown) => {
        if (!entered) failed(error instanceof Error ? error : new Error(String(error)));
      });
    });
  }

  private transaction(id: number): OpenTransaction {
    const open = this.open.get(id);
    if (open === undefined) throw new Error(`no open transaction ${id}`);
    return open;
  }

  private async end(id: number, commit: boolean): Promise<void> {
    const open = this.transaction(id);
    this.open.delete(id);
    if (commit) {
      open.end.resolve();
      await open.done;
    } else {
      open.end.reject(new RollbackRequested('rollback'));
      await open.done.catch((error: unknown) => {
        if (!(error instanceof RollbackRequested)) throw error;
      });
    }
  }
}

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('embedded-worker.js runs as a worker thread of EmbeddedDatabase');
  const options = workerData as EngineOptions;
  const post = (message: EngineMessage): void => port.postMessage(message);
  let db: PGlite;
  try {
    const pgliteOptions: PGliteOptions = options.unsafeNoSync ? { dataDir: options.path } : { fs: new DurableNodeFS(options.path), startParams: START_PARAMS };
    db = await PGlite.create(pgliteOptions);
  } catch (error) {
    post({ kind: 'openFailed', error: plainError(error) });
    port.close();
    return;
  }
  const engine = new Engine(db);
  port.on('message', (request: EngineRequest) => {
    const replied = engine.handle(request).then(
      (value) => {
        try {
          post({ kind: 'reply', id: request.id, ok: true, value });
        } catch (error) {
          // A value structured clone refuses: the caller gets that error instead of waiting forever.
          post({ kind: 'reply', id: request.id, ok: false, error: plainError(error) });
        }
      },
      (error: unknown) => post({ kind: 'reply', id: request.id, ok: false, error: plainError(error) }),
    );
    // After `close` (PGlite closed, its reply posted) the port closes and the thread ends.
    if (request.op === 'close') void replied.then(() => port.close());
  });
  post({ kind: 'ready' });
}

await main();
