import { createHash } from 'node:crypto';
import { json } from './sql.js';

/** The value with object keys in sorted order, so that two serializations of one message compare equal. */
function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (typeof value !== 'object' || value === null || value instanceof Date) return value;
  return Object.fromEntries(
    Object.entries(value)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, inner]) => [key, sortedKeys(inner)]),
  );
}

/**
 * sha256 (hex) of a message's content as it is stored (`json()`, so U+0000 is already replaced), whatever
 * the key order: the natural key of a record that has no id of its own, so that a resend is stored once.
 */
export function contentHash(value: unknown): string {
  return createHash('sha256')
    .update(json(sortedKeys(value)))
    .digest('hex');
}
