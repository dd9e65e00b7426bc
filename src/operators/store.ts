import type { ApiRole } from '../api/route-spec.js';
import { batchStatement, type BatchWriter, type GroupCommitter } from '../store/group-commit.js';
import type { SqlDatabase } from '../store/sql.js';

/** An operator account as the API shows it: never its password hash. */
export interface UserRecord {
  username: string;
  role: ApiRole;
  createdAt: Date;
  updatedAt: Date;
}

export interface ApiKeyRecord {
  id: number;
  name: string;
  role: ApiRole;
  createdAt: Date;
  revokedAt: Date | undefined;
}

/** CONTRACT §8.7: `ok` (2xx), `denied` (401/403), `rejected` (other 4xx), `failed` (5xx, command timeouts). */
export type AuditOutcome = 'ok' | 'denied' | 'rejected' | 'failed';

export interface AuditWrite {
  at: Date;
  actor: string;
  role: ApiRole | undefined;
  method: string;
  path: string;
  target: string | undefined;
  stationId: string | undefined;
  /** The OCPP action of a command (POST …/commands/{action}). */
  action: string | undefined;
  outcome: AuditOutcome;
  status: number;
  address: string | undefined;
  nodeId: string | undefined;
}

export interface AuditRecord extends AuditWrite {
  id: number;
}

export interface AuditFilter {
  actor?: string | undefined;
  stationId?: string | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
}

/** Who a session or an API key stands for, read fresh on every request (so a revocation holds at once). */
export interface StoredPrincipal {
  name: string;
  role: ApiRole;
}

/** The store access of operator accounts, sessions, API keys and the audit trail. */
export interface OperatorStore {
  /** Undefined when the username is taken. */
  createUser(username: string, passwordHash: string, role: ApiRole): Promise<UserRecord | undefined>;
  getUser(username: string): Promise<UserRecord | undefined>;
  passwordHashOf(username: string): Promise<{ user: UserRecord; passwordHash: string } | undefined>;
  listUsers(): Promise<UserRecord[]>;
  /** A new password hash ends every session of the user in the same transaction. Undefined: no such user. */
  updateUser(username: string, changes: { role?: ApiRole | undefined; passwordHash?: string | undefined }): Promise<UserRecord | undefined>;
  /** Its sessions go with it (ON DELETE CASCADE). */
  deleteUser(username: string): Promise<boolean>;
  countAdmins(): Promise<number>;
  /** True once any user or API key was ever created (see the README on the open API). */
  hasAccounts(): Promise<boolean>;

  createSession(tokenHash: string, username: string, expiresAt: Date, now: Date): Promise<void>;
  sessionUser(tokenHash: string, now: Date): Promise<StoredPrincipal | undefined>;
  deleteSession(tokenHash: string): Promise<void>;

  /** Undefined when a live key has that name already. */
  createApiKey(name: string, role: ApiRole, keyHash: string): Promise<ApiKeyRecord | undefined>;
  listApiKeys(): Promise<ApiKeyRecord[]>;
  apiKeyByHash(keyHash: string): Promise<StoredPrincipal | undefined>;
  /** False: no such key. Revoking a revoked key changes nothing and is true. */
  revokeApiKey(id: number): Promise<boolean>;

  /** Resolves once the entry is committed (group commit: entries arriving together share one transaction). */
  appendAudit(entry: AuditWrite): Promise<void>;
  /** Newest first; `beforeId` continues a previous page. */
  listAudit(filter: AuditFilter, beforeId: number | undefined, limit: number): Promise<AuditRecord[]>;
}

interface UserRow {
  username: string;
  role: ApiRole;
  created_at: Date;
  updated_at: Date;
}

interface ApiKeyRow {
  id: number | string;
  name: string;
  role: ApiRole;
  created_at: Date;
  revoked_at: Date | null;
}

interface AuditRow {
  id: number | string;
  at: Date;
  actor: string;
  role: ApiRole | null;
  method: string;
  path: string;
  target: string | null;
  station_id: string | null;
  action: string | null;
  outcome: AuditOutcome;
  status: number;
  address: string | null;
  node_id: string | null;
}

const USER_COLUMNS = 'username, role, created_at, updated_at';
const KEY_COLUMNS = 'id, name, role, created_at, revoked_at';
const UNIQUE_VIOLATION = '23505';

function toUser(row: UserRow): UserRecord {
  return { username: row.username, role: row.role, createdAt: row.created_at, updatedAt: row.updated_at };
}

function toApiKey(row: ApiKeyRow): ApiKeyRecord {
  return { id: Number(row.id), name: row.name, role: row.role, createdAt: row.created_at, revokedAt: row.revoked_at ?? undefined };
}

function toAudit(row: AuditRow): AuditRecord {
  return {
    id: Number(row.id),
    at: row.at,
    actor: row.actor,
    role: row.role ?? undefined,
    method: row.method,
    path: row.path,
    target: row.target ?? undefined,
    stationId: row.station_id ?? undefined,
    action: row.action ?? undefined,
    outcome: row.outcome,
    status: row.status,
    address: row.address ?? undefined,
    nodeId: row.node_id ?? undefined,
  };
}

function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && err.code === UNIQUE_VIOLATION;
}

export class SqlOperatorStore implements OperatorStore {
  private readonly audit: BatchWriter<AuditWrite>;

  constructor(
    private readonly db: SqlDatabase,
    committer: GroupCommitter,
  ) {
    this.audit = committer.writer<AuditWrite>({
      name: 'audit',
      statement: (rows) =>
        batchStatement(
          `INSERT INTO audit_log (at, actor, role, method, path, target, station_id, action, outcome, status, address, node_id)
           SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                                $8::text[], $9::text[], $10::int[], $11::text[], $12::text[])`,
          [
            rows.map((row) => row.at.toISOString()),
            rows.map((row) => row.actor),
            rows.map((row) => row.role ?? null),
            rows.map((row) => row.method),
            rows.map((row) => row.path),
            rows.map((row) => row.target ?? null),
            rows.map((row) => row.stationId ?? null),
            rows.map((row) => row.action ?? null),
            rows.map((row) => row.outcome),
            rows.map((row) => row.status),
            rows.map((row) => row.address ?? null),
            rows.map((row) => row.nodeId ?? null),
          ],
        ),
    });
  }

  async createUser(username: string, passwordHash: string, role: ApiRole): Promise<UserRecord | undefined> {
    const rows = await this.db.query<UserRow>(
      `INSERT INTO operator_users (username, password_hash, role) VALUES ($1, $2, $3)
       ON CONFLICT (username) DO NOTHING RETURNING ${USER_COLUMNS}`,
      [username, passwordHash, role],
    );
    return rows[0] === undefined ? undefined : toUser(rows[0]);
  }

  async getUser(username: string): Promise<UserRecord | undefined> {
    const rows = await this.db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM operator_users WHERE username = $1`, [username]);
    return rows[0] === undefined ? undefined : toUser(rows[0]);
  }

  async passwordHashOf(username: string): Promise<{ user: UserRecord; passwordHash: string } | undefined> {
    const rows = await this.db.query<UserRow & { password_hash: string }>(`SELECT ${USER_COLUMNS}, password_hash FROM operator_users WHERE username = $1`, [username]);
    const row = rows[0];
    return row === undefined ? undefined : { user: toUser(row), passwordHash: row.password_hash };
  }

  async listUsers(): Promise<UserRecord[]> {
    return (await this.db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM operator_users ORDER BY username`)).map(toUser);
  }

  updateUser(username: string, changes: { role?: ApiRole | undefined; passwordHash?: string | undefined }): Promise<UserRecord | undefined> {
    return this.db.transaction(async (q) => {
      const rows = await q.query<UserRow>(
        `UPDATE operator_users SET role = coalesce($2, role), password_hash = coalesce($3, password_hash), updated_at = now()
          WHERE username = $1 RETURNING ${USER_COLUMNS}`,
        [username, changes.role ?? null, changes.passwordHash ?? null],
      );
      if (rows[0] === undefined) return undefined;
      // CONTRACT §8.7: a new password ends the user's sessions at once (every node reads sessions from here).
      if (changes.passwordHash !== undefined) await q.query('DELETE FROM operator_sessions WHERE username = $1', [username]);
      return toUser(rows[0]);
    });
  }

  async deleteUser(username: string): Promise<boolean> {
    const rows = await this.db.query<{ username: string }>('DELETE FROM operator_users WHERE username = $1 RETURNING username', [username]);
    return rows.length > 0;
  }

  async countAdmins(): Promise<number> {
    const rows = await this.db.query<{ n: number | string }>("SELECT count(*) AS n FROM operator_users WHERE role = 'admin'");
    return Number(rows[0]?.n ?? 0);
  }

  async hasAccounts(): Promise<boolean> {
    const rows = await this.db.query<{ any: boolean }>('SELECT (EXISTS (SELECT 1 FROM operator_users) OR EXISTS (SELECT 1 FROM operator_api_keys)) AS any');
    return rows[0]?.any === true;
  }

  async createSession(tokenHash: string, username: string, expiresAt: Date, now: Date): Promise<void> {
    await this.db.transaction(async (q) => {
      // Expired sessions of the user go as a new one comes, so the table holds about one row per live session.
      await q.query('DELETE FROM operator_sessions WHERE username = $1 AND expires_at <= $2', [username, now]);
      await q.query('INSERT INTO operator_sessions (token_hash, username, expires_at) VALUES ($1, $2, $3)', [tokenHash, username, expiresAt]);
    });
  }

  async sessionUser(tokenHash: string, now: Date): Promise<StoredPrincipal | undefined> {
    const rows = await this.db.query<{ username: string; role: ApiRole }>(
      `SELECT u.username, u.role FROM operator_sessions s JOIN operator_users u ON u.username = s.username
        WHERE s.token_hash = $1 AND s.expires_at > $2`,
      [tokenHash, now],
    );
    const row = rows[0];
    return row === undefined ? undefined : { name: row.username, role: row.role };
  }

  async deleteSession(tokenHash: string): Promise<void> {
    await this.db.query('DELETE FROM operator_sessions WHERE token_hash = $1', [tokenHash]);
  }

  async createApiKey(name: string, role: ApiRole, keyHash: string): Promise<ApiKeyRecord | undefined> {
    try {
      const rows = await this.db.query<ApiKeyRow>(`INSERT INTO operator_api_keys (name, role, key_hash) VALUES ($1, $2, $3) RETURNING ${KEY_COLUMNS}`, [
        name,
        role,
        keyHash,
      ]);
      return rows[0] === undefined ? undefined : toApiKey(rows[0]);
    } catch (err) {
      if (isUniqueViolation(err)) return undefined;
      throw err;
    }
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return (await this.db.query<ApiKeyRow>(`SELECT ${KEY_COLUMNS} FROM operator_api_keys ORDER BY id`)).map(toApiKey);
  }

  async apiKeyByHash(keyHash: string): Promise<StoredPrincipal | undefined> {
    const rows = await this.db.query<{ name: string; role: ApiRole }>('SELECT name, role FROM operator_api_keys WHERE key_hash = $1 AND revoked_at IS NULL', [keyHash]);
    const row = rows[0];
    return row === undefined ? undefined : { name: row.name, role: row.role };
  }

  async revokeApiKey(id: number): Promise<boolean> {
    const rows = await this.db.query<{ id: number | string }>('UPDATE operator_api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING id', [id]);
    return rows.length > 0;
  }

  appendAudit(entry: AuditWrite): Promise<void> {
    return this.audit.write(entry);
  }

  async listAudit(filter: AuditFilter, beforeId: number | undefined, limit: number): Promise<AuditRecord[]> {
    const rows = await this.db.query<AuditRow>(
      `SELECT id, at, actor, role, method, path, target, station_id, action, outcome, status, address, node_id FROM audit_log
        WHERE ($1::text IS NULL OR actor = $1::text)
          AND ($2::text IS NULL OR station_id = $2::text)
          AND ($3::timestamptz IS NULL OR at >= $3::timestamptz)
          AND ($4::timestamptz IS NULL OR at < $4::timestamptz)
          AND ($5::bigint IS NULL OR id < $5::bigint)
        ORDER BY id DESC LIMIT $6`,
      [filter.actor ?? null, filter.stationId ?? null, filter.from ?? null, filter.to ?? null, beforeId ?? null, limit],
    );
    return rows.map(toAudit);
  }
}
