/**
 * The system of record, as the core sees it. Implemented once over SQL (PostgreSQL through `pg`, or the
 * embedded PGlite); callers never see which.
 *
 * Every `record*` method resolves only after its row is committed. Concurrent calls share one database
 * transaction (group commit), so a burst of stations costs one commit, not one per message.
 */

export type SecurityProfile = 1 | 2 | 3;
/** The OCPP versions a station may speak (same values as OcppVersionId; the store depends on nothing above it). */
export type OcppVersion = '2.0.1' | '1.6';
/** `auto`: the highest version the station offers. */
export type OcppVersionPin = 'auto' | OcppVersion;
export type BootPolicy = 'Accepted' | 'Pending' | 'Rejected';
/** `Unknown` until the station's first BootNotification has been answered. */
export type BootStatus = 'Unknown' | 'Accepted' | 'Pending' | 'Rejected';

// The one JSON type (src/json.ts), re-exported for the store's callers.
import type { Json, JsonObject } from '../json.js';
export type { Json, JsonObject };

export interface StationRecord {
  id: string;
  securityProfile: SecurityProfile;
  /** Salted hash (see src/security/passwords.ts); undefined when no password is set. */
  passwordHash: string | undefined;
  /** HMAC vouching for the password that last verified (src/security/password-verifier.ts); undefined before any. */
  passwordVerifier: Buffer | undefined;
  bootPolicy: BootPolicy;
  bootStatus: BootStatus;
  /** `chargingStation` of the last BootNotification. */
  chargingStation: JsonObject | undefined;
  lastBootReason: string | undefined;
  lastSeen: Date | undefined;
  firmwareStatus: JsonObject | undefined;
  logStatus: JsonObject | undefined;
  /** Installed certificates as the station last reported them (GetInstalledCertificateIds and friends). */
  certificates: JsonObject | undefined;
  /** TC_A_19: a higher profile the station accepted (SetNetworkProfile); applied on its first connection at it. */
  pendingSecurityProfile: SecurityProfile | undefined;
  /** The last certificate-signing outcome (SignCertificate, CertificateSigned), as the security block wrote it. */
  certificateSigning: JsonObject | undefined;
  /** Station-wide status (2.0.1 evseId 0, 1.6 connectorId 0) as last reported; undefined before any. */
  availability: StationStatusRecord | undefined;
  ocppVersionPin: OcppVersionPin;
  /** What the last connection negotiated; undefined before any. */
  ocppVersion: OcppVersion | undefined;
  createdAt: Date;
  updatedAt: Date;
}

export interface StationPatch {
  securityProfile?: SecurityProfile;
  passwordHash?: string | null;
  /** Stored with a new `passwordHash` (null or absent: none); ignored without one. */
  passwordVerifier?: Buffer | null;
  bootPolicy?: BootPolicy;
  ocppVersionPin?: OcppVersionPin;
}

/** A certificate the CSMS CA signed for a station (SignCertificate). */
export interface IssuedCertificateRecord {
  /** Lower-case hex without leading zero bytes (see normalizeSerialNumber). */
  serialNumber: string;
  stationId: string;
  certificateType: string;
  issuedAt: Date;
  notAfter: Date;
  revokedAt: Date | undefined;
  revocationReason: string | undefined;
}

/** Serial numbers compare as lower-case hex without leading zero bytes (HAProxy keeps a DER sign byte, Node does not). */
export function normalizeSerialNumber(serial: string): string {
  return serial
    .trim()
    .toLowerCase()
    .replace(/^(?:00)+(?=[0-9a-f]{2})/, '');
}

/** A certificate authority kept in the database (CONTRACT §6): its certificate and private key, PEM. */
export interface StoredCertificateAuthority {
  certificatePem: string;
  keyPem: string;
  createdAt: Date;
}

export interface ConnectorStatusRecord {
  evseId: number;
  connectorId: number;
  status: string;
  updatedAt: Date;
  /** 1.6: errorCode, info, vendorId, vendorErrorCode as sent with the status (2.0.1 has none). */
  error?: JsonObject | undefined;
}

/** What the station reported for itself as a whole (StatusNotification evseId 0, AvailabilityState of evse 0). */
export interface StationStatusRecord {
  status: string;
  updatedAt: Date;
  error?: JsonObject | undefined;
}

export interface ReportPart {
  requestId: number;
  seqNo: number;
  tbc: boolean;
  generatedAt: string;
  reportData: Json[];
}

export interface VariableAttribute {
  type: string;
  value?: string;
  mutability?: string;
  persistent?: boolean;
  constant?: boolean;
  /** A 1.6 configuration key's `readonly` flag (1.6 has no mutability). */
  readonly?: boolean;
}

/** One (component, variable) of a station's device model, keyed by their names plus instance and EVSE. */
export interface DeviceVariable {
  component: JsonObject;
  variable: JsonObject;
  attributes: VariableAttribute[];
  characteristics?: JsonObject;
}

export type StationEventKind =
  | 'NotifyEvent'
  | 'SecurityEventNotification'
  | 'FirmwareStatusNotification'
  | 'LogStatusNotification'
  // OCPP 1.6 and its Security Extension
  | 'DiagnosticsStatusNotification'
  | 'SignedFirmwareStatusNotification';

export interface StationEvent {
  id: number;
  kind: StationEventKind;
  payload: JsonObject;
  receivedAt: Date;
}

export interface CustomerInformationPart {
  requestId: number;
  seqNo: number;
  tbc: boolean;
  generatedAt: string;
  data: string;
}

/** An id token sent to a station in RequestStartTransaction (CONTRACT §3.2 "Remote-start tokens"). */
export interface RemoteStartGrant {
  stationId: string;
  remoteStartId: number;
  idTokenType: string;
  /** As normalizeIdToken leaves it (hex UIDs upper case). */
  idToken: string;
  createdAt: Date;
}

export interface Store {
  readonly kind: 'postgres' | 'embedded';

  // Stations (operator writes: committed directly, not batched)
  getStation(id: string): Promise<StationRecord | undefined>;
  listStations(): Promise<StationRecord[]>;
  /** Creates the station when absent (defaults: profile 1, bootPolicy Accepted, bootStatus Unknown). */
  upsertStation(id: string, patch: StationPatch): Promise<{ station: StationRecord; created: boolean }>;
  /** Keeps the verifier of a password that just verified, unless the password changed meanwhile. */
  recordPasswordVerifier(id: string, passwordHash: string, verifier: Buffer): Promise<void>;
  /** The version a connection negotiated (written only when it changed). */
  recordOcppVersion(id: string, version: OcppVersion): Promise<void>;
  deleteStation(id: string): Promise<boolean>;

  // Security: profile raises, certificate signing, certificates the CSMS CA issued (direct statements)
  /** Remembers a profile the station accepted, when it is above the registered one. */
  setPendingSecurityProfile(id: string, target: SecurityProfile): Promise<void>;
  /**
   * Raises the registration to `target` if that is still the pending profile (a conditional UPDATE, so two
   * nodes admitting at once raise it once); never lowers it. Undefined when nothing was pending any more.
   */
  applyPendingSecurityProfile(id: string, target: SecurityProfile): Promise<StationRecord | undefined>;
  /**
   * Records `outcome` as the signing outcome unless another signing is in progress, i.e. the current outcome
   * is `Signing`/`Issued` and newer than `staleBefore`. True when claimed.
   */
  claimCertificateSigning(id: string, outcome: JsonObject, staleBefore: Date): Promise<boolean>;
  recordCertificateSigning(id: string, outcome: JsonObject): Promise<void>;
  recordIssuedCertificate(certificate: Omit<IssuedCertificateRecord, 'revokedAt' | 'revocationReason'>): Promise<void>;
  countCertificatesIssuedSince(stationId: string, since: Date): Promise<number>;
  listIssuedCertificates(stationId: string): Promise<IssuedCertificateRecord[]>;
  getIssuedCertificate(serialNumber: string): Promise<IssuedCertificateRecord | undefined>;
  /** Revokes the station's current certificates (or only `serialNumber`); how many were revoked now. */
  revokeIssuedCertificates(stationId: string, reason: string, at: Date, serialNumber?: string): Promise<number>;

  // Certificate authorities (direct statements): 'station' signs station certificates; one row per name on every node
  getCertificateAuthority(name: string): Promise<StoredCertificateAuthority | undefined>;
  /**
   * Stores `ca` under `name` unless a CA of that name exists already, and resolves with the one stored now: `ca`, or
   * the one another node (or process) created first. Of several racing, exactly one wins.
   */
  createCertificateAuthority(name: string, ca: { certificatePem: string; keyPem: string }): Promise<StoredCertificateAuthority>;

  // Remote-start grants (direct statements: they must hold on every node at once)
  /** Registers (or renews) a grant; a grant of a deleted station fails with UnknownStationError. */
  grantRemoteStart(grant: RemoteStartGrant): Promise<void>;
  /** Whether the station holds a grant for the token: bound to a transaction, or created after `unboundSince`. */
  hasRemoteStartGrant(stationId: string, idTokenType: string, idToken: string, unboundSince: Date): Promise<boolean>;
  /** Links the grant of `remoteStartId` to its transaction (the answer or a TransactionEvent named it). */
  bindRemoteStartGrant(stationId: string, remoteStartId: number, transactionId: string): Promise<void>;
  /** 1.6 (no remoteStartId on the wire): the unbound grants of this token at the station now belong to the transaction. */
  bindRemoteStartGrantsOfToken(stationId: string, token: { type: string; idToken: string }, transactionId: string): Promise<void>;
  /** The request failed: the grant is gone. */
  revokeRemoteStartGrant(stationId: string, remoteStartId: number): Promise<void>;
  /** The transaction ended: its grants are gone (and unbound grants of the token it carried). */
  endRemoteStartGrants(stationId: string, transactionId: string, token: { type: string; idToken: string } | undefined): Promise<void>;

  // Records written by station traffic (group commit; resolve after commit)
  /** `reason` undefined: the version has none (1.6), shown as null. */
  recordBoot(stationId: string, boot: { bootStatus: BootStatus; chargingStation: JsonObject; reason: string | undefined; at: Date }): Promise<void>;
  /** An EVSE's connector; evseId 0 is the station itself and belongs in recordStationStatus. */
  recordConnectorStatus(stationId: string, status: ConnectorStatusRecord): Promise<void>;
  /** The station-wide status (CONTRACT §3.2): a column of the station, the last one received wins. */
  recordStationStatus(stationId: string, status: StationStatusRecord): Promise<void>;
  recordReportPart(stationId: string, part: ReportPart): Promise<void>;
  /** The station accepted a report request (GetBaseReport, GetReport): its report is under way. */
  recordReportRequest(stationId: string, requestId: number, acceptedAt: Date): Promise<void>;
  /** Merges into the stored device model (last write per component/variable/attribute type wins). */
  recordVariables(stationId: string, variables: DeviceVariable[]): Promise<void>;
  recordEvent(stationId: string, kind: StationEventKind, payload: JsonObject, at: Date): Promise<void>;
  recordFirmwareStatus(stationId: string, status: JsonObject): Promise<void>;
  recordLogStatus(stationId: string, status: JsonObject): Promise<void>;
  recordCertificates(stationId: string, certificates: JsonObject): Promise<void>;
  recordCustomerInformation(stationId: string, part: CustomerInformationPart): Promise<void>;
  /** Not a record: batched lazily, a lost update only makes lastSeen older. */
  touchLastSeen(stationId: string, at: Date): void;

  // Budgets and retention (README "Budgets and retention")
  /** Deletes the parts of all but the `keepRequests` newest report requestIds of a station; resolves to how many requestIds went. */
  pruneReports(stationId: string, keepRequests: number): Promise<number>;
  /** Deletes at most `limit` station events and at most `limit` meter values without a transaction received before `before`. */
  deleteExpired(before: Date, limit: number): Promise<{ stationEvents: number; meterValues: number }>;

  // Reads
  getConnectors(stationId: string): Promise<ConnectorStatusRecord[]>;
  getReportParts(stationId: string, requestId: number): Promise<ReportPart[]>;
  /** Whether the station accepted a report request with this requestId. */
  hasReportRequest(stationId: string, requestId: number): Promise<boolean>;
  getVariables(stationId: string): Promise<DeviceVariable[]>;
  listEvents(stationId: string, limit: number): Promise<StationEvent[]>;
  getCustomerInformation(stationId: string, requestId: number): Promise<CustomerInformationPart[]>;

  /** Waits for pending batched writes, then releases connections. */
  close(): Promise<void>;
}
