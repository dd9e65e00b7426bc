import { get, stationPath, type JsonObject } from './api.js';
import { badge, h, replace, section, statusTone, text, when } from './dom.js';

/**
 * A station's monitors (as the CSMS set them and as the station reported them) and the latest alerts of those
 * monitors (NotifyEvent events of a monitor, with the monitor's severity), for the station page. Severity 0 is the
 * worst (Danger), 9 the least (Debug).
 */

interface MonitorItem {
  id: number | null;
  component: { name: string; instance?: string; evse?: { id: number; connectorId?: number } };
  variable: { name: string; instance?: string };
  type: string;
  value: number;
  severity: number;
  transaction: boolean;
  source: 'CSMS' | 'station';
  status: string;
}

interface MonitorEvent {
  eventId: number;
  timestamp: string;
  trigger: string;
  actualValue: string;
  cleared?: boolean;
  severity?: number;
  variableMonitoringId?: number;
  eventNotificationType: string;
  component: MonitorItem['component'];
  variable: MonitorItem['variable'];
}

const MONITOR_NOTIFICATIONS = new Set(['HardWiredMonitor', 'PreconfiguredMonitor', 'CustomMonitor']);

function target(component: MonitorItem['component'], variable: MonitorItem['variable']): string {
  const evse = component.evse === undefined ? '' : ` EVSE ${component.evse.id}${component.evse.connectorId === undefined ? '' : `/${component.evse.connectorId}`}`;
  const instance = component.instance === undefined ? '' : `[${component.instance}]`;
  const variableInstance = variable.instance === undefined ? '' : `[${variable.instance}]`;
  return `${component.name}${instance}${evse} · ${variable.name}${variableInstance}`;
}

function severityTone(severity: number | undefined): 'ok' | 'warn' | 'bad' | 'muted' {
  if (severity === undefined) return 'muted';
  return severity <= 3 ? 'bad' : severity <= 6 ? 'warn' : 'ok';
}

export function monitorsSection(stationId: string): { element: HTMLElement; load: () => Promise<void> } {
  const settings = h('p', { class: 'muted' });
  const monitors = h('div', { id: 'monitors-table' });
  const alerts = h('ol', { class: 'timeline', id: 'monitor-alerts' });

  const load = async (): Promise<void> => {
    const [list, events] = await Promise.all([
      get<{ items: MonitorItem[]; monitoringBase: string | null; monitoringLevel: number | null }>(`${stationPath(stationId)}/monitors`),
      get<{ items: { kind: string; payload: JsonObject; receivedAt: string }[] }>(`${stationPath(stationId)}/events?limit=100`),
    ]);
    const items = list.ok ? list.body.items : [];
    replace(
      settings,
      `Monitoring base: ${list.ok ? (list.body.monitoringBase ?? '—') : '—'} · monitoring level: ${list.ok ? text(list.body.monitoringLevel ?? '—') : '—'}`,
    );
    replace(
      monitors,
      items.length === 0
        ? h('p', { class: 'muted' }, 'No monitors known. Read them with GetMonitoringReport.')
        : h(
            'table',
            {},
            h('caption', { class: 'sr-only' }, 'Monitors of this station'),
            h('thead', {}, h('tr', {}, ...['Id', 'Component · variable', 'Type', 'Value', 'Severity', 'Source', 'Status'].map((c) => h('th', { scope: 'col' }, c)))),
            h(
              'tbody',
              {},
              ...items.map((m) =>
                h(
                  'tr',
                  {},
                  h('td', {}, text(m.id ?? '—')),
                  h('td', {}, target(m.component, m.variable)),
                  h('td', {}, m.type),
                  h('td', {}, text(m.value)),
                  h('td', {}, badge(String(m.severity), severityTone(m.severity))),
                  h('td', {}, m.source),
                  h('td', {}, badge(m.status, statusTone(m.status === 'Reported' ? 'Accepted' : m.status))),
                ),
              ),
            ),
          ),
    );
    const monitorEvents = (events.ok ? events.body.items : [])
      .filter((e) => e.kind === 'NotifyEvent')
      .flatMap((e) => ((e.payload.eventData ?? []) as unknown as MonitorEvent[]).map((event) => ({ event, receivedAt: e.receivedAt })))
      .filter(({ event }) => event.variableMonitoringId !== undefined || MONITOR_NOTIFICATIONS.has(event.eventNotificationType))
      .slice(0, 30);
    replace(
      alerts,
      ...monitorEvents.map(({ event }) =>
        h(
          'li',
          {},
          h('time', { datetime: event.timestamp }, when(event.timestamp)),
          ' ',
          badge(event.severity === undefined ? 'severity ?' : `severity ${event.severity}`, event.cleared === true ? 'muted' : severityTone(event.severity)),
          ' ',
          h('strong', {}, event.cleared === true ? 'cleared' : event.trigger),
          ` ${target(event.component, event.variable)} = `,
          h('code', {}, event.actualValue === '' ? '(empty)' : event.actualValue),
          event.variableMonitoringId === undefined ? '' : ` (monitor ${event.variableMonitoringId})`,
        ),
      ),
    );
    if (alerts.childElementCount === 0) alerts.appendChild(h('li', { class: 'muted' }, 'No monitor events yet.'));
  };

  return { element: section('Monitors and alerts', 'monitors', settings, monitors, h('h3', {}, 'Latest monitor events'), alerts), load };
}
