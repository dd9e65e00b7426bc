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
    expect(fleet.page({}, 'S0', 1)).toEqual({ ids: ['S1'], more: true });
    expect(fleet.page({}, undefined, 2, true)).toEqual({ ids: ['S2', 'S1'], more: true });
    expect(fleet.page({}, 'S1', 2, true)).toEqual({ ids: ['S0'], more: false });

    // A disconnect from a node that no longer holds the station changes nothing.
    feed.publish('station.disconnected', { stationId: 'S2', nodeId: 'n0' });
    expect(fleet.summary().connected).toBe(1);
    feed.publish('station.deleted', { stationId: 'S2' });
    expect(fleet.summary()).toMatchObject({ stations: 2, connected: 0, connectorStatus: { Occupied: 1 }, ocppVersion: { '1.6': 1 }, activeTransactions: 0 });
    expect(fleet.page({}, undefined, 10).ids).toEqual(['S0', 'S1']);
  });
});
