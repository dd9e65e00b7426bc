/**
 * Boot and onboarding: TC_B_01, TC_B_02, TC_B_30, TC_B_31, DRV-B01-01..03, DRV-B02-01/02, DRV-B03-01..03, DRV-B07-01.
 */
import { describe, expect, it } from 'vitest';
import { withCsms, type StationCredentials, type TestCsms } from '../support/csms.js';
import type { BootPolicy } from '../support/api.js';
import { OcppCallError, RFC3339_MS, sleep, waitFor, type Payload, type TestStation } from '../support/station.js';

const HEARTBEAT_INTERVAL = 123;
const BOOT_RETRY_INTERVAL = 7;
const h = withCsms({
  CSMS_HEARTBEAT_INTERVAL: HEARTBEAT_INTERVAL,
  CSMS_BOOT_RETRY_INTERVAL: BOOT_RETRY_INTERVAL,
  CSMS_CALL_TIMEOUT_MS: 2000,
});

/** currentTime is RFC 3339 with ≤ 3 fractional digits and within the 4 s the certification labs allow. */
function expectAccurateTime(currentTime: string): void {
  expect(currentTime).toMatch(RFC3339_MS);
  expect(Math.abs(Date.parse(currentTime) - Date.now())).toBeLessThanOrEqual(4000);
}

/** `closedIsFine`: a Rejected station's socket MAY be closed by the CSMS (B03 remarks); that also processes nothing. */
async function expectSecurityError(promise: Promise<unknown>, what: string, closedIsFine?: TestStation): Promise<void> {
  try {
    const result = await promise;
    throw new Error(`${what}: expected CALLERROR SecurityError, got CALLRESULT ${JSON.stringify(result)}`);
  } catch (err) {
    if (closedIsFine !== undefined && !(err instanceof OcppCallError) && closedIsFine.closed !== undefined) return;
    if (!(err instanceof OcppCallError)) throw err;
    expect(err.code, what).toBe('SecurityError');
  }
}

/** Registers and connects a station with the given boot policy and sends its first BootNotification. */
async function bootWith(
  csms: TestCsms,
  policy: BootPolicy,
  prefix: string,
  autoReport = true,
): Promise<{ station: TestStation; boot: Payload; creds: StationCredentials }> {
  const creds = await csms.register({ prefix, bootPolicy: policy });
  const station = await csms.connect({ ...creds, autoReport });
  const boot = await station.boot({ expect: policy });
  return { station, boot, creds };
}

async function stationView(identity: string) {
  const res = await h.csms.api.getStation(identity);
  expect(res.status).toBe(200);
  return res.body;
}

function connectorStatuses(view: { evses?: Array<{ id: number; connectors: Array<{ id: number; status?: string | null }> }> }): string[] {
  return (view.evses ?? []).flatMap((e) => e.connectors.map((c) => `${e.id}/${c.id}:${String(c.status)}`));
}

/** Illegal station CALLs before Accepted (DRV-B01-03 and TC_B_30). */
function illegalCalls(station: TestStation): Array<[string, () => Promise<unknown>]> {
  const now = () => new Date().toISOString();
  return [
    ['Heartbeat', () => station.heartbeat()],
    ['StatusNotification', () => station.statusNotification(1, 1, 'Available')],
    ['NotifyEvent', () => station.notifyConnectorEvent(1, 1, 'Available')],
    ['Authorize', () => station.authorize('04A1B2C3D4E5F6')],
    [
      'TransactionEvent',
      () =>
        station.transactionEvent({
          eventType: 'Started',
          triggerReason: 'CablePluggedIn',
          timestamp: now(),
          transactionInfo: { transactionId: 'tx-not-allowed', chargingState: 'EVConnected' },
          evse: { id: 1, connectorId: 1 },
        }),
    ],
    ['MeterValues', () => station.meterValues(1, 10)],
    ['DataTransfer', () => station.dataTransfer('com.example', 'ping')],
  ];
}

describe('Accepted boot', () => {
  it('TC_B_01 + DRV-B01-01: accepts a cold boot with the heartbeat interval and an accurate RFC 3339 currentTime', async () => {
    const station = await h.csms.newStation({ prefix: 'B01' });
    const boot = await station.boot();
    expect(boot.status).toBe('Accepted');
    expect(boot.interval).toBe(HEARTBEAT_INTERVAL);
    expectAccurateTime(boot.currentTime);
    await station.reportConnectors([
      { id: 1, connectors: [1] },
      { id: 2, connectors: [1] },
    ]);

    const view = await waitFor(
      async () => {
        const v = await stationView(station.identity);
        return connectorStatuses(v).length === 2 ? v : undefined;
      },
      { what: 'both connectors shown' },
    );
    expect(view.bootStatus).toBe('Accepted');
    expect(view.connected).toBe(true);
    expect(connectorStatuses(view).sort()).toEqual(['1/1:Available', '2/1:Available']);
    expect(view.chargingStation).toMatchObject({
      model: station.chargingStation.model,
      vendorName: station.chargingStation.vendorName,
      serialNumber: station.chargingStation.serialNumber,
      firmwareVersion: station.chargingStation.firmwareVersion,
    });
  });

  it('TC_B_01 (NotifyEvent): RS-Booted also works with NotifyEvent(AvailabilityState) instead of StatusNotification', async () => {
    const station = await h.csms.newStation({ prefix: 'B01-ne' });
    await station.boot();
    expect(await station.reportConnectors([{ id: 1, connectors: [1, 2] }], 'NotifyEvent')).toEqual([{}, {}]);
  });

  it('DRV-B01-02: answers Heartbeat with an accurate currentTime', async () => {
    const station = await h.csms.bootedStation({ prefix: 'B01-02' });
    const hb = await station.heartbeat();
    expect(Object.keys(hb)).toEqual(['currentTime']);
    expectAccurateTime(hb.currentTime);
  });
});

describe('Pending boot', () => {
  it('TC_B_02: answers Pending with the retry interval, keeps the socket open, then Accepted once the operator accepts', async () => {
    const { station, boot } = await bootWith(h.csms, 'Pending', 'B02');
    expect(boot.interval).toBe(BOOT_RETRY_INTERVAL);
    expectAccurateTime(boot.currentTime as string);
    const view = await stationView(station.identity);
    expect(view.bootStatus).toBe('Pending');

    // Onboarding (C-50.1): the CSMS asks for the full inventory while the station is Pending.
    const report = await station.waitForCall('GetBaseReport');
    expect(report.payload.reportBase).toBe('FullInventory');

    const patched = await h.csms.api.patchStation(station.identity, { bootPolicy: 'Accepted' });
    expect(patched.status).toBe(200);
    const second = await station.boot();
    expect(second.interval).toBe(HEARTBEAT_INTERVAL);
    await station.reportConnectors();
    expect(station.closed).toBeUndefined();
    expect((await stationView(station.identity)).bootStatus).toBe('Accepted');
  });

  it('TC_B_30 (Pending, StatusNotification): answers connector status with SecurityError and does not record it', async () => {
    const { station } = await bootWith(h.csms, 'Pending', 'B30-p-sn');
    await expectSecurityError(station.statusNotification(1, 1, 'Available'), 'StatusNotification while Pending');
    const view = await stationView(station.identity);
    expect(connectorStatuses(view)).not.toContain('1/1:Available');
  });

  it('TC_B_30 (Pending, NotifyEvent): answers AvailabilityState events with SecurityError and does not record them', async () => {
    const { station } = await bootWith(h.csms, 'Pending', 'B30-p-ne');
    await expectSecurityError(station.notifyConnectorEvent(1, 1, 'Available'), 'NotifyEvent while Pending');
    const view = await stationView(station.identity);
    expect(connectorStatuses(view)).not.toContain('1/1:Available');
  });

  it('TC_B_30 (Rejected, StatusNotification and NotifyEvent): answers both with SecurityError and records nothing', async () => {
    const { station } = await bootWith(h.csms, 'Rejected', 'B30-r');
    await expectSecurityError(station.statusNotification(1, 1, 'Available'), 'StatusNotification while Rejected', station);
    if (station.isOpen) {
      await expectSecurityError(station.notifyConnectorEvent(1, 1, 'Available'), 'NotifyEvent while Rejected', station);
    }
    const view = await stationView(station.identity);
    expect(view.bootStatus).toBe('Rejected');
    expect(connectorStatuses(view)).not.toContain('1/1:Available');
  });

  it('TC_B_31: the operator triggers a BootNotification of a Pending station, and the Triggered boot is Accepted', async () => {
    const { station } = await bootWith(h.csms, 'Pending', 'B31');
    expect((await h.csms.api.patchStation(station.identity, { bootPolicy: 'Accepted' })).status).toBe(200);
    const res = await h.csms.api.command(station.identity, 'TriggerMessage', { requestedMessage: 'BootNotification' });
    expect(res.status).toBe(200);
    expect(res.body.response).toEqual({ status: 'Accepted' });
    const trigger = await station.waitForCall('TriggerMessage');
    expect(trigger.payload.requestedMessage).toBe('BootNotification');

    const boot = await station.boot({ reason: 'Triggered' });
    expect(boot.status).toBe('Accepted');
    expect(await station.reportConnectors()).toEqual([{}]);
  });

  it('DRV-B01-03 (Pending): answers every non-Boot CALL with SecurityError', async () => {
    const { station } = await bootWith(h.csms, 'Pending', 'B01-03-p');
    for (const [action, send] of illegalCalls(station)) await expectSecurityError(send(), `${action} while Pending`);
  });

  it('DRV-B02-01: while Pending, refuses remote start/stop (409), sends neither, and keeps the socket open', async () => {
    const { station } = await bootWith(h.csms, 'Pending', 'B02-01');
    const start = await h.csms.api.command(station.identity, 'RequestStartTransaction', {
      idToken: { idToken: '04A1B2C3', type: 'ISO14443' },
      evseId: 1,
    });
    expect(start.status).toBe(409);
    const stop = await h.csms.api.command(station.identity, 'RequestStopTransaction', { transactionId: 'tx-1' });
    expect(stop.status).toBe(409);
    await station.ping();
    expect(station.callsOf('RequestStartTransaction')).toEqual([]);
    expect(station.callsOf('RequestStopTransaction')).toEqual([]);
    expect(station.isOpen).toBe(true);
  });

  it('DRV-B02-02: while Pending, accepts messages it triggered itself (StatusNotification, NotifyReport)', async () => {
    const { station } = await bootWith(h.csms, 'Pending', 'B02-02', false);
    const onboarding = await station.waitForCall('GetBaseReport');
    const onboardingId = onboarding.payload.requestId as number;
    expect(await station.notifyReport(onboardingId, [station.reportData()])).toEqual([{}]);

    const trigger = await h.csms.api.command(station.identity, 'TriggerMessage', {
      requestedMessage: 'StatusNotification',
      evse: { id: 1, connectorId: 1 },
    });
    expect(trigger.status).toBe(200);
    expect(await station.statusNotification(1, 1, 'Available')).toEqual({});

    const getReport = await h.csms.api.command<{ requestId: number }>(station.identity, 'GetReport', {
      componentVariable: [{ component: { name: 'OCPPCommCtrlr' } }],
    });
    expect(getReport.status).toBe(200);
    const requestId = getReport.body.request.requestId;
    expect(Number.isInteger(requestId)).toBe(true);
    expect((await station.waitForCall('GetReport')).payload.requestId).toBe(requestId);
    expect(await station.notifyReport(requestId, [station.reportData().filter((d) => (d.component as { name: string }).name === 'OCPPCommCtrlr')])).toEqual([{}]);
  });
});

describe('Rejected boot', () => {
  it('DRV-B03-01: answers Rejected with an interval greater than zero', async () => {
    const { boot } = await bootWith(h.csms, 'Rejected', 'B03-01');
    expect(boot.status).toBe('Rejected');
    expect(boot.interval).toBe(BOOT_RETRY_INTERVAL);
    expectAccurateTime(boot.currentTime as string);
  });

  it('DRV-B01-03 (Rejected): answers every non-Boot CALL with SecurityError', async () => {
    const { station } = await bootWith(h.csms, 'Rejected', 'B01-03-r');
    for (const [action, send] of illegalCalls(station)) {
      if (!station.isOpen) break; // the CSMS MAY close a Rejected station's socket
      await expectSecurityError(send(), `${action} while Rejected`, station);
    }
  });

  it('DRV-B03-02: sends no CALL to a Rejected station, and refuses operator commands with 409', async () => {
    const { station } = await bootWith(h.csms, 'Rejected', 'B03-02');
    const res = await h.csms.api.command(station.identity, 'GetVariables', {
      getVariableData: [{ component: { name: 'OCPPCommCtrlr' }, variable: { name: 'OfflineThreshold' } }],
    });
    expect(res.status).toBe(409);
    const trigger = await h.csms.api.command(station.identity, 'TriggerMessage', { requestedMessage: 'BootNotification' });
    expect(trigger.status).toBe(409);
    // Absence needs a wait: long enough for any onboarding CALL that would follow a boot.
    await sleep(500);
    expect(station.csmsCalls.map((c) => c.action)).toEqual([]);
  });

  it('DRV-B03-03: after the operator accepts, the next boot is Accepted and normal operation resumes', async () => {
    const { station: first, boot, creds } = await bootWith(h.csms, 'Rejected', 'B03-03');
    expect(boot.status).toBe('Rejected');
    expect((await h.csms.api.patchStation(first.identity, { bootPolicy: 'Accepted' })).status).toBe(200);
    // The CSMS may have closed the Rejected socket; a station then reconnects for its next boot.
    const station = first.isOpen ? first : await h.csms.connect(creds);
    expect((await station.boot()).status).toBe('Accepted');
    expect(await station.reportConnectors()).toEqual([{}]);
    expect(typeof (await station.heartbeat()).currentTime).toBe('string');
  });
});

describe('onboarding report', () => {
  it('an onboarding inventory accepted while Pending but never sent is asked for again once Accepted; meanwhile its report reads complete:false', async () => {
    // The station accepts GetBaseReport but reports only once it is Accepted (as real simulators do), and here not even then.
    const { station } = await bootWith(h.csms, 'Pending', 'B07-late', false);
    const first = await station.waitForCall('GetBaseReport');
    const firstId = first.payload.requestId as number;
    // The station has the CALL; the CSMS learns of its acceptance when the answer comes back through the socket a
    // moment later, and from then on the report exists.
    const underWay = await waitFor(
      async () => {
        const res = await h.csms.api.getReport(station.identity, firstId);
        return res.status === 200 && res;
      },
      { timeoutMs: 2000, what: 'the accepted onboarding report to be known' },
    );
    expect(underWay.body).toMatchObject({ requestId: firstId, complete: false, reportData: [] });
    expect((await h.csms.api.getReport(station.identity, firstId + 1)).status).toBe(404);

    expect((await h.csms.api.patchStation(station.identity, { bootPolicy: 'Accepted' })).status).toBe(200);
    const mark = station.mark();
    expect((await station.boot()).status).toBe('Accepted');
    const again = await station.waitForCall('GetBaseReport', { afterSeq: mark });
    expect(again.payload.reportBase).toBe('FullInventory');
    expect(again.payload.requestId).not.toBe(firstId);
    await sleep(300);
    // Asked once now; the third and last request waits 30 s (the machine's unit test covers it).
    expect(station.callsOf('GetBaseReport')).toHaveLength(2);
  });

  it('DRV-B07-01: asks a new Pending station for FullInventory, assembles a multi-part report, and keeps requestIds apart', async () => {
    const { station } = await bootWith(h.csms, 'Pending', 'B07-01', false);
    const onboarding = await station.waitForCall('GetBaseReport');
    expect(onboarding.payload.reportBase).toBe('FullInventory');
    const fullId = onboarding.payload.requestId as number;
    expect(Number.isInteger(fullId)).toBe(true);

    const other = await h.csms.api.command<{ requestId: number }>(station.identity, 'GetBaseReport', { reportBase: 'ConfigurationInventory' });
    expect(other.status).toBe(200);
    const otherId = other.body.request.requestId;
    expect(otherId).not.toBe(fullId);

    const item = (component: string, variable: string, value: string): Payload => ({
      component: { name: component },
      variable: { name: variable },
      variableAttribute: [{ type: 'Actual', value, mutability: 'ReadOnly' }],
    });
    const fullParts = [
      [item('ChargingStation', 'Model', 'M-1'), item('ChargingStation', 'VendorName', 'V-1')],
      [item('OCPPCommCtrlr', 'OfflineThreshold', '60')],
      [item('AuthCtrlr', 'Enabled', 'true'), item('TxCtrlr', 'EVConnectionTimeOut', '120')],
    ];
    const otherParts = [[item('SampledDataCtrlr', 'Enabled', 'false')], [item('AlignedDataCtrlr', 'Interval', '900')]];
    // Interleaved streams of two requestIds.
    const answers = [
      await station.notifyReportPart(fullId, 0, fullParts[0]!, true),
      await station.notifyReportPart(otherId, 0, otherParts[0]!, true),
      await station.notifyReportPart(fullId, 1, fullParts[1]!, true),
      await station.notifyReportPart(fullId, 2, fullParts[2]!, false),
      await station.notifyReportPart(otherId, 1, otherParts[1]!, false),
    ];
    expect(answers).toEqual([{}, {}, {}, {}, {}]);

    const names = (data: unknown[]): string[] =>
      data
        .flatMap((d) => (typeof d === 'object' && d !== null && 'reportData' in d ? ((d as { reportData?: unknown[] }).reportData ?? []) : [d]))
        .map((d) => {
          const r = d as { component: { name: string }; variable: { name: string } };
          return `${r.component.name}.${r.variable.name}`;
        });

    const full = await waitFor(
      async () => {
        const r = await h.csms.api.getReport(station.identity, fullId);
        return r.status === 200 && r.body.complete ? r.body : undefined;
      },
      { what: `report ${fullId} complete` },
    );
    expect(full.requestId).toBe(fullId);
    expect(names(full.reportData)).toEqual([
      'ChargingStation.Model',
      'ChargingStation.VendorName',
      'OCPPCommCtrlr.OfflineThreshold',
      'AuthCtrlr.Enabled',
      'TxCtrlr.EVConnectionTimeOut',
    ]);
    const second = await h.csms.api.getReport(station.identity, otherId);
    expect(second.status).toBe(200);
    expect(second.body.complete).toBe(true);
    expect(names(second.body.reportData)).toEqual(['SampledDataCtrlr.Enabled', 'AlignedDataCtrlr.Interval']);

    const variables = await h.csms.api.getVariables(station.identity);
    expect(variables.status).toBe(200);
    expect(JSON.stringify(variables.body)).toContain('EVConnectionTimeOut');

    expect((await h.csms.api.patchStation(station.identity, { bootPolicy: 'Accepted' })).status).toBe(200);
    expect((await station.boot()).status).toBe('Accepted');
  });
});
