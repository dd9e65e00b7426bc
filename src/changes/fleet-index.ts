import type { JsonObject } from '../json.js';
import type { FleetSnapshot } from '../store/fleet-sql.js';
import type { ChangeData, FeedEvent } from './change-feed.js';

/** One station as the fleet list filters it. The full view comes from the store, a page at a time. */
interface FleetEntry {
  id: string;
  bootStatus: string;
  connected: boolean;
  nodeId: string | undefined;
  /** Negotiated on the station's last connection (stored with the station; kept current by `station.connected`). */
  ocppVersion: string | undefined;
  /** `evseId/connectorId` → status. */
  connectors: Map<string, string>;
  /** id, vendor, model and serial number, lower case, for `q`. */
  searchText: string;
  /** From the last BootNotification's `chargingStation`, for sorting; '' before any. */
  vendor: string;
  model: string;
}

/** What the list may be ordered by besides the id (the id breaks ties). */
export const FLEET_SORT_FIELDS = ['id', 'vendor', 'model', 'bootStatus', 'connected', 'ocppVersion'] as const;
export type FleetSortField = (typeof FLEET_SORT_FIELDS)[number];

export interface FleetSort {
  field: FleetSortField;
  descending: boolean;
}

/** Where a page starts: after this station, which sorted under `key` when the previous page was read. */
export interface FleetCursor {
  key: string;
  id: string;
}

/** One station's place in an order other than the id's: its key as it was when the order was built. */
interface Ranked {
  key: string;
  id: string;
}

/**
 * How long an order other than the id's may lag behind the changes (a rebuild sorts the whole fleet: about
 * 30 ms at 50,000 stations, so not once per request while stations connect by the thousand).
 */
const ORDER_MAX_AGE_MS = 1000;

export interface FleetFilter {
  connected?: boolean | undefined;
  bootStatus?: string | undefined;
  /** A station matches when any of its connectors has this status. */
  status?: string | undefined;
  ocppVersion?: string | undefined;
  /** Case-insensitive substring of id, vendor, model or serial number. */
  q?: string | undefined;
}

export interface FleetSummary {
  stations: number;
  connected: number;
  bootStatus: Record<string, number>;
  connectorStatus: Record<string, number>;
  ocppVersion: Record<string, number>;
  activeTransactions: number;
}

export interface FleetLocation {
  connected: boolean;
  nodeId: string | undefined;
}

/**
 * The fleet at a glance, kept in memory and in step with the change feed: every count of the summary is
 * maintained as changes arrive (so `GET /api/v1/fleet/summary` is O(1) at any fleet size), and the station list
 * is filtered here over ids kept in order, without a query per filter or per station.
 *
 * It is a projection, not a home for state: the store (registration, boot, connectors, transactions) and the
 * sessions (connections) are the truth; this is loaded from the one and fed by the changes of both.
 */
export class FleetIndex {
  private readonly entries = new Map<string, FleetEntry>();
  /** Ids in code-unit order, for cursor paging. Inserts are rare (registrations); a binary search finds the place. */
  private sortedIds: string[] = [];
  private readonly bootCounts = new Counts();
  private readonly connectorCounts = new Counts();
  private readonly versionCounts = new Counts();
  private connectedCount = 0;
  private readonly activeTransactions = new Set<string>();
  /** Orders by a field other than the id, built on demand; dropped when a change may move a station in them. */
  private readonly orders = new Map<FleetSortField, { ranked: Ranked[]; builtAt: number; stale: boolean }>();

  constructor(private readonly now: () => number = Date.now) {}

  load(snapshot: FleetSnapshot): void {
    for (const station of snapshot.stations) {
      const entry = this.ensure(station.id, station.bootStatus, station.chargingStation);
      if (station.ocppVersion !== undefined && entry.ocppVersion === undefined) {
        entry.ocppVersion = station.ocppVersion;
        this.versionCounts.add(station.ocppVersion, 1);
      }
    }
    for (const connector of snapshot.connectors) {
      const entry = this.entries.get(connector.stationId);
      if (entry !== undefined) this.setConnector(entry, `${connector.evseId}/${connector.connectorId}`, connector.status);
    }
    for (const tx of snapshot.activeTransactions) this.activeTransactions.add(transactionKey(tx.stationId, tx.transactionId));
  }

  /** Applies one change of the feed (in feed order). */
  apply(event: FeedEvent, data: ChangeData): void {
    const stationId = data.stationId;
    switch (event.kind) {
      case 'station.registered':
        this.ensure(stationId, stringField(data, 'bootStatus') ?? 'Unknown', undefined);
        return;
      case 'station.deleted':
        this.remove(stationId);
        return;
      case 'station.boot': {
        const entry = this.ensure(stationId, 'Unknown', undefined);
        this.setBoot(entry, stringField(data, 'bootStatus') ?? entry.bootStatus);
        const chargingStation = data.chargingStation;
        if (isObject(chargingStation)) this.describe(entry, chargingStation);
        return;
      }
      case 'station.connected': {
        const entry = this.ensure(stationId, 'Unknown', undefined);
        if (!entry.connected) {
          this.connectedCount++;
          this.staleOrder('connected');
        }
        entry.connected = true;
        entry.nodeId = stringField(data, 'nodeId');
        const version = stringField(data, 'ocppVersion');
        if (version !== entry.ocppVersion) {
          if (entry.ocppVersion !== undefined) this.versionCounts.add(entry.ocppVersion, -1);
          if (version !== undefined) this.versionCounts.add(version, 1);
          entry.ocppVersion = version;
          this.staleOrder('ocppVersion');
        }
        return;
      }
      case 'station.disconnected': {
        const entry = this.entries.get(stationId);
        // A late disconnect from a node that lost the station to a newer connection elsewhere changes nothing.
        if (entry === undefined || !entry.connected || (entry.nodeId !== undefined && stringField(data, 'nodeId') !== entry.nodeId)) return;
        entry.connected = false;
        entry.nodeId = undefined;
        this.connectedCount--;
        this.staleOrder('connected');
        return;
      }
      case 'connector.status': {
        const entry = this.entries.get(stationId);
        const evseId = data.evseId;
        const connectorId = data.connectorId;
        const status = stringField(data, 'status');
        if (entry === undefined || typeof evseId !== 'number' || typeof connectorId !== 'number' || status === undefined) return;
        this.setConnector(entry, `${evseId}/${connectorId}`, status);
        return;
      }
      case 'transaction.started':
      case 'transaction.updated': {
        const transactionId = stringField(data, 'transactionId');
        if (transactionId !== undefined) this.activeTransactions.add(transactionKey(stationId, transactionId));
        return;
      }
      case 'transaction.ended': {
        const transactionId = stringField(data, 'transactionId');
        if (transactionId !== undefined) this.activeTransactions.delete(transactionKey(stationId, transactionId));
        return;
      }
      default:
        return;
    }
  }

  summary(): FleetSummary {
    return {
      stations: this.entries.size,
      connected: this.connectedCount,
      bootStatus: this.bootCounts.toObject(),
      connectorStatus: this.connectorCounts.toObject(),
      ocppVersion: this.versionCounts.toObject(),
      activeTransactions: this.activeTransactions.size,
    };
  }

  /**
   * Cluster mode: where presence says each station is (a node that died sends no disconnect, and a node that
   * starts learns the others' stations here). Async batches in the background, never on a request's path.
   */
  async reconcile(locate: (stationId: string) => Promise<FleetLocation>, batchSize = 1000): Promise<void> {
    const ids = [...this.sortedIds];
    for (let i = 0; i < ids.length; i += batchSize) {
      const batch = ids.slice(i, i + batchSize);
      const locations = await Promise.all(batch.map((id) => locate(id)));
      batch.forEach((id, j) => {
        const entry = this.entries.get(id);
        const location = locations[j] as FleetLocation;
        if (entry === undefined || (entry.connected === location.connected && entry.nodeId === location.nodeId)) return;
        if (entry.connected !== location.connected) {
          this.connectedCount += location.connected ? 1 : -1;
          this.staleOrder('connected');
        }
        entry.connected = location.connected;
        entry.nodeId = location.connected ? location.nodeId : undefined;
      });
    }
  }

  location(stationId: string): FleetLocation {
    const entry = this.entries.get(stationId);
    return { connected: entry?.connected ?? false, nodeId: entry?.nodeId };
  }

  /**
   * Up to `limit` ids after `after` in the order `sort` names that match `filter`, and whether more match after
   * them. A memory scan: at 50,000 stations even a filter matching nothing costs a few milliseconds. Filters see
   * each station as it is now; an order other than the id's may place it as it was up to ORDER_MAX_AGE_MS ago.
   */
  page(
    filter: FleetFilter,
    after: FleetCursor | undefined,
    limit: number,
    sort: FleetSort = { field: 'id', descending: false },
  ): { ids: string[]; keys: string[]; more: boolean } {
    const ranked = sort.field === 'id' ? undefined : this.order(sort.field);
    const n = ranked?.length ?? this.sortedIds.length;
    const idAt = ranked === undefined ? (i: number) => this.sortedIds[i] as string : (i: number) => (ranked[i] as Ranked).id;
    // Descending walks the same array from the end: position k is index n - 1 - k.
    let start = 0;
    if (after !== undefined) {
      const below = ranked === undefined ? lowerBound(this.sortedIds, after.id) : rankBound(ranked, after, false);
      const above = ranked === undefined ? upperBound(this.sortedIds, after.id) : rankBound(ranked, after, true);
      start = sort.descending ? n - below : above;
    }
    const q = filter.q?.toLowerCase();
    const ids: string[] = [];
    const keys: string[] = [];
    for (let k = start; k < n; k++) {
      const i = sort.descending ? n - 1 - k : k;
      const entry = this.entries.get(idAt(i));
      // Deleted since the order was built.
      if (entry === undefined) continue;
      if (filter.connected !== undefined && entry.connected !== filter.connected) continue;
      if (filter.bootStatus !== undefined && entry.bootStatus !== filter.bootStatus) continue;
      if (filter.ocppVersion !== undefined && entry.ocppVersion !== filter.ocppVersion) continue;
      if (filter.status !== undefined && !hasStatus(entry, filter.status)) continue;
      if (q !== undefined && !entry.searchText.includes(q)) continue;
      if (ids.length === limit) return { ids, keys, more: true };
      ids.push(entry.id);
      keys.push(ranked === undefined ? entry.id : (ranked[i] as Ranked).key);
    }
    return { ids, keys, more: false };
  }

  private order(field: Exclude<FleetSortField, 'id'>): Ranked[] {
    const cached = this.orders.get(field);
    const now = this.now();
    if (cached !== undefined && (!cached.stale || now - cached.builtAt < ORDER_MAX_AGE_MS)) return cached.ranked;
    const ranked: Ranked[] = [];
    for (const entry of this.entries.values()) ranked.push({ key: sortKey(entry, field), id: entry.id });
    ranked.sort(compareRanked);
    this.orders.set(field, { ranked, builtAt: now, stale: false });
    return ranked;
  }

  private staleOrder(field: FleetSortField): void {
    const cached = this.orders.get(field);
    if (cached !== undefined) cached.stale = true;
  }

  private describe(entry: FleetEntry, chargingStation: JsonObject): void {
    entry.searchText = searchText(entry.id, chargingStation);
    const vendor = stringField(chargingStation, 'vendorName') ?? '';
    const model = stringField(chargingStation, 'model') ?? '';
    if (vendor !== entry.vendor) this.staleOrder('vendor');
    if (model !== entry.model) this.staleOrder('model');
    entry.vendor = vendor;
    entry.model = model;
  }

  private ensure(id: string, bootStatus: string, chargingStation: JsonObject | undefined): FleetEntry {
    const existing = this.entries.get(id);
    if (existing !== undefined) return existing;
    const entry: FleetEntry = {
      id,
      bootStatus,
      connected: false,
      nodeId: undefined,
      ocppVersion: undefined,
      connectors: new Map(),
      searchText: searchText(id, undefined),
      vendor: '',
      model: '',
    };
    if (chargingStation !== undefined) this.describe(entry, chargingStation);
    this.entries.set(id, entry);
    for (const cached of this.orders.values()) cached.stale = true;
    this.sortedIds.splice(upperBound(this.sortedIds, id), 0, id);
    this.bootCounts.add(bootStatus, 1);
    return entry;
  }

  private remove(id: string): void {
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    this.entries.delete(id);
    for (const cached of this.orders.values()) cached.stale = true;
    const at = upperBound(this.sortedIds, id) - 1;
    if (this.sortedIds[at] === id) this.sortedIds.splice(at, 1);
    this.bootCounts.add(entry.bootStatus, -1);
    for (const status of entry.connectors.values()) this.connectorCounts.add(status, -1);
    if (entry.connected) this.connectedCount--;
    if (entry.ocppVersion !== undefined) this.versionCounts.add(entry.ocppVersion, -1);
    const prefix = transactionKey(id, '');
    for (const key of this.activeTransactions) if (key.startsWith(prefix)) this.activeTransactions.delete(key);
  }

  private setBoot(entry: FleetEntry, bootStatus: string): void {
    if (entry.bootStatus === bootStatus) return;
    this.bootCounts.add(entry.bootStatus, -1);
    this.bootCounts.add(bootStatus, 1);
    entry.bootStatus = bootStatus;
    this.staleOrder('bootStatus');
  }

  private setConnector(entry: FleetEntry, key: string, status: string): void {
    const previous = entry.connectors.get(key);
    if (previous === status) return;
    if (previous !== undefined) this.connectorCounts.add(previous, -1);
    this.connectorCounts.add(status, 1);
    entry.connectors.set(key, status);
  }
}

/** Counts by label; a label whose count falls to 0 disappears from the summary. */
class Counts {
  private readonly counts = new Map<string, number>();

  add(label: string, delta: number): void {
    const n = (this.counts.get(label) ?? 0) + delta;
    if (n <= 0) this.counts.delete(label);
    else this.counts.set(label, n);
  }

  toObject(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }
}

function transactionKey(stationId: string, transactionId: string): string {
  return `${stationId}\u0000${transactionId}`;
}

function hasStatus(entry: FleetEntry, status: string): boolean {
  for (const value of entry.connectors.values()) if (value === status) return true;
  return false;
}

/** Case-insensitive, so "abb" and "ABB" sit together; the id breaks ties. */
function sortKey(entry: FleetEntry, field: Exclude<FleetSortField, 'id'>): string {
  switch (field) {
    case 'vendor':
      return entry.vendor.toLowerCase();
    case 'model':
      return entry.model.toLowerCase();
    case 'bootStatus':
      return entry.bootStatus;
    case 'connected':
      return entry.connected ? '1' : '0';
    case 'ocppVersion':
      return entry.ocppVersion ?? '';
  }
}

function compareRanked(a: Ranked, b: Ranked): number {
  if (a.key !== b.key) return a.key < b.key ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The first index whose (key, id) sorts after the cursor (`strict`) or at or after it. */
function rankBound(ranked: readonly Ranked[], cursor: FleetCursor, strict: boolean): number {
  let lo = 0;
  let hi = ranked.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareRanked(ranked[mid] as Ranked, cursor);
    if (c < 0 || (strict && c === 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first index whose id sorts at or after `id`. */
function lowerBound(sorted: readonly string[], id: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as string) < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first index whose id sorts after `id`. */
function upperBound(sorted: readonly string[], id: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as string) <= id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function searchText(id: string, chargingStation: JsonObject | undefined): string {
  const fields = ['vendorName', 'model', 'serialNumber'].map((key) => chargingStation?.[key]).filter((v): v is string => typeof v === 'string');
  return [id, ...fields].join('\u0000').toLowerCase();
}

function stringField(data: JsonObject, key: string): string | undefined {
  const value = data[key];
  return typeof value === 'string' ? value : undefined;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
