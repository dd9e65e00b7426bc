/**
 * Transactions for black-box tests: the CSMS reusable states of Part 6 §3.18 (conformance doc §3.4) played by
 * the scripted `TestStation`, a seqNo counter per transaction, meter-value builders, and the operator API calls
 * of the authorization + transactions feature (id tokens, transactions) that `api.ts` does not have.
 *
 * A `ChargingSession` is one transaction on one EVSE. It remembers every TransactionEvent it sent and the answer
 * it got, so a test can assert on both the answers and what `GET …/transactions/{id}` shows afterwards.
 */
import { randomUUID } from 'node:crypto';
import type { ApiClient, ApiResponse } from './api.js';
import { schemaErrors, sleep, type Payload, type TestStation } from './station.js';

// ---------------------------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------------------------

export type IdTokenKind = 'Central' | 'eMAID' | 'ISO14443' | 'ISO15693' | 'KeyCode' | 'Local' | 'MacAddress' | 'NoAuthorization';

export interface IdToken {
  idToken: string;
  type: IdTokenKind;
}

export interface IdTokenInfo {
  status: string;
  groupIdToken?: IdToken;
  cacheExpiryDateTime?: string;
  [key: string]: unknown;
}

let tokenCounter = 0;

/** Random bytes as upper-case hex. */
function hex(bytes: number): string {
  let out = '';
  while (out.length < bytes * 2) out += randomUUID().replace(/-/g, '');
  return out.slice(0, bytes * 2).toUpperCase();
}

/**
 * A token of `type` unique within this run: a 7-byte UID for ISO14443, an 8-byte UID for ISO15693 (hex, upper
 * case), the empty string for NoAuthorization, a readable unique string otherwise.
 */
export function newIdToken(type: IdTokenKind): IdToken {
  tokenCounter += 1;
  switch (type) {
    case 'ISO14443':
      return { idToken: hex(7), type };
    case 'ISO15693':
      return { idToken: hex(8), type };
    case 'NoAuthorization':
      return { idToken: '', type };
    default:
      return { idToken: `${type}-${tokenCounter}-${randomUUID().slice(0, 8)}`.slice(0, 36), type };
  }
}

/** The same token with its idToken in lower case (hex UIDs are matched case-insensitively). */
export function lowerCased(token: IdToken): IdToken {
  return { ...token, idToken: token.idToken.toLowerCase() };
}

// ---------------------------------------------------------------------------------------------------------------
// Operator API: id tokens and transactions
// ---------------------------------------------------------------------------------------------------------------

export interface IdTokenPut {
  status: 'Accepted' | 'Blocked' | 'Expired' | 'Invalid';
  groupId?: string;
  expiresAt?: string;
}

export interface IdTokenView {
  type: string;
  idToken: string;
  status: string;
  groupId: string | null;
  expiresAt: string | null;
  [key: string]: unknown;
}

export interface TransactionEventView {
  seqNo: number;
  eventType: string;
  timestamp: string;
  triggerReason: string;
  /** null for a 1.6 message (it has no offline flag). */
  offline: boolean | null;
  request: Payload;
  response: Payload;
  [key: string]: unknown;
}

export interface TransactionView {
  transactionId: string;
  evseId: number | null;
  connectorId: number | null;
  idToken: IdToken | null;
  active: boolean;
  startedAt: string | null;
  endedAt: string | null;
  stoppedReason: string | null;
  chargingState: string | null;
  remoteStartId: number | null;
  energyWh: number | null;
  flags: string[];
  events: TransactionEventView[];
  meterValues: Array<Payload & { timestamp?: string; sampledValue?: Payload[] }>;
  [key: string]: unknown;
}

const tokenPath = (type: string, idToken: string): string => `/api/v1/id-tokens/${encodeURIComponent(type)}/${encodeURIComponent(idToken)}`;
const stationPath = (id: string): string => `/api/v1/stations/${encodeURIComponent(id)}`;

export function putIdToken(api: ApiClient, token: IdToken, body: IdTokenPut): Promise<ApiResponse<IdTokenView>> {
  return api.request('PUT', tokenPath(token.type, token.idToken), body);
}

export function getIdToken(api: ApiClient, token: IdToken): Promise<ApiResponse<IdTokenView>> {
  return api.request('GET', tokenPath(token.type, token.idToken));
}

export function deleteIdToken(api: ApiClient, token: IdToken): Promise<ApiResponse> {
  return api.request('DELETE', tokenPath(token.type, token.idToken));
}

/** PUT that must succeed (200 or 201); returns the token for chaining. */
export async function registerIdToken(api: ApiClient, token: IdToken, body: IdTokenPut = { status: 'Accepted' }): Promise<IdToken> {
  const res = await putIdToken(api, token, body);
  if (res.status !== 200 && res.status !== 201) {
    throw new Error(`PUT id-token ${token.type}/${token.idToken} answered ${res.status}: ${res.text.slice(0, 300)}`);
  }
  return token;
}

export function listTransactions(api: ApiClient, stationId: string, query: { active?: boolean } = {}): Promise<ApiResponse<{ items: TransactionView[] }>> {
  const qs = query.active === undefined ? '' : `?active=${String(query.active)}`;
  return api.request('GET', `${stationPath(stationId)}/transactions${qs}`);
}

export function getTransactionRes(api: ApiClient, stationId: string, transactionId: string): Promise<ApiResponse<TransactionView>> {
  return api.request('GET', `${stationPath(stationId)}/transactions/${encodeURIComponent(transactionId)}`);
}

/** GET …/transactions/{id} that must answer 200. */
export async function getTransaction(api: ApiClient, stationId: string, transactionId: string): Promise<TransactionView> {
  const res = await getTransactionRes(api, stationId, transactionId);
  if (res.status !== 200) {
    throw new Error(`GET transaction ${transactionId} of ${stationId} answered ${res.status}: ${res.text.slice(0, 300)}`);
  }
  return res.body;
}

// ---------------------------------------------------------------------------------------------------------------
// Meter values
// ---------------------------------------------------------------------------------------------------------------

export type ReadingContext =
  'Interruption.Begin' | 'Interruption.End' | 'Other' | 'Sample.Clock' | 'Sample.Periodic' | 'Transaction.Begin' | 'Transaction.End' | 'Trigger';

export interface SignedMeterValue {
  signedMeterData: string;
  signingMethod: string;
  encodingMethod: string;
  publicKey: string;
}

/** A plausible signed meter value (OCMF-like); the CSMS need not verify it, only keep it verbatim. */
export function signedMeterValue(reading: number): SignedMeterValue {
  const data = `OCMF|{"RD":[{"RV":${reading},"RI":"1-b:1.8.0","RU":"Wh"}]}|{"SA":"ECDSA-secp256r1-SHA256","SD":"${hex(32)}"}`;
  return {
    signedMeterData: Buffer.from(data, 'utf8').toString('base64'),
    signingMethod: 'ECDSA-secp256r1-SHA256',
    encodingMethod: 'OCMF',
    publicKey: Buffer.from(`3059301306072A8648CE3D020106082A8648CE3D030107034200${hex(65)}`, 'utf8').toString('base64'),
  };
}

export interface RegisterOptions {
  context?: ReadingContext;
  unit?: 'Wh' | 'kWh';
  multiplier?: number;
  signed?: boolean;
  /** Leave out the measurand (its default is Energy.Active.Import.Register). */
  implicitMeasurand?: boolean;
}

/** One Energy.Active.Import.Register sampledValue. */
export function energyRegister(value: number, opts: RegisterOptions = {}): Payload {
  const sample: Payload = { value };
  if (opts.context !== undefined) sample.context = opts.context;
  if (opts.implicitMeasurand !== true) sample.measurand = 'Energy.Active.Import.Register';
  if (opts.unit !== undefined || opts.multiplier !== undefined) {
    const unitOfMeasure: Payload = { unit: opts.unit ?? 'Wh' };
    if (opts.multiplier !== undefined) unitOfMeasure.multiplier = opts.multiplier;
    sample.unitOfMeasure = unitOfMeasure;
  }
  if (opts.signed === true) sample.signedMeterValue = signedMeterValue(value);
  return sample;
}

/** A non-register sample (power, current…), which must not disturb the energy computation. */
export function sample(measurand: string, value: number, opts: { context?: ReadingContext; phase?: string; unit?: string } = {}): Payload {
  const out: Payload = { value, measurand };
  if (opts.context !== undefined) out.context = opts.context;
  if (opts.phase !== undefined) out.phase = opts.phase;
  if (opts.unit !== undefined) out.unitOfMeasure = { unit: opts.unit };
  return out;
}

/** One MeterValueType. */
export function meterValue(sampledValue: Payload[], timestamp: Date | string = new Date()): Payload {
  return { timestamp: typeof timestamp === 'string' ? timestamp : timestamp.toISOString(), sampledValue };
}

/** `[meterValue([energyRegister(wh, opts)], at)]`: the common one-reading meterValue array. */
export function registerReading(wh: number, opts: RegisterOptions & { at?: Date | string } = {}): Payload[] {
  return [meterValue([energyRegister(wh, opts)], opts.at)];
}

// ---------------------------------------------------------------------------------------------------------------
// Transactions
// ---------------------------------------------------------------------------------------------------------------

export type EventType = 'Started' | 'Updated' | 'Ended';
export type ChargingState = 'Charging' | 'EVConnected' | 'SuspendedEV' | 'SuspendedEVSE' | 'Idle';

export interface EventOptions {
  chargingState?: ChargingState;
  stoppedReason?: string;
  remoteStartId?: number;
  idToken?: IdToken;
  /** Include `evse{id, connectorId}` (default: only on the first event after plug-in, see `ChargingSession`). */
  evse?: boolean;
  meterValue?: Payload[];
  offline?: boolean;
  timestamp?: Date | string;
  /** Explicit seqNo (resends, gaps, out-of-order queues); by default the next of this transaction's counter. */
  seqNo?: number;
  /** Extra top-level fields (numberOfPhasesUsed, reservationId, customData…). */
  extra?: Payload;
  /** Send with this OCPP-J messageId (a resend with the same id). */
  messageId?: string;
}

export interface SentEvent {
  request: Payload & { seqNo: number; eventType: EventType; triggerReason: string };
  response: { idTokenInfo?: IdTokenInfo } & Payload;
}

export interface ChargingSessionOptions {
  transactionId?: string;
  evseId?: number;
  connectorId?: number;
  /** `Transaction Duration` of the reusable states (RS-EnergyTransferSuspended, RS-StopAuthorized); default 20 ms. */
  transactionDurationMs?: number;
  /** How connector states are reported (both are allowed, §3.4). */
  via?: 'StatusNotification' | 'NotifyEvent';
}

/**
 * One transaction on one EVSE of a TestStation. The reusable-state methods follow §3.4; each one sends what Part 6
 * says and throws when the CSMS's answer is not what the state requires (Accepted where the state demands it), so
 * a test that drives a precondition fails at the step that went wrong.
 */
export class ChargingSession {
  readonly transactionId: string;
  readonly evseId: number;
  readonly connectorId: number;
  readonly transactionDurationMs: number;
  readonly via: 'StatusNotification' | 'NotifyEvent';
  /** Every TransactionEvent sent for this transaction, with its answer, in sending order. */
  readonly sent: SentEvent[] = [];
  /** Answers to Authorize calls made by the reusable states. */
  readonly authorizeAnswers: Array<{ idToken: IdToken; idTokenInfo: IdTokenInfo }> = [];
  private nextSeq = 0;
  private started = false;
  private evseSent = false;
  /** RS-Authorized has happened (or the test says so, e.g. after a remote start). */
  isAuthorized = false;
  isEvConnected = false;
  token: IdToken | undefined;

  constructor(
    public station: TestStation,
    opts: ChargingSessionOptions = {},
  ) {
    this.transactionId = opts.transactionId ?? `tx-${randomUUID().replace(/-/g, '')}`; // 35 characters: the limit is 36
    this.evseId = opts.evseId ?? 1;
    this.connectorId = opts.connectorId ?? 1;
    this.transactionDurationMs = opts.transactionDurationMs ?? 20;
    this.via = opts.via ?? 'StatusNotification';
  }

  /** Carries on over another connection of the same station (after a reconnect). */
  moveTo(station: TestStation): this {
    this.station = station;
    return this;
  }

  /** The seqNo the next event will carry. */
  peekSeqNo(): number {
    return this.nextSeq;
  }

  /** Takes the next seqNo without sending (to leave a gap that a later, out-of-order event fills). */
  reserveSeqNo(): number {
    return this.nextSeq++;
  }

  get isStarted(): boolean {
    return this.started;
  }

  /** `Started` for the first event of this transaction, `Updated` afterwards. */
  nextEventType(): EventType {
    return this.started ? 'Updated' : 'Started';
  }

  /** Builds a TransactionEventRequest; validated against the official schema so a test bug shows up as such. */
  build(eventType: EventType, triggerReason: string, opts: EventOptions = {}): SentEvent['request'] {
    const seqNo = opts.seqNo ?? this.reserveSeqNo();
    const timestamp = opts.timestamp ?? new Date();
    const transactionInfo: Payload = { transactionId: this.transactionId };
    if (opts.chargingState !== undefined) transactionInfo.chargingState = opts.chargingState;
    if (opts.stoppedReason !== undefined) transactionInfo.stoppedReason = opts.stoppedReason;
    if (opts.remoteStartId !== undefined) transactionInfo.remoteStartId = opts.remoteStartId;
    const request: SentEvent['request'] = {
      eventType,
      timestamp: typeof timestamp === 'string' ? timestamp : timestamp.toISOString(),
      triggerReason,
      seqNo,
      transactionInfo,
    };
    if (opts.offline !== undefined) request.offline = opts.offline;
    if (opts.idToken !== undefined) request.idToken = { idToken: opts.idToken.idToken, type: opts.idToken.type };
    if (opts.evse === true) request.evse = { id: this.evseId, connectorId: this.connectorId };
    if (opts.meterValue !== undefined) request.meterValue = opts.meterValue;
    Object.assign(request, opts.extra ?? {});
    const errors = schemaErrors('TransactionEventRequest', request) ?? [];
    if (errors.length > 0) throw new Error(`test bug: TransactionEventRequest fails the schema: ${errors.join('; ')}`);
    return request;
  }

  /** Sends one TransactionEvent and records it with its answer. */
  async event(eventType: EventType, triggerReason: string, opts: EventOptions = {}): Promise<SentEvent> {
    const request = this.build(eventType, triggerReason, opts);
    return this.send(request, opts.messageId);
  }

  /** Sends an already built request (a resend, or one prepared earlier for an out-of-order queue). */
  async send(request: SentEvent['request'], messageId?: string): Promise<SentEvent> {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- the request is whatever the test sends, deliberately invalid event types included, and those must not count as started
    if (request.eventType === 'Started' || request.eventType === 'Updated' || request.eventType === 'Ended') this.started = true;
    if (request.evse !== undefined) this.evseSent = true;
    const response = await this.station.call<SentEvent['response']>('TransactionEvent', request, messageId === undefined ? {} : { messageId });
    const sent = { request, response };
    this.sent.push(sent);
    return sent;
  }

  /** Sends the next event of the flow: Started first, Updated afterwards; evse on the first event that has it. */
  async next(triggerReason: string, opts: EventOptions = {}): Promise<SentEvent> {
    return this.event(this.nextEventType(), triggerReason, opts);
  }

  async reportConnector(status: string): Promise<Payload> {
    return this.via === 'StatusNotification'
      ? this.station.statusNotification(this.evseId, this.connectorId, status)
      : this.station.notifyConnectorEvent(this.evseId, this.connectorId, status);
  }

  /** Authorize (none for NoAuthorization, §3.3). Returns the idTokenInfo, or undefined when none was asked. */
  async authorize(token: IdToken): Promise<IdTokenInfo | undefined> {
    if (token.type === 'NoAuthorization') return undefined;
    const { idTokenInfo } = await this.station.authorize(token.idToken, token.type);
    this.authorizeAnswers.push({ idToken: token, idTokenInfo });
    return idTokenInfo;
  }

  // ------------------------------------------------------------------------------------------ reusable states

  /**
   * RS-Authorized: Authorize (skipped for NoAuthorization, or with `viaCache`: the station used its cache, C_08),
   * then TE{Authorized, idToken}, Started unless the transaction already started. Requires Accepted unless
   * `expect` says otherwise (null: accept anything).
   */
  async authorized(token: IdToken, opts: { viaCache?: boolean; expect?: string | null } & EventOptions = {}): Promise<SentEvent> {
    const expected = opts.expect === undefined ? 'Accepted' : opts.expect;
    if (opts.viaCache !== true) {
      const info = await this.authorize(token);
      if (info !== undefined && expected !== null && info.status !== expected) {
        throw new Error(`RS-Authorized: Authorize(${token.type} ${token.idToken}) answered ${JSON.stringify(info)}, expected ${expected}`);
      }
    }
    const sent = await this.next('Authorized', { ...opts, idToken: token, evse: opts.evse ?? (this.isEvConnected && !this.evseSent) });
    this.expectStatus(sent, expected, 'RS-Authorized');
    this.isAuthorized = true;
    this.token = token;
    return sent;
  }

  /** RS-EVConnectedPreSession: Occupied, then TE{CablePluggedIn, EVConnected, evse}, Started unless already started. */
  async evConnectedPreSession(opts: EventOptions = {}): Promise<SentEvent> {
    await this.reportConnector('Occupied');
    const sent = await this.next('CablePluggedIn', { chargingState: 'EVConnected', evse: true, ...opts });
    this.isEvConnected = true;
    return sent;
  }

  /** RS-EnergyTransferStarted: RS-Authorized if needed (with `token`), plug-in if needed, then Charging. */
  async energyTransferStarted(token?: IdToken, opts: EventOptions = {}): Promise<SentEvent> {
    if (!this.isAuthorized) {
      if (token === undefined) throw new Error('RS-EnergyTransferStarted: not authorized and no token given');
      await this.authorized(token);
    }
    if (!this.isEvConnected) {
      await this.reportConnector('Occupied');
      await this.event('Updated', 'CablePluggedIn', { chargingState: 'EVConnected', evse: !this.evseSent });
      this.isEvConnected = true;
    }
    return this.event('Updated', 'ChargingStateChanged', { chargingState: 'Charging', ...opts });
  }

  /** RS-EnergyTransferSuspended: wait Transaction Duration, then ChargingStateChanged → SuspendedEV. */
  async energyTransferSuspended(opts: EventOptions = {}): Promise<SentEvent> {
    await sleep(this.transactionDurationMs);
    return this.event('Updated', 'ChargingStateChanged', { chargingState: 'SuspendedEV', ...opts });
  }

  /** RS-StopAuthorized: wait Transaction Duration, then TE{Updated, StopAuthorized, idToken} ⇐ Accepted. */
  async stopAuthorized(token?: IdToken, opts: EventOptions & { expect?: string | null } = {}): Promise<SentEvent> {
    const stopToken = token ?? this.token;
    if (stopToken === undefined) throw new Error('RS-StopAuthorized: no token');
    await sleep(this.transactionDurationMs);
    const sent = await this.event('Updated', 'StopAuthorized', { idToken: stopToken, ...opts });
    this.expectStatus(sent, opts.expect === undefined ? 'Accepted' : opts.expect, 'RS-StopAuthorized');
    return sent;
  }

  /** RS-EVConnectedPostSession: TE{Updated, ChargingStateChanged, EVConnected}. */
  evConnectedPostSession(opts: EventOptions = {}): Promise<SentEvent> {
    return this.event('Updated', 'ChargingStateChanged', { chargingState: 'EVConnected', ...opts });
  }

  /** RS-EVDisconnected: Available, then TE{Ended, EVCommunicationLost, Idle, EVDisconnected}. */
  async evDisconnected(opts: EventOptions & { eventType?: EventType } = {}): Promise<SentEvent> {
    await this.reportConnector('Available');
    const { eventType, ...rest } = opts;
    const ended = (eventType ?? 'Ended') === 'Ended';
    const sent = await this.event(eventType ?? 'Ended', 'EVCommunicationLost', {
      chargingState: 'Idle',
      ...(ended ? { stoppedReason: 'EVDisconnected' } : {}),
      ...rest,
    });
    this.isEvConnected = false;
    return sent;
  }

  /** The whole E_04 path after RS-Authorized: Charging, StopAuthorized, post-session, unplugged. */
  async chargeAndFinish(token: IdToken, opts: { stopToken?: IdToken } = {}): Promise<void> {
    await this.energyTransferStarted(token);
    await this.stopAuthorized(opts.stopToken ?? token);
    await this.evConnectedPostSession();
    await this.evDisconnected();
  }

  /** Every answer to a TE that carried an idToken. */
  tokenAnswers(): Array<{ seqNo: number; idToken: IdToken; idTokenInfo: IdTokenInfo | undefined }> {
    return this.sent
      .filter((s) => s.request.idToken !== undefined)
      .map((s) => ({ seqNo: s.request.seqNo, idToken: s.request.idToken as IdToken, idTokenInfo: s.response.idTokenInfo }));
  }

  private expectStatus(sent: SentEvent, expected: string | null, what: string): void {
    if (expected === null) return;
    const status = sent.response.idTokenInfo?.status;
    if (status !== expected) {
      throw new Error(`${what}: TransactionEvent seqNo ${sent.request.seqNo} answered ${JSON.stringify(sent.response)}, expected idTokenInfo.status ${expected}`);
    }
  }
}

/** A timestamp `ms` in the past, as the station's clock would have stamped an offline event. */
export function ago(ms: number): Date {
  return new Date(Date.now() - ms);
}

/** ISO string with millisecond precision: what the API returns for a time the station sent. */
export function iso(date: Date | string): string {
  return new Date(date).toISOString();
}

// ---------------------------------------------------------------------------------------------------------------
// Assertions on what the API shows
// ---------------------------------------------------------------------------------------------------------------

/**
 * GET …/transactions/{id} holds exactly one event per seqNo the session sent, in seqNo order, each with the request
 * verbatim, the station's own timestamp and the answer the station got the first time.
 */
export function expectRecordedEvents(view: TransactionView, ...sessions: ChargingSession[]): void {
  const bySeq = new Map<number, SentEvent>();
  for (const session of sessions) {
    for (const s of session.sent) if (!bySeq.has(s.request.seqNo)) bySeq.set(s.request.seqNo, s);
  }
  const seqNos = [...bySeq.keys()].sort((a, b) => a - b);
  if (JSON.stringify(view.events.map((e) => e.seqNo)) !== JSON.stringify(seqNos)) {
    throw new Error(
      `transaction ${view.transactionId}: events by seqNo are ${JSON.stringify(view.events.map((e) => e.seqNo))}, expected ${JSON.stringify(seqNos)} (one per seqNo, in seqNo order)`,
    );
  }
  for (const event of view.events) {
    const sent = bySeq.get(event.seqNo) as SentEvent;
    const problems: string[] = [];
    const same = (a: unknown, b: unknown): boolean => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
    if (event.eventType !== sent.request.eventType) problems.push(`eventType ${event.eventType} ≠ ${sent.request.eventType}`);
    if (event.triggerReason !== sent.request.triggerReason) problems.push(`triggerReason ${event.triggerReason} ≠ ${sent.request.triggerReason}`);
    if (event.timestamp !== iso(sent.request.timestamp as string)) problems.push(`timestamp ${event.timestamp} ≠ ${iso(sent.request.timestamp as string)}`);
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- the request is the JSON a test sent: whatever `offline` holds is shown as it is
    if (event.offline !== (sent.request.offline ?? false)) problems.push(`offline ${String(event.offline)} ≠ ${String(sent.request.offline ?? false)}`);
    if (!same(event.request, sent.request)) problems.push(`request ${JSON.stringify(event.request)} ≠ sent ${JSON.stringify(sent.request)}`);
    if (!same(event.response, sent.response)) problems.push(`response ${JSON.stringify(event.response)} ≠ answered ${JSON.stringify(sent.response)}`);
    if (problems.length > 0) throw new Error(`transaction ${view.transactionId} event seqNo ${event.seqNo}: ${problems.join('; ')}`);
  }
}

/** JSON with object keys sorted, so key order does not matter in comparisons. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.keys(value as Record<string, unknown>)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}
