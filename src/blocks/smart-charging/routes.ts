import { ApiError, type ApiRequest } from '../../api/http.js';
import type { RouteSpec } from '../../api/route-spec.js';
import { requireStation, stationIdParam } from '../../api/routes/stations.js';
import { commandFailure } from '../../api/command-failure.js';
import type { CommandReport, CommandService } from '../../commands/service.js';
import { asJson, isJsonObject, type JsonObject } from '../../json.js';
import type { BillingStore } from '../../store/billing-store.js';
import type { Store } from '../../store/store.js';
import type { SiteManager } from './sites.js';
import type { SmartChargingStore, StoredProfile } from './store.js';
import { setChargingProfile16 } from './v16.js';

export interface SmartChargingRouteDeps {
  store: Store & BillingStore;
  smart: SmartChargingStore;
  commands: CommandService;
  sites: SiteManager;
}

function integerParam(request: ApiRequest, name: string): number {
  const raw = request.params[name] ?? '';
  if (!/^-?\d{1,10}$/.test(raw)) throw new ApiError(400, `invalid_${name}`, `${name} must be an integer`);
  return Number(raw);
}

async function send(commands: CommandService, stationId: string, action: string, payload: JsonObject): Promise<CommandReport & { response: JsonObject }> {
  const report = await commands.run(stationId, action, payload, 'operator');
  if (report.outcome.kind !== 'result') throw commandFailure(report.outcome);
  return { ...report, response: report.outcome.response };
}

export function profileView(profile: StoredProfile): JsonObject {
  return {
    evseId: profile.evseId ?? null,
    chargingProfile: profile.chargingProfile as unknown as JsonObject,
    source: profile.source,
    status: profile.status,
    ...(profile.limitSource !== undefined ? { chargingLimitSource: profile.limitSource } : {}),
    ...(profile.response !== undefined ? { response: profile.response } : {}),
    updatedAt: profile.updatedAt.toISOString(),
  };
}

/** The charging-profile resource of a station (CONTRACT §8.3) and what the station reported about its profiles. */
export function smartChargingRoutes(deps: SmartChargingRouteDeps): RouteSpec[] {
  const { store, smart, commands, sites } = deps;
  return [
    {
      method: 'post',
      path: '/api/v1/stations/{id}/charging-profiles',
      role: 'operator',
      summary:
        'Set a charging profile (SetChargingProfile): id assigned when omitted; a TxProfile without transactionId gets the EVSE’s running transaction; refused with 400 naming the K01 rule it breaks',
      tag: 'Smart charging',
      body: 'ChargingProfilePost',
      responses: {
        201: '{evseId, chargingProfile, source:"CSMS", status, response}',
        400: 'The profile breaks the OCPP schema or a K01 rule (error.details.rule)',
        404: 'Unknown station',
        409: 'Not connected',
        502: 'The station answered CALLERROR (TC_K_15: NotSupported)',
        504: 'No answer in time',
      },
      handler: async (request) => {
        const stationId = stationIdParam(request);
        const station = await requireStation(store, stationId);
        const { evseId } = request.body;
        const chargingProfile: JsonObject = { ...asJson(request.body.chargingProfile) };
        if (chargingProfile.id === undefined) chargingProfile.id = await smart.nextProfileId(stationId);
        if (chargingProfile.chargingProfilePurpose === 'TxProfile' && chargingProfile.transactionId === undefined) {
          const running = (await store.listTransactions(stationId, { active: true })).find((tx) => tx.evseId === evseId);
          if (running === undefined)
            throw new ApiError(409, 'no_transaction', `K01.FR.03: no transaction runs on EVSE ${evseId}, so a TxProfile has nothing to limit`, {
              rule: 'K01.FR.03',
              message: `no transaction runs on EVSE ${evseId}`,
            });
          chargingProfile.transactionId = running.transactionId;
        }
        // A 1.6 station gets the 1.6 SetChargingProfile of the same profile (CONTRACT §3.1).
        const payload = station.ocppVersion === '1.6' ? setChargingProfile16(evseId, chargingProfile) : { evseId, chargingProfile };
        const { request: sent, response } = await send(commands, stationId, 'SetChargingProfile', payload);
        return {
          status: 201,
          body: {
            evseId,
            chargingProfile: sent.chargingProfile ?? chargingProfile,
            source: 'CSMS',
            status: response.status === 'Accepted' ? 'Accepted' : 'Rejected',
            response,
          },
        };
      },
    },
    {
      method: 'get',
      path: '/api/v1/stations/{id}/charging-profiles',
      role: 'viewer',
      summary: 'What the CSMS set (source CSMS), what the station last reported (station) and external limits (external, NotifyChargingLimit)',
      tag: 'Smart charging',
      responses: { 200: '{items:[{evseId, chargingProfile, source, status}]}', 404: 'Unknown station' },
      handler: async (request) => {
        const stationId = stationIdParam(request);
        await requireStation(store, stationId);
        const [profiles, external] = await Promise.all([smart.listProfiles(stationId), smart.listExternalLimits(stationId)]);
        const items: JsonObject[] = [
          ...profiles.map(profileView),
          ...external.map((limit) => ({
            evseId: limit.evseId,
            source: 'external',
            chargingLimitSource: limit.chargingLimitSource,
            isGridCritical: limit.isGridCritical ?? null,
            chargingSchedule: limit.chargingSchedule as unknown as JsonObject[],
            status: 'Accepted',
            updatedAt: limit.updatedAt.toISOString(),
          })),
        ];
        return { status: 200, body: { items } };
      },
    },
    {
      method: 'del',
      path: '/api/v1/stations/{id}/charging-profiles/{profileId}',
      role: 'operator',
      summary: 'Clear one profile by id (ClearChargingProfile); it leaves the list once the station accepted (or answered Unknown: it holds nothing by that id)',
      tag: 'Smart charging',
      responses: { 200: '{chargingProfileId, response}', 404: 'Unknown station', 409: 'Not connected', 502: 'CALLERROR', 504: 'No answer in time' },
      handler: async (request) => {
        const stationId = stationIdParam(request);
        const chargingProfileId = integerParam(request, 'profileId');
        const station = await requireStation(store, stationId);
        const { response } = await send(commands, stationId, 'ClearChargingProfile', station.ocppVersion === '1.6' ? { id: chargingProfileId } : { chargingProfileId });
        return { status: 200, body: { chargingProfileId, response } };
      },
    },
    {
      method: 'get',
      path: '/api/v1/stations/{id}/charging-profile-reports/{requestId}',
      role: 'viewer',
      summary: 'ReportChargingProfiles assembled per GetChargingProfiles requestId: complete once a part without tbc arrived (or the station answered NoProfiles)',
      tag: 'Smart charging',
      responses: { 200: '{requestId, status, complete, reports:[{evseId, chargingLimitSource, chargingProfile, tbc}]}', 404: 'Unknown station or request' },
      handler: async (request) => {
        const stationId = stationIdParam(request);
        const requestId = integerParam(request, 'requestId');
        await requireStation(store, stationId);
        const report = await smart.getReport(stationId, requestId);
        if (report === undefined) throw new ApiError(404, 'report_not_found', `no charging profile report ${requestId} from ${stationId}`);
        return { status: 200, body: { requestId, status: report.status, complete: report.complete, reports: report.parts as unknown as JsonObject[] } };
      },
    },
    {
      method: 'get',
      path: '/api/v1/stations/{id}/composite-schedules',
      role: 'viewer',
      summary: 'The last composite schedule the station returned per EVSE (GetCompositeSchedule, K08), and the EV charging needs it reported (ISO 15118)',
      tag: 'Smart charging',
      responses: { 200: '{items:[{evseId, schedule, fetchedAt}], chargingNeeds:[…]}', 404: 'Unknown station' },
      handler: async (request) => {
        const stationId = stationIdParam(request);
        await requireStation(store, stationId);
        const [schedules, needs] = await Promise.all([smart.listCompositeSchedules(stationId), smart.getChargingNeeds(stationId)]);
        return {
          status: 200,
          body: {
            items: schedules.map((s) => ({ evseId: s.evseId, schedule: s.schedule, fetchedAt: s.fetchedAt.toISOString() })),
            chargingNeeds: needs.map((n) => ({ evseId: n.evseId, chargingNeeds: n.chargingNeeds, evChargingSchedule: n.evSchedule, timeBase: n.timeBase })),
          },
        };
      },
    },
    {
      method: 'put',
      path: '/api/v1/sites/{siteId}',
      role: 'admin',
      summary: 'Declare or change a site (a grid connection): the CSMS then keeps the sum of its EVSEs’ accepted limits under the site limit',
      tag: 'Sites',
      body: 'SitePut',
      responses: { 200: 'Site updated', 201: 'Site created', 400: 'Invalid body or unknown station', 409: 'A station is managed by another site' },
      handler: async (request) => {
        const siteId = siteIdParam(request);
        const body = request.body;
        if (body.minPerEvse !== undefined && isJsonObject(body.minPerEvse) && body.minPerEvse.value > body.limit.value && body.minPerEvse.unit === body.limit.unit)
          throw new ApiError(400, 'invalid_site', 'minPerEvse is above the site limit');
        for (const stationId of body.stations) {
          const station = await store.getStation(stationId);
          if (station === undefined) throw new ApiError(400, 'unknown_station', `no station ${stationId}`, { stationId });
          // The site manager speaks 2.0.1 profiles only (README "Smart charging and sites").
          if (station.ocppVersion === '1.6' || station.ocppVersionPin === '1.6')
            throw new ApiError(400, 'unsupported_station', `station ${stationId} speaks OCPP 1.6, which sites do not manage yet`, { stationId });
          const other = await sites.siteHolding(stationId, siteId);
          if (other !== undefined) throw new ApiError(409, 'station_in_another_site', `station ${stationId} is managed by site ${other}`, { stationId, siteId: other });
        }
        const created = await sites.put(siteId, {
          limit: body.limit,
          phases: body.phases,
          voltage: body.voltage,
          stations: body.stations,
          ...(body.minPerEvse !== undefined ? { minPerEvse: body.minPerEvse } : {}),
        });
        return { status: created ? 201 : 200, body: await sites.view(siteId) };
      },
    },
    {
      method: 'get',
      path: '/api/v1/sites/{siteId}',
      role: 'viewer',
      summary: 'A site with its allocation per EVSE (the limit each station accepted, or one pending) and its headroom',
      tag: 'Sites',
      responses: { 200: '{id, limit, phases, voltage, stations, minPerEvse, allocation, headroom}', 404: 'Unknown site' },
      handler: async (request) => {
        const siteId = siteIdParam(request);
        const view = await sites.view(siteId);
        if (view === undefined) throw new ApiError(404, 'site_not_found', `no site ${siteId}`);
        return { status: 200, body: view };
      },
    },
    {
      method: 'del',
      path: '/api/v1/sites/{siteId}',
      role: 'admin',
      summary: 'Stop managing a site: the CSMS clears the profiles it set for it, then forgets the site',
      tag: 'Sites',
      responses: { 204: 'Deleted', 404: 'Unknown site' },
      handler: async (request) => {
        const siteId = siteIdParam(request);
        if (!(await sites.remove(siteId))) throw new ApiError(404, 'site_not_found', `no site ${siteId}`);
        return { status: 204 };
      },
    },
  ];
}

function siteIdParam(request: ApiRequest): string {
  const id = request.params.siteId ?? '';
  if (!/^[A-Za-z0-9._~-]{1,64}$/.test(id)) throw new ApiError(400, 'invalid_site_id', 'a site id is 1-64 characters of A-Z a-z 0-9 . _ ~ -');
  return id;
}
