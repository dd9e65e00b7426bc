import type {
  AuthorizeRequest,
  AuthorizeResponse,
  IdTokenInfoType,
  MeterValueType,
  MeterValuesRequest,
  MeterValuesResponse,
  RequestStartTransactionRequest,
  RequestStartTransactionResponse,
  TransactionEventRequest,
  TransactionEventResponse,
} from '../../ocpp/generated/ocpp-types.js';
import type { RegisterReading } from '../../store/billing-store.js';
import type { Json } from '../../store/store.js';
import type { HandlerContext, HandlerModule, StationHandle, StationServices } from '../types.js';
import { asJson } from './json.js';

/**
 * Authorization (C01, C09, C12, C16) and transactions (E01–E14, J01–J02): the money path. Every
 * TransactionEvent and MeterValues is committed before it is acknowledged; a resend of the same
 * (transactionId, seqNo) is answered again and stored once.
 */

function authorize(ctx: HandlerContext, request: AuthorizeRequest): AuthorizeResponse | Promise<AuthorizeResponse> {
  const info = ctx.services.authorizer.authorize(request.idToken);
  return info instanceof Promise ? info.then((idTokenInfo) => ({ idTokenInfo })) : { idTokenInfo: info };
}

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

async function transactionEvent(ctx: HandlerContext, request: TransactionEventRequest): Promise<TransactionEventResponse> {
  const { store, authorizer, clock } = ctx.services;
  const station = ctx.station;
  const tx = request.transactionInfo;
  // E02.FR.04 / DRV-AUTH-09: every token in a TransactionEvent is verified again, whatever the station decided.
  let idTokenInfo: IdTokenInfoType | undefined;
  if (request.idToken !== undefined) idTokenInfo = await authorizer.authorize(request.idToken);
  const response: TransactionEventResponse = idTokenInfo !== undefined ? { idTokenInfo } : {};

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

  if (request.evse !== undefined) evseTransactions(station).set(request.evse.id, tx.transactionId);
  if (request.eventType === 'Ended') {
    ctx.afterReply(() => station.transactionEnded(tx.transactionId));
    forgetEvseTransaction(station, tx.transactionId);
  } else if (!station.context().openTransactions.includes(tx.transactionId)) {
    ctx.afterReply(() => station.transactionStarted(tx.transactionId));
  }
  if (!inserted) station.log.info({ messageId: ctx.messageId, transactionId: tx.transactionId, seqNo: request.seqNo }, 'resent TransactionEvent answered again, stored once');
  return response;
}

/**
 * Which transaction runs on which EVSE, so a MeterValues sent during a transaction (which carries only
 * the evseId) is linked to it. Per station, in memory; rebuilt from the store after a reconnect.
 */
const transactionsByEvse = new WeakMap<StationHandle, Map<number, string>>();

function evseTransactions(station: StationHandle): Map<number, string> {
  let map = transactionsByEvse.get(station);
  if (map === undefined) {
    map = new Map();
    transactionsByEvse.set(station, map);
  }
  return map;
}

function forgetEvseTransaction(station: StationHandle, transactionId: string): void {
  const map = transactionsByEvse.get(station);
  if (map === undefined) return;
  for (const [evseId, id] of map) if (id === transactionId) map.delete(evseId);
}

async function transactionOnEvse(station: StationHandle, services: StationServices, evseId: number): Promise<string | undefined> {
  let map = transactionsByEvse.get(station);
  if (map === undefined) {
    map = new Map();
    for (const tx of await services.store.listTransactions(station.stationId, { active: true })) {
      if (tx.evseId !== undefined) map.set(tx.evseId, tx.transactionId);
    }
    transactionsByEvse.set(station, map);
  }
  return map.get(evseId);
}

async function meterValues(ctx: HandlerContext, request: MeterValuesRequest): Promise<MeterValuesResponse> {
  const { store, clock } = ctx.services;
  // evseId 0 is the main meter of the whole station: no transaction is linked to it.
  const transactionId = request.evseId > 0 ? await transactionOnEvse(ctx.station, ctx.services, request.evseId) : undefined;
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

/** A central token handed out for a remote start is honoured when the station comes back with it (C-38). */
function rememberRemoteStart(
  _station: StationHandle,
  request: RequestStartTransactionRequest,
  response: RequestStartTransactionResponse,
  services: StationServices,
): void {
  if (response.status === 'Accepted' && request.idToken.type === 'Central') {
    services.authorizer.rememberIssuedCentralToken(request.idToken.idToken);
  }
}

export const transactions: HandlerModule = {
  handlers: {
    Authorize: authorize,
    TransactionEvent: transactionEvent,
    MeterValues: meterValues,
  },
  resultHooks: {
    RequestStartTransaction: rememberRemoteStart,
  },
};
