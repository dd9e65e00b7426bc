import type { OcppAction } from './types.js';

/**
 * Who may initiate each OCPP 1.6J action (1.6 edition 2 §4–§5, and the Security Extension §2–§4). A station
 * sending a Central-System-initiated action gets NotSupported; an action in neither list gets NotImplemented.
 */
export const STATION_INITIATED = [
  'Authorize',
  'BootNotification',
  'DataTransfer',
  'DiagnosticsStatusNotification',
  'FirmwareStatusNotification',
  'Heartbeat',
  'LogStatusNotification',
  'MeterValues',
  'SecurityEventNotification',
  'SignCertificate',
  'SignedFirmwareStatusNotification',
  'StartTransaction',
  'StatusNotification',
  'StopTransaction',
] as const satisfies readonly OcppAction[];

export const CSMS_INITIATED = [
  'CancelReservation',
  'CertificateSigned',
  'ChangeAvailability',
  'ChangeConfiguration',
  'ClearCache',
  'ClearChargingProfile',
  'DataTransfer',
  'DeleteCertificate',
  'ExtendedTriggerMessage',
  'GetCompositeSchedule',
  'GetConfiguration',
  'GetDiagnostics',
  'GetInstalledCertificateIds',
  'GetLocalListVersion',
  'GetLog',
  'InstallCertificate',
  'RemoteStartTransaction',
  'RemoteStopTransaction',
  'ReserveNow',
  'Reset',
  'SendLocalList',
  'SetChargingProfile',
  'SignedUpdateFirmware',
  'TriggerMessage',
  'UnlockConnector',
  'UpdateFirmware',
] as const satisfies readonly OcppAction[];

export type StationAction16 = (typeof STATION_INITIATED)[number];
export type CsmsAction16 = (typeof CSMS_INITIATED)[number];

const stationActions: ReadonlySet<string> = new Set(STATION_INITIATED);
const csmsActions: ReadonlySet<string> = new Set(CSMS_INITIATED);

export function isStationAction16(action: string): action is StationAction16 {
  return stationActions.has(action);
}

export function isCsmsAction16(action: string): action is CsmsAction16 {
  return csmsActions.has(action);
}

/** TriggerMessage / ExtendedTriggerMessage requestedMessage → the station action it makes the station send. */
export const TRIGGERED_ACTION_16: Readonly<Record<string, StationAction16>> = {
  BootNotification: 'BootNotification',
  DiagnosticsStatusNotification: 'DiagnosticsStatusNotification',
  FirmwareStatusNotification: 'FirmwareStatusNotification',
  Heartbeat: 'Heartbeat',
  LogStatusNotification: 'LogStatusNotification',
  MeterValues: 'MeterValues',
  SignChargePointCertificate: 'SignCertificate',
  StatusNotification: 'StatusNotification',
};
