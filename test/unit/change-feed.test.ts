/**
 * The change feed (src/changes/change-feed.ts) and the fleet index fed by it (src/changes/fleet-index.ts), driven
 * with a hand clock: ids, resumption and its horizon, retention by time and by count, batching per event-loop turn,
 * and the summary's counts.
 */
import { describe, expect, it } from 'vitest';
import { ChangeFeed, compareEventIds, type FeedEvent } from '../../src/changes/change-feed.js';
import { FleetIndex } from '../../src/changes/fleet-index.js';

function handClock(start = 1_800_000_000_000): { now: () => number; advance: (ms: number) => void } {
  let now = start;
  return { now: () => now, advance: (ms) => (now += ms) };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('ChangeFeed', () => {
  it('numbers changes <ms>-<seq>, increasing within a millisecond and across them', () => {
    const clock = handClock();
    const feed = new ChangeFeed({ clock });
    const ids: string[] = [];
    feed.onChange((e) => ids.push(e.id));
    feed.publish('station.connected', { stationId: 'A' });
    feed.publish('station.connected', { stationId: 'B' });
    clock.advance(1);
    feed.publish('station.connected', { stationId: 'C' });
    expect(ids).toEqual([`${clock.now() - 1}-1`, `${clock.now() - 1}-2`, `${clock.now()}-0`]);
    expect(compareEventIds('10-2', '9-99')).toBeGreaterThan(0);
    expect(compareEventIds('10-2', '10-10')).toBeLessThan(0);
  });

  it('resumes after an id with the later changes of the station asked for, and answers reset below its horizon', () => {
    const clock = handClock();
    const feed = new ChangeFeed({ clock, retainMs: 60_000 });
    const seen: FeedEvent[] = [];
    feed.onChange((e) => seen.push(e));
    for (let i = 0; i < 6; i++) {
      feed.publish('connector.status', { stationId: i % 2 === 0 ? 'A' : 'B', status: String(i) });
      clock.advance(10_000);
    }
    expect(feed.since(seen[1]!.id, 'A')?.map((e) => (JSON.parse(e.json) as { status: string }).status)).toEqual(['2', '4']);
    expect(feed.since(seen[5]!.id, undefined)).toEqual([]);
    // Two minutes later the first events have expired: resuming from before them would miss some.
    clock.advance(45_000);
    feed.publish('connector.status', { stationId: 'A', status: '6' });
    expect(feed.since(seen[0]!.id, undefined)).toBeUndefined();
    expect(feed.since(seen[4]!.id, undefined)?.map((e) => (JSON.parse(e.json) as { status: string }).status)).toEqual(['5', '6']);
    expect(feed.since('99999999999999-0', undefined)).toBeUndefined();
  });

  it('keeps at most maxRetained changes, whatever their age', () => {
    const feed = new ChangeFeed({ clock: handClock(), maxRetained: 3 });
    const seen: FeedEvent[] = [];
    feed.onChange((e) => seen.push(e));
    for (let i = 0; i < 5; i++) feed.publish('station.boot', { stationId: 'A', n: i });
    expect(feed.since(seen[0]!.id, undefined)).toBeUndefined();
    expect(feed.since(seen[1]!.id, undefined)?.map((e) => (JSON.parse(e.json) as { n: number }).n)).toEqual([2, 3, 4]);
  });

  it('delivers what one event-loop turn published in one batch, filtered per subscriber', async () => {
    const feed = new ChangeFeed({ clock: handClock() });
    const all: number[] = [];
    const onlyB: number[] = [];
    feed.subscribe({ stationId: undefined, deliver: (events) => all.push(events.length) });
    const stop = feed.subscribe({ stationId: 'B', deliver: (events) => onlyB.push(events.length) });
    for (const id of ['A', 'B', 'A', 'B', 'B']) feed.publish('station.connected', { stationId: id });
    await turn();
    expect(all).toEqual([5]);
    expect(onlyB).toEqual([3]);
    stop();
    feed.publish('station.connected', { stationId: 'B' });
    await turn();
    expect(onlyB).toEqual([3]);
    expect(all).toEqual([5, 1]);
  });
});

describe('FleetIndex', () => {
  it('keeps the summary counts in step with registrations, boots, connections, connectors and transactions', () => {
    const feed = new ChangeFeed({ clock: handClock() });
    const fleet = new FleetIndex();
    fleet.load({
      stations: [
        { id: 'S1', bootStatus: 'Accepted', chargingStation: { vendorName: 'Acme', model: 'M1', serialNumber: 'X1' }, ocppVersion: '1.6' },
        { id: 'S2', bootStatus: 'Pending', chargingStation: undefined, ocppVersion: undefined },
      ],
      connectors: [{ stationId: 'S1', evseId: 1, connectorId: 1, status: 'Available' }],
      activeTransactions: [{ stationId: 'S1', transactionId: 't0' }],
    });
    feed.onChange((e, data) => fleet.apply(e, data));
    feed.publish('station.registered', { stationId: 'S0', bootStatus: 'Unknown' });
    feed.publish('station.connected', { stationId: 'S2', nodeId: 'n1', ocppVersion: '2.0.1' });
    feed.publish('station.boot', { stationId: 'S2', bootStatus: 'Accepted', chargingStation: { vendorName: 'Zap' } });
    feed.publish('connector.status', { stationId: 'S1', evseId: 1, connectorId: 1, status: 'Occupied' });
    feed.publish('connector.status', { stationId: 'S2', evseId: 2, connectorId: 1, status: 'Faulted' });
    feed.publish('transaction.ended', { stationId: 'S1', transactionId: 't0' });
    feed.publish('transaction.started', { stationId: 'S2', transactionId: 't1' });
    expect(fleet.summary()).toEqual({
      stations: 3,
      connected: 1,
      bootStatus: { Accepted: 2, Unknown: 1 },
      connectorStatus: { Occupied: 1, Faulted: 1 },
      ocppVersion: { '1.6': 1, '2.0.1': 1 },
      activeTransactions: 1,
    });
    expect(fleet.page({ ocppVersion: '1.6' }, undefined, 10).ids).toEqual(['S1']);
    expect(fleet.page({ q: 'zap' }, undefined, 10).ids).toEqual(['S2']);
    expect(fleet.page({ status: 'Faulted', connected: true }, undefined, 10).ids).toEqual(['S2']);
    const descending = { field: 'id', descending: true } as const;
    expect(fleet.page({}, { key: 'S0', id: 'S0' }, 1)).toEqual({ ids: ['S1'], keys: ['S1'], more: true });
    expect(fleet.page({}, undefined, 2, descending)).toEqual({ ids: ['S2', 'S1'], keys: ['S2', 'S1'], more: true });
    expect(fleet.page({}, { key: 'S1', id: 'S1' }, 2, descending)).toEqual({ ids: ['S0'], keys: ['S0'], more: false });

    // A disconnect from a node that no longer holds the station changes nothing.
    feed.publish('station.disconnected', { stationId: 'S2', nodeId: 'n0' });
    expect(fleet.summary().connected).toBe(1);
    feed.publish('station.deleted', { stationId: 'S2' });
    expect(fleet.summary()).toMatchObject({ stations: 2, connected: 0, connectorStatus: { Occupied: 1 }, ocppVersion: { '1.6': 1 }, activeTransactions: 0 });
    expect(fleet.page({}, undefined, 10).ids).toEqual(['S0', 'S1']);
  });
});

describe('FleetIndex orders', () => {
  const feedWith = (now: { t: number }): { feed: ChangeFeed; fleet: FleetIndex } => {
    const feed = new ChangeFeed({ clock: handClock() });
    const fleet = new FleetIndex(() => now.t);
    fleet.load({
      stations: [
        { id: 'A', bootStatus: 'Accepted', chargingStation: { vendorName: 'zeta', model: 'M2' }, ocppVersion: '2.0.1' },
        { id: 'B', bootStatus: 'Pending', chargingStation: { vendorName: 'Alpha', model: 'M1' }, ocppVersion: '1.6' },
        { id: 'C', bootStatus: 'Accepted', chargingStation: { vendorName: 'alpha', model: 'M3' }, ocppVersion: undefined },
        { id: 'D', bootStatus: 'Rejected', chargingStation: undefined, ocppVersion: undefined },
      ],
      connectors: [],
      activeTransactions: [],
    });
    feed.onChange((e, data) => fleet.apply(e, data));
    return { feed, fleet };
  };

  it('sorts by vendor case-insensitively with the id breaking ties, both ways, and pages through the order with a cursor', () => {
    const { fleet } = feedWith({ t: 0 });
    expect(fleet.page({}, undefined, 10, { field: 'vendor', descending: false }).ids).toEqual(['D', 'B', 'C', 'A']);
    expect(fleet.page({}, undefined, 10, { field: 'vendor', descending: true }).ids).toEqual(['A', 'C', 'B', 'D']);
    const first = fleet.page({}, undefined, 2, { field: 'vendor', descending: false });
    expect(first).toEqual({ ids: ['D', 'B'], keys: ['', 'alpha'], more: true });
    const second = fleet.page({}, { key: 'alpha', id: 'B' }, 2, { field: 'vendor', descending: false });
    expect(second).toEqual({ ids: ['C', 'A'], keys: ['alpha', 'zeta'], more: false });
    expect(fleet.page({}, { key: 'alpha', id: 'C' }, 5, { field: 'vendor', descending: true }).ids).toEqual(['B', 'D']);
    expect(fleet.page({ bootStatus: 'Accepted' }, undefined, 5, { field: 'model', descending: true }).ids).toEqual(['C', 'A']);
    expect(fleet.page({}, undefined, 5, { field: 'ocppVersion', descending: false }).ids).toEqual(['C', 'D', 'B', 'A']);
  });

  it('reorders after a change once the order is at most a second old, and filters always see the change at once', () => {
    const now = { t: 0 };
    const { feed, fleet } = feedWith(now);
    const byConnected = { field: 'connected', descending: true } as const;
    expect(fleet.page({}, undefined, 10, byConnected).ids).toEqual(['D', 'C', 'B', 'A']);
    feed.publish('station.connected', { stationId: 'B', nodeId: 'n1', ocppVersion: '1.6' });
    now.t = 500;
    // Still the order of t=0, but the filter already knows B is connected.
    expect(fleet.page({}, undefined, 10, byConnected).ids).toEqual(['D', 'C', 'B', 'A']);
    expect(fleet.page({ connected: true }, undefined, 10, byConnected).ids).toEqual(['B']);
    now.t = 1000;
    expect(fleet.page({}, undefined, 10, byConnected).ids).toEqual(['B', 'D', 'C', 'A']);
    // A station deleted after the order was built is skipped, not served from the stale order.
    feed.publish('station.deleted', { stationId: 'D' });
    expect(fleet.page({}, undefined, 10, byConnected).ids).toEqual(['B', 'C', 'A']);
  });
});
