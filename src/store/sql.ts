/**
 * The little SQL surface the store needs, so that node-postgres and PGlite sit behind one code path.
 *
 * Both adapters return `timestamptz` as `Date` and `jsonb` as parsed JSON; `bigint`/`bigserial` may come
 * back as string (pg) or number (PGlite), so callers convert those with `Number()`.
 */

/** A parameter value. Arrays become PostgreSQL arrays; JSON travels as text and is cast in SQL. */
export type SqlScalar = string | number | boolean | null | Date;
export type SqlParam = SqlScalar | readonly SqlScalar[];

export interface Queryable {
  /** `T` is the row shape the statement selects; nothing checks it, so keep it next to the SQL. */
  query<T extends object>(text: string, params?: readonly SqlParam[]): Promise<T[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
}

/** A JSON document as a text parameter (cast to jsonb in SQL): pg would turn a JS array into a PostgreSQL array. */
export function json(value: unknown): string {
  return JSON.stringify(value);
}

/** A parameterised statement whose text is fixed by our code. */
export interface Statement {
  text: string;
  params: readonly SqlParam[];
}

export interface SqlDatabase extends Queryable {
  readonly kind: 'postgres' | 'embedded';
  /** Runs `fn` inside BEGIN … COMMIT on one connection; rolls back and rethrows when `fn` throws. */
  transaction<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  /**
   * Runs the statements in order in one transaction and resolves with each one's rows. On PostgreSQL they
   * travel together with BEGIN and COMMIT (one round trip), which is what makes a small batch cheap.
   * Rejects with the first statement's error, everything rolled back.
   */
  batch(statements: readonly Statement[]): Promise<object[][]>;
  close(): Promise<void>;
}

/** SQLSTATE of an error raised by either driver, when there is one. */
export function sqlState(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  const code: unknown = error.code;
  return typeof code === 'string' ? code : undefined;
}

export const FOREIGN_KEY_VIOLATION = '23503';
