import { afterEach, describe, expect, it, vi } from 'vitest';
import { batchStatement, GroupCommitter, StoreClosedError, type BatchWriterSpec, type GroupCommitOptions } from '../../src/store/group-commit.js';
import type { Queryable, SqlDatabase, SqlParam, Statement } from '../../src/store/sql.js';

/** A row a test writes: `value` under `key`; a value starting with "bad" makes the database fail. */
interface Row {
  key: string;
  value: string;
}

/** Every database of the running test: released after it, so a failed test does not hang on a held commit. */
const databases: RecordingDatabase[] = [];

/**
 * An SqlDatabase that keeps what it was sent. Every statement here is "INSERT <writer>" with the row values
 * as parameters; a statement carrying a value starting with "bad" fails, as a constraint would, and rolls
 * back its transaction. `hold()` keeps the next commits open until `release()`.
 */
class RecordingDatabase implements SqlDatabase {
  readonly kind = 'embedded' as const;
  /** Every `batch` call (one round trip: BEGIN, the statements, COMMIT), failed or not. */
  readonly batches: Statement[][] = [];
  /** Every `transaction` call: the statements run in it, failed or not. */
  readonly transactions: Statement[][] = [];
  /** Values of the statements that committed, one list per commit. */
  readonly committed: string[][] = [];
  /** `batch` fails for every batch while set, whatever it holds (the one-round-trip attempt). */
  failBatches = false;
  inFlight = 0;
  maxInFlight = 0;
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;

  constructor() {
    databases.push(this);
  }

  hold(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }

  release(): void {
    this.openGate?.();
    this.gate = undefined;
  }

  /** Resolves once `count` commits (batch or transaction calls) have begun. */
  async started(count: number): Promise<void> {
    await vi.waitFor(() => expect(this.batches.length + this.transactions.length).toBeGreaterThanOrEqual(count), { timeout: 2_000, interval: 1 });
  }

  async query<T extends object>(): Promise<T[]> {
    throw new Error('group commit writes inside transactions only');
  }

  async exec(): Promise<void> {}

  async transaction<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    const statements: Statement[] = [];
    this.transactions.push(statements);
    return this.commit(async () => {
      const q: Queryable = {
        query: async <R extends object>(text: string, params: readonly SqlParam[] = []): Promise<R[]> => {
          statements.push({ text, params });
          return this.run({ text, params }) as R[];
        },
        exec: async () => {},
      };
      const result = await fn(q);
      this.committed.push(statements.flatMap(values));
      return result;
    });
  }

  async batch(statements: readonly Statement[]): Promise<object[][]> {
    this.batches.push([...statements]);
    return this.commit(async () => {
      if (this.failBatches) throw new Error('the batch failed');
      const results = statements.map((statement) => this.run(statement));
      this.committed.push(statements.flatMap(values));
      return results;
    });
  }

  async close(): Promise<void> {}

  private async commit<T>(work: () => Promise<T>): Promise<T> {
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await this.gate;
      return await work();
    } finally {
      this.inFlight -= 1;
    }
  }

  /** Rows of the statement (one per value), or the error of a "bad" value. */
  private run(statement: Statement): object[] {
    const bad = values(statement).find((value) => value.startsWith('bad'));
    if (bad !== undefined) throw new Error(`constraint violated by ${bad}`);
    return values(statement).map((value) => ({ value }));
  }
}

function values(statement: Statement): string[] {
  return statement.params.flat().map(String);
}

/** A writer whose rows go as one statement: "INSERT <name>" with each row's value as a parameter. */
function statementWriter(name: string, more: Partial<BatchWriterSpec<Row>> = {}): BatchWriterSpec<Row> {
  return {
    name,
    key: (row) => row.key,
    statement: (rows) =>
      batchStatement(
        `INSERT ${name}`,
        rows.map((row) => row.value),
      ),
    ...more,
  };
}

/** A writer that only has the statement-by-statement form. */
function writeOnlyWriter(name: string): BatchWriterSpec<Row> {
  return {
    name,
    key: (row) => row.key,
    write: async (q, rows) => {
      await q.query(
        `INSERT ${name}`,
        rows.map((row) => row.value),
      );
    },
  };
}

const row = (value: string, key = value): Row => ({ key, value });

/** Settles to 'resolved' or the error message, so a test can look at many writes at once. */
function outcome(write: Promise<void>): Promise<string> {
  return write.then(
    () => 'resolved',
    (err: unknown) => (err instanceof Error ? err.message : String(err)),
  );
}

/** Lets pending setImmediate callbacks and promise continuations run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

const committers: GroupCommitter[] = [];

function committer(db: SqlDatabase, options: GroupCommitOptions = {}): GroupCommitter {
  const created = new GroupCommitter(db, { lazyFlushMs: 60_000, ...options });
  committers.push(created);
  return created;
}

afterEach(async () => {
  for (const db of databases.splice(0)) db.release();
  await Promise.all(committers.splice(0).map((c) => c.close()));
});

describe('group commit: batching', () => {
  it('writes issued together share one transaction, sent in one round trip', async () => {
    const db = new RecordingDatabase();
    const commits: number[] = [];
    const events = committer(db, { onCommit: (size) => commits.push(size) }).writer(statementWriter('events'));

    await Promise.all([events.write(row('a')), events.write(row('b')), events.write(row('c'))]);

    expect(db.batches).toEqual([[{ text: 'INSERT events', params: ['a', 'b', 'c'] }]]);
    expect(db.transactions).toEqual([]);
    expect(commits).toEqual([3]);
  });

  it('a write resolves only once its transaction committed', async () => {
    const db = new RecordingDatabase();
    const events = committer(db).writer(statementWriter('events'));
    db.hold();
    let resolved = false;
    const write = events.write(row('a')).then(() => (resolved = true));
    await db.started(1);
    await settle();
    expect(resolved).toBe(false);
    db.release();
    await write;
    expect(resolved).toBe(true);
  });

  it('writes arriving while a commit is in flight share the next transaction', async () => {
    const db = new RecordingDatabase();
    const events = committer(db).writer(statementWriter('events'));
    db.hold();
    const first = events.write(row('a'));
    await db.started(1);
    const later = [events.write(row('b')), events.write(row('c')), events.write(row('d'))];
    await settle();
    expect(db.batches).toHaveLength(1); // one commit at a time by default
    db.release();
    await Promise.all([first, ...later]);
    expect(db.batches.map((batch) => batch.flatMap(values))).toEqual([['a'], ['b', 'c', 'd']]);
  });

  it('every writer of a batch has its statement in the same round trip', async () => {
    const db = new RecordingDatabase();
    const group = committer(db);
    const events = group.writer(statementWriter('events'));
    const statuses = group.writer(statementWriter('statuses'));
    await Promise.all([events.write(row('a')), statuses.write(row('s')), events.write(row('b'))]);
    expect(db.batches).toEqual([
      [
        { text: 'INSERT events', params: ['a', 'b'] },
        { text: 'INSERT statuses', params: ['s'] },
      ],
    ]);
  });

  it('a batch with a writer that has no one-statement form goes as one transaction, statement by statement', async () => {
    const db = new RecordingDatabase();
    const group = committer(db);
    const events = group.writer(statementWriter('events'));
    const logs = group.writer(writeOnlyWriter('logs'));
    await Promise.all([events.write(row('a')), logs.write(row('l'))]);
    expect(db.batches).toEqual([]);
    expect(db.transactions).toEqual([
      [
        { text: 'INSERT events', params: ['a'] },
        { text: 'INSERT logs', params: ['l'] },
      ],
    ]);
  });

  it('rows of one batch with the same key are folded into one row (later wins, or as `fold` says)', async () => {
    const db = new RecordingDatabase();
    const group = committer(db);
    const latest = group.writer(statementWriter('latest'));
    const joined = group.writer(statementWriter('joined', { fold: (earlier, later) => ({ key: earlier.key, value: `${earlier.value}+${later.value}` }) }));
    await Promise.all([
      latest.write(row('1', 'k')),
      latest.write(row('2', 'k')),
      joined.write(row('x', 'k')),
      joined.write(row('y', 'k')),
      latest.write(row('3', 'other')),
    ]);
    expect(db.batches[0]).toEqual([
      { text: 'INSERT latest', params: ['2', '3'] },
      { text: 'INSERT joined', params: ['x+y'] },
    ]);
  });

  it('writeMany puts all its rows in one transaction and counts as one write against maxBatchWrites', async () => {
    const db = new RecordingDatabase();
    const commits: number[] = [];
    const events = committer(db, { maxBatchWrites: 2, onCommit: (size) => commits.push(size) }).writer(statementWriter('events'));
    await Promise.all([events.writeMany([row('a'), row('b'), row('c')]), events.write(row('d')), events.write(row('e'))]);
    expect(db.batches.map((batch) => batch.flatMap(values))).toEqual([['a', 'b', 'c', 'd'], ['e']]);
    expect(commits).toEqual([2, 1]);
    await expect(events.writeMany([])).resolves.toBeUndefined();
  });

  it('respects maxConcurrentCommits: more writes wait for a free slot and share it', async () => {
    const db = new RecordingDatabase();
    const events = committer(db, { maxConcurrentCommits: 2 }).writer(statementWriter('events'));
    db.hold();
    const writes = [events.write(row('a'))];
    await db.started(1);
    writes.push(events.write(row('b')));
    await db.started(2);
    writes.push(events.write(row('c')), events.write(row('d')));
    await settle();
    expect(db.batches).toHaveLength(2);
    expect(db.inFlight).toBe(2);
    db.release();
    await Promise.all(writes);
    expect(db.maxInFlight).toBe(2);
    expect(db.batches.map((batch) => batch.flatMap(values))).toEqual([['a'], ['b'], ['c', 'd']]);
  });
});

describe('group commit: failures', () => {
  it('a batch that fails is retried write by write, and only the bad write rejects', async () => {
    const db = new RecordingDatabase();
    const batchErrors: number[] = [];
    const group = committer(db, { onBatchError: (_, size) => batchErrors.push(size) });
    const events = group.writer(statementWriter('events'));

    const results = await Promise.all([events.write(row('a')), events.write(row('bad')), events.write(row('c'))].map(outcome));

    expect(results).toEqual(['resolved', 'constraint violated by bad', 'resolved']);
    expect(db.committed).toEqual([['a'], ['c']]);
    expect(batchErrors).toEqual([3]);
    // The one-round-trip attempt, the whole batch statement by statement, then each write alone.
    expect(db.batches).toHaveLength(1);
    expect(db.transactions.map((t) => t.flatMap(values))).toEqual([['a', 'bad', 'c'], ['a'], ['bad'], ['c']]);
    expect(group.stats).toEqual({ commits: 2, writes: 2, rewrittenBatches: 1, failedBatches: 1 });
  });

  it('a failed one-round-trip attempt is written again with the writer’s `write`, and every write resolves', async () => {
    const db = new RecordingDatabase();
    db.failBatches = true;
    const rewritten: number[] = [];
    const group = committer(db, { onBatchRewritten: (_, size) => rewritten.push(size) });
    // "A statement that finds it cannot do the job alone raises an error": `write` takes over.
    const events = group.writer<Row>({ ...writeOnlyWriter('events (careful)'), statement: statementWriter('events').statement });

    await Promise.all([events.write(row('a')), events.write(row('b'))]);

    expect(rewritten).toEqual([2]);
    expect(db.transactions).toEqual([[{ text: 'INSERT events (careful)', params: ['a', 'b'] }]]);
    expect(group.stats).toMatchObject({ commits: 1, writes: 2, rewrittenBatches: 1, failedBatches: 0 });
  });

  it('rows the statement refuses reject only the writes that carried them, the rest commit', async () => {
    const db = new RecordingDatabase();
    const group = committer(db);
    // Refuses rows whose value starts with "gone" (say, a station deleted meanwhile), by index.
    const events = group.writer<Row>({
      name: 'events',
      key: (r) => r.key,
      statement: (rows) =>
        batchStatement<{ value: string }>(
          `INSERT events`,
          rows.map((r) => r.value.replace('gone', 'ok')),
          () => {
            return new Map(rows.flatMap((r, index) => (r.value.startsWith('gone') ? [[index, new Error(`no station for ${r.key}`)] as const] : [])));
          },
        ),
    });

    const results = await Promise.all(
      [events.write(row('a', 'CS1')), events.write(row('gone1', 'CS2')), events.write(row('gone2', 'CS2')), events.write(row('b', 'CS3'))].map(outcome),
    );

    // Both writes folded into CS2's row are refused with it.
    expect(results).toEqual(['resolved', 'no station for CS2', 'no station for CS2', 'resolved']);
    expect(db.batches).toHaveLength(1);
    expect(db.transactions).toEqual([]);
  });

  // A builder that throws once rejected the whole commit ("Never rejects", says its comment) and left the write
  // pending for ever; now the careful path fails that write alone.
  it('a statement builder that throws rejects the writes of its batch instead of leaving them pending', async () => {
    const db = new RecordingDatabase();
    const broken = committer(db).writer<Row>({
      name: 'broken',
      statement: () => {
        throw new RangeError('Invalid time value');
      },
    });
    const settled = outcome(broken.write(row('a')));
    const pending = new Promise<string>((resolve) => setTimeout(() => resolve('still pending'), 200));
    await expect(Promise.race([settled, pending])).resolves.toBe('Invalid time value');
  });

  it('a metrics hook that throws does not turn committed writes into failures', async () => {
    const db = new RecordingDatabase();
    const events = committer(db, {
      onCommit: () => {
        throw new Error('broken hook');
      },
    }).writer(statementWriter('events'));
    await expect(events.write(row('a'))).resolves.toBeUndefined();
  });
});

describe('group commit: lazy (write-behind) rows', () => {
  it('rows offered under one key coalesce, newest wins, until a flush writes them', async () => {
    const db = new RecordingDatabase();
    const group = committer(db);
    const lastSeen = group.writer(statementWriter('last seen'));
    lastSeen.offer(row('CS1 at 1', 'CS1'));
    lastSeen.offer(row('CS2 at 1', 'CS2'));
    lastSeen.offer(row('CS1 at 2', 'CS1'));
    expect(lastSeen.peek('CS1')).toEqual(row('CS1 at 2', 'CS1'));
    await settle();
    expect(db.batches).toEqual([]); // nobody waits: nothing goes before it is due

    await group.flush();

    expect(db.batches).toEqual([[{ text: 'INSERT last seen', params: ['CS1 at 2', 'CS2 at 1'] }]]);
    expect(lastSeen.peek('CS1')).toBeUndefined();
  });

  it('folds rows offered under one key with the writer’s `fold`', async () => {
    const db = new RecordingDatabase();
    const group = committer(db);
    const latest = group.writer(statementWriter('last seen', { fold: (earlier, later) => (later.value > earlier.value ? later : earlier) }));
    latest.offer(row('2025-01-02', 'CS1'));
    latest.offer(row('2025-01-01', 'CS1'));
    await group.flush();
    expect(db.batches.map((batch) => batch.flatMap(values))).toEqual([['2025-01-02']]);
  });

  it('lazy rows do not ride with every batch: writes go alone until the lazy flush is due', async () => {
    const db = new RecordingDatabase();
    const group = committer(db);
    const events = group.writer(statementWriter('events'));
    const lastSeen = group.writer(statementWriter('last seen'));
    lastSeen.offer(row('seen', 'CS1'));
    await events.write(row('a'));
    expect(db.batches.map((batch) => batch.flatMap(values))).toEqual([['a']]);
    await group.flush();
    expect(db.batches.map((batch) => batch.flatMap(values))).toEqual([['a'], ['seen']]);
  });

  it('are written every lazyFlushMs without anyone asking', async () => {
    const db = new RecordingDatabase();
    const lastSeen = committer(db, { lazyFlushMs: 10 }).writer(statementWriter('last seen'));
    lastSeen.offer(row('seen', 'CS1'));
    await vi.waitFor(() => expect(db.committed).toEqual([['seen']]), { timeout: 2_000, interval: 5 });
  });

  it('forget(key) drops a row not taken yet', async () => {
    const db = new RecordingDatabase();
    const group = committer(db);
    const lastSeen = group.writer(statementWriter('last seen'));
    lastSeen.offer(row('CS1', 'CS1'));
    lastSeen.offer(row('CS2', 'CS2'));
    lastSeen.forget('CS1');
    await group.flush();
    expect(db.committed).toEqual([['CS2']]);
  });

  it('a lazy row that cannot be written is reported to onLazyError; the writes of its batch still commit', async () => {
    const db = new RecordingDatabase();
    const lazyErrors: string[] = [];
    const group = committer(db, { onLazyError: (_, writer) => lazyErrors.push(writer) });
    const lastSeen = group.writer(statementWriter('last seen'));
    lastSeen.offer(row('bad', 'CS1'));
    const written = lastSeen.write(row('ok', 'CS2'));
    await group.flush();
    await expect(written).resolves.toBeUndefined();
    expect(lazyErrors).toEqual(['last seen']);
    expect(db.committed).toEqual([['ok']]);
  });

  it('a writer without a key refuses lazy rows', () => {
    const writer = committer(new RecordingDatabase()).writer<Row>({
      name: 'keyless',
      statement: (rows) =>
        batchStatement(
          'INSERT keyless',
          rows.map((r) => r.value),
        ),
    });
    expect(() => writer.offer(row('a'))).toThrow('writer keyless needs a key to accept lazy rows');
  });
});

describe('group commit: close', () => {
  it('close() writes everything pending, lazy rows included, then refuses new writes', async () => {
    const db = new RecordingDatabase();
    const group = new GroupCommitter(db, { lazyFlushMs: 60_000 });
    const events = group.writer(statementWriter('events'));
    const lastSeen = group.writer(statementWriter('last seen'));
    db.hold();
    const pending = [events.write(row('a'))];
    await db.started(1);
    pending.push(events.write(row('b')));
    lastSeen.offer(row('seen', 'CS1'));
    const closing = group.close();
    db.release();
    await closing;

    await expect(Promise.all(pending)).resolves.toBeDefined();
    expect(db.committed.flat().sort()).toEqual(['a', 'b', 'seen']);
    expect(group.closed).toBe(true);
    await expect(events.write(row('c'))).rejects.toBeInstanceOf(StoreClosedError);
    lastSeen.offer(row('late', 'CS2'));
    expect(lastSeen.peek('CS2')).toBeUndefined();
  });

  it('a writer needs a statement or a write', () => {
    expect(() => committer(new RecordingDatabase()).writer<Row>({ name: 'nothing' })).toThrow('writer nothing needs a statement or a write');
  });
});

describe('group commit: companions (rows committed with the write they accompany, e.g. a webhook outbox)', () => {
  it('go in the same round trip as their writes, merged into one statement per companion writer', async () => {
    const db = new RecordingDatabase();
    const group = committer(db);
    const events = group.writer(statementWriter('events'));
    const outbox = group.writer<Row>({ ...statementWriter('outbox'), key: undefined });

    await Promise.all([
      events.write(row('a'), [outbox.companion([row('a-out')])]),
      events.write(row('b')),
      events.write(row('c'), [outbox.companion([row('c-out1'), row('c-out2')])]),
    ]);

    expect(db.batches).toHaveLength(1);
    expect(db.batches[0]).toEqual([
      { text: 'INSERT events', params: ['a', 'b', 'c'] },
      { text: 'INSERT outbox', params: ['a-out', 'c-out1', 'c-out2'] },
    ]);
    expect(db.committed).toEqual([['a', 'b', 'c', 'a-out', 'c-out1', 'c-out2']]);
  });

  it('a failed batch written one write at a time keeps each companion with its own write, and the bad write’s companion is not committed', async () => {
    const db = new RecordingDatabase();
    const group = committer(db);
    const events = group.writer(statementWriter('events'));
    const outbox = group.writer<Row>({ ...statementWriter('outbox'), key: undefined });

    const results = await Promise.all(
      [events.write(row('a'), [outbox.companion([row('a-out')])]), events.write(row('bad'), [outbox.companion([row('bad-out')])]), events.write(row('c'))].map(outcome),
    );

    expect(results).toEqual(['resolved', 'constraint violated by bad', 'resolved']);
    expect(db.committed).toEqual([['a', 'a-out'], ['c']]);
    expect(db.committed.flat()).not.toContain('bad-out');
  });

  it('a companion the database refuses fails the write it accompanies (neither is committed without the other)', async () => {
    const db = new RecordingDatabase();
    const group = committer(db);
    const events = group.writer(statementWriter('events'));
    const outbox = group.writer<Row>({ ...statementWriter('outbox'), key: undefined });

    const results = await Promise.all([events.write(row('a'), [outbox.companion([row('bad-out')])]), events.write(row('b'))].map(outcome));

    expect(results).toEqual(['constraint violated by bad-out', 'resolved']);
    expect(db.committed).toEqual([['b']]);
  });

  it('without companions nothing changes: no extra statement', async () => {
    const db = new RecordingDatabase();
    const group = committer(db);
    const events = group.writer(statementWriter('events'));
    group.writer<Row>({ ...statementWriter('outbox'), key: undefined });

    await events.write(row('a'), undefined);

    expect(db.batches).toEqual([[{ text: 'INSERT events', params: ['a'] }]]);
  });
});
