import type { LocalListEntry as ApiEntry, LocalListToken } from '../../api/generated/api-types.js';
import { ApiError } from '../../api/http.js';
import type { RouteSpec } from '../../api/route-spec.js';
import { requireStation, stationIdParam } from '../../api/routes/stations.js';
import type { DecisionChannel } from '../../cluster/command-router.js';
import type { JsonObject } from '../../json.js';
import type { BillingStore } from '../../store/billing-store.js';
import type { Store } from '../../store/store.js';
import { normalizeIdToken } from '../authorization/authorizer.js';
import { entryKey, type LocalListEntry, type LocalListRecord, type LocalListStore } from './local-list-store.js';
import { capacityFromDeviceModel, diffLists, limitsFromDeviceModel, planParts, type ListCapacity, type ListLimits, type OcppListVersion } from './plan.js';

export interface LocalListRouteDeps {
  store: Store & BillingStore;
  lists: LocalListStore;
  decisions: DecisionChannel;
  /** Schema violations of a 2.0.1 request payload (the official schema), empty when valid. */
  violations: (action: string, payload: JsonObject) => readonly unknown[];
}

/** What an estimate of a register entry's size assumes: a status, a group and an expiry. */
const REGISTER_INFO_ESTIMATE: JsonObject = {
  status: 'Accepted',
  cacheExpiryDateTime: '2000-01-01T00:00:00.000Z',
  groupIdToken: { idToken: 'x'.repeat(36), type: 'Central' },
};

function refused(rule: string, message: string, extra: JsonObject = {}): ApiError {
  return new ApiError(400, 'ocpp_rule', message, { rule, message, ...extra });
}

function normalizeToken(token: LocalListToken): { idToken: string; type: string } {
  return { idToken: normalizeIdToken(token.type, token.idToken), type: token.type };
}

function normalizeEntry(entry: ApiEntry): LocalListEntry {
  const idToken = normalizeToken(entry.idToken);
  return entry.idTokenInfo === undefined ? { idToken } : { idToken, idTokenInfo: entry.idTokenInfo as JsonObject };
}

function listView(stationId: string, record: LocalListRecord | undefined): object {
  return {
    stationId,
    managed: record?.entries !== undefined,
    entries: (record?.entries ?? []).map((e) => (e.idTokenInfo === undefined ? { idToken: e.idToken, followsRegister: true } : e)),
    version: record?.version ?? null,
    stationVersion: record?.stationVersion ?? null,
    acceptedVersion: record?.acceptedVersion ?? null,
    // Nothing to bring the station to when the CSMS manages no list for it.
    syncStatus: record?.entries === undefined ? 'InSync' : record.syncStatus,
    lastError: record?.lastError ?? null,
    updatedAt: record?.updatedAt.toISOString() ?? null,
  };
}

export function localListRoutes(deps: LocalListRouteDeps): RouteSpec[] {
  const { store, lists, decisions } = deps;

  /** D01.FR.06, DRV-LAL-08, the register entries exist, and every own idTokenInfo is a valid IdTokenInfoType. */
  async function check(entries: readonly LocalListEntry[]): Promise<void> {
    const seen = new Set<string>();
    for (const entry of entries) {
      const key = entryKey(entry.idToken);
      if (seen.has(key)) throw refused('D01.FR.06', `${entry.idToken.type} ${entry.idToken.idToken} is in the list twice: idTokens in a list are unique`);
      seen.add(key);
      if (entry.idToken.type === 'NoAuthorization') {
        throw refused('DRV-LAL-08', 'a NoAuthorization token cannot authorize anything locally: it has no place in a local list');
      }
    }
    const own = entries.filter((e) => e.idTokenInfo !== undefined);
    if (own.length > 0) {
      const violations = deps.violations('SendLocalList', { versionNumber: 1, updateType: 'Full', localAuthorizationList: own as unknown as JsonObject[] });
      if (violations.length > 0) {
        throw new ApiError(400, 'invalid_payload', 'an idTokenInfo violates the OCPP 2.0.1 IdTokenInfoType schema', {
          rule: 'SendLocalListRequest schema',
          violations,
        });
      }
    }
    for (const entry of entries) {
      if (entry.idTokenInfo !== undefined) continue;
      if ((await store.getIdToken(entry.idToken.type, entry.idToken.idToken)) === undefined) {
        throw new ApiError(
          400,
          'id_token_not_registered',
          `${entry.idToken.type} ${entry.idToken.idToken} has no register entry to follow: register it or give its idTokenInfo`,
          {
            idToken: entry.idToken,
          },
        );
      }
    }
  }

  /**
   * How many SendLocalList messages the change will probably take, with the limits the CSMS knows now: the new
   * version leaves that many versions below it for the parts (a wrong guess is corrected when it is sent).
   */
  function estimateParts(limits: ListLimits, ocppVersion: OcppListVersion) {
    return (entries: LocalListEntry[], record: LocalListRecord | undefined): number => {
      const installed = record?.installed;
      const held = new Map((installed ?? []).map((e) => [entryKey(e.idToken), e]));
      const desired = entries.map((e) => ({ idToken: e.idToken, idTokenInfo: e.idTokenInfo ?? held.get(entryKey(e.idToken))?.idTokenInfo ?? REGISTER_INFO_ESTIMATE }));
      const full = record === undefined || installed === undefined || record.forceFull || record.stationVersion !== record.acceptedVersion;
      try {
        return planParts(full ? { kind: 'full', entries: desired } : { kind: 'differential', ...diffLists(installed, desired) }, limits, ocppVersion).length;
      } catch {
        return 1;
      }
    };
  }

  /**
   * DRV-LAL-10 (D01 prerequisite): a station that reports its local list disabled or absent would answer Failed to
   * every SendLocalList, forever. The CSMS does not enable it on its own (that is the operator's SetVariables).
   */
  function checkEnabled(capacity: ListCapacity, ocppVersion: OcppListVersion): void {
    const prefix = ocppVersion === '1.6' ? 'LocalAuthListEnabled' : 'LocalAuthListCtrlr.Enabled';
    if (capacity.available === false) {
      throw refused('DRV-LAL-10', 'the station reports LocalAuthListCtrlr.Available = false: it has no local list to send to', {
        variable: 'LocalAuthListCtrlr.Available',
        reported: false,
      });
    }
    if (capacity.enabled === false) {
      throw refused('DRV-LAL-10', `the station reports ${prefix} = false: enable it (SetVariables) before giving it a list`, { variable: prefix, reported: false });
    }
  }

  /** D01.FR.12, DRV-LAL-09: never more entries than the station says its list holds. */
  function checkCapacity(entries: readonly LocalListEntry[], capacity: ListCapacity, ocppVersion: OcppListVersion): void {
    if (capacity.maxEntries === undefined || entries.length <= capacity.maxEntries) return;
    const variable = ocppVersion === '1.6' ? 'LocalAuthListMaxLength' : 'LocalAuthListCtrlr.Entries maxLimit';
    throw refused('DRV-LAL-09', `the list has ${entries.length} entries; the station reports ${variable} = ${capacity.maxEntries}`, {
      variable,
      reported: capacity.maxEntries,
      entries: entries.length,
    });
  }

  async function applyChange(stationId: string, change: (current: LocalListEntry[]) => LocalListEntry[]): Promise<LocalListRecord> {
    const station = await requireStation(store, stationId);
    const ocppVersion: OcppListVersion = station.ocppVersion === '1.6' || (station.ocppVersion === undefined && station.ocppVersionPin === '1.6') ? '1.6' : '2.0.1';
    const deviceModel = await store.getVariables(stationId);
    const capacity = capacityFromDeviceModel(deviceModel, ocppVersion);
    checkEnabled(capacity, ocppVersion);
    const limits = limitsFromDeviceModel(deviceModel, ocppVersion);
    // The size is checked on the list the change makes (a PATCH adds to what is there), before the write: a
    // refusal inside the write's transaction would read as a store failure.
    checkCapacity(change((await lists.get(stationId))?.entries ?? []), capacity, ocppVersion);
    const record = await lists.change(stationId, change, estimateParts(limits, ocppVersion));
    // Committed: the node holding the station (maybe this one) pushes it.
    decisions.announce({ kind: 'localList', stationId });
    return record;
  }

  return [
    {
      method: 'put',
      path: '/api/v1/stations/{id}/local-list',
      role: 'operator',
      summary: 'Set the Local Authorization List the station should hold; the CSMS brings the station there (SendLocalList)',
      tag: 'Local list',
      body: 'LocalListPut',
      responses: {
        202: '{version, syncStatus}',
        400: 'A rule of D01 broken, a list larger than the station holds (DRV-LAL-09), local lists disabled on the station (DRV-LAL-10), or an unregistered register entry',
        404: 'Unknown station',
      },
      handler: async (request) => {
        const stationId = stationIdParam(request);
        await requireStation(store, stationId);
        const entries = request.body.entries.map(normalizeEntry);
        await check(entries);
        const record = await applyChange(stationId, () => entries);
        return { status: 202, body: { stationId, version: record.version, syncStatus: record.syncStatus } };
      },
    },
    {
      method: 'patch',
      path: '/api/v1/stations/{id}/local-list',
      role: 'operator',
      summary: 'Add, change or remove entries of the station’s list (sent as a Differential update)',
      tag: 'Local list',
      body: 'LocalListPatch',
      responses: {
        202: '{version, syncStatus}',
        400: 'A rule of D01 broken, a list larger than the station holds (DRV-LAL-09), local lists disabled on the station (DRV-LAL-10), or an unregistered register entry',
        404: 'Unknown station',
      },
      handler: async (request) => {
        const stationId = stationIdParam(request);
        await requireStation(store, stationId);
        const upsert = (request.body.upsert ?? []).map(normalizeEntry);
        const remove = (request.body.remove ?? []).map(normalizeToken);
        await check([...upsert, ...remove.map((idToken) => ({ idToken, idTokenInfo: { status: 'Invalid' } }))]);
        const changed = new Set([...upsert.map((e) => entryKey(e.idToken)), ...remove.map(entryKey)]);
        const record = await applyChange(stationId, (current) => [...current.filter((e) => !changed.has(entryKey(e.idToken))), ...upsert]);
        return { status: 202, body: { stationId, version: record.version, syncStatus: record.syncStatus } };
      },
    },
    {
      method: 'get',
      path: '/api/v1/stations/{id}/local-list',
      role: 'viewer',
      summary: 'The station’s desired list, its version, the version the station reported, and the sync status',
      tag: 'Local list',
      responses: { 200: '{entries, version, stationVersion, syncStatus, lastError}', 404: 'Unknown station' },
      handler: async (request) => {
        const stationId = stationIdParam(request);
        await requireStation(store, stationId);
        return { status: 200, body: listView(stationId, await lists.get(stationId)) };
      },
    },
  ];
}
