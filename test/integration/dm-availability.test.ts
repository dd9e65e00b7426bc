/**
 * Availability (G03/G04/G05): TC_G_03, G_04, G_05, G_06, G_07, G_08 (without a transaction), TC_G_11, G_14, G_17
 * (with a transaction, answered Scheduled), TC_G_20 (lock failure via NotifyEvent). Every connector-state step is
 * run through both channels a CSMS must accept: StatusNotification and NotifyEvent(AvailabilityState).
 */
import { describe, expect, it } from 'vitest';
import { withCsms } from '../support/csms.js';
import {
  TWO_EVSES,
  bootedWithCreds,
  connectorStatuses,
  energyTransferStarted,
  named,
  eventsOf,
  expectTransactionEnded,
  now,
  roundTrip,
  settle,
  stationView,
  stopAndUnplug,
  waitForConnectors,
} from '../support/device.js';
import type { Payload, TestStation } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 5000 });

type Channel = 'StatusNotification' | 'NotifyEvent';
const CHANNELS: Channel[] = ['StatusNotification', 'NotifyEvent'];

async function report(station: TestStation, via: Channel, evseId: number, connectorId: number, status: string): Promise<void> {
  const answer =
    via === 'StatusNotification' ? await station.statusNotification(evseId, connectorId, status) : await station.notifyConnectorEvent(evseId, connectorId, status);
  expect(answer).toEqual({});
}

interface AvailabilityCase {
  id: string;
  payload: Payload;
  /** Connector state before the command ("evse/connector"). */
  before: string;
  /** Connectors the station reports afterwards, and with what. */
  after: Array<[number, number]>;
  status: string;
}

const AVAILABILITY: AvailabilityCase[] = [
  { id: 'TC_G_03', payload: { operationalStatus: 'Inoperative', evse: { id: 1 } }, before: 'Available', after: [[1, 1]], status: 'Unavailable' },
  { id: 'TC_G_04', payload: { operationalStatus: 'Operative', evse: { id: 1 } }, before: 'Unavailable', after: [[1, 1]], status: 'Available' },
  {
    id: 'TC_G_05',
    payload: { operationalStatus: 'Inoperative' },
    before: 'Available',
    after: [
      [1, 1],
      [2, 1],
    ],
    status: 'Unavailable',
  },
  {
    id: 'TC_G_06',
    payload: { operationalStatus: 'Operative' },
    before: 'Unavailable',
    after: [
      [1, 1],
      [2, 1],
    ],
    status: 'Available',
  },
  { id: 'TC_G_07', payload: { operationalStatus: 'Inoperative', evse: { id: 1, connectorId: 1 } }, before: 'Available', after: [[1, 1]], status: 'Unavailable' },
  { id: 'TC_G_08', payload: { operationalStatus: 'Operative', evse: { id: 1, connectorId: 1 } }, before: 'Unavailable', after: [[1, 1]], status: 'Available' },
];

const MATRIX = AVAILABILITY.flatMap((c) => CHANNELS.map((via) => ({ ...c, via })));

describe('ChangeAvailability without a transaction', () => {
  it.each(named(MATRIX, (c) => `${c.id} (${c.via}): ChangeAvailability ${JSON.stringify(c.payload)} Accepted; the reported state shows in GET station`))(
    '%s',
    async (_, c) => {
      const { station, creds } = await bootedWithCreds(h.csms, `${c.id}-${c.via}`.slice(0, 20), { evses: TWO_EVSES, via: c.via });
      for (const [e, k] of [
        [1, 1],
        [2, 1],
      ] as const)
        await report(station, c.via, e, k, c.before);
      station.onCall('ChangeAvailability', () => ({ status: 'Accepted' }));
      const { call } = await roundTrip(h.csms, station, 'ChangeAvailability', c.payload, { status: 'Accepted' });
      expect(call.payload).toEqual(c.payload);
      for (const [e, k] of c.after) await report(station, c.via, e, k, c.status);

      const expected = c.after.map(([e, k]) => `${e}/${k}:${c.status}`);
      const untouched = [
        [1, 1],
        [2, 1],
      ]
        .filter(([e]) => !c.after.some(([ae]) => ae === e))
        .map(([e, k]) => `${e}/${k}:${c.before}`);
      const statuses = await waitForConnectors(h.csms.api, creds.identity, [...expected, ...untouched]);
      expect(statuses.sort()).toEqual([...expected, ...untouched].sort());
    },
  );

  it.each(['Rejected', 'Scheduled'])('ChangeAvailability answered %s reaches the operator and is not retried', async (status) => {
    const station = await h.csms.bootedStation({ prefix: `G-${status}` });
    station.onCall('ChangeAvailability', () => ({ status }));
    await roundTrip(h.csms, station, 'ChangeAvailability', { operationalStatus: 'Inoperative', evse: { id: 1 } }, { status });
    await settle(station);
    expect(station.callsOf('ChangeAvailability')).toHaveLength(1);
  });
});

describe('ChangeAvailability with a transaction (answered Scheduled)', () => {
  const WITH_TX = [
    { id: 'TC_G_11', payload: { operationalStatus: 'Inoperative', evse: { id: 1 } }, idleAtOnce: [] as Array<[number, number]> },
    { id: 'TC_G_14', payload: { operationalStatus: 'Inoperative' }, idleAtOnce: [[2, 1]] as Array<[number, number]> },
    { id: 'TC_G_17', payload: { operationalStatus: 'Inoperative', evse: { id: 1, connectorId: 1 } }, idleAtOnce: [] as Array<[number, number]> },
  ].flatMap((c) => CHANNELS.map((via) => ({ ...c, via })));

  it.each(named(WITH_TX, (c) => `${c.id} (${c.via}): Scheduled while charging; after the driver leaves the connector goes Unavailable, every report answered`))(
    '%s',
    async (_, c) => {
      const { station, creds } = await bootedWithCreds(h.csms, `${c.id}-${c.via}`.slice(0, 20), { evses: TWO_EVSES, via: c.via });
      const tx = await energyTransferStarted(h.csms, station);
      station.onCall('ChangeAvailability', () => ({ status: 'Scheduled' }));
      const { call } = await roundTrip(h.csms, station, 'ChangeAvailability', c.payload, { status: 'Scheduled' });
      expect(call.payload).toEqual(c.payload);
      for (const [e, k] of c.idleAtOnce) await report(station, c.via, e, k, 'Unavailable');

      await stopAndUnplug(station, tx, 'Unavailable', c.via);
      await expectTransactionEnded(h.csms.api, creds.identity, tx, 'EVDisconnected');

      const expected = ['1/1:Unavailable', ...c.idleAtOnce.map(([e, k]) => `${e}/${k}:Unavailable`)];
      await waitForConnectors(h.csms.api, creds.identity, expected);
      expect(station.callsOf('ChangeAvailability')).toHaveLength(1);
    },
  );
});

describe('connector problems', () => {
  it('TC_G_20: a ConnectorPlugRetentionLock Problem event is answered {} and listed in the events API', async () => {
    const station = await h.csms.bootedStation({ prefix: 'G20' });
    const eventData = {
      eventId: 4711,
      timestamp: now(),
      trigger: 'Delta',
      actualValue: 'true',
      eventNotificationType: 'HardWiredNotification',
      component: { name: 'ConnectorPlugRetentionLock', evse: { id: 1, connectorId: 1 } },
      variable: { name: 'Problem' },
    };
    expect(await station.call('NotifyEvent', { generatedAt: now(), seqNo: 0, eventData: [eventData] })).toEqual({});
    const events = await eventsOf(h.csms.api, station.identity, 'NotifyEvent');
    const lock = events.find((e) => JSON.stringify(e.payload).includes('ConnectorPlugRetentionLock'));
    expect(lock, JSON.stringify(events)).toBeDefined();
    expect(lock!.payload).toMatchObject({ eventData: [eventData] });
    expect(connectorStatuses(await stationView(h.csms.api, station.identity))).toContain('1/1:Available');
  });
});
