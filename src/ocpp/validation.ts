import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { OcppError, errorCodeForSchemaKeyword } from './errors.js';

const require = createRequire(import.meta.url);
// ajv-formats is CommonJS: under NodeNext its default import is the whole module object.
const addFormats = addFormatsModule.default;

export type Direction = 'Request' | 'Response';

export interface SchemaViolation {
  path: string;
  keyword: string;
  message: string;
}

/** Which files of a schema directory belong to the version being loaded. */
export interface SchemaSelection {
  accept(schema: { $id?: string; $comment?: string }): boolean;
  /** For the start-up error: "OCPP 2.0.1 FINAL". */
  name: string;
  /** The message a file holds (`BootNotificationRequest`); by default the file name without `.json`. */
  messageName?(file: string): string;
}

function newAjv(allErrors: boolean): Ajv {
  const ajv = new Ajv({ allErrors, strict: true, strictTypes: false, strictRequired: false, validateSchema: false });
  ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-06.json') as object);
  // OCA's generator annotates every type with its Java class name; it is not a validation keyword.
  ajv.addKeyword({ keyword: 'javaType', schemaType: 'string' });
  addFormats(ajv, ['date-time', 'uri']);
  return ajv;
}

function describe(error: ErrorObject): SchemaViolation {
  const path = error.instancePath === '' ? '/' : error.instancePath;
  let message = error.message ?? 'invalid';
  if (error.keyword === 'additionalProperties' && 'additionalProperty' in error.params) {
    message = `unknown property "${String(error.params.additionalProperty)}"`;
  } else if (error.keyword === 'enum' && 'allowedValues' in error.params) {
    message = `must be one of ${(error.params.allowedValues as unknown[]).join(', ')}`;
  }
  return { path, keyword: error.keyword, message };
}

/**
 * Validators for every action of one OCPP version in both directions, compiled once at start-up (≈ 0.6 s
 * for the 128 of 2.0.1). The
 * fast validators stop at the first error, which is all a CALLERROR can carry; the operator API, which
 * lists every violation, compiles its own all-errors validators lazily.
 */
export class OcppSchemas {
  private readonly fast = new Map<string, ValidateFunction>();
  private readonly schemas = new Map<string, object>();
  private thorough: Ajv | undefined;
  private readonly thoroughCache = new Map<string, ValidateFunction>();

  constructor(schemaDir: string, selection: SchemaSelection) {
    const ajv = newAjv(false);
    for (const file of readdirSync(schemaDir)
      .filter((f) => f.endsWith('.json'))
      .sort()) {
      const schema = JSON.parse(readFileSync(join(schemaDir, file), 'utf8')) as { $id?: string; $comment?: string };
      const name = selection.messageName?.(file) ?? file.slice(0, -'.json'.length);
      if (!selection.accept(schema)) throw new Error(`${file} is not an official ${selection.name} schema`);
      this.schemas.set(name, schema);
      this.fast.set(name, ajv.compile(schema));
    }
  }

  get size(): number {
    return this.fast.size;
  }

  /** The top-level property names a payload may carry (to fill in ids the operator left out). */
  properties(action: string, direction: Direction): string[] {
    const schema = this.schemas.get(action + direction) as { properties?: Record<string, unknown> } | undefined;
    return Object.keys(schema?.properties ?? {});
  }

  /** Undefined when valid; otherwise the CALLERROR to answer with. */
  check(action: string, direction: Direction, payload: unknown): OcppError | undefined {
    const validate = this.fast.get(action + direction);
    if (validate === undefined) return new OcppError('NotImplemented', `no schema for ${action}${direction}`);
    if (validate(payload)) return undefined;
    const first = validate.errors?.[0];
    if (first === undefined) return new OcppError('FormatViolation', `${action}${direction} is invalid`);
    const violation = describe(first);
    return new OcppError(errorCodeForSchemaKeyword(first.keyword), `${action}${direction} ${violation.path}: ${violation.message}`, {
      path: violation.path,
      keyword: violation.keyword,
    });
  }

  /** Every violation, for the operator API's 400 answer. Empty when valid. */
  violations(action: string, direction: Direction, payload: unknown): SchemaViolation[] {
    const name = action + direction;
    let validate = this.thoroughCache.get(name);
    if (validate === undefined) {
      const schema = this.schemas.get(name);
      if (schema === undefined) return [{ path: '/', keyword: 'action', message: `unknown action ${action}` }];
      this.thorough ??= newAjv(true);
      validate = this.thorough.compile(schema);
      this.thoroughCache.set(name, validate);
    }
    if (validate(payload)) return [];
    return (validate.errors ?? []).map(describe);
  }
}
