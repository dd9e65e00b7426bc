import type { JsonObject } from '../json.js';

/** OCPP-J RPC error codes (Part 4, Table 8) and the one error type that carries them. */

export const OCPP_ERROR_CODES = [
  'FormatViolation',
  'GenericError',
  'InternalError',
  'MessageTypeNotSupported',
  'NotImplemented',
  'NotSupported',
  'OccurrenceConstraintViolation',
  'PropertyConstraintViolation',
  'ProtocolError',
  'RpcFrameworkError',
  'SecurityError',
  'TypeConstraintViolation',
] as const;

export type OcppErrorCode = (typeof OCPP_ERROR_CODES)[number];

const KNOWN_CODES: ReadonlySet<string> = new Set(OCPP_ERROR_CODES);

export function isOcppErrorCode(code: unknown): code is OcppErrorCode {
  return typeof code === 'string' && KNOWN_CODES.has(code);
}

/** Part 4 caps errorDescription at 255 characters. */
export const MAX_ERROR_DESCRIPTION = 255;

export type ErrorDetails = JsonObject;

/**
 * An error that becomes a CALLERROR when it crosses the wire. Handlers throw it; the session turns it
 * into `[4, id, code, description, details]`. When a station answers us with a CALLERROR, the caller
 * receives the same type.
 */
export class OcppError extends Error {
  constructor(
    readonly code: OcppErrorCode,
    description: string,
    readonly details: ErrorDetails = {},
  ) {
    super(description.length > MAX_ERROR_DESCRIPTION ? description.slice(0, MAX_ERROR_DESCRIPTION) : description);
    this.name = 'OcppError';
  }
}

/** Raised when no answer came within the CALL timeout. */
export class CallTimeoutError extends Error {
  constructor(
    readonly action: string,
    readonly timeoutMs: number,
  ) {
    super(`no answer to ${action} within ${timeoutMs} ms`);
    this.name = 'CallTimeoutError';
  }
}

/** Raised when a queued or in-flight call can no longer be delivered (socket closed, station replaced). */
export class CallAbortedError extends Error {
  constructor(
    readonly action: string,
    reason: string,
  ) {
    super(`${action} aborted: ${reason}`);
    this.name = 'CallAbortedError';
  }
}

/**
 * One place that maps a JSON-schema failure keyword to the OCPP error code (the ocpp-rpc convention).
 * A missing required field is an occurrence problem; a value of the wrong JSON type is a type problem;
 * a value of the right type outside its allowed set or length is a property/format problem.
 */
const KEYWORD_TO_CODE: Readonly<Record<string, OcppErrorCode>> = {
  type: 'TypeConstraintViolation',
  required: 'OccurrenceConstraintViolation',
  minItems: 'OccurrenceConstraintViolation',
  maxItems: 'OccurrenceConstraintViolation',
  dependencies: 'OccurrenceConstraintViolation',
  additionalProperties: 'PropertyConstraintViolation',
  enum: 'PropertyConstraintViolation',
  const: 'PropertyConstraintViolation',
  pattern: 'PropertyConstraintViolation',
  format: 'FormatViolation',
  maxLength: 'FormatViolation',
  minLength: 'FormatViolation',
  maximum: 'FormatViolation',
  minimum: 'FormatViolation',
  exclusiveMaximum: 'FormatViolation',
  exclusiveMinimum: 'FormatViolation',
  multipleOf: 'FormatViolation',
};

export function errorCodeForSchemaKeyword(keyword: string): OcppErrorCode {
  return KEYWORD_TO_CODE[keyword] ?? 'FormatViolation';
}

/** The CSMS may not send this call in the station's current state (boot status, not connected). */
export class CallRefusedError extends Error {
  constructor(
    readonly action: string,
    reason: string,
  ) {
    super(`${action} refused: ${reason}`);
    this.name = 'CallRefusedError';
  }
}
