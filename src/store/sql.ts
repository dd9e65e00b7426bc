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

/**
 * What PostgreSQL refuses in text and jsonb although a station may send it schema-valid: U+0000 (text and
 * jsonb) and unpaired UTF-16 surrogates (jsonb refuses their \uD800 escapes). Each becomes U+FFFD, so the record is
 * stored (altered in that character) instead of failing on every resend (CONTRACT §3.2 "Strings").
 */
// eslint-disable-next-line no-control-regex -- NUL is matched on purpose: PostgreSQL text cannot hold it
const REFUSED_CHARACTERS = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

export function storableText(text: string): string {
  return text.replace(REFUSED_CHARACTERS, '\ufffd');
}

/** JSON.stringify writes U+0000 as \u0000 and a lone surrogate as \udxxx: the only ways either shows up. */
const REFUSED_ESCAPES = /\\u0000|\\ud[89a-f]/i;

function storableJsonValue(_key: string, value: unknown): unknown {
  if (typeof value === 'string') return storableText(value);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const entries = Object.entries(value);
  if (!entries.some(([key]) => storableText(key) !== key)) return value;
  return Object.fromEntries(entries.map(([key, inner]) => [storableText(key), inner]));
}

/**
 * A JSON document as a text parameter (cast to jsonb in SQL): pg would turn a JS array into a PostgreSQL
 * array. Strings and keys are made storable (see `storableText`); the common document is written once.
 */
export function json(value: unknown): string {
  const text = JSON.stringify(value);
  return REFUSED_ESCAPES.test(text) ? JSON.stringify(value, storableJsonValue) : text;
}

function storableParam(param: SqlParam): SqlParam {
  if (typeof param === 'string') return storableText(param);
  if (!Array.isArray(param)) return param;
  const list: readonly SqlScalar[] = param;
  return list.some((item) => typeof item === 'string' && storableText(item) !== item) ? list.map((item) => (typeof item === 'string' ? storableText(item) : item)) : list;
}

function storableParams(params: readonly SqlParam[] | undefined): readonly SqlParam[] | undefined {
  return params?.map(storableParam);
}

function storableQueryable(q: Queryable): Queryable {
  return {
    query: <T extends object>(text: string, params?: readonly SqlParam[]) => q.query<T>(text, storableParams(params)),
    exec: (script: string) => q.exec(script),
  };
}

/**
 * The database with every text parameter made storable (see `storableText`): the one place text params pass,
 * whatever statement they feed. JSON parameters are made storable by `json()` before they get here.
 */
export function withStorableText(db: SqlDatabase): SqlDatabase {
  return {
    kind: db.kind,
    query: <T extends object>(text: string, params?: readonly SqlParam[]) => db.query<T>(text, storableParams(params)),
    exec: (script: string) => db.exec(script),
    transaction: <T>(fn: (q: Queryable) => Promise<T>) => db.transaction((q) => fn(storableQueryable(q))),
    batch: (statements: readonly Statement[]) => db.batch(statements.map((statement) => ({ text: statement.text, params: storableParams(statement.params) ?? [] }))),
    close: () => db.close(),
  };
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
