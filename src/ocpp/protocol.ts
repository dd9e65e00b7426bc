import type { JsonObject } from '../json.js';
import type { OcppErrorCode } from './errors.js';
import type { OcppSchemas } from './validation.js';

/** The OCPP versions a station may speak (the WebSocket subprotocol decides, Part 4 §3.1.2). */
export type OcppVersionId = '2.0.1' | '1.6';

export const OCPP_VERSIONS: readonly OcppVersionId[] = ['2.0.1', '1.6'];

export function isOcppVersionId(value: unknown): value is OcppVersionId {
  return value === '2.0.1' || value === '1.6';
}

/** How a station's onboarding inventory is asked for (CONTRACT §3.2 "Reports"). */
export interface InventoryRequest {
  action: string;
  payload: JsonObject;
  /** 1.6 GetConfiguration: the answer is the inventory; 2.0.1 GetBaseReport: NotifyReport parts follow. */
  answeredInResult: boolean;
}

/**
 * One protocol version as an adapter: its subprotocol name, its official schemas and its action catalogue.
 * The session asks the protocol it negotiated; the domain behind the handlers never asks which one it is.
 */
export interface OcppProtocol {
  readonly version: OcppVersionId;
  /** The WebSocket subprotocol (`ocpp2.0.1`, `ocpp1.6`). */
  readonly subprotocol: string;
  readonly schemas: OcppSchemas;
  /** CSMS-initiated actions, for the commands API. */
  readonly csmsActions: readonly string[];
  isStationAction(action: string): boolean;
  isCsmsAction(action: string): boolean;
  /** The station action an accepted trigger request asks for (B02.FR.02 lets it through while Pending); undefined for other actions. */
  triggeredAction(action: string, request: JsonObject): string | undefined;
  /** Requests that, once accepted while Pending, let a NotifyReport through (GetBaseReport, GetReport). */
  isReportRequest(action: string): boolean;
  /** The onboarding inventory request (C-50.1 on 2.0.1; GetConfiguration of every key on 1.6). */
  inventoryRequest(requestId: number): InventoryRequest;
  /** How this version spells an RPC error code in a CALLERROR. */
  errorCode(code: OcppErrorCode): string;
  /** A code a station sent, in the one spelling the CSMS uses (2.0.1's). */
  readErrorCode(code: string): string;
}

/** The versions this CSMS serves, by subprotocol; the highest offered wins. */
export class OcppProtocols {
  private readonly bySubprotocol: ReadonlyMap<string, OcppProtocol>;

  /** `protocols` in order of preference, highest version first. */
  constructor(private readonly protocols: readonly OcppProtocol[]) {
    this.bySubprotocol = new Map(protocols.map((p) => [p.subprotocol, p]));
  }

  get subprotocols(): string[] {
    return this.protocols.map((p) => p.subprotocol);
  }

  /**
   * The highest version among those the station offered (Sec-WebSocket-Protocol), or undefined. A pinned
   * registration takes its version or nothing (CONTRACT §3).
   */
  select(offered: string | undefined, pin: OcppVersionId | 'auto' = 'auto'): OcppProtocol | undefined {
    if (offered === undefined) return undefined;
    const names = new Set(offered.split(',').map((name) => name.trim()));
    return this.protocols.find((p) => names.has(p.subprotocol) && (pin === 'auto' || p.version === pin));
  }

  bySubprotocolName(subprotocol: string): OcppProtocol | undefined {
    return this.bySubprotocol.get(subprotocol);
  }

  get all(): readonly OcppProtocol[] {
    return this.protocols;
  }

  get(version: OcppVersionId): OcppProtocol {
    const protocol = this.protocols.find((p) => p.version === version);
    if (protocol === undefined) throw new Error(`OCPP ${version} is not served`);
    return protocol;
  }
}
