import { performance } from 'node:perf_hooks';
import { createActor, type Actor, type AnyActorRef } from 'xstate';
import { stationMachine, stationMayCall, type OpenTransaction, type OutboundCall, type StationContext } from '../../machines/station.machine.js';
import { newMessageId, newRequestId } from '../ids.js';
import { SampledLog, type Logger } from '../log.js';
import type { OcppProtocol } from '../ocpp/protocol.js';
import { CallAbortedError, CallRefusedError, CallTimeoutError, OcppError, isOcppErrorCode, type OcppErrorCode } from '../ocpp/errors.js';
import {
  FrameError,
  parseFrame,
  serializeCall,
  serializeCallError,
  serializeCallResult,
  type CallErrorFrame,
  type CallFrame,
  type CallResultFrame,
} from '../ocpp/frame.js';
import type { JsonObject } from '../json.js';
import type { CallOrigin } from '../operators/call-origin.js';
import type { StationRecord } from '../store/store.js';
import type { BlockTable, ClientCertificateInfo, HandlerContext, StationHandle, StationServices, StationSocket } from './types.js';

interface WaitingCall {
  action: string;
  request: JsonObject;
  resolve: (payload: JsonObject) => void;
  reject: (error: Error) => void;
  sentAt: number;
}

/**
 * A station behaves (Part 4 §4.1.1) by waiting for each answer before its next CALL. One that does not
 * is bounded here, so a flood cannot pile up unbounded work behind the store.
 */
const MAX_CONCURRENT_STATION_CALLS = 8;

const LAST_SEEN_RESOLUTION_MS = 1000;

/**
 * The machine with the host's side effects, built once rather than once per connection: a provided machine
 * is a whole definition, and a fleet has tens of thousands of sessions. Each action finds its session
 * through the actor that runs it (a WeakMap: plumbing, not station state).
 */
const sessionsByActor = new WeakMap<AnyActorRef, StationSession>();

function sessionOf(self: AnyActorRef): StationSession {
  const session = sessionsByActor.get(self);
  if (session === undefined) throw new Error('station actor without a session');
  return session;
}

const hostedStationMachine = stationMachine.provide({
  actions: {
    transmit: ({ self }, { call }) => sessionOf(self).transmit(call),
    failTimedOut: ({ self }, { calls }) => {
      const session = sessionOf(self);
      for (const call of calls) session.callTimedOut(call);
    },
    failAborted: ({ self }, { calls, reason }) => sessionOf(self).callsAborted(calls, reason),
    refuse: ({ self }, { call, reason, budget }) => {
      const session = sessionOf(self);
      if (budget !== undefined) session.overBudget(budget);
      session.settleWithError(call.messageId, new CallRefusedError(call.action, reason), undefined);
    },
    requestInventory: ({ self }) => {
      // Deferred: this runs inside the actor's own transition, and the call goes back through the actor.
      const session = sessionOf(self);
      queueMicrotask(() => session.requestFullInventory());
    },
  },
});

/** What a handler gets for one CALL: one small object per frame, its method on the prototype. */
class CallContext implements HandlerContext {
  effects: (() => void)[] | undefined;

  constructor(
    readonly station: StationHandle,
    readonly messageId: string,
    readonly services: StationServices,
  ) {}

  afterReply(effect: () => void): void {
    (this.effects ??= []).push(effect);
  }
}

/**
 * One live connection of one station: frames in, frames out, and the station's actor in between.
 *
 * Lifecycle events (boot answers, outbound calls, transactions opening and closing) go through the actor.
 * The hot path (Heartbeat, StatusNotification, MeterValues) only reads the actor's snapshot: an event per
 * frame would cost more than the rest of the frame's handling.
 */
export class StationSession implements StationHandle {
  readonly stationId: string;
  readonly log: Logger;
  readonly sampledLog: SampledLog;
  private readonly actor: Actor<typeof hostedStationMachine>;
  private readonly waiting = new Map<string, WaitingCall>();
  private incomingInFlight = 0;
  private closed = false;
  /** When lastSeen was last handed to the store; it is refreshed at most once a second per station. */
  private lastSeenAt = 0;
  private loadingTransactions: Promise<readonly OpenTransaction[]> | undefined;
  /**
   * Token bucket of incoming frame bytes (README "Budgets and retention"): refilled at
   * CSMS_STATION_BYTES_PER_SECOND up to CSMS_STATION_BURST_BYTES. Below zero the station's CALLs are refused;
   * a station that goes on sending another burst's worth regardless is closed with 1008.
   */
  private byteBudget: number;
  private byteBudgetAt: number;
  private overByteBudget = false;
  /** Report requestIds this connection has stored parts of (bounded: cleared when it grows past the budget). */
  private readonly reportRequests = new Set<number>();

  constructor(
    readonly station: StationRecord,
    readonly protocol: OcppProtocol,
    private readonly socket: StationSocket,
    private readonly services: StationServices,
    private readonly table: BlockTable,
    private readonly onClosed: (session: StationSession) => void,
  ) {
    this.stationId = station.id;
    this.log = services.log.child({ stationId: station.id });
    this.sampledLog = new SampledLog(this.log, 10_000, () => services.clock.now());
    const clock = services.clock;
    this.actor = createActor(hostedStationMachine, {
      input: { stationId: station.id, bootStatus: station.bootStatus, now: () => clock.now(), maxPendingCalls: services.config.stationMaxQueuedCalls },
    });
    this.byteBudget = services.config.stationBurstBytes;
    this.byteBudgetAt = clock.now();
    sessionsByActor.set(this.actor, this);
    this.actor.start();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get remoteAddress(): string {
    return this.socket.remoteAddress;
  }

  get clientCertificate(): ClientCertificateInfo | undefined {
    return this.socket.clientCertificate;
  }

  context(): StationContext {
    return this.actor.getSnapshot().context;
  }

  bootAnswered(status: 'Accepted' | 'Pending' | 'Rejected'): void {
    this.actor.send({ type: 'BOOT_ANSWERED', status });
  }

  openTransactions(): readonly OpenTransaction[] | Promise<readonly OpenTransaction[]> {
    const known = this.context().openTransactions;
    if (known !== undefined) return known;
    return (this.loadingTransactions ??= this.services.store.listTransactions(this.stationId, { active: true }).then(
      (stored) => {
        if (!this.closed) this.actor.send({ type: 'TRANSACTIONS_LOADED', transactions: stored.map((tx) => ({ transactionId: tx.transactionId, evseId: tx.evseId })) });
        this.loadingTransactions = undefined;
        return this.context().openTransactions ?? [];
      },
      (err: unknown) => {
        this.loadingTransactions = undefined;
        throw err;
      },
    ));
  }

  transactionSeen(transactionId: string, evseId: number | undefined): void {
    const known = this.context().openTransactions?.find((tx) => tx.transactionId === transactionId);
    // The hot path (Updated events of a known transaction) sends the actor nothing.
    if (known !== undefined && (evseId === undefined || known.evseId === evseId)) return;
    this.actor.send({ type: 'TRANSACTION_SEEN', transactionId, evseId });
  }

  transactionEnded(transactionId: string): void {
    this.actor.send({ type: 'TRANSACTION_ENDED', transactionId });
  }

  // ---------------------------------------------------------------- inbound

  onMessage(text: string): void {
    const now = this.services.clock.now();
    if (now - this.lastSeenAt >= LAST_SEEN_RESOLUTION_MS) {
      this.lastSeenAt = now;
      // Not a record: held in memory and written with the next batch, never awaited.
      this.services.store.touchLastSeen(this.stationId, new Date(now));
    }
    const budget = this.spendBytes(text.length, now);
    if (budget === 'close') return;
    let frame;
    try {
      frame = parseFrame(text);
    } catch (err) {
      const error = err as FrameError;
      this.services.metrics.countIn('INVALID', '');
      // A station can send these as fast as its budget allows: counted in metrics, sampled in the log.
      this.sampledLog.warn('unreadable_frame', { messageId: error.messageId, code: error.code }, `unreadable frame: ${error.message}`);
      if (error.reply) this.sendError(error.messageId, '', error.code, error.message, error.details);
      return;
    }
    switch (frame.type) {
      case 2:
        if (budget === 'refuse') {
          // Answers to our own calls (3, 4) still count and are still taken: the CSMS asked for them.
          this.services.metrics.countIn('CALL', this.protocol.isStationAction(frame.action) ? frame.action : 'unknown');
          this.sendError(frame.messageId, frame.action, 'RpcFrameworkError', 'rate limit: this station sends more bytes per second than its budget; slow down');
          return;
        }
        this.onCall(frame);
        return;
      case 3:
        this.onCallResult(frame);
        return;
      case 4:
        this.onCallError(frame);
        return;
    }
  }

  /** Takes `bytes` from the station's budget: `ok`, `refuse` (its CALLs, for now) or `close` (closed with 1008). */
  private spendBytes(bytes: number, now: number): 'ok' | 'refuse' | 'close' {
    const { stationBytesPerSecond, stationBurstBytes } = this.services.config;
    const elapsed = now - this.byteBudgetAt;
    this.byteBudgetAt = now;
    this.byteBudget = Math.min(stationBurstBytes, this.byteBudget + (Math.max(0, elapsed) * stationBytesPerSecond) / 1000) - bytes;
    if (this.byteBudget >= 0) {
      this.overByteBudget = false;
      return 'ok';
    }
    if (this.byteBudget < -stationBurstBytes) {
      this.overBudget('bytes_closed');
      this.log.warn({ bytesPerSecond: stationBytesPerSecond, burstBytes: stationBurstBytes }, 'station kept sending over its byte budget: closing (1008)');
      this.close(1008, 'rate limit exceeded');
      return 'close';
    }
    this.overBudget('bytes');
    if (!this.overByteBudget) {
      // One line per episode, not per refused frame.
      this.overByteBudget = true;
      this.log.warn({ bytesPerSecond: stationBytesPerSecond, burstBytes: stationBurstBytes }, 'station is over its byte budget: refusing its CALLs');
    }
    return 'refuse';
  }

  /** Counts one refusal (or drop) over a per-station budget; no station label (CONTRACT §5). */
  overBudget(budget: 'bytes' | 'bytes_closed' | 'queued_calls' | 'report_parts' | 'report_requests'): void {
    this.services.metrics.budgetRefusals.labels(budget).inc();
  }

  /** Whether this connection stores parts of `requestId` for the first time (then the station's older reports may be pruned). */
  firstReportPart(requestId: number): boolean {
    if (this.reportRequests.has(requestId)) return false;
    if (this.reportRequests.size >= this.services.config.reportMaxRequests) this.reportRequests.clear();
    this.reportRequests.add(requestId);
    return true;
  }

  private onCall(frame: CallFrame): void {
    const { messageId, action, payload } = frame;
    const started = performance.now();
    const protocol = this.protocol;
    const known = protocol.isStationAction(action);
    this.services.metrics.countIn('CALL', known || protocol.isCsmsAction(action) ? action : 'unknown');

    if (!known) {
      if (protocol.isCsmsAction(action)) {
        this.sendError(messageId, action, 'NotSupported', `${action} is initiated by the CSMS, not by a charging station`);
      } else {
        this.sendError(messageId, action, 'NotImplemented', `unknown action "${action.slice(0, 64)}"`);
      }
      return;
    }
    if (!stationMayCall(this.context(), action)) {
      this.sendError(messageId, action, 'SecurityError', `${action} is not allowed before the station is Accepted (boot status ${this.context().bootStatus})`);
      return;
    }
    const invalid = protocol.schemas.check(action, 'Request', payload);
    if (invalid !== undefined) {
      this.sendError(messageId, action, invalid.code, invalid.message, invalid.details);
      return;
    }
    const handler = this.table.handlers.get(action);
    if (handler === undefined) {
      this.sendError(messageId, action, 'NotImplemented', `${action} is not handled by this CSMS`);
      return;
    }
    if (this.incomingInFlight >= MAX_CONCURRENT_STATION_CALLS) {
      this.sendError(messageId, action, 'RpcFrameworkError', 'too many CALLs outstanding: wait for each answer before the next CALL');
      return;
    }

    const ctx = new CallContext(this, messageId, this.services);
    let result: object | Promise<object>;
    try {
      result = handler(ctx, payload as never);
    } catch (err) {
      this.replyFailure(messageId, action, err);
      return;
    }
    if (result instanceof Promise) {
      this.incomingInFlight++;
      result.then(
        (response) => {
          this.incomingInFlight--;
          this.reply(messageId, action, response as JsonObject, started, ctx.effects);
        },
        (err: unknown) => {
          this.incomingInFlight--;
          this.replyFailure(messageId, action, err);
        },
      );
    } else {
      this.reply(messageId, action, result as JsonObject, started, ctx.effects);
    }
  }

  private reply(messageId: string, action: string, response: JsonObject, started: number, effects: (() => void)[] | undefined): void {
    // The CSMS never sends an invalid frame: a handler bug becomes an InternalError, not bad data.
    const invalid = this.protocol.schemas.check(action, 'Response', response);
    if (invalid !== undefined) {
      this.log.error({ messageId, action, violation: invalid.message }, 'handler produced an invalid response');
      this.sendError(messageId, action, 'InternalError', 'the CSMS could not build a valid response');
      return;
    }
    if (this.closed) return;
    this.socket.send(serializeCallResult(messageId, response));
    const seconds = (performance.now() - started) / 1000;
    const metrics = this.services.metrics;
    metrics.countOut('CALLRESULT', action);
    if (action === 'Authorize') {
      // 2.0.1 answers idTokenInfo, 1.6 idTagInfo.
      const status = ((response.idTokenInfo ?? response.idTagInfo) as { status?: string } | undefined)?.status ?? 'unknown';
      metrics.authorizeResponseSeconds.labels(status).observe(seconds);
    } else {
      metrics.observeResponse(action, seconds);
    }
    if (effects !== undefined) for (const effect of effects) effect();
  }

  private replyFailure(messageId: string, action: string, err: unknown): void {
    if (err instanceof OcppError) {
      this.sendError(messageId, action, err.code, err.message, err.details);
      return;
    }
    this.log.error({ messageId, action, err }, 'handler failed');
    this.sendError(messageId, action, 'InternalError', 'the CSMS failed to process this message; retry later');
  }

  private sendError(messageId: string, action: string, code: OcppErrorCode, description: string, details: JsonObject = {}): void {
    if (this.closed) return;
    this.socket.send(serializeCallError(messageId, this.protocol.errorCode(code), description, details));
    this.services.metrics.countOut('CALLERROR', action);
    this.services.metrics.rpcErrorsTotal.labels(code).inc();
    this.log.debug({ messageId, action, code }, description);
  }

  // ---------------------------------------------------------------- outbound

  /**
   * Queues a CSMS CALL. The payload must already be valid: operator commands were validated once by the
   * command service, and the CSMS's own calls are built from the generated types.
   */
  call(action: string, payload: JsonObject, deadline?: number, origin: CallOrigin = 'system'): Promise<JsonObject> {
    const settled = this.enqueue(action, payload, deadline);
    const audit = this.services.callAudit;
    // CONTRACT §8.7: every command sent to a station is in the audit trail. An operator's call is there as its
    // request already; the CSMS's own get their entry here, once settled. The write is batched and never awaited:
    // the caller gets its answer whatever becomes of the entry.
    if (origin === 'system' && audit !== undefined) {
      settled.then(
        () => audit({ stationId: this.stationId, action, outcome: 'ok', status: 200 }),
        (err: unknown) => audit({ stationId: this.stationId, action, ...systemCallOutcome(err) }),
      );
    }
    return settled;
  }

  private enqueue(action: string, payload: JsonObject, deadline: number | undefined): Promise<JsonObject> {
    if (this.closed) return Promise.reject(new CallAbortedError(action, 'station disconnected'));
    const messageId = newMessageId();
    const call: OutboundCall = { messageId, action, payload, deadline: deadline ?? this.services.clock.now() + this.services.config.callTimeoutMs };
    return new Promise<JsonObject>((resolve, reject) => {
      this.waiting.set(messageId, { action, request: payload, resolve, reject, sentAt: 0 });
      this.actor.send({ type: 'CALL_REQUESTED', call });
    });
  }

  /** @internal called by the station actor */
  transmit(call: OutboundCall): void {
    const waiting = this.waiting.get(call.messageId);
    if (waiting !== undefined) waiting.sentAt = performance.now();
    this.socket.send(serializeCall(call.messageId, call.action, call.payload));
    this.services.metrics.countOut('CALL', call.action);
    this.log.debug({ messageId: call.messageId, action: call.action }, 'call sent');
  }

  private onCallResult(frame: CallResultFrame): void {
    const waiting = this.takeWaiting(frame.messageId, 'CALLRESULT');
    if (waiting === undefined) return;
    const { action } = waiting;
    this.services.metrics.countIn('CALLRESULT', action);
    this.observeOutbound(waiting, 'result');
    const invalid = this.protocol.schemas.check(action, 'Response', frame.payload);
    this.actor.send({ type: 'CALL_ANSWERED', messageId: frame.messageId });
    if (invalid !== undefined) {
      this.log.warn({ messageId: frame.messageId, action, violation: invalid.message }, 'station sent an invalid CALLRESULT');
      waiting.reject(new OcppError(invalid.code, `the station's answer is invalid: ${invalid.message}`, invalid.details));
      return;
    }
    this.learnFromResult(action, waiting.request, frame.payload);
    const hook = this.table.resultHooks.get(action);
    if (hook === undefined) {
      waiting.resolve(frame.payload);
      return;
    }
    Promise.resolve()
      .then(() => hook(this, waiting.request as never, frame.payload as never, this.services))
      .then(
        () => waiting.resolve(frame.payload),
        (err: unknown) => {
          this.log.error({ messageId: frame.messageId, action, err }, 'processing the station answer failed');
          waiting.resolve(frame.payload);
        },
      );
  }

  private onCallError(frame: CallErrorFrame): void {
    const waiting = this.takeWaiting(frame.messageId, 'CALLERROR');
    if (waiting === undefined) return;
    this.services.metrics.countIn('CALLERROR', waiting.action);
    this.observeOutbound(waiting, 'error');
    this.actor.send({ type: 'CALL_ANSWERED', messageId: frame.messageId });
    const read = this.protocol.readErrorCode(frame.code);
    const code: OcppErrorCode = isOcppErrorCode(read) ? read : 'GenericError';
    waiting.reject(new OcppError(code, frame.description, frame.details));
  }

  private takeWaiting(messageId: string, kind: string): WaitingCall | undefined {
    const waiting = this.waiting.get(messageId);
    const inFlight = this.context().inFlight;
    if (waiting === undefined || inFlight?.messageId !== messageId) {
      // Late (after its timeout) or never ours: Part 4 says ignore it.
      this.services.metrics.countIn(kind, 'unknown');
      this.sampledLog.warn(`dropped_${kind}`, { messageId }, `${kind} for no outstanding call dropped`);
      return undefined;
    }
    this.waiting.delete(messageId);
    return waiting;
  }

  private observeOutbound(waiting: WaitingCall, outcome: 'result' | 'error' | 'timeout'): void {
    if (waiting.sentAt === 0) return;
    this.services.metrics.outboundCallSeconds.labels(waiting.action, outcome).observe((performance.now() - waiting.sentAt) / 1000);
  }

  /** @internal called by the station actor */
  callTimedOut(call: OutboundCall): void {
    this.settleWithError(call.messageId, new CallTimeoutError(call.action, this.services.config.callTimeoutMs), 'timeout');
  }

  /** @internal called by the station actor */
  callsAborted(calls: readonly OutboundCall[], reason: string): void {
    for (const call of calls) this.settleWithError(call.messageId, new CallAbortedError(call.action, reason), 'aborted');
  }

  /** @internal called by the station actor */
  settleWithError(messageId: string, error: Error, outcome: 'timeout' | 'aborted' | undefined): void {
    const waiting = this.waiting.get(messageId);
    if (waiting === undefined) return;
    this.waiting.delete(messageId);
    if (outcome === 'timeout') this.observeOutbound(waiting, 'timeout');
    if (outcome !== undefined) this.log.info({ messageId, action: waiting.action, outcome }, error.message);
    waiting.reject(error);
  }

  /**
   * B02.FR.02: what the CSMS itself asked for while the station is Pending is let through when it comes.
   */
  private learnFromResult(action: string, request: JsonObject, response: JsonObject): void {
    if (this.context().bootStatus !== 'Pending' || response.status !== 'Accepted') return;
    const triggered = this.protocol.triggeredAction(action, request);
    if (triggered !== undefined) {
      this.actor.send({ type: 'TRIGGER_ACCEPTED', action: triggered });
    } else if (this.protocol.isReportRequest(action)) {
      this.actor.send({ type: 'TRIGGER_ACCEPTED', action: 'NotifyReport' });
    }
  }

  /** A NotifyReport part arrived: the onboarding inventory, when it answers one of its requests. */
  reportArrived(requestId: number): void {
    if (this.context().inventoryRequests.includes(requestId)) this.actor.send({ type: 'REPORT_ARRIVED', requestId });
  }

  /** @internal called by the station actor */
  requestFullInventory(): void {
    if (this.closed) return;
    const requestId = newRequestId();
    const { action, payload, answeredInResult } = this.protocol.inventoryRequest(requestId);
    this.actor.send({ type: 'INVENTORY_REQUESTED', requestId });
    this.call(action, payload).then(
      (response) => {
        // 1.6: the answer to GetConfiguration is the inventory, stored by its result hook before this runs.
        if (answeredInResult) this.reportArrived(requestId);
        this.log.info({ requestId, action, status: response.status }, 'onboarding inventory requested');
      },
      (err: unknown) => this.log.warn({ requestId, action, err: err instanceof Error ? err.message : String(err) }, 'onboarding inventory request failed'),
    );
  }

  // ---------------------------------------------------------------- lifecycle

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.socket.close(code, reason);
  }

  /** The transport reports the socket is gone (either side closed it). */
  onSocketClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.actor.send({ type: 'DISCONNECTED' });
    this.actor.stop();
    this.onClosed(this);
  }
}

/** The audit outcome of a CALL that did not get a CALLRESULT, numbered as the commands route answers it (§4). */
function systemCallOutcome(err: unknown): { outcome: 'rejected' | 'failed'; status: number } {
  if (err instanceof CallTimeoutError) return { outcome: 'failed', status: 504 };
  if (err instanceof CallRefusedError || err instanceof CallAbortedError) return { outcome: 'rejected', status: 409 };
  return { outcome: 'failed', status: 502 };
}
