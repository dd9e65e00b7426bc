import { ApiError, type ApiRequest } from '../../api/http.js';
import type { RouteSpec } from '../../api/route-spec.js';
import { requireStation, stationIdParam } from '../../api/routes/stations.js';
import type { Store } from '../../store/store.js';
import type { ReservationStore } from './reservation-store.js';
import { ReservationFailure, reservationView, type ReservationService } from './reservations.js';

function reservationIdParam(request: ApiRequest): number {
  const text = request.params.reservationId ?? '';
  const id = /^[1-9][0-9]{0,9}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(id) || id > 2_147_483_647) throw new ApiError(400, 'invalid_reservation_id', 'a reservation id is a positive integer');
  return id;
}

/** The CSMS's errors as HTTP errors: refusals before sending, and station outcomes (CONTRACT §8 intro, §4 commands). */
async function asApi<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof ReservationFailure) throw new ApiError(err.status, err.code, err.message, err.details);
    throw err;
  }
}

/** CONTRACT §8.2: the reservations of a station, managed by the CSMS. */
export function reservationRoutes(deps: { service: ReservationService; reservations: ReservationStore; store: Store }): RouteSpec[] {
  const { service, reservations, store } = deps;
  const outcomes = {
    404: 'Unknown station or reservation',
    409: 'Station not connected, or not allowed in its boot state (nothing is kept)',
    502: 'The station answered with a CALLERROR',
    503: 'The station is held by another node that cannot be reached',
    504: 'No answer within CSMS_CALL_TIMEOUT_MS',
  };
  return [
    {
      method: 'post',
      path: '/api/v1/stations/{id}/reservations',
      role: 'operator',
      summary: 'Reserve an EVSE, a connector type or any EVSE for a token (or its group): ReserveNow with a CSMS-assigned id',
      tag: 'Reservations',
      body: 'ReservationPost',
      responses: { 201: "The reservation, with the station's ReserveNow status and its response", 400: 'Invalid body or an OCPP rule broken', ...outcomes },
      handler: async (request) => {
        const stationId = stationIdParam(request);
        const reservation = await asApi(() => service.reserve(stationId, request.body));
        return { status: 201, body: reservationView(reservation) };
      },
    },
    {
      method: 'get',
      path: '/api/v1/stations/{id}/reservations',
      role: 'viewer',
      summary: "The station's reservations, oldest first, with their status",
      tag: 'Reservations',
      responses: { 200: '{items:[reservation]}', 404: 'Unknown station' },
      handler: async (request) => {
        const stationId = stationIdParam(request);
        await requireStation(store, stationId);
        return { status: 200, body: { items: (await reservations.list(stationId)).map(reservationView) } };
      },
    },
    {
      method: 'get',
      path: '/api/v1/stations/{id}/reservations/{reservationId}',
      role: 'viewer',
      summary: 'One reservation',
      tag: 'Reservations',
      responses: { 200: 'The reservation', 404: 'Unknown reservation' },
      handler: async (request) => {
        const stationId = stationIdParam(request);
        const id = reservationIdParam(request);
        const reservation = await reservations.get(stationId, id);
        if (reservation === undefined) throw new ApiError(404, 'reservation_not_found', `no reservation ${id} at station ${stationId}`);
        return { status: 200, body: reservationView(reservation) };
      },
    },
    {
      method: 'del',
      path: '/api/v1/stations/{id}/reservations/{reservationId}',
      role: 'operator',
      summary: 'Cancel a reservation (CancelReservation); Cancelled once the station accepted',
      tag: 'Reservations',
      responses: { 200: "The reservation with the station's CancelReservation response", ...outcomes },
      handler: async (request) => {
        const stationId = stationIdParam(request);
        const id = reservationIdParam(request);
        const reservation = await asApi(() => service.cancel(stationId, id));
        return { status: 200, body: reservationView(reservation) };
      },
    },
  ];
}
