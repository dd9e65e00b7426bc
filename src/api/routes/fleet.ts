import type { FleetIndex } from '../../changes/fleet-index.js';
import type { TransactionRecord } from '../../store/billing-store.js';
import type { FleetStore, FleetTransactionCursor, FleetTransactionFilter } from '../../store/fleet-sql.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import { ApiError, booleanQuery, integerQuery, type ApiRequest, type ResponseStream } from '../http.js';
import type { QueryParam, RouteSpec } from '../route-spec.js';
import { tokenView, transactionView } from './billing.js';

export interface FleetRouteDeps {
  fleet: FleetIndex;
  fleetStore: FleetStore;
}

const DEFAULT_PAGE = 100;
const MAX_PAGE = 500;
/** Rows per query while streaming the CSV: what is held in memory at once, whatever the export's size. */
const CSV_PAGE = 500;

const TRANSACTION_FILTERS: Record<string, QueryParam> = {
  stationId: { type: 'string', description: 'only this station' },
  idToken: { type: 'string', description: 'only transactions started with this idToken value' },
  active: { type: 'boolean', description: 'only active (true) or ended (false) transactions' },
  from: { type: 'string', description: 'start time at or after this date-time (RFC 3339)' },
  to: { type: 'string', description: 'start time before this date-time (RFC 3339)' },
};

const CSV_COLUMNS = [
  'stationId',
  'transactionId',
  'evseId',
  'connectorId',
  'idToken',
  'idTokenType',
  'startedAt',
  'endedAt',
  'energyWh',
  'stoppedReason',
  'active',
  'meterStartWh',
  'meterStopWh',
  'cost',
  'currency',
] as const;

function dateQuery(request: ApiRequest, name: string): Date | undefined {
  const raw = request.query.get(name);
  if (raw === null) return undefined;
  const at = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$/.test(raw) ? new Date(raw) : undefined;
  if (at === undefined || Number.isNaN(at.getTime())) throw new ApiError(400, 'invalid_query', `${name} must be an RFC 3339 date-time`);
  return at;
}

function transactionFilter(request: ApiRequest): FleetTransactionFilter {
  return {
    stationId: request.query.get('stationId') ?? undefined,
    idToken: request.query.get('idToken') ?? undefined,
    active: booleanQuery(request, 'active'),
    from: dateQuery(request, 'from'),
    to: dateQuery(request, 'to'),
  };
}

function transactionCursor(request: ApiRequest): FleetTransactionCursor | undefined {
  const parts = decodeCursor(request.query.get('cursor'), 3);
  if (parts === undefined) return undefined;
  const [sortAt, stationId, transactionId] = parts as [string, string, string];
  if (!/^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([+-]\d{2}(:?\d{2})?|Z)?$/.test(sortAt))
    throw new ApiError(400, 'invalid_cursor', 'cursor must be a value a previous page returned as "next"');
  return { sortAt, stationId, transactionId };
}

/** RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled. */
function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvRow(tx: TransactionRecord): string {
  const row: Record<(typeof CSV_COLUMNS)[number], unknown> = {
    stationId: tx.stationId,
    transactionId: tx.transactionId,
    evseId: tx.evseId,
    connectorId: tx.connectorId,
    idToken: tx.idToken?.idToken,
    idTokenType: tx.idToken?.type,
    startedAt: tx.startedAt?.toISOString(),
    endedAt: tx.endedAt?.toISOString(),
    energyWh: tx.energyWh,
    stoppedReason: tx.stoppedReason,
    active: tx.active,
    meterStartWh: tx.meterStartWh,
    meterStopWh: tx.meterStopWh,
    cost: tx.cost,
    currency: tx.currency,
  };
  return `${CSV_COLUMNS.map((column) => csvField(row[column])).join(',')}\r\n`;
}

/**
 * Writes the CSV a page at a time: the next page is read only once the previous one has left (uWS's buffer
 * drained), so memory holds one page whatever the export's size and however slow the client.
 */
function streamCsv(store: FleetStore, filter: FleetTransactionFilter, out: ResponseStream): void {
  let after: FleetTransactionCursor | undefined;
  const next = (): void => {
    if (out.closed) return;
    store.listFleetTransactions(filter, after, CSV_PAGE).then(
      (page) => {
        if (out.closed) return;
        let ok = true;
        if (page.items.length > 0) ok = out.write(page.items.map(csvRow).join(''));
        const last = page.positions[page.positions.length - 1];
        if (page.items.length < CSV_PAGE || last === undefined) {
          out.end();
          return;
        }
        after = last;
        if (ok) next();
        else out.onWritable(next);
      },
      // Headers went out with 200 already: cut the body short, so the client sees a broken transfer, not a short file.
      () => out.end(),
    );
  };
  out.write(`${CSV_COLUMNS.join(',')}\r\n`);
  next();
}

/** The fleet at a glance and its transactions (CONTRACT §4 "Stations" and "Data"). */
export function fleetRoutes(deps: FleetRouteDeps): RouteSpec[] {
  const { fleet, fleetStore } = deps;
  return [
    {
      method: 'get',
      path: '/api/v1/fleet/summary',
      role: 'viewer',
      summary: 'Counts of the whole fleet: stations, connected, by boot status, by connector status, by OCPP version, active transactions',
      tag: 'Stations',
      responses: { 200: '{stations, connected, bootStatus, connectorStatus, ocppVersion, activeTransactions}' },
      // From the in-memory fleet index: O(1), whatever the fleet's size.
      handler: () => ({ status: 200, body: fleet.summary() }),
    },
    {
      method: 'get',
      path: '/api/v1/id-tokens',
      role: 'viewer',
      summary: 'Registered id tokens by type and value, a page at a time ({items, next})',
      tag: 'Id tokens',
      query: {
        q: { type: 'string', description: 'case-insensitive substring of the token value or its groupId' },
        limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, description: `tokens per page (default ${DEFAULT_PAGE})` },
        cursor: { type: 'string', description: 'the "next" of the previous page' },
      },
      responses: { 200: '{items:[token], next: cursor|null}', 400: 'Invalid query or cursor' },
      handler: async (request) => {
        const limit = integerQuery(request, 'limit', DEFAULT_PAGE);
        const after = decodeCursor(request.query.get('cursor'), 2);
        const rows = await fleetStore.listIdTokens(
          request.query.get('q') ?? undefined,
          after === undefined ? undefined : { type: after[0] as string, idToken: after[1] as string },
          limit + 1,
        );
        const items = rows.slice(0, limit);
        const last = items[items.length - 1];
        return { status: 200, body: { items: items.map(tokenView), next: rows.length > limit && last !== undefined ? encodeCursor([last.type, last.idToken]) : null } };
      },
    },
    {
      method: 'get',
      path: '/api/v1/transactions',
      role: 'viewer',
      summary: 'Transactions of the whole fleet, newest start first, a page at a time ({items, next})',
      tag: 'Transactions',
      query: {
        ...TRANSACTION_FILTERS,
        limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, description: `transactions per page (default ${DEFAULT_PAGE})` },
        cursor: { type: 'string', description: 'the "next" of the previous page' },
      },
      responses: { 200: '{items:[transaction with stationId], next: cursor|null}', 400: 'Invalid query or cursor' },
      handler: async (request) => {
        const limit = integerQuery(request, 'limit', DEFAULT_PAGE);
        // One row more than asked says whether another page follows.
        const page = await fleetStore.listFleetTransactions(transactionFilter(request), transactionCursor(request), limit + 1);
        const items = page.items.slice(0, limit);
        const last = page.positions[limit - 1];
        const next = page.items.length > limit && last !== undefined ? encodeCursor([last.sortAt, last.stationId, last.transactionId]) : null;
        return { status: 200, body: { items: items.map((tx) => ({ stationId: tx.stationId, ...transactionView(tx) })), next } };
      },
    },
    {
      method: 'get',
      path: '/api/v1/transactions.csv',
      role: 'viewer',
      summary: `The same transactions as CSV (text/csv, streamed): ${CSV_COLUMNS.join(',')}`,
      tag: 'Transactions',
      query: TRANSACTION_FILTERS,
      produces: 'text/csv',
      responses: { 200: 'text/csv, a header row then one row per transaction', 400: 'Invalid query' },
      handler: (request) => {
        const filter = transactionFilter(request);
        return {
          status: 200,
          headers: { 'Content-Disposition': 'attachment; filename="transactions.csv"', 'Cache-Control': 'no-store' },
          stream: { contentType: 'text/csv; charset=utf-8', start: (out) => streamCsv(fleetStore, filter, out) },
        };
      },
    },
  ];
}
