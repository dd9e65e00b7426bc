import type { Clock } from '../../clock.js';
import { newRequestId } from '../../ids.js';
import { asJson, type Json } from '../../json.js';
import { OcppError } from '../../ocpp/errors.js';
import type {
  MeterValuesRequest,
  MeterValuesResponse,
  RemoteStartTransactionRequest,
  StartTransactionRequest,
  StartTransactionResponse,
  StopTransactionRequest,
  StopTransactionResponse,
} from '../../ocpp/v16/types.js';
import type { BlockSide16, CommandPlan, HandlerContext, PlanContext } from '../../station/types.js';
import type { Store } from '../../store/store.js';
import { ID_TAG_GRANT_TYPE } from '../authorization/authorizer.js';
import { authorizeIdTag } from '../authorization/v16.js';
import { singleRequest } from '../plans.js';
import { transactionOnEvse } from './open-transactions.js';

/**
 * The transactions block's OCPP 1.6 side (1.6 §4.8, §4.10, §5.11–5.12; CONTRACT §3.1): a 1.6 transaction is the
 * same record as a 2.0.1 one. StartTransaction is its Started event (seqNo 0), StopTransaction its Ended event
 * (seqNo 1), both kept verbatim in `events`; the CSMS assigns the integer transactionId; energy is meterStop −
 * meterStart; connector N is EVSE N connector 1. Every Start and Stop is committed before it is answered, a
 * resend (a lost answer) is answered again and stored once, and a replay after an offline period keeps the
 * times the station stamped.
 */

const START_SEQ_NO = 0;
const STOP_SEQ_NO = 1;

function stationTime(text: string, clock: Clock): Date {
  const at = new Date(text);
  return Number.isNaN(at.getTime()) ? new Date(clock.now()) : at;
}

async function startTransaction(ctx: HandlerContext, request: StartTransactionRequest): Promise<StartTransactionResponse> {
  const { store, clock } = ctx.services;
  const station = ctx.station;
  if (request.connectorId < 1) throw new OcppError('PropertyConstraintViolation', 'a transaction runs on a connector (connectorId ≥ 1), never on connector 0');
  const idTagInfo = await authorizeIdTag(ctx, request.idTag);
  // Known before the event changes them, so the actor's view is never older than the store's.
  await station.openTransactions();
  const timestamp = stationTime(request.timestamp, clock);
  const payload = asJson(request);
  const { transactionId, known } = await store.transactionIdFor16Start(station.stationId, timestamp, payload);
  const response: StartTransactionResponse = { transactionId, idTagInfo };
  const id = String(transactionId);
  const reading = { at: timestamp, wh: request.meterStart };
  // A remote-start grant of this tag lasts as long as the transaction it started (CONTRACT §3.2), not its 15 minutes.
  const bound =
    idTagInfo.status === 'Accepted'
      ? store.bindRemoteStartGrantsOfToken(station.stationId, { type: ID_TAG_GRANT_TYPE, idToken: request.idTag.toUpperCase() }, id)
      : Promise.resolve();
  const recorded = store.recordTransactionEvent({
    stationId: station.stationId,
    transactionId: id,
    seqNo: START_SEQ_NO,
    eventType: 'Started',
    timestamp,
    triggerReason: 'StartTransaction',
    // 1.6 has no offline flag: the API shows null rather than a guess (CONTRACT §3.1).
    offline: null,
    payload,
    response: asJson(response),
    evseId: request.connectorId,
    connectorId: 1,
    idToken: { idToken: request.idTag },
    chargingState: undefined,
    stoppedReason: undefined,
    remoteStartId: undefined,
    firstRegister: reading,
    lastRegister: reading,
  });
  await Promise.all([recorded, bound]);
  station.transactionSeen(id, request.connectorId);
  await ctx.services.pricing?.priceTransaction16(station.stationId, id, idTagInfo.status === 'Accepted' ? idTagInfo.parentIdTag : undefined);
  // H01.FR.15 (1.6 §5.12): the reservation this transaction was started on is used.
  if (request.reservationId !== undefined) await ctx.services.reservations?.used(station.stationId, request.reservationId, id);
  if (known) station.log.info({ messageId: ctx.messageId, transactionId }, 'resent StartTransaction answered with the transactionId it got before, stored once');
  return response;
}

async function stopTransaction(ctx: HandlerContext, request: StopTransactionRequest): Promise<StopTransactionResponse> {
  const { store, clock } = ctx.services;
  const station = ctx.station;
  // 1.6 §6.49: an idTag given with the stop is checked again; the station decides what it does with the answer.
  const idTagInfo = request.idTag !== undefined ? await authorizeIdTag(ctx, request.idTag) : undefined;
  const response: StopTransactionResponse = idTagInfo !== undefined ? { idTagInfo } : {};
  await station.openTransactions();
  const id = String(request.transactionId);
  const timestamp = stationTime(request.timestamp, clock);
  const writes: Promise<unknown>[] = [
    store.recordTransactionEvent({
      stationId: station.stationId,
      transactionId: id,
      seqNo: STOP_SEQ_NO,
      eventType: 'Ended',
      timestamp,
      triggerReason: 'StopTransaction',
      offline: null,
      payload: asJson(request),
      response: asJson(response),
      evseId: undefined,
      connectorId: undefined,
      idToken: undefined,
      chargingState: undefined,
      // 1.6 §7.36: a Stop without a reason is a local stop.
      stoppedReason: request.reason ?? 'Local',
      remoteStartId: undefined,
      firstRegister: undefined,
      lastRegister: { at: timestamp, wh: request.meterStop },
    }),
  ];
  if (request.transactionData !== undefined && request.transactionData.length > 0) {
    // The samples the station took during the transaction, shown with its meter values (stored once on a resend).
    writes.push(
      store.recordMeterValues({
        stationId: station.stationId,
        evseId: station.context().openTransactions?.find((tx) => tx.transactionId === id)?.evseId ?? 0,
        transactionId: id,
        source: 'StopTransaction',
        meterValue: request.transactionData as unknown as Json[],
        receivedAt: new Date(clock.now()),
      }),
    );
  }
  await Promise.all(writes);
  await ctx.services.pricing?.priceTransaction16(station.stationId, id, idTagInfo?.parentIdTag);
  station.transactionEnded(id);
  await store.endRemoteStartGrants(station.stationId, id, request.idTag !== undefined ? { type: ID_TAG_GRANT_TYPE, idToken: request.idTag.toUpperCase() } : undefined);
  return response;
}

/** 1.6 §4.7: samples with or without a transactionId; without one, the transaction running on that connector. */
async function meterValues(ctx: HandlerContext, request: MeterValuesRequest): Promise<MeterValuesResponse> {
  const { store, clock } = ctx.services;
  const transactionId =
    request.transactionId !== undefined ? String(request.transactionId) : request.connectorId > 0 ? await transactionOnEvse(ctx.station, request.connectorId) : undefined;
  await store.recordMeterValues({
    stationId: ctx.station.stationId,
    evseId: request.connectorId,
    transactionId,
    source: 'MeterValues',
    meterValue: request.meterValue as unknown as Json[],
    receivedAt: new Date(clock.now()),
  });
  return {};
}

/**
 * CONTRACT §3.2 "Remote-start tokens", for a 1.6 idTag: Accepted at that station from the moment the request is
 * sent until the request fails (or its transaction is stopped with the tag); unbound grants lapse as on 2.0.1.
 */
export function planRemoteStart16(deps: { store: Pick<Store, 'grantRemoteStart' | 'revokeRemoteStartGrant'>; clock: Clock }) {
  return async (payload: RemoteStartTransactionRequest, ctx: PlanContext): Promise<CommandPlan> => {
    const plan = singleRequest(payload);
    const stationId = ctx.station.id;
    // 1.6 has no remoteStartId: the grant gets an id of its own, which never leaves the CSMS.
    const grantId = newRequestId();
    await deps.store.grantRemoteStart({
      stationId,
      remoteStartId: grantId,
      idTokenType: ID_TAG_GRANT_TYPE,
      idToken: payload.idTag.toUpperCase(),
      createdAt: new Date(deps.clock.now()),
    });
    return {
      ...plan,
      settle: async (outcome) => {
        if (outcome.kind === 'result' && outcome.response.status === 'Accepted') return;
        await deps.store.revokeRemoteStartGrant(stationId, grantId);
      },
    };
  };
}

export function transactions16(deps: { store: Pick<Store, 'grantRemoteStart' | 'revokeRemoteStartGrant'>; clock: Clock }): BlockSide16 {
  return {
    handlers: {
      StartTransaction: startTransaction,
      StopTransaction: stopTransaction,
      MeterValues: meterValues,
    },
    plans: {
      RemoteStartTransaction: planRemoteStart16(deps),
    },
  };
}
