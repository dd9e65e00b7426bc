import type { Clock } from '../../clock.js';
import { ApiError, type ApiRequest } from '../../api/http.js';
import type { RouteSpec } from '../../api/route-spec.js';
import { Exact, InvalidAmountError } from './money.js';
import type { TariffFallbackMessages } from './fallback-messages.js';
import type { TariffRecord, TariffStore } from './tariff-store.js';

const MONEY_FIELDS = ['energyPerKWh', 'timePerHour', 'sessionFee', 'idleFeePerHour'] as const;

function tariffIdParam(request: ApiRequest): string {
  const id = request.params.tariffId ?? '';
  if (!/^[A-Za-z0-9._~-]{1,64}$/.test(id)) throw new ApiError(400, 'invalid_tariff_id', 'a tariff id is 1-64 characters of A-Z a-z 0-9 . _ ~ -');
  return id;
}

export function tariffView(tariff: TariffRecord): object {
  return {
    id: tariff.id,
    currency: tariff.currency,
    energyPerKWh: tariff.energyPerKWh ?? null,
    timePerHour: tariff.timePerHour ?? null,
    sessionFee: tariff.sessionFee ?? null,
    idleFeePerHour: tariff.idleFeePerHour ?? null,
    description: tariff.description ?? {},
    groups: tariff.groups,
    updatedAt: tariff.updatedAt.toISOString(),
  };
}

/** CONTRACT §8.4: tariffs as data. Read on every priced message, so a change holds on every node at once. */
export function tariffRoutes(deps: { tariffs: TariffStore; clock: Clock; fallback?: Pick<TariffFallbackMessages, 'tariffChanged'> }): RouteSpec[] {
  const { tariffs, clock, fallback } = deps;
  return [
    {
      method: 'put',
      path: '/api/v1/tariffs/{tariffId}',
      role: 'admin',
      summary: 'Create or replace a tariff: money as decimal strings, optional texts per language and id-token groups',
      tag: 'Tariffs',
      body: 'TariffPut',
      responses: {
        200: 'Tariff replaced',
        201: 'Tariff created',
        400: 'Invalid body (a money value that is not a decimal string)',
        409: 'A group already has another tariff',
      },
      handler: async (request) => {
        const id = tariffIdParam(request);
        const body = request.body;
        // The schema's pattern refuses them already; parsing again keeps the store's invariant in one obvious place.
        for (const field of MONEY_FIELDS) {
          const value = body[field];
          try {
            if (value !== undefined) Exact.parseMoney(value);
          } catch (err) {
            if (err instanceof InvalidAmountError) throw new ApiError(400, 'invalid_money', `${field} must be a decimal string like "0.35"`, { field });
            throw err;
          }
        }
        const groups = body.groups ?? [];
        const owners = await tariffs.groupOwners(id, groups);
        if (owners.length > 0) {
          throw new ApiError(409, 'group_has_tariff', `group ${owners[0]?.group ?? ''} already has tariff ${owners[0]?.id ?? ''}`, { owners });
        }
        const { tariff, created } = await tariffs.put(id, { ...body, groups }, new Date(clock.now()));
        // I04/I05: stations holding it get its new fallback texts, after this answer (never rejects).
        if (!created) void fallback?.tariffChanged(id);
        return { status: created ? 201 : 200, body: tariffView(tariff) };
      },
    },
    {
      method: 'get',
      path: '/api/v1/tariffs',
      role: 'viewer',
      summary: 'Every tariff, by id',
      tag: 'Tariffs',
      responses: { 200: '{items:[tariff]}' },
      handler: async () => ({ status: 200, body: { items: (await tariffs.list()).map(tariffView) } }),
    },
    {
      method: 'get',
      path: '/api/v1/tariffs/{tariffId}',
      role: 'viewer',
      summary: 'One tariff',
      tag: 'Tariffs',
      responses: { 200: 'The tariff', 404: 'Unknown tariff' },
      handler: async (request) => {
        const id = tariffIdParam(request);
        const tariff = await tariffs.get(id);
        if (tariff === undefined) throw new ApiError(404, 'tariff_not_found', `no tariff ${id}`);
        return { status: 200, body: tariffView(tariff) };
      },
    },
    {
      method: 'del',
      path: '/api/v1/tariffs/{tariffId}',
      role: 'admin',
      summary: 'Delete a tariff: stations holding it have none; transactions keep the copy they were priced with',
      tag: 'Tariffs',
      responses: { 204: 'Deleted', 404: 'Unknown tariff' },
      handler: async (request) => {
        const id = tariffIdParam(request);
        if (!(await tariffs.delete(id))) throw new ApiError(404, 'tariff_not_found', `no tariff ${id}`);
        return { status: 204 };
      },
    },
  ];
}
