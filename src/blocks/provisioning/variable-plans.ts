import type { JsonObject } from '../../json.js';
import type { GetVariablesRequest, SetVariablesRequest } from '../../ocpp/v201/types.js';
import { passwordLengthProblem } from '../../security/passwords.js';
import type { DeviceVariable } from '../../store/store.js';
import { CommandRefusal, type CommandPlan, type PlanContext } from '../../station/types.js';

/**
 * GetVariables and SetVariables are split to respect the station's DeviceDataCtrlr.ItemsPerMessage limits
 * (B06.FR.05, B05.FR.11), and their answers merged back into one.
 */
interface VariableItem {
  component: { name: string; instance?: string; evse?: { id: number; connectorId?: number } };
  variable: { name: string; instance?: string };
  attributeType?: string;
}

function itemKey(item: VariableItem): string {
  const c = item.component;
  return [c.name, c.instance ?? '', c.evse?.id ?? '', c.evse?.connectorId ?? '', item.variable.name, item.variable.instance ?? '', item.attributeType ?? 'Actual'].join(
    '\u0000',
  );
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

/** Splits `payload[list]` into requests of at most `limit` items; answers merge `result` lists in order. */
export function splitPlan(payload: JsonObject, list: string, result: string, limit: number | undefined): CommandPlan {
  const items = payload[list] as unknown as VariableItem[];
  // B05.FR.13 (and the same sense for reads): one (component, variable, attributeType) once per request.
  const seen = new Map<string, number>();
  items.forEach((item, index) => {
    const key = itemKey(item);
    const first = seen.get(key);
    if (first !== undefined) {
      throw new CommandRefusal(400, 'invalid_payload', `${list}[${index}] repeats ${list}[${first}] (same component, variable and attributeType)`, {
        first,
        duplicate: index,
      });
    }
    seen.set(key, index);
  });
  const size = limit ?? items.length;
  const requests: JsonObject[] = [];
  for (let start = 0; start < items.length; start += size) {
    requests.push({ ...payload, [list]: items.slice(start, start + size) as unknown as JsonObject[] });
  }
  return {
    requests,
    merge: (responses) => ({ ...(responses[0] as JsonObject), [result]: responses.flatMap((r) => (r[result] as JsonObject[] | undefined) ?? []) }),
  };
}

export async function planGetVariables(payload: GetVariablesRequest, ctx: PlanContext): Promise<CommandPlan> {
  return splitPlan(payload as unknown as JsonObject, 'getVariableData', 'getVariableResult', itemsPerMessage(await ctx.deviceModel(), 'GetVariables'));
}

/**
 * CONTRACT §3.2: a station password has 16-64 characters (OCPP passwordString: the station would reject anything
 * else, or worse, accept a password the CSMS then refuses at the upgrade). Refused before anything is sent.
 */
function checkBasicAuthPasswords(payload: SetVariablesRequest): void {
  payload.setVariableData.forEach((item, index) => {
    if (item.component.name !== 'SecurityCtrlr' || item.variable.name !== 'BasicAuthPassword') return;
    const problem = passwordLengthProblem(item.attributeValue);
    if (problem !== undefined) {
      throw new CommandRefusal(400, 'invalid_payload', `setVariableData[${index}]: ${problem}`, { rule: 'BasicAuthPassword length 16-64', index });
    }
  });
}

export async function planSetVariables(payload: SetVariablesRequest, ctx: PlanContext): Promise<CommandPlan> {
  checkBasicAuthPasswords(payload);
  return splitPlan(payload as unknown as JsonObject, 'setVariableData', 'setVariableResult', itemsPerMessage(await ctx.deviceModel(), 'SetVariables'));
}
