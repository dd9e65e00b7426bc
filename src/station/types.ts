import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { CsmsMetrics } from '../metrics.js';
import type { CsmsAction, StationAction } from '../ocpp/actions.js';
import type { JsonPayload } from '../ocpp/frame.js';
import type { OcppPayloads } from '../ocpp/generated/ocpp-types.js';
import type { OcppSchemas } from '../ocpp/validation.js';
import type { BillingStore } from '../store/billing-store.js';
import type { StationRecord, Store } from '../store/store.js';
import type { ClientCertificateInfo } from './admission.js';
import type { Authorizer } from './authorizer.js';
import type { StationContext } from '../../machines/station.machine.js';

/** What the transport gives a session: a socket that can be written and closed, and nothing else. */
export interface StationSocket {
  /** Queues a text frame. False when the frame was buffered behind backpressure (it is still sent). */
  send(text: string): boolean;
  close(code: number, reason: string): void;
  bufferedAmount(): number;
  readonly remoteAddress: string;
  /** Security profile 3: the verified client certificate that admitted this connection. */
  readonly clientCertificate?: ClientCertificateInfo | undefined;
}

/** The dependencies every session and handler shares. Built once by the composition root. */
export interface StationServices {
  config: Config;
  store: Store & BillingStore;
  authorizer: Authorizer;
  schemas: OcppSchemas;
  metrics: CsmsMetrics;
  clock: Clock;
  log: Logger;
}

/** What a handler may know about and do to the station it serves. */
export interface StationHandle {
  readonly stationId: string;
  readonly station: StationRecord;
  readonly log: Logger;
  /** Security profile 3: the client certificate of this connection (B01.FR.11/12 compare it at boot). */
  readonly clientCertificate: ClientCertificateInfo | undefined;
  context(): StationContext;
  bootAnswered(status: 'Accepted' | 'Pending' | 'Rejected'): void;
  transactionStarted(transactionId: string): void;
  transactionEnded(transactionId: string): void;
  /** Queue a CSMS CALL to this station (one in flight, the rest wait). */
  call(action: string, payload: JsonPayload, deadline?: number): Promise<JsonPayload>;
  close(code: number, reason: string): void;
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

/** One functional block: the station actions it answers and the CSMS calls whose answers it learns from. */
export interface HandlerModule {
  handlers: { [A in StationAction]?: Handler<A> };
  resultHooks?: { [A in CsmsAction]?: ResultHook<A> };
}

/** The erased forms the session dispatches through, after validation has vouched for the payload. */
export type AnyHandler = (ctx: HandlerContext, request: never) => object | Promise<object>;
export type AnyResultHook = (station: StationHandle, request: never, response: never, services: StationServices) => void | Promise<void>;
