import type { Clock } from '../../clock.js';
import type { CommandRouter } from '../../cluster/command-router.js';
import type { StationPasswords } from '../../security/password-verifier.js';
import { parseIdentity } from '../../station/admission.js';
import { normalizeSerialNumber, type ConnectorStatusRecord, type IssuedCertificateRecord, type StationPatch, type StationRecord, type Store } from '../../store/store.js';
import type { StationPatch as StationPatchBody, StationPut } from '../generated/api-types.js';
import type { StationLocation } from '../../cluster/command-router.js';
import { FLEET_SORT_FIELDS, type FleetIndex, type FleetSort } from '../../changes/fleet-index.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import { ApiError, booleanQuery, integerQuery, type ApiRequest } from '../http.js';
import type { RouteSpec } from '../route-spec.js';

export interface StationRouteDeps {
  store: Store;
  passwords: StationPasswords;
  router: CommandRouter;
  clock: Clock;
  /** The fleet list's filters and connectivity (src/changes/fleet-index.ts). */
  fleet: FleetIndex;
  /** CONTRACT §8.4: the station's tariff (`tariffId` on PUT/PATCH and in the view). */
  tariffs?: StationTariffs;
  /** I04/I05: the fallback texts follow a tariff assignment (sent after the answer, src/blocks/tariffs/fallback-messages.ts). */
  tariffFallback?: { stationAssigned(stationId: string, tariffId: string): Promise<void> };
}

/** What the station routes need of the tariffs block. */
export interface StationTariffs {
  exists(tariffId: string): Promise<boolean>;
  assignStation(stationId: string, tariffId: string | null): Promise<void>;
  stationTariff(stationId: string): Promise<string | undefined>;
}

const DEFAULT_PAGE = 100;
const MAX_PAGE = 500;

/** The station as the operator sees it: registration, boot state, where it is connected, what it reported. */
export async function stationView(deps: Pick<StationRouteDeps, 'store' | 'router' | 'tariffs'>, station: StationRecord): Promise<object> {
  const [connectors, location, tariffId] = await Promise.all([
    deps.store.getConnectors(station.id),
    deps.router.locate(station.id),
    deps.tariffs?.stationTariff(station.id),
  ]);
  return { ...renderStation(station, connectors, location), ...(deps.tariffs !== undefined ? { tariffId: tariffId ?? null } : {}) };
}

/** CONTRACT §8.4: an unknown tariffId is refused before anything is stored. */
async function checkTariff(deps: Pick<StationRouteDeps, 'tariffs'>, body: StationPut | StationPatchBody): Promise<void> {
  const tariffId = body.tariffId;
  if (tariffId === undefined || tariffId === null) return;
  if (deps.tariffs === undefined || !(await deps.tariffs.exists(tariffId))) throw new ApiError(400, 'unknown_tariff', `no tariff ${tariffId}`);
}

async function assignTariff(deps: Pick<StationRouteDeps, 'tariffs' | 'tariffFallback'>, id: string, body: StationPut | StationPatchBody): Promise<void> {
  if (body.tariffId !== undefined) await deps.tariffs?.assignStation(id, body.tariffId);
  // Not awaited: the assignment holds whatever the station answers (the sender logs what fails, never rejects).
  if (typeof body.tariffId === 'string') void deps.tariffFallback?.stationAssigned(id, body.tariffId);
}

function renderStation(station: StationRecord, connectors: readonly ConnectorStatusRecord[], location: StationLocation): object {
  const evses = new Map<number, { id: number; connectors: { id: number; status: string; error: object | null; updatedAt: string }[] }>();
  for (const connector of connectors) {
    // Rows of EVSE 0 from before migration 9 are the station's status, not an EVSE (the migration moves them).
    if (connector.evseId === 0) continue;
    let evse = evses.get(connector.evseId);
    if (evse === undefined) {
      evse = { id: connector.evseId, connectors: [] };
      evses.set(connector.evseId, evse);
    }
    // `error`: what a 1.6 station sent with the status (errorCode, info, vendor codes); null on 2.0.1, which has none.
    evse.connectors.push({ id: connector.connectorId, status: connector.status, error: connector.error ?? null, updatedAt: connector.updatedAt.toISOString() });
  }
  return {
    id: station.id,
    securityProfile: station.securityProfile,
    bootPolicy: station.bootPolicy,
    ocppVersionPin: station.ocppVersionPin,
    ocppVersion: station.ocppVersion ?? null,
    bootStatus: station.bootStatus,
    connected: location.connected,
    nodeId: location.nodeId ?? null,
    lastSeen: station.lastSeen?.toISOString() ?? null,
    lastBootReason: station.lastBootReason ?? null,
    chargingStation: station.chargingStation ?? null,
    // CONTRACT §3.2: the station-wide status (evseId 0) is the station's own, never an EVSE of `evses`.
    status: station.availability?.status ?? null,
    availability:
      station.availability === undefined
        ? null
        : { status: station.availability.status, error: station.availability.error ?? null, updatedAt: station.availability.updatedAt.toISOString() },
    evses: [...evses.values()].sort((a, b) => a.id - b.id).map((e) => ({ ...e, connectors: e.connectors.sort((a, b) => a.id - b.id) })),
    firmwareStatus: station.firmwareStatus ?? null,
    logStatus: station.logStatus ?? null,
    certificates: station.certificates ?? null,
    // TC_A_14: the last SignCertificate / CertificateSigned outcome (kept with the station: the same on every node).
    certificateSigning: station.certificateSigning ?? null,
    createdAt: station.createdAt.toISOString(),
    updatedAt: station.updatedAt.toISOString(),
  };
}

export function stationIdParam(request: ApiRequest): string {
  const id = parseIdentity(encodeURIComponent(request.params.id ?? ''));
  if (id === undefined) throw new ApiError(400, 'invalid_station_id', 'a station id is 1-48 printable characters without ":"');
  return id;
}

export async function requireStation(store: Store, id: string): Promise<StationRecord> {
  const station = await store.getStation(id);
  if (station === undefined) throw new ApiError(404, 'station_not_found', `no station ${id}`);
  return station;
}

async function toPatch(passwords: StationPasswords, id: string, body: StationPut | StationPatchBody): Promise<StationPatch> {
  return {
    ...(body.securityProfile !== undefined ? { securityProfile: body.securityProfile } : {}),
    ...(body.bootPolicy !== undefined ? { bootPolicy: body.bootPolicy } : {}),
    ...(body.ocppVersion !== undefined ? { ocppVersionPin: body.ocppVersion } : {}),
    ...(body.password !== undefined ? await passwords.create(id, body.password) : {}),
  };
}

/** A certificate the CSMS CA issued, as GET …/certificates lists it. */
function certificateView(certificate: IssuedCertificateRecord, now: number): object {
  const status = certificate.revokedAt !== undefined ? 'Revoked' : certificate.notAfter.getTime() <= now ? 'Expired' : 'Valid';
  return {
    serialNumber: certificate.serialNumber,
    certificateType: certificate.certificateType,
    issuedAt: certificate.issuedAt.toISOString(),
    notAfter: certificate.notAfter.toISOString(),
    revokedAt: certificate.revokedAt?.toISOString() ?? null,
    revocationReason: certificate.revocationReason ?? null,
    status,
  };
}

export function stationRoutes(deps: StationRouteDeps): RouteSpec[] {
  const { store, router, clock } = deps;
  /** CONTRACT §3.2 "Certificates": what the CSMS CA issued to the station stops proving profile 3. */
  const revokeAll = (id: string, reason: string): Promise<number> => store.revokeIssuedCertificates(id, reason, new Date(clock.now()));
  return [
    {
      method: 'put',
      path: '/api/v1/stations/{id}',
      role: 'admin',
      summary: 'Register a station or update its registration',
      tag: 'Stations',
      body: 'StationPut',
      responses: { 200: 'Station updated', 201: 'Station registered', 400: 'Invalid body' },
      handler: async (request) => {
        const id = stationIdParam(request);
        await checkTariff(deps, request.body);
        const { station, created } = await store.upsertStation(id, await toPatch(deps.passwords, id, request.body));
        await assignTariff(deps, id, request.body);
        // A registration made anew owes nothing to certificates issued to an earlier one; a new password
        // ends what was obtained with the old one.
        if (created) await revokeAll(id, 'registered anew');
        else if (request.body.password !== undefined) await revokeAll(id, 'password changed');
        return { status: created ? 201 : 200, body: await stationView(deps, station) };
      },
    },
    {
      method: 'patch',
      path: '/api/v1/stations/{id}',
      role: 'admin',
      summary: 'Change part of a registration (e.g. accept a Pending station with {"bootPolicy":"Accepted"})',
      tag: 'Stations',
      body: 'StationPatch',
      responses: { 200: 'Station updated', 400: 'Invalid body', 404: 'Unknown station' },
      handler: async (request) => {
        const id = stationIdParam(request);
        await requireStation(store, id);
        await checkTariff(deps, request.body);
        const { station } = await store.upsertStation(id, await toPatch(deps.passwords, id, request.body));
        await assignTariff(deps, id, request.body);
        if (request.body.password !== undefined) await revokeAll(id, 'password changed');
        return { status: 200, body: await stationView(deps, station) };
      },
    },
    {
      method: 'get',
      path: '/api/v1/stations',
      role: 'viewer',
      summary: 'List stations by id, a page at a time ({items, next}); filters combine',
      tag: 'Stations',
      query: {
        connected: { type: 'boolean', description: 'only stations that are (true) or are not (false) connected' },
        bootStatus: { type: 'string', description: 'Unknown, Accepted, Pending or Rejected' },
        status: { type: 'string', description: 'stations with at least one connector in this status (e.g. Available, Occupied, Faulted)' },
        ocppVersion: { type: 'string', description: 'only stations whose last connection negotiated this OCPP version (1.6 or 2.0.1)' },
        q: { type: 'string', description: 'case-insensitive substring of id, vendor, model or serial number' },
        sort: {
          type: 'string',
          description: `${FLEET_SORT_FIELDS.join(', ')} (default id), or one of them after "-" for descending; ties by id (reversed when descending). An order other than the id's may lag changes by up to 1 s`,
        },
        limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, description: `stations per page (default ${DEFAULT_PAGE})` },
        cursor: { type: 'string', description: 'the "next" of the previous page (with the same sort)' },
      },
      responses: { 200: '{items:[station], next: cursor|null}', 400: 'Invalid query or cursor' },
      handler: async (request) => {
        const sort = fleetSort(request.query.get('sort'));
        const cursor = decodeCursor(request.query.get('cursor'), 2);
        const after = cursor === undefined ? undefined : { key: cursor[0] as string, id: cursor[1] as string };
        const limit = integerQuery(request, 'limit', DEFAULT_PAGE);
        const ocppVersion = request.query.get('ocppVersion') ?? undefined;
        if (ocppVersion !== undefined && ocppVersion !== '1.6' && ocppVersion !== '2.0.1') throw new ApiError(400, 'invalid_query', 'ocppVersion must be 1.6 or 2.0.1');
        const page = deps.fleet.page(
          {
            connected: booleanQuery(request, 'connected'),
            bootStatus: request.query.get('bootStatus') ?? undefined,
            status: request.query.get('status') ?? undefined,
            ocppVersion,
            q: request.query.get('q') ?? undefined,
          },
          after,
          limit,
          sort,
        );
        // Two queries for the whole page, whatever its size: the stations, then all their connectors.
        const [records, connectors] = await Promise.all([store.getStations(page.ids), store.getConnectorsOf(page.ids)]);
        const byId = new Map(records.map((record) => [record.id, record]));
        const items = page.ids.flatMap((id) => {
          const record = byId.get(id);
          // Deleted between the index scan and the read: left out.
          return record === undefined ? [] : [renderStation(record, connectors.get(id) ?? [], deps.fleet.location(id))];
        });
        const last = page.ids.length - 1;
        const next = page.more && last >= 0 ? encodeCursor([page.keys[last] as string, page.ids[last] as string]) : null;
        return { status: 200, body: { items, next } };
      },
    },
    {
      method: 'get',
      path: '/api/v1/stations/{id}',
      role: 'viewer',
      summary: 'One station: registration, boot state, connection, reported identity, connectors',
      tag: 'Stations',
      responses: { 200: 'Station', 404: 'Unknown station' },
      handler: async (request) => {
        const station = await requireStation(store, stationIdParam(request));
        return { status: 200, body: await stationView(deps, station) };
      },
    },
    {
      method: 'del',
      path: '/api/v1/stations/{id}',
      role: 'admin',
      summary: 'Remove a station (a connected station is disconnected)',
      tag: 'Stations',
      responses: { 204: 'Deleted', 404: 'Unknown station' },
      handler: async (request) => {
        const id = stationIdParam(request);
        if (!(await store.deleteStation(id))) throw new ApiError(404, 'station_not_found', `no station ${id}`);
        // The issued-certificate rows outlive the station (no cascade): revoked, they stay refused if the
        // identity is registered again.
        await revokeAll(id, 'station deleted');
        await router.disconnect(id, 'station deleted by the operator');
        return { status: 204 };
      },
    },
    {
      method: 'get',
      path: '/api/v1/stations/{id}/certificates',
      role: 'viewer',
      summary: 'Certificates the CSMS CA signed for the station (SignCertificate), oldest first, with their revocation state',
      tag: 'Stations',
      responses: { 200: 'Issued certificates', 404: 'Unknown station' },
      handler: async (request) => {
        const station = await requireStation(store, stationIdParam(request));
        const now = clock.now();
        const items = (await store.listIssuedCertificates(station.id)).map((certificate) => certificateView(certificate, now));
        return { status: 200, body: { items } };
      },
    },
    {
      method: 'del',
      path: '/api/v1/stations/{id}/certificates/{serial}',
      role: 'admin',
      summary: 'Revoke one certificate the CSMS CA signed for the station: it no longer admits the station on profile 3',
      tag: 'Stations',
      responses: { 204: 'Revoked (or already revoked)', 400: 'Invalid serial number', 404: 'Unknown station or certificate' },
      handler: async (request) => {
        const station = await requireStation(store, stationIdParam(request));
        const raw = request.params.serial ?? '';
        if (!/^[0-9A-Fa-f]{1,64}$/.test(raw)) throw new ApiError(400, 'invalid_serial_number', 'a serial number is hexadecimal, as GET …/certificates lists it');
        const serialNumber = normalizeSerialNumber(raw);
        const issued = await store.getIssuedCertificate(serialNumber);
        if (issued === undefined || issued.stationId !== station.id) {
          throw new ApiError(404, 'certificate_not_found', `the CSMS issued no certificate ${serialNumber} to station ${station.id}`);
        }
        await store.revokeIssuedCertificates(station.id, 'revoked by the operator', new Date(clock.now()), serialNumber);
        return { status: 204 };
      },
    },
  ];
}

function fleetSort(raw: string | null): FleetSort {
  const value = raw ?? 'id';
  const descending = value.startsWith('-');
  const field = descending ? value.slice(1) : value;
  const known = FLEET_SORT_FIELDS.find((name) => name === field);
  if (known === undefined) throw new ApiError(400, 'invalid_query', `sort must be one of ${FLEET_SORT_FIELDS.join(', ')}, optionally after "-"`);
  return { field: known, descending };
}
