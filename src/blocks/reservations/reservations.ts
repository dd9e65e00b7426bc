import type { ChangeFeed } from '../../changes/change-feed.js';
import type { Clock } from '../../clock.js';
import type { CommandOutcome } from '../../cluster/command-router.js';
import type { CommandService } from '../../commands/service.js';
import type { JsonObject } from '../../json.js';
import type { Logger } from '../../log.js';
import type { ReservationStatusUpdateRequest, ReservationStatusUpdateResponse } from '../../ocpp/v201/types.js';
import type { BlockModule, HandlerContext } from '../../station/types.js';
import type { Store } from '../../store/store.js';
import type { ReservationRecord, ReservationStatus, ReservationStore } from './reservation-store.js';

/**
 * Reservation (H01–H04), managed by the CSMS: an operator asks for a reservation, the CSMS assigns its id, sends
 * ReserveNow (or the 1.6 ReserveNow) through the one command path (cluster-routed), keeps the station's answer,
 * and follows the reservation to its end: Used (a transaction carried its id), Expired (the station said so, or
 * `expiresAt` passed by the CSMS's own clock), Removed (the station gave it up) or Cancelled (CancelReservation
 * accepted). The state lives in the store only; expiry is a durable sweep (see ReservationSweeper), not a timer.
 */

/** What a station's reservation may still become: only these statuses are left by later events. */
const LIVE: readonly ReservationStatus[] = ['Pending', 'Accepted'];
/**
 * A transaction that carries the id used the reservation, even when the CSMS's sweep closed it as Expired first
 * (a station that was offline at expiry still honoured it: its word wins, DRV-RES-02).
 */
const USABLE: readonly ReservationStatus[] = ['Pending', 'Accepted', 'Expired'];

export interface ReservationRequest {
  evseId?: number | undefined;
  connectorType?: string | undefined;
  idToken: { idToken: string; type: string };
  groupIdToken?: { idToken: string; type: string } | undefined;
  expiresAt: string;
}

/** A refusal before anything was sent (400/404/409), or the station not answering usefully (409/502/503/504). */
export class ReservationFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ReservationFailure';
  }
}

export function reservationView(reservation: ReservationRecord): JsonObject {
  return {
    id: reservation.id,
    evseId: reservation.evseId ?? null,
    connectorType: reservation.connectorType ?? null,
    idToken: reservation.idToken,
    groupIdToken: reservation.groupIdToken ?? null,
    expiresAt: reservation.expiresAt.toISOString(),
    status: reservation.status,
    response: reservation.response ?? null,
    transactionId: reservation.transactionId ?? null,
    createdAt: reservation.createdAt.toISOString(),
    updatedAt: reservation.updatedAt.toISOString(),
  };
}

function outcomeFailure(outcome: Exclude<CommandOutcome, { kind: 'result' }>): ReservationFailure {
  switch (outcome.kind) {
    case 'callError':
      return new ReservationFailure(502, outcome.code, outcome.description, outcome.details);
    case 'timeout':
      return new ReservationFailure(504, 'timeout', 'the station did not answer in time');
    case 'notConnected':
      return new ReservationFailure(409, 'not_connected', outcome.reason);
    case 'refused':
      return new ReservationFailure(409, 'not_allowed', outcome.reason);
    case 'unavailable':
      return new ReservationFailure(503, 'unavailable', outcome.reason);
  }
}

export interface ReservationServiceDeps {
  reservations: ReservationStore;
  store: Pick<Store, 'getStation'>;
  commands: Pick<CommandService, 'run'>;
  feed: Pick<ChangeFeed, 'publish'>;
  clock: Clock;
  log: Logger;
}

export class ReservationService {
  constructor(private readonly deps: ReservationServiceDeps) {}

  private now(): Date {
    return new Date(this.deps.clock.now());
  }

  private published(reservation: ReservationRecord | undefined): ReservationRecord | undefined {
    if (reservation !== undefined) this.deps.feed.publish('reservation.updated', { stationId: reservation.stationId, reservation: reservationView(reservation) });
    return reservation;
  }

  /**
   * POST …/reservations. The row (and so the id) is stored before ReserveNow leaves; a station that never saw it
   * (not connected, refused by the schema or the boot state) leaves no reservation behind (DRV-RES-03). A timeout
   * or CALLERROR leaves none either: the station's state is unknown, and the operator is told so (504/502).
   */
  async reserve(stationId: string, request: ReservationRequest): Promise<ReservationRecord> {
    const { reservations, store, commands } = this.deps;
    const station = await store.getStation(stationId);
    if (station === undefined) throw new ReservationFailure(404, 'station_not_found', `no station ${stationId}`);
    const expiresAt = new Date(request.expiresAt);
    // Part 6 H trap 6: an expiry that has passed would reserve nothing.
    if (!(expiresAt.getTime() > this.deps.clock.now())) {
      throw new ReservationFailure(400, 'invalid_reservation', 'expiresAt must be in the future', {
        rule: 'H01',
        message: 'ReserveNow.expiryDateTime must be in the future',
      });
    }
    const version = station.ocppVersion ?? (station.ocppVersionPin === 'auto' ? '2.0.1' : station.ocppVersionPin);
    if (version === '1.6' && request.connectorType !== undefined) {
      throw new ReservationFailure(400, 'invalid_reservation', 'an OCPP 1.6 station cannot reserve by connector type', {
        rule: 'OCPP1.6 ReserveNow',
        message: '1.6 ReserveNow has connectorId only',
      });
    }
    const created = await reservations.create({
      stationId,
      evseId: request.evseId,
      connectorType: request.connectorType,
      idToken: request.idToken,
      groupIdToken: request.groupIdToken,
      expiresAt,
      createdAt: this.now(),
    });
    const payload: JsonObject =
      version === '1.6'
        ? {
            // CONTRACT §8.2: connectorId = evseId (0 = any connector), idTag = the token's value, parentIdTag = the group's.
            connectorId: request.evseId ?? 0,
            expiryDate: expiresAt.toISOString(),
            idTag: request.idToken.idToken,
            ...(request.groupIdToken !== undefined ? { parentIdTag: request.groupIdToken.idToken } : {}),
            reservationId: created.id,
          }
        : {
            id: created.id,
            expiryDateTime: expiresAt.toISOString(),
            idToken: request.idToken,
            ...(request.evseId !== undefined ? { evseId: request.evseId } : {}),
            ...(request.connectorType !== undefined ? { connectorType: request.connectorType } : {}),
            ...(request.groupIdToken !== undefined ? { groupIdToken: request.groupIdToken } : {}),
          };
    let outcome: CommandOutcome;
    try {
      outcome = (await commands.run(stationId, 'ReserveNow', payload, 'operator')).outcome;
    } catch (err) {
      await reservations.discard(created.id);
      throw err;
    }
    if (outcome.kind !== 'result') {
      await reservations.discard(created.id);
      throw outcomeFailure(outcome);
    }
    const answer = outcome.response.status;
    // The response passed the ReserveNow schema: its status is one of the ReserveNow statuses.
    const status = (typeof answer === 'string' ? answer : 'Rejected') as ReservationStatus;
    // A refused reservation is kept with the station's status (CONTRACT §8.2), and is over at once.
    const answered = await reservations.transition(stationId, created.id, ['Pending'], status, this.now(), { response: outcome.response });
    // Between the two statements only a transaction (Used) or a ReservationStatusUpdate may have moved it.
    return this.published(answered) ?? ((await reservations.get(stationId, created.id)) as ReservationRecord);
  }

  /**
   * DELETE …/reservations/{id}: CancelReservation. Accepted → Cancelled without waiting for any update (the station
   * sends none for a CSMS cancel, H02). Rejected means the station holds no such reservation (H02.FR.02): the
   * status stays what the CSMS knows (usually it expired or was used meanwhile), with the answer recorded.
   */
  async cancel(stationId: string, id: number): Promise<ReservationRecord> {
    const { reservations, commands } = this.deps;
    const existing = await reservations.get(stationId, id);
    if (existing === undefined) throw new ReservationFailure(404, 'reservation_not_found', `no reservation ${id} at station ${stationId}`);
    const { outcome } = await commands.run(stationId, 'CancelReservation', { reservationId: id }, 'operator');
    if (outcome.kind !== 'result') throw outcomeFailure(outcome);
    const response = outcome.response;
    const cancelled =
      response.status === 'Accepted' ? await reservations.transition(stationId, id, [...LIVE, 'Expired', 'Removed'], 'Cancelled', this.now(), { response }) : undefined;
    const updated = cancelled ?? (await reservations.setResponse(stationId, id, response, this.now()));
    if (updated === undefined) throw new ReservationFailure(404, 'reservation_not_found', `reservation ${id} was deleted with its station`);
    return this.published(updated) as ReservationRecord;
  }

  /** ReservationStatusUpdate: closes a live reservation; a late one (already closed by the sweep) changes nothing. */
  async stationUpdate(stationId: string, id: number, status: 'Expired' | 'Removed'): Promise<void> {
    const closed = await this.deps.reservations.transition(stationId, id, LIVE, status, this.now());
    if (closed === undefined)
      this.deps.log.info({ stationId, reservationId: id, status }, 'ReservationStatusUpdate for a reservation that is not live: nothing to change');
    this.published(closed);
  }

  /** A TransactionEvent (or 1.6 StartTransaction) carried the reservation id (H01.FR.15): the reservation is Used. */
  async used(stationId: string, id: number, transactionId: string): Promise<void> {
    const usedNow = await this.deps.reservations.transition(stationId, id, USABLE, 'Used', this.now(), { transactionId });
    this.published(usedNow);
  }

  /** One pass of the expiry sweep: every live reservation whose `expiresAt` passed is Expired. */
  async expireDue(limit = 500): Promise<number> {
    const expired = await this.deps.reservations.expireDue(this.now(), limit);
    for (const reservation of expired) this.published(reservation);
    return expired.length;
  }
}

/**
 * CONTRACT §8.2 "expiresAt passed → Expired within 5 s, whether or not the station said so". A durable sweep
 * rather than a machine with a timer: the deadline is the stored `expires_at`, so a restart, a crash or a node
 * that dies loses nothing (DRV-RES-01), and every node of a cluster may sweep (the conditional UPDATE closes each
 * reservation once). It runs every second, by the CSMS's clock.
 */
export class ReservationSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly service: ReservationService,
    private readonly log: Logger,
    private readonly intervalMs = 1000,
  ) {}

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => {
      // One pass at a time: a slow store never piles sweeps up.
      this.running ??= this.sweep().finally(() => (this.running = undefined));
    }, this.intervalMs);
    this.timer.unref();
  }

  private async sweep(): Promise<void> {
    try {
      // A backlog (a long outage) is worked off in bounded statements.
      while ((await this.service.expireDue()) === 500);
    } catch (err) {
      this.log.warn({ err }, 'reservation expiry sweep failed; retried next second');
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}

async function reservationStatusUpdate(ctx: HandlerContext, request: ReservationStatusUpdateRequest): Promise<ReservationStatusUpdateResponse> {
  const reservations = ctx.services.reservations;
  // Committed before the answer: the station does not send it again.
  if (reservations !== undefined) await reservations.stationUpdate(ctx.station.stationId, request.reservationId, request.reservationUpdateStatus);
  return {};
}

/** The block: what the station tells about reservations. ReserveNow/CancelReservation go out through the service. */
export const reservationsBlock: BlockModule = {
  name: 'reservations',
  handlers: {
    ReservationStatusUpdate: reservationStatusUpdate,
  },
};
