import { asJson } from '../../json.js';
import type {
  ComponentType,
  GetVariablesRequest,
  GetVariablesResponse,
  ReportDataType,
  SetVariablesRequest,
  SetVariablesResponse,
  VariableType,
} from '../../ocpp/v201/types.js';
import type { StationHandle, StationServices } from '../../station/types.js';
import type { DeviceVariable } from '../../store/store.js';

/**
 * The station's device model as the CSMS knows it (B05–B07): report rows, values read and values set
 * become stored variables; an accepted BasicAuthPassword becomes the station's new credential, and no
 * secret is ever stored.
 */

function sameItem(a: { component: ComponentType; variable: VariableType; attributeType?: string }, b: typeof a): boolean {
  return (
    a.component.name === b.component.name &&
    (a.component.instance ?? '') === (b.component.instance ?? '') &&
    (a.component.evse?.id ?? -1) === (b.component.evse?.id ?? -1) &&
    (a.component.evse?.connectorId ?? -1) === (b.component.evse?.connectorId ?? -1) &&
    a.variable.name === b.variable.name &&
    (a.variable.instance ?? '') === (b.variable.instance ?? '') &&
    (a.attributeType ?? 'Actual') === (b.attributeType ?? 'Actual')
  );
}

export function isBasicAuthPassword(item: { component: ComponentType; variable: VariableType }): boolean {
  return item.component.name === 'SecurityCtrlr' && item.variable.name === 'BasicAuthPassword';
}

function variable(component: ComponentType, variableType: VariableType, type: string, value: string): DeviceVariable {
  return { component: asJson(component), variable: asJson(variableType), attributes: [{ type, value }] };
}

export async function learnFromGetVariables(
  station: StationHandle,
  _request: GetVariablesRequest,
  response: GetVariablesResponse,
  services: StationServices,
): Promise<void> {
  const known = response.getVariableResult
    .filter((result) => result.attributeStatus === 'Accepted' && result.attributeValue !== undefined && !isBasicAuthPassword(result))
    .map((result) => variable(result.component, result.variable, result.attributeType ?? 'Actual', result.attributeValue as string));
  if (known.length > 0) await services.store.recordVariables(station.stationId, known);
}

export async function learnFromSetVariables(
  station: StationHandle,
  request: SetVariablesRequest,
  response: SetVariablesResponse,
  services: StationServices,
): Promise<void> {
  const accepted = response.setVariableResult.filter((result) => result.attributeStatus === 'Accepted' || result.attributeStatus === 'RebootRequired');
  const values: DeviceVariable[] = [];
  for (const result of accepted) {
    const sent = request.setVariableData.find((item) => sameItem(item, result));
    if (sent === undefined) continue;
    if (isBasicAuthPassword(sent)) {
      // A01.FR.03: from now on only the new password opens a connection; A01.FR.04: a rejected
      // change (not in this list) leaves the old one valid. The password itself is never stored in clear.
      await services.store.upsertStation(station.stationId, await services.passwords.create(station.stationId, sent.attributeValue));
      station.log.info('BasicAuthPassword changed by the station; the previous password no longer opens a connection');
      continue;
    }
    values.push(variable(sent.component, sent.variable, sent.attributeType ?? 'Actual', sent.attributeValue));
  }
  if (values.length > 0) await services.store.recordVariables(station.stationId, values);
}

/** A report row becomes device-model knowledge: the attributes it carries, merged by attribute type. */
export function deviceVariableFromReport(row: ReportDataType): DeviceVariable {
  return {
    component: asJson(row.component),
    variable: asJson(row.variable),
    attributes: row.variableAttribute.map((attribute) => ({
      type: attribute.type ?? 'Actual',
      ...(attribute.value !== undefined ? { value: attribute.value } : {}),
      ...(attribute.mutability !== undefined ? { mutability: attribute.mutability } : {}),
      ...(attribute.persistent !== undefined ? { persistent: attribute.persistent } : {}),
      ...(attribute.constant !== undefined ? { constant: attribute.constant } : {}),
    })),
    ...(row.variableCharacteristics !== undefined ? { characteristics: asJson(row.variableCharacteristics) } : {}),
  };
}

/**
 * A station should never report a secret, but some do (BasicAuthPassword as Actual). Such values are
 * dropped before anything is stored: the report and the device model never hold a credential.
 */
export function withoutSecrets(row: ReportDataType): ReportDataType {
  const secret = isBasicAuthPassword(row) || row.variableAttribute.some((a) => a.mutability === 'WriteOnly');
  if (!secret) return row;
  const variableAttribute = row.variableAttribute.map(({ value: _secret, ...attribute }) => attribute) as ReportDataType['variableAttribute'];
  return { ...row, variableAttribute };
}
