import { performance } from 'node:perf_hooks';
import type { Queryable, SqlDatabase, SqlParam, Statement } from './sql.js';

/**
 * Group commit: every write waits for its COMMIT, but writes that arrive while a commit is in flight
 * share the next transaction. Under load this turns thousands of station messages per second into a
 * few dozen transactions, and costs nothing when idle (a lone write starts its commit at once).
 */

/** Per row of a `write` call (by index), the error for rows it could not apply; the others commit. */
export type RowErrors = ReadonlyMap<number, Error>;

/**
 * One statement that writes a writer's whole batch. A statement that finds it cannot do the job alone (a
 * case that needs a look at its own results first) raises an error: the batch is then written again
 * with the writer's `write`.
 */
export interface BatchStatement extends Statement {
  /** From the statement's result rows: per row index (of the rows given), the rows refused. */
  // eslint-disable-next-line @typescript-eslint/no-invalid-void-type -- a callback that finds nothing to refuse returns nothing: `() => {}` must fit
  refused?: (result: readonly object[]) => RowErrors | void;
}

/** A BatchStatement whose result rows have the shape `R` (nothing checks it; keep it next to the SQL). */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters, @typescript-eslint/no-invalid-void-type -- R names the shape of the result rows once, at the call site, for the refused callback; that callback may return nothing
export function batchStatement<R extends object>(text: string, params: readonly SqlParam[], refused?: (result: readonly R[]) => RowErrors | void): BatchStatement {
  return refused ? { text, params, refused: (result) => refused(result as readonly R[]) } : { text, params };
}

export interface BatchWriterSpec<Row> {
  /** Shows up in errors and lets the caller tell writers apart. */
  name: string;
  /**
   * Rows of one batch with the same key are folded into one row before `write`, because one
   * INSERT … ON CONFLICT DO UPDATE statement must not touch the same table row twice.
   */
  key?: (row: Row) => string;
  /** Folds a later row into an earlier one of the same key; without it the later row wins. */
  fold?: (earlier: Row, later: Row) => Row;
  /**
   * All rows as one statement. When every writer of a batch has one, the batch goes to the database with
   * BEGIN and COMMIT in one round trip (`SqlDatabase.batch`).
   */
  statement?: (rows: Row[]) => BatchStatement;
  /** Writes all rows, ideally with one statement; without it, runs `statement`. One of the two is needed. */
  // eslint-disable-next-line @typescript-eslint/no-invalid-void-type -- a writer that refuses no row may resolve to nothing
  write?: (q: Queryable, rows: Row[]) => Promise<RowErrors | void>;
}

export interface GroupCommitOptions {
  /** Most caller writes in one transaction; a write of several rows (`writeMany`) counts once. */
  maxBatchWrites?: number;
  /**
   * Batches committing at the same time. With a PostgreSQL pool, a batch need not wait for the previous
   * commit's fsync (the server merges concurrent commits' flushes); the embedded store has one connection.
   * Writes of one station never overlap (a station waits for each answer), so concurrent batches do not
   * reorder them.
   */
  maxConcurrentCommits?: number;
  /** How often rows offered with `offer()` are written when nothing else is. */
  lazyFlushMs?: number;
  /** After every COMMIT: the number of caller writes it carried and how long the transaction took. */
  onCommit?: (batchSize: number, seconds: number) => void;
  /** A batch's one-round-trip attempt was refused or failed; it is being written statement by statement. */
  onBatchRewritten?: (error: unknown, batchSize: number) => void;
  /** A batch failed as a whole; its writes are being retried one by one. */
  onBatchError?: (error: unknown, batchSize: number) => void;
  /** A lazily offered row could not be written (nobody waits for it, so this is the only trace). */
  onLazyError?: (error: unknown, writer: string) => void;
}

export interface GroupCommitStats {
  commits: number;
  writes: number;
  /** Batches written again statement by statement because their one-round-trip attempt failed. */
  rewrittenBatches: number;
  failedBatches: number;
}

export class StoreClosedError extends Error {
  constructor() {
    super('the store is closed');
    this.name = 'StoreClosedError';
  }
}

/**
 * Rows of another writer that must commit in the same transaction as the write they accompany (a webhook
 * outbox entry and the record it describes): whichever way the batch is written (one round trip, statement by
 * statement, or one write at a time after a failure), they go with that write and never without it.
 */
export interface Companion {
  /** The writer the rows belong to: companions of one writer are merged into one statement. */
  readonly writer: object;
  readonly rows: readonly unknown[];
  /** The rows (of this writer, merged) as a part of a batch, settled with the writes they accompany. */
  batchOf(rows: readonly unknown[]): TakenWrites;
}

interface Entry<Row> {
  rows: Row[];
  companions: readonly Companion[] | undefined;
  resolve(): void;
  reject(error: Error): void;
}

/** The type-erased view the committer has of a writer. */
interface WriterQueue {
  readonly name: string;
  pendingWrites(): number;
  hasLazy(): boolean;
  take(maxWrites: number, includeLazy: boolean): TakenWrites | undefined;
}

/** Writes taken out of a writer's queue for one batch. */
export interface TakenWrites {
  readonly writes: number;
  /** The batch as one statement, when the writer has that form. */
  statement(): BatchStatement | undefined;
  /** After the statement of `statement()` committed: settles every caller from its result rows. */
  settleWith(result: readonly object[]): void;
  apply(q: Queryable): Promise<void>;
  settleCommitted(): void;
  retryOneByOne(db: SqlDatabase, reportCommit: (batchSize: number, seconds: number) => void): Promise<void>;
  /** The companions of the taken writes, in order. */
  companions(): Companion[];
}

/** Companions merged per writer, each as one part of the batch. */
function companionParts(companions: readonly Companion[]): TakenWrites[] {
  const byWriter = new Map<object, { first: Companion; rows: unknown[] }>();
  for (const companion of companions) {
    const group = byWriter.get(companion.writer);
    if (group === undefined) byWriter.set(companion.writer, { first: companion, rows: [...companion.rows] });
    else group.rows.push(...companion.rows);
  }
  return [...byWriter.values()].map((group) => group.first.batchOf(group.rows));
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function secondsSince(startedMs: number): number {
  return (performance.now() - startedMs) / 1000;
}

export class BatchWriter<Row> implements WriterQueue {
  readonly name: string;
  private entries: Entry<Row>[] = [];
  private lazy = new Map<string, Row>();

  constructor(
    private readonly committer: GroupCommitter,
    private readonly spec: BatchWriterSpec<Row>,
  ) {
    if (!spec.statement && !spec.write) throw new Error(`writer ${spec.name} needs a statement or a write`);
    this.name = spec.name;
  }

  /** Resolves once the row (and its companions, in the same transaction) is committed. */
  write(row: Row, companions?: readonly Companion[]): Promise<void> {
    return this.writeMany([row], companions);
  }

  /** All rows (and their companions) land in the same transaction; resolves once they are committed. */
  writeMany(rows: Row[], companions?: readonly Companion[]): Promise<void> {
    if (this.committer.closed) return Promise.reject(new StoreClosedError());
    if (rows.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.entries.push({ rows, companions: companions !== undefined && companions.length > 0 ? companions : undefined, resolve, reject });
      this.committer.kick();
    });
  }

  /** Rows of this writer that ride along with another writer's write (see Companion). */
  companion(rows: Row[]): Companion {
    return {
      writer: this,
      rows,
      // The rows were given to this writer's companion() above: they are Rows.
      batchOf: (merged) => new TakenBatch(this.spec, [], merged as Row[], this.committer.options.onLazyError),
    };
  }

  /**
   * Nobody waits for this row: it rides along with the next batch, or is written by the periodic flush.
   * Rows offered under the same key before then are folded, so memory stays bounded by the key count.
   */
  offer(row: Row): void {
    if (this.committer.closed) return;
    const key = this.spec.key?.(row);
    if (key === undefined) throw new Error(`writer ${this.name} needs a key to accept lazy rows`);
    const earlier = this.lazy.get(key);
    this.lazy.set(key, earlier !== undefined && this.spec.fold ? this.spec.fold(earlier, row) : row);
  }

  /** Drops lazily offered rows under `key` that have not been taken yet. */
  forget(key: string): void {
    this.lazy.delete(key);
  }

  /** A lazily offered row that has not been taken yet. */
  peek(key: string): Row | undefined {
    return this.lazy.get(key);
  }

  pendingWrites(): number {
    return this.entries.length;
  }

  hasLazy(): boolean {
    return this.lazy.size > 0;
  }

  take(maxWrites: number, includeLazy: boolean): TakenWrites | undefined {
    if (this.entries.length === 0 && (this.lazy.size === 0 || !includeLazy)) return undefined;
    const entries = this.entries.splice(0, Math.max(0, maxWrites));
    const lazyRows = includeLazy ? [...this.lazy.values()] : [];
    if (includeLazy) this.lazy.clear();
    if (entries.length === 0 && lazyRows.length === 0) return undefined;
    return new TakenBatch(this.spec, entries, lazyRows, this.committer.options.onLazyError);
  }
}

/** Rows of one batch after folding by key, each with the caller writes it stands for. */
interface FoldedRows<Row> {
  rows: Row[];
  owners: Array<Set<Entry<Row>>>;
}

class TakenBatch<Row> implements TakenWrites {
  readonly writes: number;
  private rowErrors = new Map<Entry<Row>, Error>();
  private folded: FoldedRows<Row> | undefined;
  private sentStatement: BatchStatement | undefined;

  constructor(
    private readonly spec: BatchWriterSpec<Row>,
    private readonly entries: Entry<Row>[],
    private readonly lazyRows: Row[],
    private readonly onLazyError: GroupCommitOptions['onLazyError'],
  ) {
    this.writes = entries.length;
  }

  statement(): BatchStatement | undefined {
    if (!this.spec.statement) return undefined;
    this.folded ??= this.fold(this.entries, this.lazyRows);
    this.sentStatement = this.spec.statement(this.folded.rows);
    return this.sentStatement;
  }

  settleWith(result: readonly object[]): void {
    const folded = this.folded;
    if (folded) this.rowErrors = errorsByEntry(folded, this.sentStatement?.refused?.(result));
    this.settleCommitted();
  }

  async apply(q: Queryable): Promise<void> {
    this.folded ??= this.fold(this.entries, this.lazyRows);
    this.rowErrors = await this.writeFolded(q, this.folded);
  }

  settleCommitted(): void {
    for (const entry of this.entries) {
      const error = this.rowErrors.get(entry);
      if (error) entry.reject(error);
      else entry.resolve();
    }
  }

  companions(): Companion[] {
    return this.entries.flatMap((entry) => entry.companions ?? []);
  }

  async retryOneByOne(db: SqlDatabase, reportCommit: (batchSize: number, seconds: number) => void): Promise<void> {
    for (const entry of this.entries) {
      const started = performance.now();
      try {
        const errors = await db.transaction(async (q) => {
          const refused = await this.writeFolded(q, this.fold([entry], []));
          for (const part of companionParts(entry.companions ?? [])) await part.apply(q);
          return refused;
        });
        reportCommit(1, secondsSince(started));
        const error = errors.get(entry);
        if (error) entry.reject(error);
        else entry.resolve();
      } catch (error) {
        entry.reject(asError(error));
      }
    }
    if (this.lazyRows.length > 0) {
      try {
        await db.transaction((q) => this.writeFolded(q, this.fold([], this.lazyRows)));
      } catch (error) {
        this.onLazyError?.(error, this.spec.name);
      }
    }
  }

  /** Folds rows of equal key, keeping which entries each folded row came from. */
  private fold(entries: Entry<Row>[], lazyRows: Row[]): FoldedRows<Row> {
    const rows: Row[] = [];
    const owners: Array<Set<Entry<Row>>> = [];
    const indexByKey = new Map<string, number>();
    const add = (row: Row, owner: Entry<Row> | undefined): void => {
      const key = this.spec.key?.(row);
      const index = key === undefined ? undefined : indexByKey.get(key);
      if (index === undefined) {
        if (key !== undefined) indexByKey.set(key, rows.length);
        rows.push(row);
        owners.push(new Set(owner ? [owner] : []));
        return;
      }
      const earlier = rows[index] as Row;
      rows[index] = this.spec.fold ? this.spec.fold(earlier, row) : row;
      if (owner) owners[index]?.add(owner);
    };
    for (const entry of entries) for (const row of entry.rows) add(row, entry);
    for (const row of lazyRows) add(row, undefined);
    return { rows, owners };
  }

  /** Writes folded rows statement by statement and maps the refused rows back to their entries. */
  private async writeFolded(q: Queryable, folded: FoldedRows<Row>): Promise<Map<Entry<Row>, Error>> {
    if (folded.rows.length === 0) return new Map();
    if (this.spec.write) return errorsByEntry(folded, await this.spec.write(q, folded.rows));
    const statement = this.spec.statement?.(folded.rows);
    if (!statement) return new Map();
    const result = await q.query<object>(statement.text, statement.params);
    return errorsByEntry(folded, statement.refused?.(result));
  }
}

// eslint-disable-next-line @typescript-eslint/no-invalid-void-type -- takes what a refused callback returned, which may be nothing
function errorsByEntry<Row>(folded: FoldedRows<Row>, errors: RowErrors | void): Map<Entry<Row>, Error> {
  const byEntry = new Map<Entry<Row>, Error>();
  if (!errors) return byEntry;
  for (const [index, error] of errors) {
    for (const owner of folded.owners[index] ?? []) byEntry.set(owner, error);
  }
  return byEntry;
}

export class GroupCommitter {
  readonly options: GroupCommitOptions;
  #closed = false;
  private readonly writers: WriterQueue[] = [];
  private readonly maxBatchWrites: number;
  private readonly maxConcurrentCommits: number;
  private nextWriter = 0;
  private scheduled = false;
  /**
   * Lazy rows are written once per lazyFlushMs, not with every batch: under load every batch would
   * otherwise carry an UPDATE of every active station.
   */
  private lazyDue = false;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly lazyTimer: NodeJS.Timeout;
  private readonly counters: GroupCommitStats = { commits: 0, writes: 0, rewrittenBatches: 0, failedBatches: 0 };

  constructor(
    private readonly db: SqlDatabase,
    options: GroupCommitOptions = {},
  ) {
    this.options = options;
    this.maxBatchWrites = Math.max(1, options.maxBatchWrites ?? 2000);
    this.maxConcurrentCommits = Math.max(1, options.maxConcurrentCommits ?? 1);
    this.lazyTimer = setInterval(() => {
      this.lazyDue = true;
      if (this.writers.some((writer) => writer.hasLazy())) this.kick();
    }, options.lazyFlushMs ?? 1000);
    // Lazy rows are not worth keeping a process alive for; close() flushes them.
    this.lazyTimer.unref();
  }

  /** Writers take part in every batch in creation order (rotating the first one, so none starves). */
  writer<Row>(spec: BatchWriterSpec<Row>): BatchWriter<Row> {
    const writer = new BatchWriter<Row>(this, spec);
    this.writers.push(writer);
    return writer;
  }

  get stats(): Readonly<GroupCommitStats> {
    return { ...this.counters };
  }

  /**
   * Starts a commit when a slot is free; otherwise the writes wait for the next slot and share its batch.
   * That wait is what makes batches grow with load.
   */
  kick(): void {
    if (this.scheduled || this.inFlight.size >= this.maxConcurrentCommits) return;
    this.scheduled = true;
    // One macrotask of delay lets writes issued in the same tick share the batch.
    setImmediate(() => {
      this.scheduled = false;
      if (this.inFlight.size >= this.maxConcurrentCommits || !this.hasWork(this.lazyAllowed())) return;
      const commit = this.commitBatch().finally(() => {
        this.inFlight.delete(commit);
        // Writes that arrived while every slot was busy go now.
        if (this.hasWork(this.lazyAllowed())) this.kick();
      });
      this.inFlight.add(commit);
    });
  }

  /** Resolves when everything written or offered so far is committed (or has failed). */
  async flush(): Promise<void> {
    while (this.scheduled || this.inFlight.size > 0 || this.hasWork()) {
      this.lazyDue = true;
      if (!this.scheduled && this.inFlight.size === 0) this.kick();
      const running = [...this.inFlight];
      await (running.length > 0 ? Promise.all(running) : new Promise<void>((resolve) => setImmediate(resolve)));
    }
  }

  /** Flushes, then refuses new writes. */
  async close(): Promise<void> {
    clearInterval(this.lazyTimer);
    await this.flush();
    this.#closed = true;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Lazy rows go when due, and only in a batch that commits alone (see takeBatch). */
  private lazyAllowed(): boolean {
    return this.lazyDue && this.inFlight.size === 0;
  }

  private hasWork(includeLazy = true): boolean {
    return this.writers.some((writer) => writer.pendingWrites() > 0 || (includeLazy && writer.hasLazy()));
  }

  /**
   * Lazy rows (lastSeen) touch many stations at once; they ride only in a batch that commits alone, so
   * two concurrent batches never lock the same set of station rows in different orders.
   */
  private takeBatch(): TakenWrites[] {
    const taken: TakenWrites[] = [];
    let budget = this.maxBatchWrites;
    const includeLazy = this.lazyAllowed();
    if (includeLazy) this.lazyDue = false;
    const count = this.writers.length;
    for (let i = 0; i < count; i++) {
      const writer = this.writers[(this.nextWriter + i) % count];
      const part = writer?.take(budget, includeLazy);
      if (!part) continue;
      taken.push(part);
      budget -= part.writes;
    }
    this.nextWriter = count === 0 ? 0 : (this.nextWriter + 1) % count;
    return taken;
  }

  private readonly reportCommit = (batchSize: number, seconds: number): void => {
    this.counters.commits += 1;
    this.counters.writes += batchSize;
    try {
      this.options.onCommit?.(batchSize, seconds);
    } catch {
      // A broken metrics hook must not turn committed writes into failures.
    }
  };

  /** Never rejects: every outcome is delivered to the writers' callers. */
  private async commitBatch(): Promise<void> {
    const taken = this.takeBatch();
    if (taken.length === 0) return;
    const batchSize = taken.reduce((sum, part) => sum + part.writes, 0);
    // Companions commit in the batch's transaction; written one by one, each goes with its own write instead.
    const companions = companionParts(taken.flatMap((part) => part.companions()));
    const started = performance.now();
    if (await this.commitInOneRoundTrip([...taken, ...companions])) {
      this.reportCommit(batchSize, secondsSince(started));
      return;
    }
    try {
      await this.db.transaction(async (q) => {
        for (const part of taken) await part.apply(q);
        for (const part of companions) await part.apply(q);
      });
    } catch (error) {
      this.counters.failedBatches += 1;
      try {
        this.options.onBatchError?.(error, batchSize);
      } catch {
        // Same as onCommit: observing must not change the outcome.
      }
      // One bad row (say, a station deleted meanwhile) must not fail everybody else's writes.
      for (const part of taken) await part.retryOneByOne(this.db, this.reportCommit);
      return;
    }
    this.reportCommit(batchSize, secondsSince(started));
    for (const part of taken) part.settleCommitted();
  }

  /**
   * The common case: every writer's part is one statement, sent with BEGIN and COMMIT at once. False when
   * a part has no such form or the attempt failed (rolled back); the batch is then written the careful way.
   */
  private async commitInOneRoundTrip(taken: TakenWrites[]): Promise<boolean> {
    const statements: BatchStatement[] = [];
    for (const part of taken) {
      let statement: BatchStatement | undefined;
      try {
        statement = part.statement();
      } catch {
        // A row the builder cannot express (say, an invalid date): the careful path finds and fails that write alone.
        return false;
      }
      if (!statement) return false;
      statements.push(statement);
    }
    let results: object[][];
    try {
      results = await this.db.batch(statements);
    } catch (error) {
      this.counters.rewrittenBatches += 1;
      try {
        this.options.onBatchRewritten?.(
          error,
          taken.reduce((sum, part) => sum + part.writes, 0),
        );
      } catch {
        // Observing must not change the outcome.
      }
      return false;
    }
    taken.forEach((part, index) => part.settleWith(results[index] ?? []));
    return true;
  }
}
