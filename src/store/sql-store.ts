import { SqlFleetStore, type FleetStore } from './fleet-sql.js';
import { SqlMonitoringStore, type MonitoringStore } from './monitoring-sql.js';
import { SqlContractRevocationStore, type ContractRevocationStore } from './contract-revocations-sql.js';
import { SqlOperatorStore, type OperatorStore } from '../operators/store.js';
import { ReservationStore } from '../blocks/reservations/reservation-store.js';
import { TariffStore } from '../blocks/tariffs/tariff-store.js';
import { SmartChargingStore } from '../blocks/smart-charging/store.js';
import { LocalListStore } from '../blocks/local-list/local-list-store.js';
import { DisplayMessageStore } from '../blocks/display-messages/display-message-store.js';
import type {
  BillingStore,
  IdTokenInput,
  IdTokenRecord,
  MeterValuesWrite,
  StoredMeterValues,
  StoredTransactionEvent,
  TransactionEventWrite,
  TransactionRecord,
} from './billing-store.js';
import { SqlBillingStore } from './billing-sql.js';
import { contentHash } from './content-hash.js';
import { mergeAttributes, mergeDeviceVariables, deviceVariableKey } from './device-variables.js';
import { UnknownStationError, withStation } from './errors.js';
import { BatchWriter, batchStatement, GroupCommitter, type BatchWriterSpec, type GroupCommitOptions, type GroupCommitStats, type RowErrors } from './group-commit.js';
import type { RecordCompanions } from './record-companions.js';
import {
  toConnector,
  toCustomerInformationPart,
  toDeviceVariable,
  toIssuedCertificate,
  toReportPart,
  toStation,
  toStationEvent,
  type ConnectorRow,
  type CustomerInformationRow,
  type DeviceVariableRow,
  type IssuedCertificateRow,
  type ReportPartRow,
  type StationEventRow,
  type StationRow,
} from './rows.js';
import { json, withStorableText, type Queryable, type SqlDatabase } from './sql.js';
import type {
  BootStatus,
  ConnectorStatusRecord,
  CustomerInformationPart,
  DeviceVariable,
  IssuedCertificateRecord,
  JsonObject,
  OcppVersion,
  RemoteStartGrant,
  ReportPart,
  SecurityProfile,
  StationEvent,
  StationEventKind,
  StationPatch,
  StationRecord,
  StationStatusRecord,
  Store,
  StoredCertificateAuthority,
} from './store.js';

interface BootRow {
  stationId: string;
  bootStatus: BootStatus;
  chargingStation: JsonObject;
  reason: string | undefined;
  at: Date;
}
interface StationJsonRow {
  stationId: string;
  value: JsonObject;
}
interface LastSeenRow {
  stationId: string;
  at: Date;
}
interface ConnectorWrite extends ConnectorStatusRecord {
  stationId: string;
}
interface StationStatusWrite extends StationStatusRecord {
  stationId: string;
}
interface ReportPartWrite extends ReportPart {
  stationId: string;
}
interface VariableWrite {
  stationId: string;
  key: string;
  variable: DeviceVariable;
}
interface EventWrite {
  stationId: string;
  kind: StationEventKind;
  payload: JsonObject;
  at: Date;
}
interface CustomerInformationWrite extends CustomerInformationPart {
  stationId: string;
}

/** Rows whose station the UPDATE did not find: their callers fail, the rest of the batch commits. */
function missingStations(rows: readonly { stationId: string }[], updated: readonly { id: string }[]): RowErrors | undefined {
  const found = new Set(updated.map((row) => row.id));
  const errors = new Map<number, Error>();
  rows.forEach((row, index) => {
    if (!found.has(row.stationId)) errors.set(index, new UnknownStationError(row.stationId));
  });
  return errors.size > 0 ? errors : undefined;
}

/**
 * Station events whose resend (a new messageId after a lost answer) is stored once: their content names
 * them (NotifyEvent: generatedAt + seqNo; SecurityEventNotification: type + timestamp). Status
 * notifications may repeat word for word and are each kept.
 */
const STORED_ONCE: ReadonlySet<StationEventKind> = new Set(['NotifyEvent', 'SecurityEventNotification']);

const STATION_COLUMNS = `id, security_profile, password_hash, password_verifier, boot_policy, boot_status, charging_station,
  last_boot_reason, last_seen, firmware_status, log_status, certificates, pending_security_profile,
  certificate_signing, station_status, station_status_at, station_status_error, ocpp_version_pin, ocpp_version, created_at, updated_at`;

const ISSUED_CERTIFICATE_COLUMNS = 'serial_number, station_id, certificate_type, issued_at, not_after, revoked_at, revocation_reason';

/**
 * The Store over SQL: one implementation for PostgreSQL and for the embedded PGlite. The billing records
 * (billing-store.ts) live in billing-sql.ts and share this store's database and group commit.
 */
export class SqlStore implements Store, BillingStore {
  readonly kind: 'postgres' | 'embedded';
  private readonly committer: GroupCommitter;
  private readonly boots: BatchWriter<BootRow>;
  private readonly firmwareStatuses: BatchWriter<StationJsonRow>;
  private readonly logStatuses: BatchWriter<StationJsonRow>;
  private readonly certificates: BatchWriter<StationJsonRow>;
  private readonly lastSeen: BatchWriter<LastSeenRow>;
  private readonly connectors: BatchWriter<ConnectorWrite>;
  private readonly stationStatuses: BatchWriter<StationStatusWrite>;
  private readonly reportParts: BatchWriter<ReportPartWrite>;
  private readonly variables: BatchWriter<VariableWrite>;
  private readonly events: BatchWriter<EventWrite>;
  private readonly customerInformation: BatchWriter<CustomerInformationWrite>;
  private readonly billing: SqlBillingStore;
  /** Rows committed with the station's records (the webhook outbox); undefined = none. */
  private companions: RecordCompanions | undefined;
  /** Reads across the whole fleet (the fleet index's snapshot, the fleet-wide transaction list). */
  readonly fleet: FleetStore;
  /** The monitoring block's records (monitor registry, monitoring reports, monitor events): monitoring-sql.ts. */
  readonly monitoring: MonitoringStore;
  /** Plug & Charge: eMAIDs whose contract certificate was found revoked (contract-revocations-sql.ts). */
  readonly contractRevocations: ContractRevocationStore;
  /** Operator accounts, sessions, API keys and the audit trail (src/operators/store.ts). */
  readonly operators: OperatorStore;
  /** The reservations and tariffs blocks' store access (src/blocks/reservations, src/blocks/tariffs). */
  readonly reservations: ReservationStore;
  readonly tariffs: TariffStore;
  /** The smart-charging block's records: charging profiles, reports, external limits, sites. */
  readonly smartCharging: SmartChargingStore;
  /** The local lists (CONTRACT §8.1) and display messages (§8.5): their blocks own the SQL. */
  readonly localLists: LocalListStore;
  readonly displayMessages: DisplayMessageStore;

  private readonly db: SqlDatabase;

  constructor(database: SqlDatabase, options: GroupCommitOptions = {}) {
    // Every statement of this store, group commit included, goes through here: text the database would
    // refuse (U+0000) is replaced on the way in, so one such record never fails (CONTRACT §3.2 "Strings").
    const db = withStorableText(database);
    this.db = db;
    this.kind = db.kind;
    this.committer = new GroupCommitter(db, options);

    this.boots = this.committer.writer<BootRow>({
      name: 'boot',
      key: (row) => row.stationId,
      statement: (rows) =>
        batchStatement<{ id: string }>(
          `UPDATE stations AS s
              SET boot_status = u.boot_status, charging_station = u.charging_station::jsonb,
                  last_boot_reason = u.reason, last_boot_at = u.at::timestamptz,
                  last_seen = greatest(s.last_seen, u.at::timestamptz), updated_at = now()
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
                  AS u(id, boot_status, charging_station, reason, at)
            WHERE s.id = u.id
        RETURNING s.id`,
          [
            rows.map((row) => row.stationId),
            rows.map((row) => row.bootStatus),
            rows.map((row) => json(row.chargingStation)),
            rows.map((row) => row.reason ?? null),
            rows.map((row) => row.at.toISOString()),
          ],
          (updated) => missingStations(rows, updated),
        ),
    });

    const stationJsonWriter = (name: string, column: 'firmware_status' | 'log_status' | 'certificates'): BatchWriter<StationJsonRow> =>
      this.committer.writer<StationJsonRow>({
        name,
        key: (row) => row.stationId,
        statement: (rows) =>
          batchStatement<{ id: string }>(
            `UPDATE stations AS s SET ${column} = u.value::jsonb, updated_at = now()
               FROM unnest($1::text[], $2::text[]) AS u(id, value)
              WHERE s.id = u.id
          RETURNING s.id`,
            [rows.map((row) => row.stationId), rows.map((row) => json(row.value))],
            (updated) => missingStations(rows, updated),
          ),
      });
    this.firmwareStatuses = stationJsonWriter('firmware status', 'firmware_status');
    this.logStatuses = stationJsonWriter('log status', 'log_status');
    this.certificates = stationJsonWriter('certificates', 'certificates');

    this.lastSeen = this.committer.writer<LastSeenRow>({
      name: 'last seen',
      key: (row) => row.stationId,
      fold: (earlier, later) => (later.at > earlier.at ? later : earlier),
      statement: (rows) =>
        batchStatement(
          `UPDATE stations AS s SET last_seen = greatest(s.last_seen, u.at::timestamptz)
             FROM unnest($1::text[], $2::text[]) AS u(id, at)
            WHERE s.id = u.id`,
          [rows.map((row) => row.stationId), rows.map((row) => row.at.toISOString())],
        ),
    });

    this.connectors = this.committer.writer<ConnectorWrite>({
      name: 'connector status',
      key: (row) => `${row.stationId}\u0000${row.evseId}\u0000${row.connectorId}`,
      statement: (rows) =>
        batchStatement(
          `INSERT INTO connectors (station_id, evse_id, connector_id, status, updated_at, error)
           SELECT u.station_id, u.evse_id, u.connector_id, u.status, u.updated_at::timestamptz, u.error::jsonb
             FROM unnest($1::text[], $2::int[], $3::int[], $4::text[], $5::text[], $6::text[])
                  AS u(station_id, evse_id, connector_id, status, updated_at, error)
           ON CONFLICT (station_id, evse_id, connector_id)
           DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at, error = excluded.error`,
          [
            rows.map((row) => row.stationId),
            rows.map((row) => row.evseId),
            rows.map((row) => row.connectorId),
            rows.map((row) => row.status),
            rows.map((row) => row.updatedAt.toISOString()),
            rows.map((row) => (row.error === undefined ? null : json(row.error))),
          ],
        ),
    });

    this.stationStatuses = this.committer.writer<StationStatusWrite>({
      name: 'station status',
      key: (row) => row.stationId,
      statement: (rows) =>
        batchStatement<{ id: string }>(
          `UPDATE stations AS s SET station_status = u.status, station_status_at = u.updated_at::timestamptz, station_status_error = u.error::jsonb
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(id, status, updated_at, error)
            WHERE s.id = u.id
        RETURNING s.id`,
          [
            rows.map((row) => row.stationId),
            rows.map((row) => row.status),
            rows.map((row) => row.updatedAt.toISOString()),
            rows.map((row) => (row.error === undefined ? null : json(row.error))),
          ],
          (updated) => missingStations(rows, updated),
        ),
    });

    this.reportParts = this.committer.writer<ReportPartWrite>({
      name: 'report part',
      key: (row) => `${row.stationId}\u0000${row.requestId}\u0000${row.seqNo}`,
      statement: (rows) =>
        batchStatement(
          `INSERT INTO report_parts (station_id, request_id, seq_no, tbc, generated_at, report_data)
           SELECT u.station_id, u.request_id, u.seq_no, u.tbc, u.generated_at, u.report_data::jsonb
             FROM unnest($1::text[], $2::int[], $3::int[], $4::bool[], $5::text[], $6::text[])
                  AS u(station_id, request_id, seq_no, tbc, generated_at, report_data)
           ON CONFLICT (station_id, request_id, seq_no)
           DO UPDATE SET tbc = excluded.tbc, generated_at = excluded.generated_at,
                         report_data = excluded.report_data, received_at = now()`,
          [
            rows.map((row) => row.stationId),
            rows.map((row) => row.requestId),
            rows.map((row) => row.seqNo),
            rows.map((row) => row.tbc),
            rows.map((row) => row.generatedAt),
            rows.map((row) => json(row.reportData)),
          ],
        ),
    });

    this.variables = this.committer.writer<VariableWrite>({
      name: 'device variables',
      key: (row) => `${row.stationId}\u0000${row.key}`,
      fold: (earlier, later) => ({ ...later, variable: mergeDeviceVariables(earlier.variable, later.variable) }),
      statement: (rows) =>
        // Attributes merge per type: old fields survive unless the new attribute of that type sets them
        // (the same rule as mergeAttributes, which folds rows of one batch before they get here).
        batchStatement(
          `INSERT INTO device_variables AS dv (station_id, var_key, component, variable, attributes, characteristics)
           SELECT u.station_id, u.var_key, u.component::jsonb, u.variable::jsonb, u.attributes::jsonb,
                  u.characteristics::jsonb
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
                  AS u(station_id, var_key, component, variable, attributes, characteristics)
           ON CONFLICT (station_id, var_key) DO UPDATE SET
             component = excluded.component,
             variable = excluded.variable,
             attributes = (
               SELECT coalesce(jsonb_agg(coalesce(o.attr, '{}'::jsonb) || coalesce(n.attr, '{}'::jsonb)
                                         ORDER BY coalesce(o.ord, 1000000 + n.ord)), '[]'::jsonb)
                 FROM jsonb_array_elements(dv.attributes) WITH ORDINALITY AS o(attr, ord)
                 FULL JOIN jsonb_array_elements(excluded.attributes) WITH ORDINALITY AS n(attr, ord)
                   ON o.attr ->> 'type' = n.attr ->> 'type'
             ),
             characteristics = coalesce(excluded.characteristics, dv.characteristics),
             updated_at = now()`,
          [
            rows.map((row) => row.stationId),
            rows.map((row) => row.key),
            rows.map((row) => json(row.variable.component)),
            rows.map((row) => json(row.variable.variable)),
            rows.map((row) => json(row.variable.attributes)),
            rows.map((row) => (row.variable.characteristics === undefined ? null : json(row.variable.characteristics))),
          ],
        ),
    });

    this.events = this.committer.writer<EventWrite>({
      name: 'station event',
      statement: (rows) =>
        // ORDER BY ordinality: ids follow the order in which the events were received.
        // A resend (same content_hash) is left out, whether it shares the batch or comes later.
        batchStatement(
          `INSERT INTO station_events (station_id, kind, payload, received_at, content_hash)
           SELECT u.station_id, u.kind, u.payload::jsonb, u.received_at::timestamptz, u.content_hash
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
                  WITH ORDINALITY AS u(station_id, kind, payload, received_at, content_hash, ord)
            ORDER BY u.ord
           ON CONFLICT (station_id, kind, content_hash) DO NOTHING`,
          [
            rows.map((row) => row.stationId),
            rows.map((row) => row.kind),
            rows.map((row) => json(row.payload)),
            rows.map((row) => row.at.toISOString()),
            rows.map((row) => (STORED_ONCE.has(row.kind) ? contentHash(row.payload) : null)),
          ],
        ),
    });

    this.customerInformation = this.committer.writer<CustomerInformationWrite>({
      name: 'customer information',
      key: (row) => `${row.stationId}\u0000${row.requestId}\u0000${row.seqNo}`,
      statement: (rows) =>
        batchStatement(
          `INSERT INTO customer_information_parts (station_id, request_id, seq_no, tbc, generated_at, data)
           SELECT * FROM unnest($1::text[], $2::int[], $3::int[], $4::bool[], $5::text[], $6::text[])
           ON CONFLICT (station_id, request_id, seq_no)
           DO UPDATE SET tbc = excluded.tbc, generated_at = excluded.generated_at, data = excluded.data,
                         received_at = now()`,
          [
            rows.map((row) => row.stationId),
            rows.map((row) => row.requestId),
            rows.map((row) => row.seqNo),
            rows.map((row) => row.tbc),
            rows.map((row) => row.generatedAt),
            rows.map((row) => row.data),
          ],
        ),
    });

    this.billing = new SqlBillingStore(db, this.committer, () => this.companions);
    this.fleet = new SqlFleetStore(db);
    this.monitoring = new SqlMonitoringStore(db);
    this.contractRevocations = new SqlContractRevocationStore(db);
    this.operators = new SqlOperatorStore(db, this.committer);
    this.reservations = new ReservationStore(db);
    this.tariffs = new TariffStore(db);
    this.smartCharging = new SmartChargingStore(db);
    this.localLists = new LocalListStore(db);
    this.displayMessages = new DisplayMessageStore(db);
  }

  /** A writer of another module's rows that shares this store's group commit (and so its transactions). */
  writer<Row>(spec: BatchWriterSpec<Row>): BatchWriter<Row> {
    return this.committer.writer(spec);
  }

  /** From now on, the station records boot, event and transaction event carry these companions' rows. */
  useRecordCompanions(companions: RecordCompanions): void {
    this.companions = companions;
  }

  /** The database, for another module's store access (src/blocks/<block>/…-sql.ts). */
  get database(): SqlDatabase {
    return this.db;
  }

  get commitStats(): Readonly<GroupCommitStats> {
    return this.committer.stats;
  }

  // Stations

  async getStation(id: string): Promise<StationRecord | undefined> {
    const rows = await this.db.query<StationRow>(`SELECT ${STATION_COLUMNS} FROM stations WHERE id = $1`, [id]);
    const row = rows[0];
    return row ? this.withPendingLastSeen(toStation(row)) : undefined;
  }

  async listStations(): Promise<StationRecord[]> {
    const rows = await this.db.query<StationRow>(`SELECT ${STATION_COLUMNS} FROM stations ORDER BY id`);
    return rows.map((row) => this.withPendingLastSeen(toStation(row)));
  }

  async getStations(ids: readonly string[]): Promise<StationRecord[]> {
    if (ids.length === 0) return [];
    const rows = await this.db.query<StationRow>(`SELECT ${STATION_COLUMNS} FROM stations WHERE id = ANY($1::text[])`, [ids]);
    return rows.map((row) => this.withPendingLastSeen(toStation(row)));
  }

  async upsertStation(id: string, patch: StationPatch): Promise<{ station: StationRecord; created: boolean }> {
    const setsPassword = patch.passwordHash !== undefined;
    // xmax = 0 only for a row this statement inserted: PostgreSQL's way to tell insert from update.
    const rows = await this.db.query<StationRow & { created: boolean }>(
      `INSERT INTO stations (id, security_profile, password_hash, password_verifier, boot_policy, ocpp_version_pin)
       VALUES ($1, coalesce($2::smallint, 1), $3::text, decode($6::text, 'hex'), coalesce($4::text, 'Accepted'), coalesce($7::text, 'auto'))
       ON CONFLICT (id) DO UPDATE SET
         security_profile = coalesce($2::smallint, stations.security_profile),
         -- An operator's explicit profile replaces a raise the station accepted earlier (TC_A_19).
         pending_security_profile = CASE WHEN $2::smallint IS NULL THEN stations.pending_security_profile END,
         password_hash = CASE WHEN $5::boolean THEN $3::text ELSE stations.password_hash END,
         -- A new password takes its own verifier or none: the old one vouches for a password that no longer opens.
         password_verifier = CASE WHEN $5::boolean THEN decode($6::text, 'hex') ELSE stations.password_verifier END,
         boot_policy = coalesce($4::text, stations.boot_policy),
         ocpp_version_pin = coalesce($7::text, stations.ocpp_version_pin),
         updated_at = now()
       RETURNING ${STATION_COLUMNS}, (xmax = 0) AS created`,
      [
        id,
        patch.securityProfile ?? null,
        patch.passwordHash ?? null,
        patch.bootPolicy ?? null,
        setsPassword,
        (setsPassword ? patch.passwordVerifier?.toString('hex') : null) ?? null,
        patch.ocppVersionPin ?? null,
      ],
    );
    const row = rows[0];
    if (!row) throw new Error(`upsert of station ${id} returned no row`);
    return { station: this.withPendingLastSeen(toStation(row)), created: row.created };
  }

  async recordPasswordVerifier(id: string, passwordHash: string, verifier: Buffer): Promise<void> {
    await this.db.query("UPDATE stations SET password_verifier = decode($3, 'hex') WHERE id = $1 AND password_hash = $2", [id, passwordHash, verifier.toString('hex')]);
  }

  async recordOcppVersion(id: string, version: OcppVersion): Promise<void> {
    await this.db.query('UPDATE stations SET ocpp_version = $2 WHERE id = $1 AND ocpp_version IS DISTINCT FROM $2', [id, version]);
  }

  async deleteStation(id: string): Promise<boolean> {
    this.lastSeen.forget(id);
    const rows = await this.db.query<{ id: string }>('DELETE FROM stations WHERE id = $1 RETURNING id', [id]);
    return rows.length > 0;
  }

  // Security

  async setPendingSecurityProfile(id: string, target: SecurityProfile): Promise<void> {
    await this.db.query(
      `UPDATE stations SET pending_security_profile = $2::smallint, updated_at = now()
        WHERE id = $1 AND security_profile < $2::smallint`,
      [id, target],
    );
  }

  async applyPendingSecurityProfile(id: string, target: SecurityProfile): Promise<StationRecord | undefined> {
    const rows = await this.db.query<StationRow>(
      `UPDATE stations
          SET security_profile = greatest(security_profile, pending_security_profile),
              pending_security_profile = NULL, updated_at = now()
        WHERE id = $1 AND pending_security_profile = $2::smallint
      RETURNING ${STATION_COLUMNS}`,
      [id, target],
    );
    const row = rows[0];
    return row ? this.withPendingLastSeen(toStation(row)) : undefined;
  }

  async claimCertificateSigning(id: string, outcome: JsonObject, staleBefore: Date): Promise<boolean> {
    const rows = await this.db.query<{ id: string }>(
      `UPDATE stations SET certificate_signing = $2::jsonb, updated_at = now()
        WHERE id = $1
          AND (certificate_signing IS NULL
               OR coalesce(certificate_signing ->> 'status', '') NOT IN ('Signing', 'Issued')
               OR (certificate_signing ->> 'at')::timestamptz < $3::timestamptz)
      RETURNING id`,
      [id, json(outcome), staleBefore.toISOString()],
    );
    return rows.length > 0;
  }

  async recordCertificateSigning(id: string, outcome: JsonObject): Promise<void> {
    await this.db.query('UPDATE stations SET certificate_signing = $2::jsonb, updated_at = now() WHERE id = $1', [id, json(outcome)]);
  }

  async recordIssuedCertificate(certificate: Omit<IssuedCertificateRecord, 'revokedAt' | 'revocationReason'>): Promise<void> {
    await this.db.query(
      `INSERT INTO issued_certificates (serial_number, station_id, certificate_type, issued_at, not_after)
       VALUES ($1, $2, $3, $4::timestamptz, $5::timestamptz)`,
      [certificate.serialNumber, certificate.stationId, certificate.certificateType, certificate.issuedAt.toISOString(), certificate.notAfter.toISOString()],
    );
  }

  async countCertificatesIssuedSince(stationId: string, since: Date): Promise<number> {
    const rows = await this.db.query<{ n: number | string }>('SELECT count(*) AS n FROM issued_certificates WHERE station_id = $1 AND issued_at > $2::timestamptz', [
      stationId,
      since.toISOString(),
    ]);
    return Number(rows[0]?.n ?? 0);
  }

  async listIssuedCertificates(stationId: string): Promise<IssuedCertificateRecord[]> {
    const rows = await this.db.query<IssuedCertificateRow>(
      `SELECT ${ISSUED_CERTIFICATE_COLUMNS} FROM issued_certificates WHERE station_id = $1 ORDER BY issued_at, serial_number`,
      [stationId],
    );
    return rows.map(toIssuedCertificate);
  }

  async getIssuedCertificate(serialNumber: string): Promise<IssuedCertificateRecord | undefined> {
    const rows = await this.db.query<IssuedCertificateRow>(`SELECT ${ISSUED_CERTIFICATE_COLUMNS} FROM issued_certificates WHERE serial_number = $1`, [serialNumber]);
    const row = rows[0];
    return row ? toIssuedCertificate(row) : undefined;
  }

  async revokeIssuedCertificates(stationId: string, reason: string, at: Date, serialNumber?: string): Promise<number> {
    const rows = await this.db.query<{ serial_number: string }>(
      `UPDATE issued_certificates SET revoked_at = $3::timestamptz, revocation_reason = $2
        WHERE station_id = $1 AND revoked_at IS NULL AND ($4::text IS NULL OR serial_number = $4::text)
      RETURNING serial_number`,
      [stationId, reason, at.toISOString(), serialNumber ?? null],
    );
    return rows.length;
  }

  // Remote-start grants

  // Certificate authorities

  async getCertificateAuthority(name: string): Promise<StoredCertificateAuthority | undefined> {
    const rows = await this.db.query<{ cert_pem: string; key_pem: string; created_at: Date }>(
      'SELECT cert_pem, key_pem, created_at FROM certificate_authorities WHERE name = $1',
      [name],
    );
    const row = rows[0];
    return row ? { certificatePem: row.cert_pem, keyPem: row.key_pem, createdAt: row.created_at } : undefined;
  }

  async createCertificateAuthority(name: string, ca: { certificatePem: string; keyPem: string }): Promise<StoredCertificateAuthority> {
    // The primary key decides between racing nodes: a loser's INSERT waits for the winner's commit, does nothing,
    // and the SELECT (a new snapshot) reads the winner's CA.
    await this.db.query('INSERT INTO certificate_authorities (name, cert_pem, key_pem) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING', [
      name,
      ca.certificatePem,
      ca.keyPem,
    ]);
    const stored = await this.getCertificateAuthority(name);
    if (stored === undefined) throw new Error(`certificate authority ${name} vanished right after it was stored`);
    return stored;
  }

  async grantRemoteStart(grant: RemoteStartGrant): Promise<void> {
    await withStation(
      grant.stationId,
      this.db.query(
        `INSERT INTO remote_start_grants (station_id, remote_start_id, id_token_type, id_token, created_at)
         VALUES ($1, $2, $3, $4, $5::timestamptz)
         ON CONFLICT (station_id, remote_start_id) DO UPDATE SET
           id_token_type = excluded.id_token_type, id_token = excluded.id_token,
           created_at = excluded.created_at, transaction_id = NULL`,
        [grant.stationId, grant.remoteStartId, grant.idTokenType, grant.idToken, grant.createdAt.toISOString()],
      ),
    );
  }

  async hasRemoteStartGrant(stationId: string, idTokenType: string, idToken: string, unboundSince: Date): Promise<boolean> {
    const rows = await this.db.query<{ one: number }>(
      `SELECT 1 AS one FROM remote_start_grants
        WHERE station_id = $1 AND id_token_type = $2 AND id_token = $3
          AND (transaction_id IS NOT NULL OR created_at > $4::timestamptz)
        LIMIT 1`,
      [stationId, idTokenType, idToken, unboundSince.toISOString()],
    );
    return rows.length > 0;
  }

  async bindRemoteStartGrant(stationId: string, remoteStartId: number, transactionId: string): Promise<void> {
    await this.db.query(
      `UPDATE remote_start_grants SET transaction_id = $3
        WHERE station_id = $1 AND remote_start_id = $2 AND transaction_id IS DISTINCT FROM $3`,
      [stationId, remoteStartId, transactionId],
    );
  }

  async revokeRemoteStartGrant(stationId: string, remoteStartId: number): Promise<void> {
    await this.db.query('DELETE FROM remote_start_grants WHERE station_id = $1 AND remote_start_id = $2', [stationId, remoteStartId]);
  }

  async bindRemoteStartGrantsOfToken(stationId: string, token: { type: string; idToken: string }, transactionId: string): Promise<void> {
    await this.db.query(
      `UPDATE remote_start_grants SET transaction_id = $4
        WHERE station_id = $1 AND id_token_type = $2 AND id_token = $3 AND transaction_id IS NULL`,
      [stationId, token.type, token.idToken, transactionId],
    );
  }

  async endRemoteStartGrants(stationId: string, transactionId: string, token: { type: string; idToken: string } | undefined): Promise<void> {
    await this.db.query(
      `DELETE FROM remote_start_grants
        WHERE station_id = $1
          AND (transaction_id = $2
               OR (transaction_id IS NULL AND id_token_type = $3::text AND id_token = $4::text))`,
      [stationId, transactionId, token?.type ?? null, token?.idToken ?? null],
    );
  }

  // Records of station traffic

  recordBoot(stationId: string, boot: { bootStatus: BootStatus; chargingStation: JsonObject; reason: string | undefined; at: Date }): Promise<void> {
    return this.boots.write({ stationId, ...boot }, this.companions?.boot(stationId, boot));
  }

  recordConnectorStatus(stationId: string, status: ConnectorStatusRecord): Promise<void> {
    return withStation(stationId, this.connectors.write({ stationId, ...status }));
  }

  recordStationStatus(stationId: string, status: StationStatusRecord): Promise<void> {
    return this.stationStatuses.write({ stationId, ...status });
  }

  recordReportPart(stationId: string, part: ReportPart): Promise<void> {
    return withStation(stationId, this.reportParts.write({ stationId, ...part }));
  }

  async recordReportRequest(stationId: string, requestId: number, acceptedAt: Date): Promise<void> {
    // An operator-paced write, committed on its own; a deleted station simply has nothing to remember.
    await this.db.query(
      `INSERT INTO report_requests (station_id, request_id, accepted_at)
       SELECT id, $2, $3 FROM stations WHERE id = $1
       ON CONFLICT (station_id, request_id) DO UPDATE SET accepted_at = EXCLUDED.accepted_at`,
      [stationId, requestId, acceptedAt],
    );
  }

  recordVariables(stationId: string, variables: DeviceVariable[]): Promise<void> {
    const rows = variables.map((variable): VariableWrite => {
      const normalized: DeviceVariable = {
        component: variable.component,
        variable: variable.variable,
        attributes: mergeAttributes([], variable.attributes),
      };
      if (variable.characteristics !== undefined) normalized.characteristics = variable.characteristics;
      return { stationId, key: deviceVariableKey(variable), variable: normalized };
    });
    return withStation(stationId, this.variables.writeMany(rows));
  }

  recordEvent(stationId: string, kind: StationEventKind, payload: JsonObject, at: Date): Promise<void> {
    return withStation(stationId, this.events.write({ stationId, kind, payload, at }, this.companions?.stationEvent(stationId, kind, payload, at)));
  }

  recordFirmwareStatus(stationId: string, status: JsonObject): Promise<void> {
    return this.firmwareStatuses.write({ stationId, value: status });
  }

  recordLogStatus(stationId: string, status: JsonObject): Promise<void> {
    return this.logStatuses.write({ stationId, value: status });
  }

  recordCertificates(stationId: string, certificates: JsonObject): Promise<void> {
    return this.certificates.write({ stationId, value: certificates });
  }

  recordCustomerInformation(stationId: string, part: CustomerInformationPart): Promise<void> {
    return withStation(stationId, this.customerInformation.write({ stationId, ...part }));
  }

  touchLastSeen(stationId: string, at: Date): void {
    this.lastSeen.offer({ stationId, at });
  }

  // Budgets and retention

  async pruneReports(stationId: string, keepRequests: number): Promise<number> {
    const rows = await this.db.query<{ request_id: number }>(
      `DELETE FROM report_parts
        WHERE station_id = $1
          AND request_id IN (SELECT request_id FROM report_parts WHERE station_id = $1
                              GROUP BY request_id ORDER BY max(received_at) DESC, request_id DESC OFFSET $2)
    RETURNING request_id`,
      [stationId, Math.max(0, Math.floor(keepRequests))],
    );
    return new Set(rows.map((row) => row.request_id)).size;
  }

  async deleteExpired(before: Date, limit: number): Promise<{ stationEvents: number; meterValues: number }> {
    const at = before.toISOString();
    const n = Math.max(0, Math.floor(limit));
    // Bounded: each statement deletes at most `limit` rows, found through the indexes of migration 8.
    const events = await this.db.query<{ id: string | number }>(
      `DELETE FROM station_events WHERE id IN (SELECT id FROM station_events WHERE received_at < $1::timestamptz LIMIT $2) RETURNING id`,
      [at, n],
    );
    const meterValues = await this.db.query<{ id: string | number }>(
      `DELETE FROM meter_values WHERE id IN (SELECT id FROM meter_values WHERE transaction_id IS NULL AND received_at < $1::timestamptz LIMIT $2)
       RETURNING id`,
      [at, n],
    );
    return { stationEvents: events.length, meterValues: meterValues.length };
  }

  // Reads

  async getConnectors(stationId: string): Promise<ConnectorStatusRecord[]> {
    const rows = await this.db.query<ConnectorRow>(
      `SELECT evse_id, connector_id, status, updated_at, error FROM connectors
        WHERE station_id = $1 ORDER BY evse_id, connector_id`,
      [stationId],
    );
    return rows.map(toConnector);
  }

  async getConnectorsOf(stationIds: readonly string[]): Promise<Map<string, ConnectorStatusRecord[]>> {
    const byStation = new Map<string, ConnectorStatusRecord[]>();
    if (stationIds.length === 0) return byStation;
    const rows = await this.db.query<ConnectorRow & { station_id: string }>(
      `SELECT station_id, evse_id, connector_id, status, updated_at FROM connectors
        WHERE station_id = ANY($1::text[]) ORDER BY station_id, evse_id, connector_id`,
      [stationIds],
    );
    for (const row of rows) {
      let list = byStation.get(row.station_id);
      if (list === undefined) byStation.set(row.station_id, (list = []));
      list.push(toConnector(row));
    }
    return byStation;
  }

  async getReportParts(stationId: string, requestId: number): Promise<ReportPart[]> {
    const rows = await this.db.query<ReportPartRow>(
      `SELECT request_id, seq_no, tbc, generated_at, report_data FROM report_parts
        WHERE station_id = $1 AND request_id = $2 ORDER BY seq_no`,
      [stationId, requestId],
    );
    return rows.map(toReportPart);
  }

  async hasReportRequest(stationId: string, requestId: number): Promise<boolean> {
    const rows = await this.db.query<{ found: number }>('SELECT 1 AS found FROM report_requests WHERE station_id = $1 AND request_id = $2', [stationId, requestId]);
    return rows.length > 0;
  }

  async getVariables(stationId: string): Promise<DeviceVariable[]> {
    const rows = await this.db.query<DeviceVariableRow>(
      `SELECT component, variable, attributes, characteristics FROM device_variables
        WHERE station_id = $1 ORDER BY var_key`,
      [stationId],
    );
    return rows.map(toDeviceVariable);
  }

  async listEvents(stationId: string, limit: number): Promise<StationEvent[]> {
    const rows = await this.db.query<StationEventRow>(
      `SELECT id, kind, payload, received_at FROM station_events
        WHERE station_id = $1 ORDER BY id DESC LIMIT $2`,
      [stationId, Math.max(0, Math.floor(limit))],
    );
    return rows.map(toStationEvent);
  }

  async getCustomerInformation(stationId: string, requestId: number): Promise<CustomerInformationPart[]> {
    const rows = await this.db.query<CustomerInformationRow>(
      `SELECT request_id, seq_no, tbc, generated_at, data FROM customer_information_parts
        WHERE station_id = $1 AND request_id = $2 ORDER BY seq_no`,
      [stationId, requestId],
    );
    return rows.map(toCustomerInformationPart);
  }

  // Billing (billing-sql.ts)

  transactionIdFor16Start(stationId: string, timestamp: Date, request: JsonObject): Promise<{ transactionId: number; known: boolean }> {
    return this.billing.transactionIdFor16Start(stationId, timestamp, request);
  }

  findIdTokenByValue(value: string): Promise<IdTokenRecord | undefined> {
    return this.billing.findIdTokenByValue(value);
  }

  getIdToken(type: string, idToken: string): Promise<IdTokenRecord | undefined> {
    return this.billing.getIdToken(type, idToken);
  }

  putIdToken(type: string, idToken: string, input: IdTokenInput): Promise<{ token: IdTokenRecord; created: boolean }> {
    return this.billing.putIdToken(type, idToken, input);
  }

  deleteIdToken(type: string, idToken: string): Promise<boolean> {
    return this.billing.deleteIdToken(type, idToken);
  }

  recordTransactionEvent(event: TransactionEventWrite): Promise<{ inserted: boolean; conflict: boolean }> {
    return this.billing.recordTransactionEvent(event);
  }

  recordMeterValues(write: MeterValuesWrite): Promise<void> {
    return this.billing.recordMeterValues(write);
  }

  getTransaction(stationId: string, transactionId: string): Promise<TransactionRecord | undefined> {
    return this.billing.getTransaction(stationId, transactionId);
  }

  listTransactions(stationId: string, filter: { active?: boolean }): Promise<TransactionRecord[]> {
    return this.billing.listTransactions(stationId, filter);
  }

  getTransactionEvents(stationId: string, transactionId: string): Promise<StoredTransactionEvent[]> {
    return this.billing.getTransactionEvents(stationId, transactionId);
  }

  getTransactionConflicts(stationId: string, transactionId: string): Promise<StoredTransactionEvent[]> {
    return this.billing.getTransactionConflicts(stationId, transactionId);
  }

  getTransactionMeterValues(stationId: string, transactionId: string): Promise<StoredMeterValues[]> {
    return this.billing.getTransactionMeterValues(stationId, transactionId);
  }

  openTransactionIds(stationId: string): Promise<string[]> {
    return this.billing.openTransactionIds(stationId);
  }

  /** Waits for every pending write (and lazily held lastSeen) to commit, then closes the database. */
  async close(): Promise<void> {
    try {
      await this.committer.close();
    } finally {
      await this.db.close();
    }
  }

  /** Runs statements in one transaction outside group commit (tests, maintenance). */
  transaction<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }

  /** A lastSeen still held in memory is newer than the column; readers should not see it go back. */
  private withPendingLastSeen(station: StationRecord): StationRecord {
    const pending = this.lastSeen.peek(station.id);
    if (pending && (!station.lastSeen || pending.at > station.lastSeen)) station.lastSeen = pending.at;
    return station;
  }
}
