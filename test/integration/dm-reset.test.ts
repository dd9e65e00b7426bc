/**
 * Reset (B11/B12): TC_B_20, TC_B_21, TC_B_22, TC_B_25, TC_B_26, TC_B_27, DRV-B11-01, DRV-B12-01.
 * The station answers Reset, ends its transactions as a real station would, reboots (a new connection and a
 * BootNotification with reason RemoteReset / ScheduledReset) unless only one EVSE was reset.
 */
import { describe, expect, it } from 'vitest';
import { withCsms } from '../support/csms.js';
import {
  bootedWithCreds,
  endByImmediateReset,
  energyTransferStarted,
  expectTransactionEnded,
  rebootStation,
  roundTrip,
  settle,
  stationView,
  stopAndUnplug,
} from '../support/device.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 5000 });

describe('station reset', () => {
  it('TC_B_20: Reset OnIdle without evseId, Accepted; the RemoteReset boot is Accepted and shown as the last boot reason', async () => {
    const { station, creds } = await bootedWithCreds(h.csms, 'B20');
    station.onCall('Reset', () => ({ status: 'Accepted' }));
    const { call } = await roundTrip(h.csms, station, 'Reset', { type: 'OnIdle' }, { status: 'Accepted' });
    expect(call.payload).toEqual({ type: 'OnIdle' });
    expect(call.payload).not.toHaveProperty('evseId');

    const { boot } = await rebootStation(h.csms, station, creds, 'RemoteReset');
    expect(boot.status).toBe('Accepted');
    const view = await stationView(h.csms.api, creds.identity);
    expect(view.bootStatus).toBe('Accepted');
    expect(view.lastBootReason).toBe('RemoteReset');
    expect(view.connected).toBe(true);
  });

  it('TC_B_21 + DRV-B12-01: Reset OnIdle during a transaction answered Scheduled: no re-send; the transaction ends; the ScheduledReset boot is Accepted', async () => {
    const { station, creds } = await bootedWithCreds(h.csms, 'B21');
    const tx = await energyTransferStarted(h.csms, station);
    station.onCall('Reset', () => ({ status: 'Scheduled' }));
    const { call } = await roundTrip(h.csms, station, 'Reset', { type: 'OnIdle' }, { status: 'Scheduled' });
    expect(call.payload).toEqual({ type: 'OnIdle' });

    await settle(station);
    expect(station.callsOf('Reset')).toHaveLength(1);
    await stopAndUnplug(station, tx);
    await expectTransactionEnded(h.csms.api, creds.identity, tx, 'EVDisconnected');

    const { boot } = await rebootStation(h.csms, station, creds, 'ScheduledReset');
    expect(boot.status).toBe('Accepted');
    expect((await stationView(h.csms.api, creds.identity)).lastBootReason).toBe('ScheduledReset');
  });

  it('TC_B_22: Reset Immediate during a transaction: the ImmediateReset end is recorded, the RemoteReset boot Accepted, the connector still Occupied', async () => {
    const { station, creds } = await bootedWithCreds(h.csms, 'B22');
    const tx = await energyTransferStarted(h.csms, station);
    station.onCall('Reset', () => ({ status: 'Accepted' }));
    const { call } = await roundTrip(h.csms, station, 'Reset', { type: 'Immediate' }, { status: 'Accepted' });
    expect(call.payload).toEqual({ type: 'Immediate' });
    await endByImmediateReset(station, tx);
    await expectTransactionEnded(h.csms.api, creds.identity, tx, 'ImmediateReset');

    const { boot } = await rebootStation(h.csms, station, creds, 'RemoteReset', [{ evseId: 1, connectorId: 1, status: 'Occupied' }]);
    expect(boot.status).toBe('Accepted');
    const view = await stationView(h.csms.api, creds.identity);
    expect(view.lastBootReason).toBe('RemoteReset');
    expect(view.evses?.find((e) => e.id === 1)?.connectors.find((c) => c.id === 1)?.status).toBe('Occupied');
  });

  it('DRV-B12-01 (Immediate answered Scheduled): the CSMS does not resend the Reset and accepts the later reboot', async () => {
    const { station, creds } = await bootedWithCreds(h.csms, 'B12-01');
    station.onCall('Reset', () => ({ status: 'Scheduled' }));
    await roundTrip(h.csms, station, 'Reset', { type: 'Immediate' }, { status: 'Scheduled' });
    await settle(station, 300);
    expect(station.callsOf('Reset')).toHaveLength(1);
    const { boot } = await rebootStation(h.csms, station, creds, 'ScheduledReset');
    expect(boot.status).toBe('Accepted');
  });

  it.each(['OnIdle', 'Immediate'])('DRV-B11-01 (station level): Reset %s answered Rejected reaches the operator; the station stays connected', async (type) => {
    const { station } = await bootedWithCreds(h.csms, `B11-01-${type}`);
    station.onCall('Reset', () => ({ status: 'Rejected' }));
    await roundTrip(h.csms, station, 'Reset', { type }, { status: 'Rejected' });
    await settle(station);
    expect(station.callsOf('Reset')).toHaveLength(1);
    expect(station.isOpen).toBe(true);
  });
});

describe('EVSE reset (C-13)', () => {
  it.each(['OnIdle', 'Immediate'])('TC_B_25: Reset %s of EVSE 1 without a transaction carries evseId, and no reboot is expected', async (type) => {
    const { station, creds } = await bootedWithCreds(h.csms, `B25-${type}`);
    station.onCall('Reset', () => ({ status: 'Accepted' }));
    const { call } = await roundTrip(h.csms, station, 'Reset', { type, evseId: 1 }, { status: 'Accepted' });
    expect(call.payload).toEqual({ type, evseId: 1 });
    // The EVSE reboots on its own: the station stays connected and keeps talking without a BootNotification.
    expect(await station.statusNotification(1, 1, 'Unavailable')).toEqual({});
    expect(await station.statusNotification(1, 1, 'Available')).toEqual({});
    const view = await stationView(h.csms.api, creds.identity);
    expect(view.bootStatus).toBe('Accepted');
    expect(view.connected).toBe(true);
  });

  it('TC_B_26: Reset OnIdle of an EVSE with a transaction answered Scheduled; the transaction then ends normally', async () => {
    const { station, creds } = await bootedWithCreds(h.csms, 'B26');
    const tx = await energyTransferStarted(h.csms, station);
    station.onCall('Reset', () => ({ status: 'Scheduled' }));
    const { call } = await roundTrip(h.csms, station, 'Reset', { type: 'OnIdle', evseId: tx.evseId }, { status: 'Scheduled' });
    expect(call.payload).toEqual({ type: 'OnIdle', evseId: 1 });
    await stopAndUnplug(station, tx);
    await expectTransactionEnded(h.csms.api, creds.identity, tx, 'EVDisconnected');
    await settle(station);
    expect(station.callsOf('Reset')).toHaveLength(1);
  });

  it('TC_B_27: Reset Immediate of an EVSE with a transaction; the station ends it with ImmediateReset', async () => {
    const { station, creds } = await bootedWithCreds(h.csms, 'B27');
    const tx = await energyTransferStarted(h.csms, station);
    station.onCall('Reset', () => ({ status: 'Accepted' }));
    const { call } = await roundTrip(h.csms, station, 'Reset', { type: 'Immediate', evseId: tx.evseId }, { status: 'Accepted' });
    expect(call.payload).toEqual({ type: 'Immediate', evseId: 1 });
    await endByImmediateReset(station, tx);
    await expectTransactionEnded(h.csms.api, creds.identity, tx, 'ImmediateReset');
  });

  it.each(['OnIdle', 'Immediate'])('DRV-B11-01: Reset %s of an EVSE answered Rejected reaches the operator and is not retried', async (type) => {
    const { station } = await bootedWithCreds(h.csms, `B11-01e-${type}`);
    station.onCall('Reset', () => ({ status: 'Rejected' }));
    await roundTrip(h.csms, station, 'Reset', { type, evseId: 1 }, { status: 'Rejected' });
    await settle(station);
    expect(station.callsOf('Reset')).toHaveLength(1);
  });
});
