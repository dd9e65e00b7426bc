/**
 * Monitoring reports are bounded per station like NotifyReport (CONTRACT §1 "fair", README "Budgets and
 * retention"): a part beyond CSMS_REPORT_MAX_PARTS is answered {} and dropped, and only the newest
 * CSMS_REPORT_MAX_REQUESTS monitoring reports of a station are kept. Also TC_N_47's robustness: a report nobody
 * asked for through this CSMS covers every monitor the station reported before.
 */
import { describe, expect, it } from 'vitest';
import { metricValue } from '../support/api.js';
import { withCsms } from '../support/csms.js';
import { now, settle } from '../support/device.js';
import { waitFor, type Payload, type TestStation } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 5000, CSMS_REPORT_MAX_PARTS: 3, CSMS_REPORT_MAX_REQUESTS: 2 });

const reportPath = (identity: string, requestId: number): string => `/api/v1/stations/${encodeURIComponent(identity)}/monitoring-reports/${requestId}`;

function part(requestId: number, seqNo: number, monitorId: number, tbc: boolean): Payload {
  return {
    requestId,
    seqNo,
    generatedAt: now(),
    ...(tbc ? { tbc } : {}),
    monitor: [
      {
        component: { name: 'ChargingStation' },
        variable: { name: 'Power' },
        variableMonitoring: [{ id: monitorId, transaction: false, value: 1000 + monitorId, type: 'UpperThreshold', severity: 5 }],
      },
    ],
  };
}

async function reportedIds(station: TestStation): Promise<number[]> {
  const res = await h.csms.api.request<{ items: { id: number; source: string }[] }>('GET', `/api/v1/stations/${encodeURIComponent(station.identity)}/monitors`);
  return res.body.items
    .filter((m) => m.source === 'station')
    .map((m) => m.id)
    .sort((a, b) => a - b);
}

describe('monitoring report budgets', () => {
  it('a part with seqNo at or beyond CSMS_REPORT_MAX_PARTS is answered {}, dropped and counted', async () => {
    const station = await h.csms.bootedStation({ prefix: 'mon-parts' });
    const before = metricValue(await h.csms.api.metrics(), 'csms_station_budget_refusals_total', { budget: 'report_parts' });
    expect(await station.call('NotifyMonitoringReport', part(7, 3, 1, false))).toEqual({});
    expect(metricValue(await h.csms.api.metrics(), 'csms_station_budget_refusals_total', { budget: 'report_parts' })).toBe(before + 1);
    expect((await h.csms.api.request('GET', reportPath(station.identity, 7))).status).toBe(404);
  });

  it('only the newest CSMS_REPORT_MAX_REQUESTS monitoring reports of a station are kept; each unsolicited complete report replaces the reported monitors', async () => {
    const station = await h.csms.bootedStation({ prefix: 'mon-reqs' });
    for (const requestId of [1, 2, 3, 4]) {
      expect(await station.call('NotifyMonitoringReport', part(requestId, 0, 100 + requestId, true))).toEqual({});
      expect(await station.call('NotifyMonitoringReport', part(requestId, 1, 200 + requestId, false))).toEqual({});
      expect(await reportedIds(station)).toEqual([100 + requestId, 200 + requestId]);
      await settle(station, 20);
    }
    await waitFor(async () => (await h.csms.api.request('GET', reportPath(station.identity, 2))).status === 404, { what: 'the older reports pruned' });
    expect((await h.csms.api.request('GET', reportPath(station.identity, 1))).status).toBe(404);
    for (const requestId of [3, 4]) {
      const res = await h.csms.api.request<{ complete: boolean; monitors: Payload[] }>('GET', reportPath(station.identity, requestId));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ complete: true });
      expect(res.body.monitors).toHaveLength(2);
    }
  });
});
