import type { SqlDatabase } from './sql.js';

/**
 * Contract certificates found revoked at Authorize (C07.FR.16, the derived half of TC_C_51), keyed by eMAID
 * (migration 25). Kept in the store, not in a node's memory: the TransactionEvent that follows may reach
 * another node, or this one after a restart, and must still not be Accepted by the register alone.
 */
export interface ContractRevocation {
  /** The eMAID as compared: without '-' separators, upper-cased. */
  emaid: string;
  stationId: string;
  certificateStatus: string;
  revokedAt: Date;
}

export interface ContractRevocationStore {
  /** Committed before the AuthorizeResponse leaves: a TransactionEvent right after it must find it. */
  recordRevoked(revocation: ContractRevocation): Promise<void>;
  /** A later Authorize with a good certificate for the same eMAID (a renewed contract certificate) lifts it. */
  clear(emaid: string): Promise<void>;
  find(emaid: string): Promise<ContractRevocation | undefined>;
}

export class SqlContractRevocationStore implements ContractRevocationStore {
  constructor(private readonly db: SqlDatabase) {}

  async recordRevoked(revocation: ContractRevocation): Promise<void> {
    await this.db.query(
      `INSERT INTO contract_revocations (emaid, station_id, certificate_status, revoked_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (emaid) DO UPDATE SET station_id = excluded.station_id, certificate_status = excluded.certificate_status,
         revoked_at = excluded.revoked_at`,
      [revocation.emaid, revocation.stationId, revocation.certificateStatus, revocation.revokedAt],
    );
  }

  async clear(emaid: string): Promise<void> {
    await this.db.query('DELETE FROM contract_revocations WHERE emaid = $1', [emaid]);
  }

  async find(emaid: string): Promise<ContractRevocation | undefined> {
    const rows = await this.db.query<{ emaid: string; station_id: string; certificate_status: string; revoked_at: Date }>(
      'SELECT emaid, station_id, certificate_status, revoked_at FROM contract_revocations WHERE emaid = $1',
      [emaid],
    );
    const row = rows[0];
    return row === undefined ? undefined : { emaid: row.emaid, stationId: row.station_id, certificateStatus: row.certificate_status, revokedAt: row.revoked_at };
  }
}
