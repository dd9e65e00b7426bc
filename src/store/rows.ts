/**
 * Row shapes as both drivers return them, and their mapping to the records of store.ts: the one place
 * where snake_case columns, nullable columns and int8-as-string meet the domain types.
 */
import type { IdTokenRecord, IdTokenStatus, StoredMeterValues, StoredTransactionEvent, TransactionRecord } from './billing-store.js';
import type {
  BootPolicy,
  BootStatus,
  ConnectorStatusRecord,
  CustomerInformationPart,
  DeviceVariable,
  IssuedCertificateRecord,
  Json,
  JsonObject,
  OcppVersion,
  OcppVersionPin,
  ReportPart,
  SecurityProfile,
  StationEvent,
  StationEventKind,
  StationRecord,
  VariableAttribute,
} from './store.js';

export interface StationRow {
  id: string;
  security_profile: number;
  password_hash: string | null;
  /** bytea: a Buffer from node-postgres, a Uint8Array from PGlite. */
  password_verifier: Uint8Array | null;
  boot_policy: string;
  boot_status: string;
  charging_station: JsonObject | null;
  last_boot_reason: string | null;
  last_seen: Date | null;
  firmware_status: JsonObject | null;
  log_status: JsonObject | null;
  certificates: JsonObject | null;
  pending_security_profile: number | null;
  certificate_signing: JsonObject | null;
  station_status: string | null;
  station_status_at: Date | null;
  station_status_error: JsonObject | null;
  ocpp_version_pin: string;
  ocpp_version: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface IssuedCertificateRow {
  serial_number: string;
  station_id: string;
  certificate_type: string;
  issued_at: Date;
  not_after: Date;
  revoked_at: Date | null;
  revocation_reason: string | null;
}

export interface ConnectorRow {
  evse_id: number;
  connector_id: number;
  status: string;
  updated_at: Date;
  error: JsonObject | null;
}

export interface ReportPartRow {
  request_id: number;
  seq_no: number;
  tbc: boolean;
  generated_at: string;
  report_data: Json[];
}

export interface DeviceVariableRow {
  component: JsonObject;
  variable: JsonObject;
  attributes: VariableAttribute[];
  characteristics: JsonObject | null;
}

export interface StationEventRow {
  /** bigserial: a string from pg, a number from PGlite. */
  id: string | number;
  kind: string;
  payload: JsonObject;
  received_at: Date;
}

export interface CustomerInformationRow {
  request_id: number;
  seq_no: number;
  tbc: boolean;
  generated_at: string;
  data: string;
}

// The CHECK constraints of the schema guarantee the enumerations below.

export function toStation(row: StationRow): StationRecord {
  return {
    id: row.id,
    securityProfile: row.security_profile as SecurityProfile,
    passwordHash: row.password_hash ?? undefined,
    passwordVerifier:
      row.password_verifier === null ? undefined : Buffer.from(row.password_verifier.buffer, row.password_verifier.byteOffset, row.password_verifier.byteLength),
    bootPolicy: row.boot_policy as BootPolicy,
    bootStatus: row.boot_status as BootStatus,
    chargingStation: row.charging_station ?? undefined,
    lastBootReason: row.last_boot_reason ?? undefined,
    lastSeen: row.last_seen ?? undefined,
    firmwareStatus: row.firmware_status ?? undefined,
    logStatus: row.log_status ?? undefined,
    certificates: row.certificates ?? undefined,
    pendingSecurityProfile: row.pending_security_profile === null ? undefined : (row.pending_security_profile as SecurityProfile),
    certificateSigning: row.certificate_signing ?? undefined,
    availability:
      row.station_status !== null && row.station_status_at !== null
        ? { status: row.station_status, updatedAt: row.station_status_at, ...(row.station_status_error !== null ? { error: row.station_status_error } : {}) }
        : undefined,
    ocppVersionPin: row.ocpp_version_pin as OcppVersionPin,
    ocppVersion: row.ocpp_version === null ? undefined : (row.ocpp_version as OcppVersion),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function toIssuedCertificate(row: IssuedCertificateRow): IssuedCertificateRecord {
  return {
    serialNumber: row.serial_number,
    stationId: row.station_id,
    certificateType: row.certificate_type,
    issuedAt: row.issued_at,
    notAfter: row.not_after,
    revokedAt: row.revoked_at ?? undefined,
    revocationReason: row.revocation_reason ?? undefined,
  };
}

export function toConnector(row: ConnectorRow): ConnectorStatusRecord {
  return { evseId: row.evse_id, connectorId: row.connector_id, status: row.status, updatedAt: row.updated_at, ...(row.error !== null ? { error: row.error } : {}) };
}

export function toReportPart(row: ReportPartRow): ReportPart {
  return {
    requestId: row.request_id,
    seqNo: row.seq_no,
    tbc: row.tbc,
    generatedAt: row.generated_at,
    reportData: row.report_data,
  };
}

export function toDeviceVariable(row: DeviceVariableRow): DeviceVariable {
  const variable: DeviceVariable = { component: row.component, variable: row.variable, attributes: row.attributes };
  if (row.characteristics !== null) variable.characteristics = row.characteristics;
  return variable;
}

export function toStationEvent(row: StationEventRow): StationEvent {
  return { id: Number(row.id), kind: row.kind as StationEventKind, payload: row.payload, receivedAt: row.received_at };
}

export function toCustomerInformationPart(row: CustomerInformationRow): CustomerInformationPart {
  return { requestId: row.request_id, seqNo: row.seq_no, tbc: row.tbc, generatedAt: row.generated_at, data: row.data };
}

// Billing (billing-store.ts)

export interface IdTokenRow {
  type: string;
  id_token: string;
  status: string;
  group_id: string | null;
  expires_at: Date | null;
  updated_at: Date;
}

export interface TransactionRow {
  station_id: string;
  transaction_id: string;
  evse_id: number | null;
  connector_id: number | null;
  id_token: JsonObject | null;
  active: boolean;
  started_at: Date | null;
  ended_at: Date | null;
  stopped_reason: string | null;
  charging_state: string | null;
  remote_start_id: number | null;
  meter_start_wh: number | null;
  meter_stop_wh: number | null;
  last_seq_no: number;
  event_count: number;
  flags: string[];
  updated_at: Date;
  /** CONTRACT §8.4, from transaction_costs (TRANSACTION_COST_COLUMNS); null when no tariff priced it. */
  cost?: string | null;
  currency?: string | null;
}

/** The cost columns of a transaction row read `FROM transactions` (no alias): the tariffs block's transaction_costs. */
export const TRANSACTION_COST_COLUMNS = `(SELECT c.cost FROM transaction_costs c WHERE c.station_id = transactions.station_id AND c.transaction_id = transactions.transaction_id) AS cost,
  (SELECT c.currency FROM transaction_costs c WHERE c.station_id = transactions.station_id AND c.transaction_id = transactions.transaction_id) AS currency`;

export interface TransactionEventRow {
  seq_no: number;
  event_type: string;
  timestamp: Date;
  trigger_reason: string;
  offline: boolean | null;
  payload: JsonObject;
  response: JsonObject;
  received_at: Date;
}

export interface MeterValuesRow {
  evse_id: number;
  transaction_id: string | null;
  source: string;
  meter_value: Json[];
  received_at: Date;
}

export function toIdToken(row: IdTokenRow): IdTokenRecord {
  return {
    idToken: row.id_token,
    type: row.type,
    status: row.status as IdTokenStatus,
    groupId: row.group_id ?? undefined,
    expiresAt: row.expires_at ?? undefined,
    updatedAt: row.updated_at,
  };
}

export function toTransaction(row: TransactionRow): TransactionRecord {
  const meterStartWh = row.meter_start_wh ?? undefined;
  const meterStopWh = row.meter_stop_wh ?? undefined;
  return {
    stationId: row.station_id,
    transactionId: row.transaction_id,
    evseId: row.evse_id ?? undefined,
    connectorId: row.connector_id ?? undefined,
    idToken: row.id_token ?? undefined,
    active: row.active,
    startedAt: row.started_at ?? undefined,
    endedAt: row.ended_at ?? undefined,
    stoppedReason: row.stopped_reason ?? undefined,
    chargingState: row.charging_state ?? undefined,
    remoteStartId: row.remote_start_id ?? undefined,
    meterStartWh,
    meterStopWh,
    energyWh: meterStartWh !== undefined && meterStopWh !== undefined ? meterStopWh - meterStartWh : undefined,
    lastSeqNo: row.last_seq_no,
    eventCount: row.event_count,
    flags: row.flags,
    updatedAt: row.updated_at,
    ...(row.cost != null ? { cost: row.cost, currency: row.currency ?? undefined } : {}),
  };
}

export function toTransactionEvent(row: TransactionEventRow): StoredTransactionEvent {
  return {
    seqNo: row.seq_no,
    eventType: row.event_type,
    timestamp: row.timestamp,
    triggerReason: row.trigger_reason,
    offline: row.offline,
    payload: row.payload,
    response: row.response,
    receivedAt: row.received_at,
  };
}

export function toMeterValues(row: MeterValuesRow): StoredMeterValues {
  return {
    evseId: row.evse_id,
    transactionId: row.transaction_id ?? undefined,
    source: row.source,
    meterValue: row.meter_value,
    receivedAt: row.received_at,
  };
}
