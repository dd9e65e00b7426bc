import { ApiError } from './http.js';

/**
 * Opaque paging cursors: base64url of a JSON array of strings. Opaque so clients never build one; checked on the way
 * back, so a forged or truncated one is a 400, not a query error.
 */
export function encodeCursor(parts: readonly string[]): string {
  return Buffer.from(JSON.stringify(parts), 'utf8').toString('base64url');
}

export function decodeCursor(raw: string | null, arity: number): string[] | undefined {
  if (raw === null) return undefined;
  let parts: unknown;
  try {
    parts = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    parts = undefined;
  }
  if (!Array.isArray(parts) || parts.length !== arity || !parts.every((p): p is string => typeof p === 'string')) {
    throw new ApiError(400, 'invalid_cursor', 'cursor must be a value a previous page returned as "next"');
  }
  return parts;
}
