import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { ApiSchemas } from './generated/api-types.js';
import { ApiError } from './http.js';

const addFormats = addFormatsModule.default;

/** The operator API's own JSON Schemas (schemas/api.schema.json): one source for validation and OpenAPI. */
export function loadApiSchema(): { definitions: Record<string, object> } {
  for (const relative of ['../../../schemas/api.schema.json', '../../schemas/api.schema.json']) {
    try {
      return JSON.parse(readFileSync(fileURLToPath(new URL(relative, import.meta.url)), 'utf8')) as { definitions: Record<string, object> };
    } catch {
      /* compiled (dist/src/api) or source (src/api) layout: try the other */
    }
  }
  throw new Error('schemas/api.schema.json not found');
}

/** Validates request bodies against the API schemas; the router runs it before a handler sees the body. */
export class ApiValidator {
  private readonly validators = new Map<string, ValidateFunction>();

  constructor() {
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats(ajv, ['date-time']);
    const schema = loadApiSchema();
    ajv.addSchema(schema, 'api');
    for (const name of Object.keys(schema.definitions)) {
      this.validators.set(name, ajv.getSchema(`api#/definitions/${name}`) as ValidateFunction);
    }
  }

  has(definition: string): boolean {
    return this.validators.has(definition);
  }

  /** Returns the body typed by the generated schema type, or throws a 400 listing every violation. */
  check<N extends keyof ApiSchemas>(definition: N, body: unknown): ApiSchemas[N] {
    const validate = this.validators.get(definition);
    if (validate === undefined) throw new Error(`no API schema ${definition}`);
    // The schema the type was generated from has just accepted the value.
    if (validate(body)) return body as ApiSchemas[N];
    const details = (validate.errors ?? []).map((e) => ({
      path: e.instancePath === '' ? '/' : e.instancePath,
      message: e.keyword === 'additionalProperties' ? `unknown property "${(e.params as { additionalProperty: string }).additionalProperty}"` : (e.message ?? 'invalid'),
    }));
    throw new ApiError(400, 'invalid_body', `request body does not match ${definition}`, details);
  }
}
