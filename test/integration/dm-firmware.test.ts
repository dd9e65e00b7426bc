/**
 * Secure firmware update (L01): TC_L_01 … TC_L_11, TC_L_13, DRV-L01-01. The operator sends UpdateFirmware; the
 * station reports progress with FirmwareStatusNotification (echoing the requestId), may reboot with
 * BootNotification(FirmwareUpdate), and may raise security events. GET station `firmwareStatus` follows the
 * request and every notification; the events API lists the notifications newest first.
 */
import { describe, expect, it } from 'vitest';
import { withCsms } from '../support/csms.js';
import {
  TWO_EVSES,
  bootedWithCreds,
  energyTransferStarted,
  eventsOf,
  expectTransactionEnded,
  firmwareFixture,
  named,
  rebootStation,
  roundTrip,
  securityEvent,
  stationView,
  stopAndUnplug,
} from '../support/device.js';
import type { StationCredentials } from '../support/csms.js';
import type { Payload, TestStation } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 5000 });

/** A step of the station's side after the UpdateFirmware answer. */
type Step = `FSN:${string}` | `SEN:${string}` | 'BOOT';

interface FirmwareCase {
  id: string;
  answer: string;
  steps: Step[];
  firmware?: () => Payload;
  /** A field of the request that must carry a future dateTime (L_02 / L_03). */
  futureField?: 'installDateTime' | 'retrieveDateTime';
}

const INSTALL: Step[] = ['FSN:Downloading', 'FSN:Downloaded', 'FSN:SignatureVerified', 'FSN:Installing', 'FSN:InstallRebooting', 'BOOT', 'FSN:Installed'];
const inAnHour = (): string => new Date(Date.now() + 3600_000).toISOString();

const CASES: FirmwareCase[] = [
  { id: 'TC_L_01', answer: 'Accepted', steps: INSTALL },
  {
    id: 'TC_L_02',
    answer: 'Accepted',
    firmware: () => firmwareFixture({ installDateTime: inAnHour() }),
    futureField: 'installDateTime',
    steps: ['FSN:Downloading', 'FSN:Downloaded', 'FSN:SignatureVerified', 'FSN:InstallScheduled', 'FSN:Installing', 'FSN:InstallRebooting', 'BOOT', 'FSN:Installed'],
  },
  {
    id: 'TC_L_03',
    answer: 'Accepted',
    firmware: () => firmwareFixture({ retrieveDateTime: inAnHour() }),
    futureField: 'retrieveDateTime',
    steps: ['FSN:DownloadScheduled', ...INSTALL],
  },
  { id: 'TC_L_04', answer: 'RevokedCertificate', steps: [] },
  { id: 'TC_L_05', answer: 'InvalidCertificate', steps: ['SEN:InvalidFirmwareSigningCertificate'] },
  { id: 'TC_L_06', answer: 'Accepted', steps: ['FSN:Downloading', 'FSN:Downloaded', 'FSN:InvalidSignature', 'SEN:InvalidFirmwareSignature'] },
  { id: 'TC_L_06 (event first)', answer: 'Accepted', steps: ['FSN:Downloading', 'FSN:Downloaded', 'SEN:InvalidFirmwareSignature', 'FSN:InvalidSignature'] },
  { id: 'TC_L_07', answer: 'Accepted', steps: ['FSN:Downloading', 'FSN:DownloadFailed'] },
  { id: 'TC_L_08', answer: 'Accepted', steps: ['FSN:Downloading', 'FSN:Downloaded', 'FSN:SignatureVerified', 'FSN:Installing', 'FSN:InstallVerificationFailed'] },
  {
    id: 'TC_L_09',
    answer: 'Accepted',
    steps: ['FSN:Downloading', 'FSN:Downloaded', 'FSN:SignatureVerified', 'FSN:Installing', 'FSN:InstallRebooting', 'BOOT', 'FSN:InstallationFailed'],
  },
];

interface Session {
  station: TestStation;
  creds: StationCredentials;
}

async function firmwareStatus(identity: string): Promise<Record<string, unknown>> {
  const view = await stationView(h.csms.api, identity);
  expect(view.firmwareStatus, `firmwareStatus of ${identity}`).toBeTruthy();
  return view.firmwareStatus as unknown as Record<string, unknown>;
}

/** Operator sends UpdateFirmware; checks it reached the station intact and that firmwareStatus shows the request. */
async function updateFirmware(s: Session, answer: string, firmware: Payload = firmwareFixture()): Promise<number> {
  s.station.onCall('UpdateFirmware', () => ({ status: answer }));
  const payload = { retries: 3, retryInterval: 60, firmware };
  const { call, request } = await roundTrip(h.csms, s.station, 'UpdateFirmware', payload, { status: answer });
  const sent = call.payload.firmware as Payload;
  expect(sent.signingCertificate, 'L01.FR.11: the signing certificate is sent').toBe(firmware.signingCertificate);
  expect(sent.signature).toBe(firmware.signature);
  expect(sent.location).toBe(firmware.location);
  const requestId = request.requestId as number;
  expect(Number.isInteger(requestId)).toBe(true);
  expect((await firmwareStatus(s.creds.identity)).requestId).toBe(requestId);
  return requestId;
}

/** Plays the station's steps for `requestId`, checking firmwareStatus after every notification. */
async function play(s: Session, requestId: number, steps: Step[]): Promise<void> {
  for (const step of steps) {
    if (step === 'BOOT') {
      const rebooted = await rebootStation(h.csms, s.station, s.creds, 'FirmwareUpdate');
      expect(rebooted.boot.status).toBe('Accepted');
      s.station = rebooted.station;
      expect((await stationView(h.csms.api, s.creds.identity)).lastBootReason).toBe('FirmwareUpdate');
    } else if (step.startsWith('SEN:')) {
      expect(await s.station.call('SecurityEventNotification', securityEvent(step.slice(4), 'firmware test'))).toEqual({});
    } else {
      const status = step.slice(4);
      expect(await s.station.call('FirmwareStatusNotification', { status, requestId })).toEqual({});
      expect(await firmwareStatus(s.creds.identity), `firmwareStatus after ${status}`).toMatchObject({ status, requestId });
    }
  }
}

async function expectFirmwareEvents(identity: string, expected: Array<{ status: string; requestId?: number }>): Promise<void> {
  const events = await eventsOf(h.csms.api, identity, 'FirmwareStatusNotification');
  expect(events.map((e) => ({ status: e.payload.status, requestId: e.payload.requestId }))).toEqual([...expected].reverse());
  const times = events.map((e) => Date.parse(e.receivedAt));
  for (const t of times) expect(Number.isNaN(t)).toBe(false);
  for (let i = 1; i < times.length; i += 1) expect(times[i]!).toBeLessThanOrEqual(times[i - 1]!);
}

describe('firmware update outcomes', () => {
  it.each(named(CASES, (c) => `${c.id}: UpdateFirmware answered ${c.answer}, then ${c.steps.length === 0 ? 'nothing' : c.steps.join(' → ')}`))('%s', async (_, c) => {
    const s: Session = await bootedWithCreds(h.csms, c.id.slice(0, 12));
    const firmware = c.firmware?.() ?? firmwareFixture();
    if (c.futureField !== undefined) expect(Date.parse(firmware[c.futureField] as string)).toBeGreaterThan(Date.now());
    const requestId = await updateFirmware(s, c.answer, firmware);
    await play(s, requestId, c.steps);

    const statuses = c.steps.filter((st) => st.startsWith('FSN:')).map((st) => ({ status: st.slice(4), requestId }));
    await expectFirmwareEvents(s.creds.identity, statuses);
    const securityTypes = c.steps.filter((st) => st.startsWith('SEN:')).map((st) => st.slice(4));
    const security = await eventsOf(h.csms.api, s.creds.identity, 'SecurityEventNotification');
    expect(security.map((e) => e.payload.type)).toEqual([...securityTypes].reverse());
  });
});

describe('a second update while one is running', () => {
  it('TC_L_10: the second UpdateFirmware (answered AcceptedCanceled) goes out after the first was answered, and is then tracked to Installed', async () => {
    const s: Session = await bootedWithCreds(h.csms, 'L10');
    const first = await updateFirmware(s, 'Accepted');
    await play(s, first, ['FSN:Downloading']);
    const firstCall = s.station.callsOf('UpdateFirmware')[0]!;
    const second = await updateFirmware(s, 'AcceptedCanceled', firmwareFixture({ location: 'https://firmware.example.com/stroom/v2.0.1.bin' }));
    expect(second).not.toBe(first);
    const secondCall = s.station.callsOf('UpdateFirmware')[1]!;
    expect(secondCall.seq).toBeGreaterThan(firstCall.answeredSeq!);
    await play(s, second, INSTALL);
    expect(await firmwareStatus(s.creds.identity)).toMatchObject({ status: 'Installed', requestId: second });
    await expectFirmwareEvents(s.creds.identity, [
      { status: 'Downloading', requestId: first },
      ...INSTALL.filter((st) => st !== 'BOOT').map((st) => ({ status: st.slice(4), requestId: second })),
    ]);
  });

  it('TC_L_11: the second UpdateFirmware is Rejected; the first update keeps being tracked until Installed', async () => {
    const s: Session = await bootedWithCreds(h.csms, 'L11');
    const first = await updateFirmware(s, 'Accepted');
    await play(s, first, ['FSN:Downloading']);
    const second = await updateFirmware(s, 'Rejected');
    expect(second).not.toBe(first);
    await play(s, first, INSTALL.slice(1));
    expect(await firmwareStatus(s.creds.identity)).toMatchObject({ status: 'Installed', requestId: first });
  });
});

describe('firmware update during a transaction', () => {
  it('TC_L_13: DownloadScheduled while charging, idle connector Unavailable, the transaction ends, then the update installs', async () => {
    const s: Session = await bootedWithCreds(h.csms, 'L13', { evses: TWO_EVSES });
    const tx = await energyTransferStarted(h.csms, s.station);
    const requestId = await updateFirmware(s, 'Accepted');
    await play(s, requestId, ['FSN:DownloadScheduled']);
    expect(await s.station.statusNotification(2, 1, 'Unavailable')).toEqual({});
    await stopAndUnplug(s.station, tx, 'Unavailable');
    await expectTransactionEnded(h.csms.api, s.creds.identity, tx, 'EVDisconnected');
    await play(s, requestId, INSTALL);
    expect(await firmwareStatus(s.creds.identity)).toMatchObject({ status: 'Installed', requestId });
  });
});

describe('unsolicited notifications', () => {
  it('DRV-L01-01: a FirmwareStatusNotification Idle without requestId, and one with an unknown requestId, are answered {} and listed', async () => {
    const station = await h.csms.bootedStation({ prefix: 'L01-01' });
    expect(await station.call('FirmwareStatusNotification', { status: 'Idle' })).toEqual({});
    expect(await station.call('FirmwareStatusNotification', { status: 'Downloading', requestId: 987654 })).toEqual({});
    await expectFirmwareEvents(station.identity, [{ status: 'Idle' }, { status: 'Downloading', requestId: 987654 }]);
  });
});
