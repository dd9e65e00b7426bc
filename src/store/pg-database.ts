import { userInfo } from 'node:os';
import pg from 'pg';
import type { Queryable, SqlDatabase, SqlParam, Statement } from './sql.js';

export interface PgDatabaseOptions {
  /** Connections in the pool; the group committer needs one, reads and operator writes share the rest. */
  maxConnections?: number;
  /** Errors of idle pooled connections (server restart, network); the next query reports them again. */
  onIdleError?: (error: Error) => void;
  /**
   * CSMS_DB_TIMEOUT_MS: the bound on connecting, on one statement (server- and client-side) and on a session
   * idle inside a transaction; TCP keepalive notices a peer that vanished. A call that hits one rejects.
   */
  timeoutMs?: number;
}

/**
 * Every parameterised statement runs as a named prepared statement: PostgreSQL parses and plans the
 * batch upserts once per connection instead of once per commit. The set of texts is fixed by our code, so
 * the cache stays small.
 */
const statementNames = new Map<string, string>();

function prepared(text: string, params: readonly SqlParam[]): pg.QueryConfig {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `stroom_${statementNames.size + 1}`;
    statementNames.set(text, name);
  }
  return { name, text, values: [...params] };
}

export class PgDatabase implements SqlDatabase {
  readonly kind = 'postgres';
  readonly #pool: pg.Pool;

  constructor(connectionString: string, options: PgDatabaseOptions = {}) {
    // Pipeline mode: a client sends queries without waiting for the previous answer, so `batch` costs one
    // round trip. One-at-a-time callers (every other method) behave as before.
    const timeoutMs = options.timeoutMs ?? 5000;
    this.#pool = new pg.Pool({
      connectionString: withDefaultUser(connectionString),
      max: options.maxConnections ?? 8,
      pipeline: true,
      connectionTimeoutMillis: timeoutMs,
      // Client side: a query without an answer (a blackholed server) fails, and its connection is destroyed.
      query_timeout: timeoutMs,
      // Server side: a statement or an open transaction that outlives the bound is cancelled by PostgreSQL.
      statement_timeout: timeoutMs,
      idle_in_transaction_session_timeout: timeoutMs,
      keepAlive: true,
      keepAliveInitialDelayMillis: Math.min(timeoutMs, 10_000),
    });
    // Without a listener an idle client's error would crash the process.
    this.#pool.on('error', (error) => options.onIdleError?.(error));
  }

  async query<T extends object>(text: string, params: readonly SqlParam[] = []): Promise<T[]> {
    const result = await this.#pool.query(prepared(text, params));
    return result.rows as T[];
  }

  async exec(script: string): Promise<void> {
    // No parameters: pg uses the simple query protocol, which accepts several statements.
    await this.#pool.query(script);
  }

  async transaction<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    const q: Queryable = {
      async query<R extends object>(text: string, params: readonly SqlParam[] = []): Promise<R[]> {
        const result = await client.query(prepared(text, params));
        return result.rows as R[];
      },
      async exec(script: string): Promise<void> {
        await client.query(script);
      },
    };
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const value = await fn(q);
      await client.query('COMMIT');
      return value;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        // A connection that cannot even roll back must not go back into the pool.
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      }
      throw error;
    } finally {
      client.release(broken);
    }
  }

  async batch(statements: readonly Statement[]): Promise<object[][]> {
    const only = statements.length === 1 ? statements[0] : undefined;
    if (only !== undefined) {
      // One statement is atomic on its own: BEGIN and COMMIT would be two more messages to build and parse.
      const result = await this.#pool.query(prepared(only.text, only.params));
      return [result.rows as object[]];
    }
    const client = await this.#pool.connect();
    const socket = client.connection.stream;
    // Corked, the whole transaction leaves in one write instead of one per message.
    socket.cork();
    let sent: Array<Promise<pg.QueryResult>>;
    try {
      sent = [client.query('BEGIN'), ...statements.map((statement) => client.query(prepared(statement.text, statement.params))), client.query('COMMIT')];
    } finally {
      socket.uncork();
    }
    const outcomes = await Promise.allSettled(sent);
    const commit = outcomes[outcomes.length - 1];
    // After a failed statement PostgreSQL answers COMMIT with ROLLBACK: the connection is clean again. A
    // COMMIT that failed itself (connection lost, say) leaves it unknown, so it must not go back to the pool.
    const committed = commit?.status === 'fulfilled' && commit.value.command === 'COMMIT';
    const failure = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    client.release(commit?.status === 'rejected' ? asError(commit.reason) : undefined);
    if (failure) throw asError(failure.reason);
    if (!committed) throw new Error(`batch transaction ended with ${commit?.status === 'fulfilled' ? commit.value.command : 'no answer'}`);
    return outcomes.slice(1, -1).map((outcome) => (outcome.status === 'fulfilled' ? (outcome.value.rows as object[]) : []));
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * libpq (psql) falls back to the OS user when neither the URL nor PGUSER names one; node-postgres only
 * looks at $USER, which services and containers often lack. Do what psql does.
 */
export function withDefaultUser(connectionString: string): string {
  if (process.env.PGUSER || process.env.USER) return connectionString;
  let url: URL;
  try {
    url = new URL(connectionString);
  } catch {
    return connectionString;
  }
  if (url.username || url.searchParams.has('user')) return connectionString;
  try {
    url.username = userInfo().username;
  } catch {
    return connectionString;
  }
  return url.toString();
}
