/**
 * The one JSON type: OCPP payloads, store columns and API bodies are all JSON. Generated payload types are
 * interfaces (no index signature), so a schema-valid payload is viewed as JSON with `asJson`, which is a
 * view change, not a conversion.
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function asJson(value: object): JsonObject {
  return value as JsonObject;
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
