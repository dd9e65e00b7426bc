import { CallAbortedError, CallRefusedError, CallTimeoutError, OcppError } from '../ocpp/errors.js';
import type { SessionRegistry } from '../station/registry.js';
import type { CallOrigin } from '../operators/call-origin.js';
import type { JsonObject } from '../json.js';
import type { Decision } from './routing-messages.js';

/** What became of an operator command, independent of where the station is connected. */
export type CommandOutcome =
  | { kind: 'result'; response: JsonObject }
  | { kind: 'callError'; code: string; description: string; details: JsonObject }
  | { kind: 'timeout' }
  | { kind: 'notConnected'; reason: string }
  | { kind: 'refused'; reason: string }
  | { kind: 'unavailable'; reason: string };

/**
 * Operator decisions that nodes cache (an id token's status today). The node that made the change announces it
 * once committed; every node, itself included, drops what it cached. `reliable` says whether every change made
 * anywhere is known to reach this node (false while Redis is down): caches then fall back to a short TTL.
 */
export interface DecisionChannel {
  announce(decision: Decision): void;
  onDecision(listener: (decision: Decision) => void): void;
  /** A listener for "announcements may have been missed" (Redis came back): drop every cached decision. */
  onResync(listener: () => void): void;
  readonly reliable: boolean;
}

export interface StationLocation {
  connected: boolean;
  nodeId: string | undefined;
}

/**
 * Station lookup and command delivery. In-process for a single node; the Redis implementation reaches
 * stations held by other nodes and runs the command there, through the station's own actor.
 */
export interface CommandRouter {
  locate(stationId: string): Promise<StationLocation>;
  /** `deadline` (epoch ms) counts from when the operator asked: queue time behind other calls included. */
  send(stationId: string, action: string, payload: JsonObject, deadline: number, origin: CallOrigin): Promise<CommandOutcome>;
  /** Disconnects the station wherever it is (operator deleted it). */
  disconnect(stationId: string, reason: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Runs a command on a station this process holds. Shared by the local router and the cluster's receiving
 * side. The station's actor is the one timer of the deadline here: it fails the call at its deadline,
 * whether it is in flight or still queued behind others.
 */
export function executeLocally(
  registry: SessionRegistry,
  stationId: string,
  action: string,
  payload: JsonObject,
  deadline: number,
  origin: CallOrigin,
): Promise<CommandOutcome> {
  const session = registry.get(stationId);
  if (session === undefined || session.isClosed) return Promise.resolve({ kind: 'notConnected', reason: `station ${stationId} is not connected` });
  return session.call(action, payload, deadline, origin).then(toResult, toOutcome);
}

function toResult(response: JsonObject): CommandOutcome {
  return { kind: 'result', response };
}

function toOutcome(err: unknown): CommandOutcome {
  if (err instanceof OcppError) return { kind: 'callError', code: err.code, description: err.message, details: err.details };
  if (err instanceof CallTimeoutError) return { kind: 'timeout' };
  if (err instanceof CallRefusedError) return { kind: 'refused', reason: err.message };
  if (err instanceof CallAbortedError) return { kind: 'notConnected', reason: err.message };
  throw err;
}

export class LocalCommandRouter implements CommandRouter, DecisionChannel {
  private readonly listeners: ((decision: Decision) => void)[] = [];
  /** One node: every change goes through this process, so no announcement is ever missed. */
  readonly reliable = true;

  constructor(
    private readonly registry: SessionRegistry,
    private readonly nodeId: string,
  ) {}

  async locate(stationId: string): Promise<StationLocation> {
    const connected = this.registry.get(stationId) !== undefined;
    return { connected, nodeId: connected ? this.nodeId : undefined };
  }

  send(stationId: string, action: string, payload: JsonObject, deadline: number, origin: CallOrigin): Promise<CommandOutcome> {
    return executeLocally(this.registry, stationId, action, payload, deadline, origin);
  }

  async disconnect(stationId: string, reason: string): Promise<void> {
    this.registry.get(stationId)?.close(1000, reason);
  }

  announce(decision: Decision): void {
    for (const listener of this.listeners) listener(decision);
  }

  onDecision(listener: (decision: Decision) => void): void {
    this.listeners.push(listener);
  }

  onResync(): void {}

  async close(): Promise<void> {}
}
