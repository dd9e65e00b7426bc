/**
 * What a simulated station says: OCPP 2.0.1 (or 1.6J) CALL texts for each step of its script, and answers to the
 * CSMS's own CALLs. Texts are built from templates rather than JSON.stringify: the generator's CPU per
 * message must stay well below the CSMS's. Every value interpolated here is an id, a number or a
 * timestamp, never something that needs JSON escaping.
 */

/** One step of a station's script. The OCPP action it sends is `STEP_ACTION[step]`. */
export type Step = 'Heartbeat' | 'StatusOccupied' | 'StatusAvailable' | 'Authorize' | 'TxStarted' | 'TxUpdated' | 'TxEnded' | 'MeterValues';

export const STEP_ACTION: Readonly<Record<Step, string>> = {
  Heartbeat: 'Heartbeat',
  StatusOccupied: 'StatusNotification',
  StatusAvailable: 'StatusNotification',
  Authorize: 'Authorize',
  TxStarted: 'TransactionEvent',
  TxUpdated: 'TransactionEvent',
  TxEnded: 'TransactionEvent',
  MeterValues: 'MeterValues',
};

/**
 * Traffic mixes. `mixed` is one charging session per cycle as a real station produces it: a heartbeat,
 * the connector going Occupied, the driver's card (Authorize), the transaction with periodic meter
 * values, the connector Available again, and a main-meter MeterValues: 10 messages, half of them
 * TransactionEvents.
 */
export const MIXES = {
  mixed: ['Heartbeat', 'StatusOccupied', 'Authorize', 'TxStarted', 'TxUpdated', 'TxUpdated', 'TxUpdated', 'TxEnded', 'StatusAvailable', 'MeterValues'],
  heartbeat: ['Heartbeat'],
  status: ['StatusOccupied', 'StatusAvailable'],
  authorize: ['Authorize'],
  transaction: ['TxStarted', 'TxUpdated', 'TxUpdated', 'TxEnded'],
  metervalues: ['MeterValues'],
} as const satisfies Record<string, readonly Step[]>;

export type MixName = keyof typeof MIXES;

export function isMixName(name: string): name is MixName {
  return Object.hasOwn(MIXES, name);
}

/**
 * A 1.6 station runs the same script in 1.6 messages: the transaction is StartTransaction, MeterValues with its
 * (CSMS-assigned) transactionId, StopTransaction.
 */
export const STEP_ACTION_16: Readonly<Record<Step, string>> = {
  Heartbeat: 'Heartbeat',
  StatusOccupied: 'StatusNotification',
  StatusAvailable: 'StatusNotification',
  Authorize: 'Authorize',
  TxStarted: 'StartTransaction',
  TxUpdated: 'MeterValues',
  TxEnded: 'StopTransaction',
  MeterValues: 'MeterValues',
};

/**
 * Whether station `index` of the fleet speaks 1.6: a fixed, evenly spread share of the indices (Fibonacci hashing),
 * so every worker's slice and every run hold the same mix.
 */
export function speaksOcpp16(index: number, share: number): boolean {
  if (share <= 0) return false;
  if (share >= 1) return true;
  return (index * 0.6180339887498949) % 1 < share;
}

export function bootNotification16(serialNumber: string): string {
  return `{"chargePointVendor":"Stroom Bench","chargePointModel":"Bench-16","chargePointSerialNumber":"${serialNumber}","firmwareVersion":"1.0.0"}`;
}

export function statusNotification16(connectorId: number, status: 'Available' | 'Preparing', now: string): string {
  return `{"connectorId":${connectorId},"errorCode":"NoError","status":"${status}","timestamp":"${now}"}`;
}

export function authorize16(idTag: string): string {
  return `{"idTag":"${idTag}"}`;
}

export function startTransaction16(idTag: string, connectorId: number, wh: number, now: string): string {
  return `{"connectorId":${connectorId},"idTag":"${idTag}","meterStart":${wh},"timestamp":"${now}"}`;
}

function energy16(wh: number, now: string, context: string): string {
  return `{"timestamp":"${now}","sampledValue":[{"value":"${wh}","context":"${context}","measurand":"Energy.Active.Import.Register","unit":"Wh"}]}`;
}

export function transactionMeterValues16(transactionId: string, connectorId: number, wh: number, now: string): string {
  return (
    `{"connectorId":${connectorId},"transactionId":${transactionId},"meterValue":[{"timestamp":"${now}","sampledValue":[` +
    `{"value":"${wh}","context":"Sample.Periodic","measurand":"Energy.Active.Import.Register","unit":"Wh"},` +
    `{"value":"11000","context":"Sample.Periodic","measurand":"Power.Active.Import","unit":"W"}]}]}`
  );
}

export function stopTransaction16(transactionId: string, idTag: string, wh: number, now: string): string {
  return `{"transactionId":${transactionId},"idTag":"${idTag}","meterStop":${wh},"timestamp":"${now}","reason":"Local"}`;
}

/** Main meter of the whole station (connector 0): linked to no transaction. */
export function meterValues16(wh: number, now: string): string {
  return `{"connectorId":0,"meterValue":[${energy16(wh, now, 'Sample.Periodic')}]}`;
}

export function call(messageId: string, action: string, payload: string): string {
  return `[2,"${messageId}","${action}",${payload}]`;
}

export function bootNotification(serialNumber: string): string {
  return `{"reason":"PowerUp","chargingStation":{"model":"Bench-22","vendorName":"Stroom Bench","serialNumber":"${serialNumber}","firmwareVersion":"1.0.0"}}`;
}

export function statusNotification(evseId: number, connectorStatus: 'Available' | 'Occupied', now: string): string {
  return `{"timestamp":"${now}","connectorStatus":"${connectorStatus}","evseId":${evseId},"connectorId":1}`;
}

export function authorize(idToken: string): string {
  return `{"idToken":{"idToken":"${idToken}","type":"ISO14443"}}`;
}

function energy(wh: number, now: string, context: string): string {
  return `{"timestamp":"${now}","sampledValue":[{"value":${wh},"context":"${context}","measurand":"Energy.Active.Import.Register","unitOfMeasure":{"unit":"Wh"}}]}`;
}

export function transactionStarted(transactionId: string, idToken: string, evseId: number, wh: number, now: string): string {
  return (
    `{"eventType":"Started","timestamp":"${now}","triggerReason":"Authorized","seqNo":0,` +
    `"transactionInfo":{"transactionId":"${transactionId}","chargingState":"Charging"},` +
    `"evse":{"id":${evseId},"connectorId":1},"idToken":{"idToken":"${idToken}","type":"ISO14443"},` +
    `"meterValue":[${energy(wh, now, 'Transaction.Begin')}]}`
  );
}

export function transactionUpdated(transactionId: string, seqNo: number, wh: number, now: string): string {
  return (
    `{"eventType":"Updated","timestamp":"${now}","triggerReason":"MeterValuePeriodic","seqNo":${seqNo},` +
    `"transactionInfo":{"transactionId":"${transactionId}","chargingState":"Charging"},` +
    `"meterValue":[{"timestamp":"${now}","sampledValue":[` +
    `{"value":${wh},"context":"Sample.Periodic","measurand":"Energy.Active.Import.Register","unitOfMeasure":{"unit":"Wh"}},` +
    `{"value":11000,"context":"Sample.Periodic","measurand":"Power.Active.Import","unitOfMeasure":{"unit":"W"}}]}]}`
  );
}

export function transactionEnded(transactionId: string, seqNo: number, idToken: string, wh: number, now: string): string {
  return (
    `{"eventType":"Ended","timestamp":"${now}","triggerReason":"StopAuthorized","seqNo":${seqNo},` +
    `"transactionInfo":{"transactionId":"${transactionId}","chargingState":"Idle","stoppedReason":"Local"},` +
    `"idToken":{"idToken":"${idToken}","type":"ISO14443"},` +
    `"meterValue":[${energy(wh, now, 'Transaction.End')}]}`
  );
}

/** Main meter of the whole station (evse 0): linked to no transaction. */
export function meterValues(wh: number, now: string): string {
  return `{"evseId":0,"meterValue":[${energy(wh, now, 'Sample.Periodic')}]}`;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every requested (component, variable, attributeType), answered Accepted. */
function variableResults(data: Json | undefined): { [key: string]: Json }[] {
  const items = Array.isArray(data) ? data : [];
  return items.map((item) => {
    const entry = item as { component?: Json; variable?: Json; attributeType?: Json };
    return {
      attributeStatus: 'Accepted',
      component: entry.component ?? { name: 'Unknown' },
      variable: entry.variable ?? { name: 'Unknown' },
      ...(entry.attributeType !== undefined ? { attributeType: entry.attributeType } : {}),
    };
  });
}

/** Answers whose shape is not just {"status":"Accepted"}. */
function answerPayload(action: string, request: Record<string, Json>): Json {
  switch (action) {
    case 'GetConfiguration':
      return { configurationKey: [{ key: 'HeartbeatInterval', readonly: false, value: '300' }], unknownKey: [] };
    case 'UpdateFirmware':
      return {};
    case 'GetVariables':
      return { getVariableResult: variableResults(request.getVariableData).map((result) => ({ ...result, attributeValue: '42' })) };
    case 'SetVariables':
      return { setVariableResult: variableResults(request.setVariableData) };
    case 'UnlockConnector':
      return { status: 'Unlocked' };
    case 'GetLocalListVersion':
      return { versionNumber: 0 };
    case 'GetTransactionStatus':
      return { messagesInQueue: false };
    case 'CostUpdated':
    case 'ClearedChargingLimit':
      return {};
    case 'GetLog':
      return { status: 'Accepted', filename: 'bench.log' };
    default:
      return { status: 'Accepted' };
  }
}

/** The CALLRESULT text answering a CSMS CALL frame (already parsed). */
export function answerCsmsCall(messageId: string, action: string, request: Record<string, Json>): string {
  return JSON.stringify([3, messageId, answerPayload(action, request)]);
}
