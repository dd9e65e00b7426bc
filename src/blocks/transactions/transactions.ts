import type { Clock } from '../../clock.js';
import { asJson, type Json } from '../../json.js';
import type {
  IdTokenInfoType,
  IdTokenType,
  MeterValueType,
  MeterValuesRequest,
  MeterValuesResponse,
  RequestStartTransactionRequest,
  TransactionEventRequest,
  TransactionEventResponse,
} from '../../ocpp/v201/types.js';
import type { BlockModule, CommandPlan, HandlerContext, PlanContext, PlanOutcome } from '../../station/types.js';
import type { RegisterReading } from '../../store/billing-store.js';
import type { Store } from '../../store/store.js';
import { normalizeIdToken } from '../authorization/authorizer.js';
import { singleRequest } from '../plans.js';
import { transactionOnEvse } from './open-transactions.js';
import { transactions16 } from './v16.js';

/**
 * Transactions (E01–E14), remote start (F01–F02) and meter values (J01–J02): the money path. Every
 * TransactionEvent and MeterValues is committed before it is acknowledged; a resend of the same
 * (transactionId, seqNo) is answered again and stored once. Which transaction runs on which EVSE is the
 * station actor's live state (loaded from the store once per session), so a MeterValues that carries only
 * the evseId is linked to its transaction, whatever EVSE spoke first after a reconnect.
 */

/** Wh per unit: the register may be reported in Wh or kWh, each with a power-of-ten multiplier. */
function registerWh(sample: { value: number; unitOfMeasure?: { unit?: string; multiplier?: number } }): number {
  const unit = sample.unitOfMeasure?.unit ?? 'Wh';
  const scale = 10 ** (sample.unitOfMeasure?.multiplier ?? 0);
  return unit === 'kWh' ? sample.value * scale * 1000 : sample.value * scale;
}

/**
 * The earliest and latest Energy.Active.Import.Register readings (the measurand's default when omitted)
 * without a phase: the meter's own total, which is what a transaction's energy is computed from.
 */
export function registerReadings(meterValues: readonly MeterValueType[] | undefined): { first?: RegisterReading; last?: RegisterReading } {
  let first: RegisterReading | undefined;
  let last: RegisterReading | undefined;
  for (const meterValue of meterValues ?? []) {
    const at = new Date(meterValue.timestamp);
    if (Number.isNaN(at.getTime())) continue;
    for (const sample of meterValue.sampledValue) {
      if ((sample.measurand ?? 'Energy.Active.Import.Register') !== 'Energy.Active.Import.Register' || sample.phase !== undefined) continue;
      const reading = { at, wh: registerWh(sample) };
      if (first === undefined || at < first.at) first = reading;
      if (last === undefined || at >= last.at) last = reading;
    }
  }
  return { ...(first !== undefined ? { first } : {}), ...(last !== undefined ? { last } : {}) };
}

/**
 * What the smart-charging block does with transactions (src/blocks/smart-charging): checks and records the
 * charging profile of a remote start, and follows each stored TransactionEvent (a remote start's profile binds
 * to its transaction, an ended transaction's profiles go, the site load manager re-allocates).
 */
export interface TransactionChargingProfiles {
  remoteStart(payload: RequestStartTransactionRequest, ctx: PlanContext): Promise<((outcome: PlanOutcome) => Promise<void>) | undefined>;
  transactionEvent(ctx: HandlerContext, request: TransactionEventRequest): Promise<void>;
}

async function transactionEvent(ctx: HandlerContext, request: TransactionEventRequest, profiles?: TransactionChargingProfiles): Promise<TransactionEventResponse> {
  const { store, authorizer, clock } = ctx.services;
  const station = ctx.station;
  const tx = request.transactionInfo;
  // E02.FR.04 / DRV-AUTH-09: every token in a TransactionEvent is verified again, whatever the station decided.
  let idTokenInfo: IdTokenInfoType | undefined;
  if (request.idToken !== undefined) idTokenInfo = await authorizer.authorize(request.idToken, station.stationId);
  const response: TransactionEventResponse = idTokenInfo !== undefined ? { idTokenInfo } : {};
  // I02/I03 (CONTRACT §8.4): the running cost, and the final one in the answer to Ended, priced before the event
  // is stored so that the stored answer is the one sent.
  const quote = await ctx.services.pricing?.quoteTransactionEvent(station, request, idTokenInfo);
  if (quote !== undefined) {
    response.totalCost = quote.totalCost;
    if (quote.personalMessage !== undefined && response.idTokenInfo !== undefined)
      response.idTokenInfo = { ...response.idTokenInfo, personalMessage: quote.personalMessage };
    if (quote.updatedPersonalMessage !== undefined) response.updatedPersonalMessage = quote.updatedPersonalMessage;
  }
  // Known before the event changes them, so the actor's view is never older than the store's.
  await station.openTransactions();

  const timestamp = new Date(request.timestamp);
  const { first, last } = registerReadings(request.meterValue);
  const { inserted } = await store.recordTransactionEvent({
    stationId: station.stationId,
    transactionId: tx.transactionId,
    seqNo: request.seqNo,
    eventType: request.eventType,
    timestamp: Number.isNaN(timestamp.getTime()) ? new Date(clock.now()) : timestamp,
    triggerReason: request.triggerReason,
    offline: request.offline ?? false,
    payload: asJson(request),
    response: asJson(response),
    evseId: request.evse?.id,
    connectorId: request.evse?.connectorId,
    idToken: request.idToken !== undefined ? asJson(request.idToken) : undefined,
    chargingState: tx.chargingState,
    stoppedReason: tx.stoppedReason,
    remoteStartId: tx.remoteStartId,
    firstRegister: first,
    lastRegister: last,
  });

  if (request.eventType === 'Ended') {
    station.transactionEnded(tx.transactionId);
    // The transaction a remote start granted its token for is over: the token is Unknown here again.
    await store.endRemoteStartGrants(station.stationId, tx.transactionId, request.idToken !== undefined ? grantKey(request.idToken) : undefined);
  } else {
    station.transactionSeen(tx.transactionId, request.evse?.id);
    // F01/F02: the transaction a remote start led to; its grant lasts until this transaction ends.
    if (tx.remoteStartId !== undefined) await store.bindRemoteStartGrant(station.stationId, tx.remoteStartId, tx.transactionId);
  }
  await quote?.commit();
  // H01.FR.15: the reservation this transaction was started on is used.
  if (request.reservationId !== undefined) await ctx.services.reservations?.used(station.stationId, request.reservationId, tx.transactionId);
  await profiles?.transactionEvent(ctx, request);
  if (!inserted)
    station.log.info({ messageId: ctx.messageId, transactionId: tx.transactionId, seqNo: request.seqNo }, 'resent TransactionEvent answered again, stored once');
  return response;
}

async function meterValues(ctx: HandlerContext, request: MeterValuesRequest): Promise<MeterValuesResponse> {
  const { store, clock } = ctx.services;
  // evseId 0 is the main meter of the whole station: no transaction is linked to it.
  const transactionId = request.evseId > 0 ? await transactionOnEvse(ctx.station, request.evseId) : undefined;
  await store.recordMeterValues({
    stationId: ctx.station.stationId,
    evseId: request.evseId,
    transactionId,
    source: 'MeterValues',
    meterValue: request.meterValue as unknown as Json[],
    receivedAt: new Date(clock.now()),
  });
  return {};
}

function grantKey(token: IdTokenType): { type: string; idToken: string } {
  return { type: token.type, idToken: normalizeIdToken(token.type, token.idToken) };
}

/**
 * CONTRACT §3.2 "Remote-start tokens": the token of a RequestStartTransaction is Accepted at that station
 * (Authorize and TransactionEvent, on every node) from the moment the request is sent (a station may
 * Authorize it before it answers) until its transaction ends, or the request fails. The grant is stored
 * before the CALL leaves and withdrawn when the answer is not Accepted (Rejected, CALLERROR, timeout, not
 * delivered). NoAuthorization needs no grant.
 */
export function planRemoteStart(deps: {
  store: Pick<Store, 'grantRemoteStart' | 'bindRemoteStartGrant' | 'revokeRemoteStartGrant'>;
  clock: Clock;
  chargingProfiles?: TransactionChargingProfiles | undefined;
}) {
  return async (payload: RequestStartTransactionRequest, ctx: PlanContext): Promise<CommandPlan> => {
    // K05: the charging profile it carries is checked (K01) and recorded before anything is granted or sent.
    const settleProfile = await deps.chargingProfiles?.remoteStart(payload, ctx);
    const withProfile = (plan: CommandPlan): CommandPlan =>
      settleProfile === undefined
        ? plan
        : {
            ...plan,
            settle: async (outcome) => {
              await plan.settle?.(outcome);
              await settleProfile(outcome);
            },
          };
    const plan = singleRequest(payload);
    if (payload.idToken.type === 'NoAuthorization') return withProfile(plan);
    const stationId = ctx.station.id;
    const { remoteStartId } = payload;
    const { type, idToken } = grantKey(payload.idToken);
    await deps.store.grantRemoteStart({ stationId, remoteStartId, idTokenType: type, idToken, createdAt: new Date(deps.clock.now()) });
    return withProfile({
      ...plan,
      settle: async (outcome) => {
        if (outcome.kind === 'result' && outcome.response.status === 'Accepted') {
          // F01: a station already charging names the transaction it attached the token to.
          const transactionId = outcome.response.transactionId;
          if (typeof transactionId === 'string') await deps.store.bindRemoteStartGrant(stationId, remoteStartId, transactionId);
          return;
        }
        await deps.store.revokeRemoteStartGrant(stationId, remoteStartId);
      },
    });
  };
}

export function createTransactionsBlock(deps: {
  store: Pick<Store, 'grantRemoteStart' | 'bindRemoteStartGrant' | 'revokeRemoteStartGrant'>;
  clock: Clock;
  chargingProfiles?: TransactionChargingProfiles | undefined;
}): BlockModule {
  const { chargingProfiles } = deps;
  return {
    name: 'transactions',
    handlers: {
      TransactionEvent: (ctx, request) => transactionEvent(ctx, request, chargingProfiles),
      MeterValues: meterValues,
    },
    plans: {
      RequestStartTransaction: planRemoteStart(deps),
    },
    v16: transactions16(deps),
  };
}
