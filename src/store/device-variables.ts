import type { DeviceVariable, Json, JsonObject, VariableAttribute } from './store.js';

function field(object: JsonObject | undefined, name: string): Json {
  return object?.[name] ?? null;
}

function nested(object: JsonObject, name: string): JsonObject | undefined {
  const value = object[name];
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : undefined;
}

/**
 * Identity of a device-model variable: component name and instance, EVSE id and connector id, variable
 * name and instance. A JSON array, because OCPP identifiers may contain any separator we could pick.
 */
export function deviceVariableKey(variable: Pick<DeviceVariable, 'component' | 'variable'>): string {
  const evse = nested(variable.component, 'evse');
  return JSON.stringify([
    field(variable.component, 'name'),
    field(variable.component, 'instance'),
    field(evse, 'id'),
    field(evse, 'connectorId'),
    field(variable.variable, 'name'),
    field(variable.variable, 'instance'),
  ]);
}

/** Removes `undefined` members, so that JS and the SQL merge (`jsonb || jsonb`) see the same keys. */
function defined(attribute: VariableAttribute): VariableAttribute {
  const copy: VariableAttribute = { type: attribute.type };
  if (attribute.value !== undefined) copy.value = attribute.value;
  if (attribute.mutability !== undefined) copy.mutability = attribute.mutability;
  if (attribute.persistent !== undefined) copy.persistent = attribute.persistent;
  if (attribute.constant !== undefined) copy.constant = attribute.constant;
  if (attribute.readonly !== undefined) copy.readonly = attribute.readonly;
  return copy;
}

/**
 * Per attribute type, the later attribute's fields win over the earlier's, and fields it does not carry
 * are kept (a SetVariables result brings a value, not the mutability a report told us). Mirrors the SQL
 * of the device_variables writer, so folding inside a batch and merging in the table agree.
 */
export function mergeAttributes(earlier: VariableAttribute[], later: VariableAttribute[]): VariableAttribute[] {
  const merged: VariableAttribute[] = earlier.map(defined);
  for (const attribute of later) {
    const index = merged.findIndex((candidate) => candidate.type === attribute.type);
    const existing = index === -1 ? undefined : merged[index];
    if (existing === undefined) merged.push(defined(attribute));
    else merged[index] = { ...existing, ...defined(attribute) };
  }
  return merged;
}

export function mergeDeviceVariables(earlier: DeviceVariable, later: DeviceVariable): DeviceVariable {
  const merged: DeviceVariable = {
    component: later.component,
    variable: later.variable,
    attributes: mergeAttributes(earlier.attributes, later.attributes),
  };
  const characteristics = later.characteristics ?? earlier.characteristics;
  if (characteristics !== undefined) merged.characteristics = characteristics;
  return merged;
}
