import type { JsonObject } from '../json.js';
import type { OcppErrorCode } from './errors.js';
import type { OcppSchemas } from './validation.js';

/** The OCPP versions a station may speak (the WebSocket subprotocol decides, Part 4 §3.1.2). */
export type OcppVersionId = '2.0.1';

/**
 * One protocol version as an adapter: its subprotocol name, its official schemas and its action catalogue.
 * The session asks the protocol it negotiated; the domain behind the handlers never asks which one it is.
 */
export interface OcppProtocol {
  readonly version: OcppVersionId;
  /** The WebSocket subprotocol (`ocpp2.0.1`). */
  readonly subprotocol: string;
  readonly schemas: OcppSchemas;
  /** CSMS-initiated actions, for the commands API. */
  readonly csmsActions: readonly string[];
  isStationAction(action: string): boolean;
  isCsmsAction(action: string): boolean;
  /** The station action an accepted TriggerMessage asks for (B02.FR.02 lets it through while Pending). */
  triggeredAction(triggerRequest: JsonObject): string | undefined;
  /** Requests that, once accepted while Pending, let a NotifyReport through (GetBaseReport, GetReport). */
  isReportRequest(action: string): boolean;
  /** How this version spells an RPC error code in a CALLERROR. */
  errorCode(code: OcppErrorCode): string;
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

  /** The highest version among those the station offered (Sec-WebSocket-Protocol), or undefined. */
  select(offered: string | undefined): OcppProtocol | undefined {
    if (offered === undefined) return undefined;
    const names = new Set(offered.split(',').map((name) => name.trim()));
    return this.protocols.find((p) => names.has(p.subprotocol));
  }

  bySubprotocolName(subprotocol: string): OcppProtocol | undefined {
    return this.bySubprotocol.get(subprotocol);
  }

  get(version: OcppVersionId): OcppProtocol {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- only OCPP 2.0.1 is served today; the lookup stays keyed by version for the next one
    const protocol = this.protocols.find((p) => p.version === version);
    if (protocol === undefined) throw new Error(`OCPP ${version} is not served`);
    return protocol;
  }
}
