import type { JsonObject } from '../../json.js';
import type { ClearVariableMonitoringRequest, GetMonitoringReportRequest, SetMonitoringLevelRequest, SetVariableMonitoringRequest } from '../../ocpp/v201/types.js';
import type { DeviceVariable } from '../../store/store.js';
import { CommandRefusal, type CommandPlan, type PlanContext } from '../../station/types.js';
import { singleRequest } from '../plans.js';

/**
 * The rules of the monitoring commands (whichever path sends them: the raw commands endpoint or a managed
 * route): refusals of what breaks an OCPP rule, and SetVariableMonitoring / ClearVariableMonitoring split to the
 * station's MonitoringCtrlr limits (N04.FR.09, N06.FR.04) with their answers merged back in order.
 */

/** `<component>.<variable>[<instance>]` as the station last reported or answered it; undefined when unknown. */
export function deviceLimit(deviceModel: readonly DeviceVariable[], component: string, variable: string, instance: string): number | undefined {
  for (const entry of deviceModel) {
    const c = entry.component as { name?: string };
    const v = entry.variable as { name?: string; instance?: string };
    if (c.name !== component || v.name !== variable || v.instance !== instance) continue;
    const actual = entry.attributes.find((a) => a.type === 'Actual') ?? entry.attributes[0];
    const limit = Number(actual?.value);
    if (Number.isInteger(limit) && limit > 0) return limit;
  }
  return undefined;
}

/**
 * A CALL frame around the payload: `[2,"<messageId>","<action>",payload]`. BytesPerMessage bounds the whole
 * message; our message ids are at most 36 characters.
 */
function frameBytes(action: string, payload: JsonObject): number {
  return Buffer.byteLength(JSON.stringify([2, 'x'.repeat(36), action, payload]), 'utf8');
}

/**
 * Cuts `payload[list]` into requests of at most `maxItems` elements and `maxBytes` bytes per message (either
 * limit may be unknown: then it does not cut). An element too big for a message on its own goes alone: the
 * station answers it as it sees fit, which is better than never sending it.
 */
export function splitToLimits(
  action: string,
  payload: JsonObject,
  list: string,
  result: string,
  maxItems: number | undefined,
  maxBytes: number | undefined,
): CommandPlan {
  const items = payload[list] as JsonObject[];
  const requests: JsonObject[] = [];
  let chunk: JsonObject[] = [];
  for (const item of items) {
    const candidate = [...chunk, item];
    const tooMany = maxItems !== undefined && candidate.length > maxItems;
    const tooBig = maxBytes !== undefined && frameBytes(action, { ...payload, [list]: candidate }) > maxBytes;
    if (chunk.length > 0 && (tooMany || tooBig)) {
      requests.push({ ...payload, [list]: chunk });
      chunk = [item];
    } else {
      chunk = candidate;
    }
  }
  if (chunk.length > 0) requests.push({ ...payload, [list]: chunk });
  return {
    requests,
    merge: (responses) => ({ ...(responses[0] ?? {}), [result]: responses.flatMap((r) => (r[result] as JsonObject[] | undefined) ?? []) }),
  };
}

function refuse(rule: string, message: string, details: JsonObject = {}): never {
  throw new CommandRefusal(400, 'invalid_payload', message, { rule, message, ...details });
}

/** Severity levels run from 0 (Danger) to 9 (Debug) (OCPP 2.0.1 Part 2 §3.77 severity; N05.FR.02 for the level). */
function checkSeverity(severity: number, rule: string, where: string): void {
  if (!Number.isInteger(severity) || severity < 0 || severity > 9) refuse(rule, `${where}: severity ${severity} is outside 0-9`);
}

export async function planSetVariableMonitoring(payload: SetVariableMonitoringRequest, ctx: PlanContext): Promise<CommandPlan> {
  payload.setMonitoringData.forEach((element, index) => {
    checkSeverity(element.severity, 'N04.severity', `setMonitoringData[${index}]`);
    // N04.FR.14: a Delta monitor's value is the size of the change to report; a negative one is always Rejected.
    if (element.type === 'Delta' && element.value < 0) refuse('N04.FR.14', `setMonitoringData[${index}]: a Delta monitor's value must not be negative`, { index });
  });
  const model = await ctx.deviceModel();
  return splitToLimits(
    'SetVariableMonitoring',
    payload as unknown as JsonObject,
    'setMonitoringData',
    'setMonitoringResult',
    deviceLimit(model, 'MonitoringCtrlr', 'ItemsPerMessage', 'SetVariableMonitoring'),
    deviceLimit(model, 'MonitoringCtrlr', 'BytesPerMessage', 'SetVariableMonitoring'),
  );
}

export async function planClearVariableMonitoring(payload: ClearVariableMonitoringRequest, ctx: PlanContext): Promise<CommandPlan> {
  const model = await ctx.deviceModel();
  return splitToLimits(
    'ClearVariableMonitoring',
    payload as unknown as JsonObject,
    'id',
    'clearMonitoringResult',
    deviceLimit(model, 'MonitoringCtrlr', 'ItemsPerMessage', 'ClearVariableMonitoring'),
    deviceLimit(model, 'MonitoringCtrlr', 'BytesPerMessage', 'ClearVariableMonitoring'),
  );
}

export function planSetMonitoringLevel(payload: SetMonitoringLevelRequest): CommandPlan {
  checkSeverity(payload.severity, 'N05.FR.02', 'SetMonitoringLevel');
  return singleRequest(payload);
}

/** N02.FR.07: no more component/variables in one request than DeviceDataCtrlr.ItemsPerMessage[GetReport]. */
export async function planGetMonitoringReport(payload: GetMonitoringReportRequest, ctx: PlanContext): Promise<CommandPlan> {
  const pairs = payload.componentVariable?.length ?? 0;
  if (pairs > 0) {
    const limit = deviceLimit(await ctx.deviceModel(), 'DeviceDataCtrlr', 'ItemsPerMessage', 'GetReport');
    if (limit !== undefined && pairs > limit) {
      refuse('N02.FR.07', `componentVariable has ${pairs} entries, more than the station's ItemsPerMessageGetReport (${limit})`, { limit, given: pairs });
    }
  }
  return singleRequest(payload);
}
