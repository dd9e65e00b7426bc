/**
 * CONTRACT §3.2 "Station-wide status": 2.0.1 evseId 0 is the station itself. A StatusNotification with
 * `evseId 0, connectorId 0`, or a NotifyEvent AvailabilityState on evse 0 (or on the ChargingStation component),
 * shows as the station view's `status`/`availability`, never as an EVSE 0 in `evses`; each EVSE keeps its own.
 * Found with a real station simulator, which reports the station-wide state first on every boot.
 */
import { describe, expect, it } from 'vitest';
import { PgDatabase } from '../../src/store/pg-database.js';
import { migrate, migrations } from '../../src/store/migrations.js';
import { withCsms } from '../support/csms.js';
import { TWO_EVSES, bootedWithCreds, connectorStatuses, now, stationView } from '../support/device.js';
import { freshPostgresDatabase } from '../support/services.js';
import type { StationView } from '../support/api.js';
import { waitFor } from '../support/station.js';

const h = withCsms();

interface Availability {
  status: string;
  updatedAt: string;
}

function availabilityOf(view: StationView): Availability | null {
  return view.availability as Availability | null;
}

describe('station-wide status (evseId 0)', () => {
  it('StatusNotification evseId 0 / connectorId 0 Unavailable is the station status, not an EVSE 0; EVSEs keep theirs', async () => {
    const { station, creds } = await bootedWithCreds(h.csms, 'SWS-status', { evses: TWO_EVSES });
    const before = await stationView(h.csms.api, creds.identity);
    expect(before.status).toBeNull();
    expect(before.availability).toBeNull();

    expect(await station.statusNotification(0, 0, 'Unavailable')).toEqual({});
    expect(await station.statusNotification(2, 1, 'Occupied')).toEqual({});

    const view = await waitFor(
      async () => {
        const v = await stationView(h.csms.api, creds.identity);
        return v.status === 'Unavailable' && connectorStatuses(v).includes('2/1:Occupied') ? v : undefined;
      },
      { what: 'station status Unavailable' },
    );
    expect(availabilityOf(view)?.status).toBe('Unavailable');
    expect(Number.isNaN(Date.parse(availabilityOf(view)?.updatedAt ?? ''))).toBe(false);
    expect((view.evses ?? []).map((e) => e.id)).toEqual([1, 2]);
    expect(connectorStatuses(view).sort()).toEqual(['1/1:Available', '2/1:Occupied']);

    // The station comes back: its status follows, and still no EVSE 0 appears.
    expect(await station.statusNotification(0, 0, 'Available')).toEqual({});
    const after = await waitFor(
      async () => {
        const v = await stationView(h.csms.api, creds.identity);
        return v.status === 'Available' ? v : undefined;
      },
      { what: 'station status Available' },
    );
    expect((after.evses ?? []).map((e) => e.id)).toEqual([1, 2]);
  });

  it('NotifyEvent AvailabilityState on evse 0 (Connector or ChargingStation component) is the station status', async () => {
    const { station, creds } = await bootedWithCreds(h.csms, 'SWS-event', { evses: TWO_EVSES, via: 'NotifyEvent' });
    expect(await station.notifyConnectorEvent(0, 0, 'Unavailable')).toEqual({});
    let view = await waitFor(
      async () => {
        const v = await stationView(h.csms.api, creds.identity);
        return v.status === 'Unavailable' ? v : undefined;
      },
      { what: 'station status from Connector evse 0' },
    );
    expect((view.evses ?? []).map((e) => e.id)).toEqual([1, 2]);

    const event = {
      eventId: 77,
      timestamp: now(),
      trigger: 'Delta',
      actualValue: 'Faulted',
      eventNotificationType: 'HardWiredNotification',
      component: { name: 'ChargingStation' },
      variable: { name: 'AvailabilityState' },
    };
    expect(await station.call('NotifyEvent', { generatedAt: now(), seqNo: 0, eventData: [event] })).toEqual({});
    view = await waitFor(
      async () => {
        const v = await stationView(h.csms.api, creds.identity);
        return v.status === 'Faulted' ? v : undefined;
      },
      { what: 'station status from the ChargingStation component' },
    );
    expect((view.evses ?? []).map((e) => e.id)).toEqual([1, 2]);
    expect(connectorStatuses(view).sort()).toEqual(['1/1:Available', '2/1:Available']);
  });
});

describe('migration 9', () => {
  it('moves the newest status stored as EVSE 0 onto its station and deletes the phantom EVSE rows', async () => {
    const database = await freshPostgresDatabase();
    const db = new PgDatabase(database.url);
    try {
      await migrate(
        db,
        migrations.filter((m) => m.version < 9),
      );
      await db.query(`INSERT INTO stations (id) VALUES ('OLD-1'), ('OLD-2')`);
      await db.query(
        `INSERT INTO connectors (station_id, evse_id, connector_id, status, updated_at) VALUES
           ('OLD-1', 0, 0, 'Available', '2024-01-01T00:00:00Z'),
           ('OLD-1', 0, 1, 'Unavailable', '2024-01-02T00:00:00Z'),
           ('OLD-1', 1, 1, 'Occupied', '2024-01-01T00:00:00Z'),
           ('OLD-2', 1, 1, 'Available', '2024-01-01T00:00:00Z')`,
      );
      expect(await migrate(db)).toContain(9);
      const stations = await db.query<{ id: string; station_status: string | null }>('SELECT id, station_status FROM stations ORDER BY id');
      expect(stations).toEqual([
        { id: 'OLD-1', station_status: 'Unavailable' },
        { id: 'OLD-2', station_status: null },
      ]);
      const connectors = await db.query<{ station_id: string; evse_id: number }>('SELECT station_id, evse_id FROM connectors ORDER BY station_id');
      expect(connectors).toEqual([
        { station_id: 'OLD-1', evse_id: 1 },
        { station_id: 'OLD-2', evse_id: 1 },
      ]);
    } finally {
      await db.close();
      await database.drop();
    }
  });
});
