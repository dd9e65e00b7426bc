import { MAX_ERROR_DESCRIPTION, OcppError, type ErrorDetails, type OcppErrorCode } from './errors.js';
import { isJsonObject, type JsonObject } from '../json.js';

/** Part 4 §4.1.4: messageId is a string of at most 36 characters. */
export const MAX_MESSAGE_ID = 36;

export interface CallFrame {
  type: 2;
  messageId: string;
  action: string;
  payload: JsonObject;
}

export interface CallResultFrame {
  type: 3;
  messageId: string;
  payload: JsonObject;
}

export interface CallErrorFrame {
  type: 4;
  messageId: string;
  code: string;
  description: string;
  details: JsonObject;
}

export type Frame = CallFrame | CallResultFrame | CallErrorFrame;

/**
 * A frame we could not accept. `messageId` is what we could read of it ("-1" when unreadable), so the
 * CALLERROR can still be correlated by the sender where possible. `reply` is false for broken
 * CALLRESULT/CALLERROR frames: answering an answer would start a ping-pong of errors.
 */
export class FrameError extends OcppError {
  constructor(
    code: OcppErrorCode,
    description: string,
    readonly messageId: string,
    readonly reply: boolean,
  ) {
    super(code, description);
  }
}

/**
 * Parses one WebSocket text message into a frame. Never throws anything but FrameError, and never echoes
 * the raw input into the error (a station's garbage must not become our output).
 */
export function parseFrame(text: string): Frame {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    throw new FrameError('RpcFrameworkError', 'message is not valid JSON', '-1', true);
  }
  if (!Array.isArray(message) || message.length < 3) {
    throw new FrameError('RpcFrameworkError', 'message is not an OCPP-J array', '-1', true);
  }
  const [type, messageId] = message as [unknown, unknown];
  const idReadable = typeof messageId === 'string' && messageId.length > 0 && messageId.length <= MAX_MESSAGE_ID;
  const replyId = idReadable ? messageId : '-1';

  if (type !== 2 && type !== 3 && type !== 4) {
    // Part 4 §4.4: an unknown message type number is answered, its payload ignored.
    throw new FrameError('MessageTypeNotSupported', `message type ${JSON.stringify(type).slice(0, 20)} is not supported`, replyId, true);
  }
  if (!idReadable) {
    const why = typeof messageId === 'string' && messageId.length > MAX_MESSAGE_ID ? `longer than ${MAX_MESSAGE_ID} characters` : 'not a non-empty string';
    throw new FrameError('RpcFrameworkError', `messageId is ${why}`, '-1', type === 2);
  }

  if (type === 2) {
    const [, , action, payload] = message as [unknown, unknown, unknown, unknown];
    if (message.length !== 4) throw new FrameError('RpcFrameworkError', 'a CALL has exactly 4 elements', messageId, true);
    if (typeof action !== 'string' || action.length === 0) throw new FrameError('RpcFrameworkError', 'action is not a string', messageId, true);
    if (!isJsonObject(payload)) throw new FrameError('FormatViolation', 'payload is not a JSON object', messageId, true);
    return { type: 2, messageId, action, payload };
  }
  if (type === 3) {
    const payload = message[2] as unknown;
    if (message.length !== 3 || !isJsonObject(payload)) throw new FrameError('FormatViolation', 'malformed CALLRESULT', messageId, false);
    return { type: 3, messageId, payload };
  }
  const [, , code, description, details] = message as [unknown, unknown, unknown, unknown, unknown];
  if (typeof code !== 'string' || typeof description !== 'string') {
    throw new FrameError('FormatViolation', 'malformed CALLERROR', messageId, false);
  }
  return { type: 4, messageId, code, description, details: isJsonObject(details) ? details : {} };
}

export function serializeCall(messageId: string, action: string, payload: object): string {
  return `[2,${JSON.stringify(messageId)},${JSON.stringify(action)},${JSON.stringify(payload)}]`;
}

export function serializeCallResult(messageId: string, payload: JsonObject): string {
  return `[3,${JSON.stringify(messageId)},${JSON.stringify(payload)}]`;
}

export function serializeCallError(messageId: string, code: string, description: string, details: ErrorDetails = {}): string {
  const text = description.length > MAX_ERROR_DESCRIPTION ? description.slice(0, MAX_ERROR_DESCRIPTION) : description;
  return JSON.stringify([4, messageId, code, text, details]);
}
