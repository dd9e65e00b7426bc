/**
 * A monitor alert from a station to the SRE's pager: NotifyEvent alerts of monitors (TC_N_21's alert event, with
 * monitors the CSMS set as in TC_N_08) reach /metrics as csms_monitor_alerts_total{severity} (no station label),
 * and the counters scraped from the live CSMS, fed to `promtool test rules` over grafana/alerts.yml, make
 * StroomStationMonitorAlert fire for a severity within the configured level (0-3) and not for one outside it,
 * and stop once no new alert arrives. Needs `promtool` (Debian package `prometheus`).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, withCsms } from '../support/csms.js';
import { now, roundTrip } from '../support/device.js';
import type { Payload, TestStation } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 5000 });
const ALERTS_FILE = join(REPO_ROOT, 'grafana', 'alerts.yml');
const work: string[] = [];

afterAll(async () => {
  for (const dir of work) await rm(dir, { recursive: true, force: true });
});

function promtool(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile('promtool', args, { timeout: 20_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, output: `${stdout}${stderr}`.trim() });
    });
  });
}

const POWER = { component: { name: 'ChargingStation' }, variable: { name: 'Power' } };

/** Sets an UpperThreshold monitor of `severity` through the commands endpoint; the station answers with `id`. */
async function monitorOf(station: TestStation, severity: number, id: number): Promise<void> {
  station.onCall('SetVariableMonitoring', (p) => ({
    setMonitoringResult: (p.setMonitoringData as Payload[]).map((d) => ({
      id,
      status: 'Accepted',
      type: d.type,
      severity: d.severity,
      component: d.component,
      variable: d.variable,
    })),
  }));
  await roundTrip(h.csms, station, 'SetVariableMonitoring', { setMonitoringData: [{ value: 20000 + severity, type: 'UpperThreshold', severity, ...POWER }] });
}

/** `csms_monitor_alerts_total` samples of the exposition, by severity. */
function alertCounters(exposition: string): Map<string, number> {
  const counters = new Map<string, number>();
  for (const line of exposition.split('\n')) {
    const match = /^csms_monitor_alerts_total\{([^}]*)\}\s+(\S+)/.exec(line);
    if (match === null) continue;
    expect(match[1], 'csms_monitor_alerts_total carries no station label').not.toMatch(/station/i);
    const severity = /severity="([^"]*)"/.exec(match[1] ?? '')?.[1];
    if (severity !== undefined) counters.set(severity, Number(match[2]));
  }
  return counters;
}

describe('monitor alerts: /metrics and the Prometheus alert rule', () => {
  it('alerts of severity 2 and 6 are counted by severity; the rule fires for 2 (within 0-3) only, and stops when no new alert comes', async () => {
    const station = await h.csms.bootedStation({ prefix: 'mon-rule' });
    await monitorOf(station, 2, 21);
    await monitorOf(station, 6, 61);
    const alert = (eventId: number, variableMonitoringId: number): Payload => ({
      eventId,
      timestamp: now(),
      trigger: 'Alerting',
      actualValue: '25000',
      eventNotificationType: 'CustomMonitor',
      variableMonitoringId,
      ...POWER,
    });
    expect(await station.call('NotifyEvent', { generatedAt: now(), seqNo: 0, eventData: [alert(1, 21), alert(2, 61)] })).toEqual({});

    const counters = alertCounters(await h.csms.api.metrics());
    expect(counters.get('2')).toBe(1);
    expect(counters.get('6')).toBe(1);
    for (const severity of ['0', '1', '3', '4', '5', '7', '8', '9']) expect(counters.get(severity), `severity ${severity}`).toBe(0);

    // What Prometheus would have scraped from this CSMS: 0 before the alerts, the live value from then on.
    const instance = 'csms-1:8080';
    const series = [...counters].map(([severity, value]) => ({
      series: `csms_monitor_alerts_total{instance="${instance}", job="stroom", severity="${severity}"}`,
      values: `0 ${Array<string>(12).fill(String(value)).join(' ')}`,
    }));
    const tests = {
      rule_files: [ALERTS_FILE],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: series,
          alert_rule_test: [
            {
              eval_time: '3m',
              alertname: 'StroomStationMonitorAlert',
              exp_alerts: [
                {
                  exp_labels: { severity: 'page', monitor_severity: '2', instance },
                  exp_annotations: {
                    summary: `Stations report monitor alerts of severity 2 on ${instance}`,
                    description:
                      'Station monitors sent NotifyEvent alerts of severity 2 (0 Danger … 3 Critical) in the last 5 minutes. GET /api/v1/stations/{id}/events names the station, the component/variable, the value and the monitor.',
                  },
                },
              ],
            },
            { eval_time: '11m', alertname: 'StroomStationMonitorAlert', exp_alerts: [] },
          ],
        },
      ],
    };
    const dir = await mkdtemp(join(tmpdir(), 'stroom-monitor-rule-'));
    work.push(dir);
    const file = join(dir, 'monitor-alert.test.yml');
    // JSON is YAML: promtool reads the test file as YAML.
    await writeFile(file, JSON.stringify(tests, null, 2));
    const result = await promtool(['test', 'rules', file]);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain('SUCCESS');
  });
});
