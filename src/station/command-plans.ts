import type { JsonPayload } from '../ocpp/frame.js';
import type { DeviceVariable } from '../store/store.js';

/**
 * How one operator command becomes station requests. Most commands are one request. GetVariables and
 * SetVariables are split to respect the station's DeviceDataCtrlr.ItemsPerMessage limits (B06.FR.05,
 * B05.FR.11), and their answers merged back into one.
 */
export interface CommandPlan {
  requests: JsonPayload[];
  merge(responses: JsonPayload[]): JsonPayload;
}

export class CommandPlanError extends Error {
  constructor(readonly details: unknown, message: string) {
    super(message);
  }
}

const SPLITTABLE: Readonly<Record<string, { list: string; result: string; limitInstance: string }>> = {
  GetVariables: { list: 'getVariableData', result: 'getVariableResult', limitInstance: 'GetVariables' },
  SetVariables: { list: 'setVariableData', result: 'setVariableResult', limitInstance: 'SetVariables' },
};

interface VariableItem {
  component: { name: string; instance?: string; evse?: { id: number; connectorId?: number } };
  variable: { name: string; instance?: string };
  attributeType?: string;
}

function itemKey(item: VariableItem): string {
  const c = item.component;
  return [c.name, c.instance ?? '', c.evse?.id ?? '', c.evse?.connectorId ?? '', item.variable.name, item.variable.instance ?? '', item.attributeType ?? 'Actual'].join('\u0000');
}

/** DeviceDataCtrlr.ItemsPerMessage[instance], as the station last reported it. */
export function itemsPerMessage(deviceModel: readonly DeviceVariable[], instance: string): number | undefined {
  for (const entry of deviceModel) {
    const component = entry.component as { name?: string };
    const variable = entry.variable as { name?: string; instance?: string };
    if (component.name !== 'DeviceDataCtrlr' || variable.name !== 'ItemsPerMessage' || variable.instance !== instance) continue;
    const actual = entry.attributes.find((a) => a.type === 'Actual') ?? entry.attributes[0];
    const limit = Number(actual?.value);
    if (Number.isInteger(limit) && limit > 0) return limit;
  }
  return undefined;
}

export function needsDeviceModel(action: string): boolean {
  return action in SPLITTABLE;
}

/** N09.FR.04 / N10.FR.08: a CustomerInformation request names exactly one customer reference. */
const CUSTOMER_REFERENCES = ['idToken', 'customerCertificate', 'customerIdentifier'] as const;

export function planCommand(action: string, payload: JsonPayload, deviceModel: readonly DeviceVariable[]): CommandPlan {
  if (action === 'CustomerInformation') {
    const given = CUSTOMER_REFERENCES.filter((key) => payload[key] !== undefined);
    if (given.length !== 1) {
      throw new CommandPlanError({ references: given }, `CustomerInformation needs exactly one of ${CUSTOMER_REFERENCES.join(', ')} (got ${given.length})`);
    }
  }
  const split = SPLITTABLE[action];
  if (split === undefined) return { requests: [payload], merge: (responses) => responses[0] as JsonPayload };

  const items = payload[split.list] as VariableItem[];
  // B05.FR.13 (and the same sense for reads): one (component, variable, attributeType) once per request.
  const seen = new Map<string, number>();
  items.forEach((item, index) => {
    const key = itemKey(item);
    const first = seen.get(key);
    if (first !== undefined) {
      throw new CommandPlanError({ first, duplicate: index }, `${split.list}[${index}] repeats ${split.list}[${first}] (same component, variable and attributeType)`);
    }
    seen.set(key, index);
  });

  const limit = itemsPerMessage(deviceModel, split.limitInstance) ?? items.length;
  const requests: JsonPayload[] = [];
  for (let start = 0; start < items.length; start += limit) {
    requests.push({ ...payload, [split.list]: items.slice(start, start + limit) });
  }
  return {
    requests,
    merge: (responses) => ({ ...(responses[0] as JsonPayload), [split.result]: responses.flatMap((r) => (r[split.result] as unknown[]) ?? []) }),
  };
}
