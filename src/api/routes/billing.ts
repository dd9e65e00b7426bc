import type { DecisionChannel } from '../../cluster/command-router.js';
import { normalizeIdToken } from '../../blocks/authorization/authorizer.js';
import type { BillingStore, IdTokenRecord, TransactionRecord } from '../../store/billing-store.js';
import type { Store } from '../../store/store.js';
import { ApiError, booleanQuery, type ApiRequest } from '../http.js';
import type { RouteSpec } from '../route-spec.js';
import { requireStation, stationIdParam } from './stations.js';

const ID_TOKEN_TYPES: ReadonlySet<string> = new Set(['Central', 'eMAID', 'ISO14443', 'ISO15693', 'KeyCode', 'Local', 'MacAddress', 'NoAuthorization']);

function tokenParams(request: ApiRequest): { type: string; idToken: string } {
  const type = request.params.type ?? '';
  if (!ID_TOKEN_TYPES.has(type)) throw new ApiError(400, 'invalid_token_type', `type must be one of ${[...ID_TOKEN_TYPES].join(', ')}`);
  const idToken = request.params.idToken ?? '';
  if (idToken.length === 0 || idToken.length > 36) throw new ApiError(400, 'invalid_id_token', 'idToken is 1-36 characters (IdTokenType.idToken)');
  return { type, idToken: normalizeIdToken(type, idToken) };
}

export function tokenView(token: IdTokenRecord): object {
  return {
    type: token.type,
    idToken: token.idToken,
    status: token.status,
    groupId: token.groupId ?? null,
    expiresAt: token.expiresAt?.toISOString() ?? null,
    updatedAt: token.updatedAt.toISOString(),
  };
}

export function transactionView(tx: TransactionRecord): Record<string, unknown> {
  return {
    transactionId: tx.transactionId,
    evseId: tx.evseId ?? null,
    connectorId: tx.connectorId ?? null,
    idToken: tx.idToken ?? null,
    active: tx.active,
    startedAt: tx.startedAt?.toISOString() ?? null,
    endedAt: tx.endedAt?.toISOString() ?? null,
    stoppedReason: tx.stoppedReason ?? null,
    chargingState: tx.chargingState ?? null,
    remoteStartId: tx.remoteStartId ?? null,
    meterStartWh: tx.meterStartWh ?? null,
    meterStopWh: tx.meterStopWh ?? null,
    energyWh: tx.energyWh ?? null,
    lastSeqNo: tx.lastSeqNo,
    eventCount: tx.eventCount,
    flags: tx.flags,
    updatedAt: tx.updatedAt.toISOString(),
    // CONTRACT §8.4: null when no tariff priced the transaction.
    cost: tx.cost ?? null,
    currency: tx.currency ?? null,
  };
}

export function billingRoutes(deps: { store: Store & BillingStore; decisions: DecisionChannel }): RouteSpec[] {
  const { store, decisions } = deps;
  return [
    {
      method: 'put',
      path: '/api/v1/id-tokens/{type}/{idToken}',
      role: 'operator',
      summary: 'Register or update an id token (ISO14443/ISO15693 UIDs are matched case-insensitively)',
      tag: 'Id tokens',
      body: 'IdTokenPut',
      responses: { 200: 'Token updated', 201: 'Token registered', 400: 'Invalid type or body' },
      handler: async (request) => {
        const { type, idToken } = tokenParams(request);
        const body = request.body;
        const { token, created } = await store.putIdToken(type, idToken, {
          status: body.status,
          groupId: body.groupId,
          expiresAt: body.expiresAt !== undefined ? new Date(body.expiresAt) : undefined,
        });
        decisions.announce({ kind: 'idToken', type, idToken });
        return { status: created ? 201 : 200, body: tokenView(token) };
      },
    },
    {
      method: 'get',
      path: '/api/v1/id-tokens/{type}/{idToken}',
      role: 'viewer',
      summary: 'One id token',
      tag: 'Id tokens',
      responses: { 200: 'Token', 404: 'Unknown token' },
      handler: async (request) => {
        const { type, idToken } = tokenParams(request);
        const token = await store.getIdToken(type, idToken);
        if (token === undefined) throw new ApiError(404, 'id_token_not_found', `no ${type} token ${idToken}`);
        return { status: 200, body: tokenView(token) };
      },
    },
    {
      method: 'del',
      path: '/api/v1/id-tokens/{type}/{idToken}',
      role: 'operator',
      summary: 'Remove an id token (it is then answered Unknown)',
      tag: 'Id tokens',
      responses: { 204: 'Deleted', 404: 'Unknown token' },
      handler: async (request) => {
        const { type, idToken } = tokenParams(request);
        const deleted = await store.deleteIdToken(type, idToken);
        decisions.announce({ kind: 'idToken', type, idToken });
        if (!deleted) throw new ApiError(404, 'id_token_not_found', `no ${type} token ${idToken}`);
        return { status: 204 };
      },
    },
    {
      method: 'get',
      path: '/api/v1/stations/{id}/transactions',
      role: 'viewer',
      summary: "The station's transactions, most recent first; ?active=true|false",
      tag: 'Transactions',
      query: { active: { type: 'boolean', description: 'only active (true) or ended (false) transactions' } },
      responses: { 200: '{items:[transaction]}', 404: 'Unknown station' },
      handler: async (request) => {
        const id = stationIdParam(request);
        const active = booleanQuery(request, 'active');
        await requireStation(store, id);
        const items = await store.listTransactions(id, active === undefined ? {} : { active });
        return { status: 200, body: { items: items.map(transactionView) } };
      },
    },
    {
      method: 'get',
      path: '/api/v1/stations/{id}/transactions/{transactionId}',
      role: 'viewer',
      summary: 'One transaction with every TransactionEvent in seqNo order and its meter values',
      tag: 'Transactions',
      responses: { 200: 'Transaction', 404: 'Unknown station or transaction' },
      handler: async (request) => {
        const id = stationIdParam(request);
        const transactionId = request.params.transactionId ?? '';
        await requireStation(store, id);
        const tx = await store.getTransaction(id, transactionId);
        if (tx === undefined) throw new ApiError(404, 'transaction_not_found', `no transaction ${transactionId} on ${id}`);
        const [events, meterMessages, conflicts] = await Promise.all([
          store.getTransactionEvents(id, transactionId),
          store.getTransactionMeterValues(id, transactionId),
          store.getTransactionConflicts(id, transactionId),
        ]);
        // Samples from the events themselves and from MeterValues messages, in time order.
        const meterValues = [
          ...events.flatMap((e) =>
            ((e.payload.meterValue as unknown[] | undefined) ?? []).map((mv) => ({ source: 'TransactionEvent', seqNo: e.seqNo, ...(mv as object) })),
          ),
          ...meterMessages.flatMap((m) => m.meterValue.map((mv) => ({ source: m.source, evseId: m.evseId, ...(mv as object) }))),
        ].sort((a, b) => String((a as { timestamp?: string }).timestamp).localeCompare(String((b as { timestamp?: string }).timestamp)));
        return {
          status: 200,
          body: {
            ...transactionView(tx),
            events: events.map((e) => ({
              seqNo: e.seqNo,
              eventType: e.eventType,
              timestamp: e.timestamp.toISOString(),
              triggerReason: e.triggerReason,
              offline: e.offline,
              receivedAt: e.receivedAt.toISOString(),
              request: e.payload,
              response: e.response,
            })),
            meterValues,
            conflicts: conflicts.map((e) => ({
              seqNo: e.seqNo,
              eventType: e.eventType,
              timestamp: e.timestamp.toISOString(),
              receivedAt: e.receivedAt.toISOString(),
              request: e.payload,
              response: e.response,
            })),
          },
        };
      },
    },
  ];
}
