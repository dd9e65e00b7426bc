/**
 * The system of record, as the core sees it. Implemented once over SQL (PostgreSQL through `pg`, or the
 * embedded PGlite); callers never see which.
 *
 * Every `record*` method resolves only after its row is committed. Concurrent calls share one database
 * transaction (group commit), so a burst of stations costs one commit, not one per message.
 */

export type SecurityProfile = 1 | 2 | 3;
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
  /** Station-wide status (2.0.1 evseId 0, 1.6 connectorId 0) as last reported; undefined before any. */
  availability: StationStatusRecord | undefined;
  createdAt: Date;
  updatedAt: Date;
}

export interface StationPatch {
  securityProfile?: SecurityProfile;
  passwordHash?: string | null;
  bootPolicy?: BootPolicy;
}

export interface ConnectorStatusRecord {
  evseId: number;
  connectorId: number;
  status: string;
  updatedAt: Date;
}

/** What the station reported for itself as a whole (StatusNotification evseId 0, AvailabilityState of evse 0). */
export interface StationStatusRecord {
  status: string;
  updatedAt: Date;
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
  | 'LogStatusNotification';

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

export interface Store {
  readonly kind: 'postgres' | 'embedded';

  // Stations (operator writes: committed directly, not batched)
  getStation(id: string): Promise<StationRecord | undefined>;
  listStations(): Promise<StationRecord[]>;
  /** Creates the station when absent (defaults: profile 1, bootPolicy Accepted, bootStatus Unknown). */
  upsertStation(id: string, patch: StationPatch): Promise<{ station: StationRecord; created: boolean }>;
  deleteStation(id: string): Promise<boolean>;

  // Records written by station traffic (group commit; resolve after commit)
  recordBoot(stationId: string, boot: { bootStatus: BootStatus; chargingStation: JsonObject; reason: string; at: Date }): Promise<void>;
  /** An EVSE's connector; evseId 0 is the station itself and belongs in recordStationStatus. */
  recordConnectorStatus(stationId: string, status: ConnectorStatusRecord): Promise<void>;
  /** The station-wide status (CONTRACT §3.2): a column of the station, the last one received wins. */
  recordStationStatus(stationId: string, status: StationStatusRecord): Promise<void>;
  recordReportPart(stationId: string, part: ReportPart): Promise<void>;
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
  getVariables(stationId: string): Promise<DeviceVariable[]>;
  listEvents(stationId: string, limit: number): Promise<StationEvent[]>;
  getCustomerInformation(stationId: string, requestId: number): Promise<CustomerInformationPart[]>;

  /** Waits for pending batched writes, then releases connections. */
  close(): Promise<void>;
}
