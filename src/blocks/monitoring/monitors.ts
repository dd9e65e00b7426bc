import type { JsonObject } from '../../json.js';
import type {
  ComponentType,
  ComponentVariableType,
  GetMonitoringReportRequest,
  MonitoringDataType,
  SetMonitoringDataType,
  SetMonitoringResultType,
  VariableType,
} from '../../ocpp/v201/types.js';
import type { MonitorRecord, MonitorWrite } from '../../store/monitoring-sql.js';

/**
 * The pure rules of the monitor registry (no I/O): how a monitor is named, how a SetVariableMonitoring answer
 * maps back onto its request (by component/variable, never by position), and what a filtered monitoring report
 * covers.
 */

/** A component/variable pair as one string: name, instance, EVSE and connector, variable name and instance. */
export function componentVariableKey(component: ComponentType | JsonObject, variable: VariableType | JsonObject): string {
  const c = component as ComponentType;
  const v = variable as VariableType;
  return [c.name, c.instance ?? '', c.evse?.id ?? '', c.evse?.connectorId ?? '', v.name, v.instance ?? ''].join('\u0000');
}

/** N04.FR.10: a station holds one monitor per (component, variable, type, severity); its answer echoes all four. */
function elementKey(item: { component: ComponentType; variable: VariableType; type: string; severity: number }): string {
  return `${componentVariableKey(item.component, item.variable)}\u0000${item.type}\u0000${item.severity}`;
}

/** The row key of an element the station refused: never a monitor id, so a refusal cannot overwrite a monitor it holds. */
export function refusedKey(item: { component: ComponentType; variable: VariableType; type: string; severity: number }): string {
  return `refused:${elementKey(item)}`;
}

/**
 * What one SetVariableMonitoring answer says about the CSMS-set monitors. Each result is matched to the request
 * element with the same component, variable, type and severity (the echo N04.FR.02 requires), in order when
 * several elements share them; the value and transaction flag come from that element.
 */
export function monitorsFromSetResult(
  request: readonly SetMonitoringDataType[],
  results: readonly SetMonitoringResultType[],
): { monitors: MonitorWrite[]; supersededKeys: string[] } {
  const waiting = new Map<string, SetMonitoringDataType[]>();
  for (const element of request) {
    const key = elementKey(element);
    waiting.set(key, [...(waiting.get(key) ?? []), element]);
  }
  const monitors: MonitorWrite[] = [];
  const supersededKeys: string[] = [];
  for (const result of results) {
    const element = waiting.get(elementKey(result))?.shift();
    const base = {
      component: result.component as unknown as JsonObject,
      variable: result.variable as unknown as JsonObject,
      type: result.type,
      severity: result.severity,
      value: element?.value ?? 0,
      transaction: element?.transaction ?? false,
      status: result.status,
    };
    if (result.status === 'Accepted' && result.id !== undefined) {
      monitors.push({ ...base, key: String(result.id), id: result.id });
      // An earlier refusal of the same monitor is history now.
      supersededKeys.push(refusedKey(result));
    } else {
      monitors.push({ ...base, key: refusedKey(result), id: null });
    }
  }
  return { monitors, supersededKeys };
}

/** The monitors of NotifyMonitoringReport parts, as the station reported them. */
export function monitorsFromReport(data: readonly MonitoringDataType[]): MonitorWrite[] {
  return data.flatMap((entry) =>
    entry.variableMonitoring.map((monitor) => ({
      key: String(monitor.id),
      id: monitor.id,
      component: entry.component as unknown as JsonObject,
      variable: entry.variable as unknown as JsonObject,
      type: monitor.type,
      value: monitor.value,
      severity: monitor.severity,
      transaction: monitor.transaction,
      status: 'Reported',
    })),
  );
}

/** N02.FR.05/06: which monitor types each criterion selects. */
const CRITERION_TYPES: Record<string, readonly string[]> = {
  ThresholdMonitoring: ['UpperThreshold', 'LowerThreshold'],
  DeltaMonitoring: ['Delta'],
  PeriodicMonitoring: ['Periodic', 'PeriodicClockAligned'],
};

function matchesComponentVariable(monitor: MonitorRecord, wanted: ComponentVariableType): boolean {
  const c = monitor.component as unknown as ComponentType;
  const v = monitor.variable as unknown as VariableType;
  if (c.name !== wanted.component.name) return false;
  if (wanted.component.instance !== undefined && c.instance !== wanted.component.instance) return false;
  const evse = wanted.component.evse;
  if (evse !== undefined && (c.evse?.id !== evse.id || (evse.connectorId !== undefined && c.evse.connectorId !== evse.connectorId))) return false;
  if (wanted.variable === undefined) return true;
  return v.name === wanted.variable.name && (wanted.variable.instance === undefined || v.instance === wanted.variable.instance);
}

/**
 * Whether a monitor lies within what a GetMonitoringReport asked for (N02.FR.05/06/08/11): every criterion and
 * component/variable given narrows it; neither given means every monitor. A complete report replaces exactly this
 * part of what the station reported before.
 */
export function inReportScope(request: Pick<GetMonitoringReportRequest, 'monitoringCriteria' | 'componentVariable'>): (monitor: MonitorRecord) => boolean {
  const types = request.monitoringCriteria?.flatMap((criterion) => CRITERION_TYPES[criterion] ?? []);
  const pairs = request.componentVariable;
  return (monitor) => (types === undefined || types.includes(monitor.type)) && (pairs === undefined || pairs.some((pair) => matchesComponentVariable(monitor, pair)));
}

/** Parts arrive with seqNo 0, 1, … and the last one has no tbc (or tbc false); a gap means one is missing. */
export function reportComplete(parts: readonly { seqNo: number; tbc: boolean }[]): boolean {
  const last = parts[parts.length - 1];
  if (last === undefined || last.tbc) return false;
  return parts.every((part, index) => part.seqNo === index);
}

/** Event notification types that come from a monitor (HardWiredNotification is the station's own, without one). */
export const MONITOR_NOTIFICATIONS: ReadonlySet<string> = new Set(['HardWiredMonitor', 'PreconfiguredMonitor', 'CustomMonitor']);

/** An event of a monitor: it names one, or says it comes from one. */
export function isMonitorEvent(event: { variableMonitoringId?: number; eventNotificationType: string }): boolean {
  return event.variableMonitoringId !== undefined || MONITOR_NOTIFICATIONS.has(event.eventNotificationType);
}

/**
 * What GET …/events shows of a stored NotifyEvent besides its payload (CONTRACT §8.5): `alerts`, its events of
 * monitors with the monitor's severity (null when the CSMS does not know the monitor), trigger, actualValue and
 * variableMonitoringId; and when it holds exactly one, those four fields on the item itself.
 */
export function monitorEventFields(payload: JsonObject): JsonObject {
  const eventData = Array.isArray(payload.eventData) ? (payload.eventData as JsonObject[]) : [];
  const alerts = eventData
    .filter((event) => isMonitorEvent(event as unknown as { variableMonitoringId?: number; eventNotificationType: string }))
    .map((event) => ({
      eventId: event.eventId ?? null,
      timestamp: event.timestamp ?? null,
      severity: event.severity ?? null,
      trigger: event.trigger ?? null,
      actualValue: event.actualValue ?? null,
      cleared: event.cleared ?? false,
      variableMonitoringId: event.variableMonitoringId ?? null,
      eventNotificationType: event.eventNotificationType ?? null,
      component: event.component ?? null,
      variable: event.variable ?? null,
    }));
  if (alerts.length === 0) return {};
  const [only] = alerts;
  return {
    alerts,
    ...(alerts.length === 1 && only !== undefined
      ? { severity: only.severity, trigger: only.trigger, actualValue: only.actualValue, variableMonitoringId: only.variableMonitoringId }
      : {}),
  };
}

/**
 * requestIds the CSMS picks itself for the re-read after a reboot (N04.FR.19): 1,000,000,000 and up (the boot's
 * second, modulo 10^9), below 2^31 — far above the small ids operators and test tools use.
 */
export const REBOOT_REREAD_REQUEST_ID_BASE = 1_000_000_000;

export function rebootRereadRequestId(nowMs: number): number {
  return REBOOT_REREAD_REQUEST_ID_BASE + (Math.floor(nowMs / 1000) % REBOOT_REREAD_REQUEST_ID_BASE);
}

export function isRebootReread(requestId: number, request: Pick<GetMonitoringReportRequest, 'monitoringCriteria' | 'componentVariable'>): boolean {
  return requestId >= REBOOT_REREAD_REQUEST_ID_BASE && request.monitoringCriteria === undefined && request.componentVariable === undefined;
}

/**
 * N04.FR.19 (DRV-ADM-06): monitor ids may change across a reboot. Each monitor the CSMS set and the station had
 * accepted is looked up in the full report that followed the reboot by what names it on the station — component,
 * variable, type and severity (N04.FR.10: one monitor per four) — and takes the id the station now gives it, with
 * the value it reports. One the report does not hold did not survive the reboot and is dropped; refusals (no id)
 * are not the registry's monitors and are left to the caller.
 */
export function remapAfterReboot(accepted: readonly MonitorRecord[], reported: readonly MonitorWrite[]): MonitorWrite[] {
  const byName = new Map<string, MonitorWrite[]>();
  for (const monitor of reported) {
    const key = `${componentVariableKey(monitor.component, monitor.variable)}\u0000${monitor.type}\u0000${monitor.severity}`;
    byName.set(key, [...(byName.get(key) ?? []), monitor]);
  }
  const survivors: MonitorWrite[] = [];
  for (const monitor of accepted) {
    if (monitor.id === null) continue;
    const key = `${componentVariableKey(monitor.component, monitor.variable)}\u0000${monitor.type}\u0000${monitor.severity}`;
    const match = byName.get(key)?.shift();
    if (match === undefined || match.id === null) continue;
    survivors.push({
      key: String(match.id),
      id: match.id,
      component: monitor.component,
      variable: monitor.variable,
      type: monitor.type,
      value: match.value,
      severity: monitor.severity,
      transaction: match.transaction,
      status: monitor.status,
    });
  }
  return survivors;
}
