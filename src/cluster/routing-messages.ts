import { Ajv, type ValidateFunction } from 'ajv';
import type { CommandOutcome } from './command-router.js';
import type { JsonObject } from '../json.js';

/**
 * What nodes tell each other over Redis pub/sub. Every message names its sender and carries a deadline (epoch
 * ms): a receiver drops a message past its deadline instead of doing work nobody waits for. Messages are JSON,
 * validated against one schema on receipt; anything else on a node's channel is dropped and logged.
 */
export const ROUTING_VERSION = 1;

/** Run `action` on the station this node holds, answer on `replyTo`. */
export interface CommandMessage {
  v: typeof ROUTING_VERSION;
  type: 'command';
  id: string;
  from: string;
  replyTo: string;
  stationId: string;
  action: string;
  payload: JsonObject;
  deadline: number;
  /** `system`: the CSMS's own CALL, audited by the holder (§8.7). Absent: an operator's (and every call of older nodes). */
  origin?: 'system';
}

/** The outcome of a command, back to the node that asked; `executionMs` is the time the owner spent on it. */
export interface ReplyMessage {
  v: typeof ROUTING_VERSION;
  type: 'reply';
  id: string;
  from: string;
  outcome: CommandOutcome;
  executionMs: number;
  deadline: number;
}

/** A newer connection of `stationId` registered elsewhere: close the session `token` names if it is still here. */
export interface TakeoverMessage {
  v: typeof ROUTING_VERSION;
  type: 'takeover';
  from: string;
  stationId: string;
  token: string;
  deadline: number;
}

/** The operator removed the station: close its socket. */
export interface DisconnectMessage {
  v: typeof ROUTING_VERSION;
  type: 'disconnect';
  from: string;
  stationId: string;
  reason: string;
  deadline: number;
}

/** An operator decision that nodes may hold in a cache (CONTRACT §6: it holds on every node within 1 s). */
export type Decision =
  | { kind: 'idToken'; type: string; idToken: string }
  | { kind: 'station'; stationId: string }
  /** The desired local list of `stationId` changed: the node holding the station pushes it (CONTRACT §8.1). */
  | { kind: 'localList'; stationId: string };

/** Broadcast to every node after the change committed: drop what you cached about it. */
export interface DecisionMessage {
  v: typeof ROUTING_VERSION;
  type: 'decision';
  from: string;
  decision: Decision;
  deadline: number;
}

export type RoutingMessage = CommandMessage | ReplyMessage | TakeoverMessage | DisconnectMessage | DecisionMessage;

const text = (maxLength: number): object => ({ type: 'string', minLength: 1, maxLength });
const stationId = text(48);
const nodeId = text(160);
const deadline = { type: 'integer', minimum: 0 };
const common = { v: { const: ROUTING_VERSION }, from: nodeId, deadline };

const outcomeSchema = {
  oneOf: [
    {
      type: 'object',
      required: ['kind', 'response'],
      additionalProperties: false,
      properties: { kind: { const: 'result' }, response: { type: 'object' } },
    },
    {
      type: 'object',
      required: ['kind', 'code', 'description', 'details'],
      additionalProperties: false,
      properties: { kind: { const: 'callError' }, code: text(64), description: { type: 'string', maxLength: 1024 }, details: { type: 'object' } },
    },
    { type: 'object', required: ['kind'], additionalProperties: false, properties: { kind: { const: 'timeout' } } },
    ...(['notConnected', 'refused', 'unavailable'] as const).map((kind) => ({
      type: 'object',
      required: ['kind', 'reason'],
      additionalProperties: false,
      properties: { kind: { const: kind }, reason: { type: 'string', maxLength: 1024 } },
    })),
  ],
};

const messageSchema = {
  type: 'object',
  required: ['type'],
  properties: { type: { enum: ['command', 'reply', 'takeover', 'disconnect', 'decision'] } },
  discriminator: { propertyName: 'type' },
  oneOf: [
    {
      type: 'object',
      required: ['v', 'type', 'id', 'from', 'replyTo', 'stationId', 'action', 'payload', 'deadline'],
      additionalProperties: false,
      properties: {
        ...common,
        type: { const: 'command' },
        id: text(64),
        replyTo: text(512),
        stationId,
        action: text(64),
        payload: { type: 'object' },
        origin: { const: 'system' },
      },
    },
    {
      type: 'object',
      required: ['v', 'type', 'id', 'from', 'outcome', 'executionMs', 'deadline'],
      additionalProperties: false,
      properties: { ...common, type: { const: 'reply' }, id: text(64), outcome: outcomeSchema, executionMs: { type: 'number', minimum: 0 } },
    },
    {
      type: 'object',
      required: ['v', 'type', 'from', 'stationId', 'token', 'deadline'],
      additionalProperties: false,
      properties: { ...common, type: { const: 'takeover' }, stationId, token: text(256) },
    },
    {
      type: 'object',
      required: ['v', 'type', 'from', 'stationId', 'reason', 'deadline'],
      additionalProperties: false,
      properties: { ...common, type: { const: 'disconnect' }, stationId, reason: { type: 'string', maxLength: 123 } },
    },
    {
      type: 'object',
      required: ['v', 'type', 'from', 'decision', 'deadline'],
      additionalProperties: false,
      properties: {
        ...common,
        type: { const: 'decision' },
        decision: {
          oneOf: [
            {
              type: 'object',
              required: ['kind', 'type', 'idToken'],
              additionalProperties: false,
              properties: { kind: { const: 'idToken' }, type: text(32), idToken: { type: 'string', maxLength: 255 } },
            },
            { type: 'object', required: ['kind', 'stationId'], additionalProperties: false, properties: { kind: { const: 'station' }, stationId } },
            { type: 'object', required: ['kind', 'stationId'], additionalProperties: false, properties: { kind: { const: 'localList' }, stationId } },
          ],
        },
      },
    },
  ],
};

export type ParsedMessage = { ok: true; message: RoutingMessage } | { ok: false; reason: string };

/** Routing messages larger than this are refused unread (an OCPP frame is at most CSMS_MAX_PAYLOAD_BYTES anyway). */
export const MAX_ROUTING_MESSAGE_BYTES = 32 * 1024 * 1024;

export class RoutingMessageCodec {
  private readonly validate: ValidateFunction<RoutingMessage>;

  constructor() {
    const ajv = new Ajv({ discriminator: true, strict: true, allErrors: false });
    this.validate = ajv.compile<RoutingMessage>(messageSchema);
  }

  encode(message: RoutingMessage): string {
    return JSON.stringify(message);
  }

  /** Never throws: a malformed or forged message comes back as `{ok:false, reason}`. */
  decode(raw: string): ParsedMessage {
    if (raw.length > MAX_ROUTING_MESSAGE_BYTES) return { ok: false, reason: `message of ${raw.length} bytes is too large` };
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      return { ok: false, reason: 'not JSON' };
    }
    if (!this.validate(value)) {
      const error = this.validate.errors?.[0];
      return { ok: false, reason: `schema: ${error?.instancePath || '/'} ${error?.message ?? 'invalid'}` };
    }
    return { ok: true, message: value };
  }
}
