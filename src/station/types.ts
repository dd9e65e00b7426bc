import type { StationPasswords } from '../security/password-verifier.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { JsonObject } from '../json.js';
import type { CallOrigin } from '../operators/call-origin.js';
import type { Logger, SampledLog } from '../log.js';
import type { CsmsMetrics } from '../metrics.js';
import type { OcppProtocol, OcppVersionId } from '../ocpp/protocol.js';
import type { CsmsAction16, StationAction16 } from '../ocpp/v16/actions.js';
import type { OcppPayloads as OcppPayloads16 } from '../ocpp/v16/types.js';
import type { CsmsAction, StationAction } from '../ocpp/v201/actions.js';
import type { OcppPayloads } from '../ocpp/v201/types.js';
import type { BillingStore } from '../store/billing-store.js';
import type { DeviceVariable, SecurityProfile, StationRecord, Store } from '../store/store.js';
import type { Authorizer } from '../blocks/authorization/authorizer.js';
import type { ReservationHooks } from '../blocks/reservations/hooks.js';
import type { PricingHooks } from '../blocks/tariffs/hooks.js';
import type { OpenTransaction, StationContext } from '../../machines/station.machine.js';

/**
 * A client certificate that admitted a connection (security profile 3): B01.FR.11/12 compare the
 * BootNotification serialNumber with `commonName`.
 */
export interface ClientCertificateInfo {
  /** The certificate's subject CN; equal to the station identity. */
  commonName: string;
  serialNumber: string | undefined;
  verifiedBy: 'tls' | 'proxy';
}

/** What the transport gives a session: a socket that can be written and closed, and nothing else. */
export interface StationSocket {
  /** Queues a text frame. False when the frame was buffered behind backpressure (it is still sent). */
  send(text: string): boolean;
  close(code: number, reason: string): void;
  readonly remoteAddress: string;
  /** Security profile 3: the verified client certificate that admitted this connection. */
  readonly clientCertificate?: ClientCertificateInfo | undefined;
}

/** The dependencies every session and handler shares. Built once by the composition root. */
export interface StationServices {
  config: Config;
  store: Store & BillingStore;
  authorizer: Authorizer;
  metrics: CsmsMetrics;
  clock: Clock;
  log: Logger;
  passwords: StationPasswords;
  /** Reservations (H): a transaction that carries a reservation id uses it; ReservationStatusUpdate closes it. */
  reservations?: ReservationHooks;
  /** Tariff & cost (I): running and final cost, tariff texts, for the transactions and authorization blocks. */
  pricing?: PricingHooks;
  /** What blocks do once a BootNotification was answered (after the answer is out), e.g. re-read monitors (N04.FR.19). */
  bootFollowers?: readonly BootFollower[];
  /** Records a CALL the CSMS sent on its own once settled (the audit trail, CONTRACT §8.7); batched, never awaited. */
  callAudit?: (call: SystemCallAudit) => void;
}

/** A settled CALL the CSMS sent on its own, for the audit trail. */
export interface SystemCallAudit {
  stationId: string;
  action: string;
  outcome: 'ok' | 'rejected' | 'failed';
  /** As the commands route would have answered it: 200, 409 (refused, not connected), 502 (CALLERROR), 504 (timeout). */
  status: number;
}

/** A block's follow-up to a boot: called after the BootNotificationResponse was written; must not throw. */
export type BootFollower = (station: StationHandle, status: 'Accepted' | 'Pending' | 'Rejected', services: StationServices) => void;

/** What a handler may know about and do to the station it serves. */
export interface StationHandle {
  readonly stationId: string;
  readonly station: StationRecord;
  readonly log: Logger;
  /** For what the station can repeat at will (unreadable frames, vendor messages): first of each kind, then 1 per 10 s. */
  readonly sampledLog: SampledLog;
  /** The OCPP version this connection negotiated. */
  readonly protocol: OcppProtocol;
  /** Security profile 3: the client certificate of this connection (B01.FR.11/12 compare it at boot). */
  readonly clientCertificate: ClientCertificateInfo | undefined;
  context(): StationContext;
  bootAnswered(status: 'Accepted' | 'Pending' | 'Rejected'): void;
  /** A NotifyReport part for `requestId` was stored (ends onboarding when it is the inventory). */
  reportArrived(requestId: number): void;
  /**
   * The station's open transactions, loaded from the store on first use in this session and kept by its
   * actor from then on (synchronous once loaded).
   */
  openTransactions(): readonly OpenTransaction[] | Promise<readonly OpenTransaction[]>;
  /** A TransactionEvent other than Ended was stored: the transaction is open (on that EVSE, when known). */
  transactionSeen(transactionId: string, evseId: number | undefined): void;
  transactionEnded(transactionId: string): void;
  /** Queue a CSMS CALL to this station (one in flight, the rest wait). The payload must be valid already. */
  /** `origin` (default `system`): whether an operator's request answers for this call, or the audit records it (§8.7). */
  call(action: string, payload: JsonObject, deadline?: number, origin?: CallOrigin): Promise<JsonObject>;
  close(code: number, reason: string): void;
  /** Counts one refusal or drop over a per-station budget (csms_station_budget_refusals_total). */
  overBudget(budget: 'bytes' | 'bytes_closed' | 'queued_calls' | 'report_parts' | 'report_requests'): void;
  /** Whether this connection stores parts of this report requestId for the first time. */
  firstReportPart(requestId: number): boolean;
}

export interface HandlerContext {
  readonly station: StationHandle;
  readonly messageId: string;
  readonly services: StationServices;
  /** Runs after the CALLRESULT is written: effects the station must see only after our answer. */
  afterReply(effect: () => void): void;
}

/**
 * A handler answers one station action with the response payload — synchronously on the hot path, or as a
 * promise when it must wait for a commit — or throws an OcppError that becomes the CALLERROR. Request and
 * response types come from the official schemas; the session has validated the request already.
 */
export type Handler<A extends StationAction> = (
  ctx: HandlerContext,
  request: OcppPayloads[A]['request'],
) => OcppPayloads[A]['response'] | Promise<OcppPayloads[A]['response']>;

/**
 * Runs after a station answered one of our CALLs with a valid CALLRESULT: how the CSMS learns from what
 * it asked (a changed password, a started report, a firmware request).
 */
export type ResultHook<A extends CsmsAction> = (
  station: StationHandle,
  request: OcppPayloads[A]['request'],
  response: OcppPayloads[A]['response'],
  services: StationServices,
) => void | Promise<void>;

/**
 * How one operator command becomes station requests. Most commands are one request; some are split to the
 * station's limits (B05.FR.11, B06.FR.05) and their answers merged back into one.
 */
export interface CommandPlan {
  requests: JsonObject[];
  merge(responses: JsonObject[]): JsonObject;
  /**
   * Optional: called once by the command service after the requests went out (or failed to), with the merged
   * answer or why there is none. For effects that begin before the CALL leaves and must be undone when it fails
   * (a remote-start grant). May throw; the command then fails with that error.
   */
  settle?(outcome: PlanOutcome): void | Promise<void>;
}

/** What became of a plan's requests: the station's (merged) CALLRESULT, or no usable answer. */
export type PlanOutcome = { kind: 'result'; response: JsonObject } | { kind: 'failed'; cause: string };

/** A command the CSMS refuses before sending anything: the API answers `status` with this error. */
export class CommandRefusal extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'CommandRefusal';
  }
}

/** What a planner may look at: the registration, and the device model (read only when it asks). */
export interface PlanContext {
  readonly station: { id: string; securityProfile: SecurityProfile };
  deviceModel(): Promise<readonly DeviceVariable[]>;
}

/**
 * A block's rule for one of its CSMS-initiated actions: refuse (throw CommandRefusal), or say how the
 * request goes out. The payload is schema-valid already.
 */
export type CommandPlanner<A extends CsmsAction> = (payload: OcppPayloads[A]['request'], ctx: PlanContext) => CommandPlan | Promise<CommandPlan>;

/** The same three kinds of entry for the OCPP 1.6 messages of a block, typed by the 1.6 schemas. */
export type Handler16<A extends StationAction16> = (
  ctx: HandlerContext,
  request: OcppPayloads16[A]['request'],
) => OcppPayloads16[A]['response'] | Promise<OcppPayloads16[A]['response']>;

export type ResultHook16<A extends CsmsAction16> = (
  station: StationHandle,
  request: OcppPayloads16[A]['request'],
  response: OcppPayloads16[A]['response'],
  services: StationServices,
) => void | Promise<void>;

export type CommandPlanner16<A extends CsmsAction16> = (payload: OcppPayloads16[A]['request'], ctx: PlanContext) => CommandPlan | Promise<CommandPlan>;

/** A block's OCPP 1.6 side: its 1.6 messages, handled by the same domain code as its 2.0.1 ones. */
export interface BlockSide16 {
  handlers: { [A in StationAction16]?: Handler16<A> };
  resultHooks?: { [A in CsmsAction16]?: ResultHook16<A> };
  plans?: { [A in CsmsAction16]?: CommandPlanner16<A> };
}

/**
 * One functional block, both directions: the station actions it answers, the CSMS calls whose answers it
 * learns from, and the rules for the commands it sends. A new OCPP profile is a new block. Its 2.0.1 entries
 * are the block's own fields; `v16` holds the same block's OCPP 1.6 messages (a version is an adapter into the
 * block's domain, not another block).
 */
export interface BlockModule {
  readonly name: string;
  handlers: { [A in StationAction]?: Handler<A> };
  resultHooks?: { [A in CsmsAction]?: ResultHook<A> };
  plans?: { [A in CsmsAction]?: CommandPlanner<A> };
  v16?: BlockSide16;
}

/** The erased forms the session dispatches through, after validation has vouched for the payload. */
export type AnyHandler = (ctx: HandlerContext, request: never) => object | Promise<object>;
export type AnyResultHook = (station: StationHandle, request: never, response: never, services: StationServices) => void | Promise<void>;
export type AnyPlanner = (payload: never, ctx: PlanContext) => CommandPlan | Promise<CommandPlan>;

/** Every block's entries by action, for one protocol version. */
export interface BlockTable {
  readonly version: OcppVersionId;
  handlers: ReadonlyMap<string, AnyHandler>;
  resultHooks: ReadonlyMap<string, AnyResultHook>;
  plans: ReadonlyMap<string, AnyPlanner>;
}
