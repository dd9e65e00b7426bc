import type { OcppAction } from './types.js';

/**
 * Who may initiate each OCPP 2.0.1 action. A station sending a CSMS-initiated action gets NotSupported;
 * an action that is in neither list gets NotImplemented.
 */
export const STATION_INITIATED = [
  'Authorize',
  'BootNotification',
  'ClearedChargingLimit',
  'DataTransfer',
  'FirmwareStatusNotification',
  'Get15118EVCertificate',
  'GetCertificateStatus',
  'Heartbeat',
  'LogStatusNotification',
  'MeterValues',
  'NotifyChargingLimit',
  'NotifyCustomerInformation',
  'NotifyDisplayMessages',
  'NotifyEVChargingNeeds',
  'NotifyEVChargingSchedule',
  'NotifyEvent',
  'NotifyMonitoringReport',
  'NotifyReport',
  'PublishFirmwareStatusNotification',
  'ReportChargingProfiles',
  'ReservationStatusUpdate',
  'SecurityEventNotification',
  'SignCertificate',
  'StatusNotification',
  'TransactionEvent',
] as const satisfies readonly OcppAction[];

export const CSMS_INITIATED = [
  'CancelReservation',
  'CertificateSigned',
  'ChangeAvailability',
  'ClearCache',
  'ClearChargingProfile',
  'ClearDisplayMessage',
  'ClearVariableMonitoring',
  'CostUpdated',
  'CustomerInformation',
  'DataTransfer',
  'DeleteCertificate',
  'GetBaseReport',
  'GetChargingProfiles',
  'GetCompositeSchedule',
  'GetDisplayMessages',
  'GetInstalledCertificateIds',
  'GetLocalListVersion',
  'GetLog',
  'GetMonitoringReport',
  'GetReport',
  'GetTransactionStatus',
  'GetVariables',
  'InstallCertificate',
  'PublishFirmware',
  'RequestStartTransaction',
  'RequestStopTransaction',
  'ReserveNow',
  'Reset',
  'SendLocalList',
  'SetChargingProfile',
  'SetDisplayMessage',
  'SetMonitoringBase',
  'SetMonitoringLevel',
  'SetNetworkProfile',
  'SetVariableMonitoring',
  'SetVariables',
  'TriggerMessage',
  'UnlockConnector',
  'UnpublishFirmware',
  'UpdateFirmware',
] as const satisfies readonly OcppAction[];

export type StationAction = (typeof STATION_INITIATED)[number];
export type CsmsAction = (typeof CSMS_INITIATED)[number];

const stationActions: ReadonlySet<string> = new Set(STATION_INITIATED);
const csmsActions: ReadonlySet<string> = new Set(CSMS_INITIATED);

export function isStationAction(action: string): action is StationAction {
  return stationActions.has(action);
}

export function isCsmsAction(action: string): action is CsmsAction {
  return csmsActions.has(action);
}

/** TriggerMessage.requestedMessage → the station action it makes the station send. */
export const TRIGGERED_ACTION: Readonly<Record<string, StationAction>> = {
  BootNotification: 'BootNotification',
  LogStatusNotification: 'LogStatusNotification',
  FirmwareStatusNotification: 'FirmwareStatusNotification',
  Heartbeat: 'Heartbeat',
  MeterValues: 'MeterValues',
  SignChargingStationCertificate: 'SignCertificate',
  SignV2GCertificate: 'SignCertificate',
  SignCombinedCertificate: 'SignCertificate',
  StatusNotification: 'StatusNotification',
  TransactionEvent: 'TransactionEvent',
  PublishFirmwareStatusNotification: 'PublishFirmwareStatusNotification',
};
