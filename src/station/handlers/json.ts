import type { JsonObject } from '../../store/store.js';

/**
 * Payload types generated from the schemas are interfaces; the store keeps them as JSON. A schema-valid
 * payload is JSON by construction, so this is a view change, not a conversion.
 */
export function asJson(value: object): JsonObject {
  return value as JsonObject;
}
