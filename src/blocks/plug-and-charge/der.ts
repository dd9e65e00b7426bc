/**
 * The little DER (ITU-T X.690) that OCSP needs: read a tag-length-value tree, write a few universal types. Kept
 * small on purpose; certificates themselves are parsed by node:crypto.
 */

export interface DerNode {
  /** The identifier octet (class, constructed bit and tag number < 31; OCSP uses no high tag numbers). */
  tag: number;
  /** Where this node's content starts and ends in `bytes`. */
  start: number;
  end: number;
  /** The whole encoding of this node, header included. */
  raw: Buffer;
  bytes: Buffer;
}

export class DerError extends Error {}

export const TAG = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  SEQUENCE: 0x30,
  GENERALIZED_TIME: 0x18,
} as const;

/** The context-specific tag [n], constructed or not. */
export function contextTag(n: number, constructed: boolean): number {
  return 0x80 | (constructed ? 0x20 : 0) | n;
}

/** Reads one node at `offset` of `bytes`; throws DerError on anything malformed or running past `limit`. */
export function readNode(bytes: Buffer, offset = 0, limit = bytes.length): DerNode {
  if (offset + 2 > limit) throw new DerError('truncated DER header');
  const tag = bytes[offset] as number;
  if ((tag & 0x1f) === 0x1f) throw new DerError('high tag numbers are not used here');
  let length = bytes[offset + 1] as number;
  let start = offset + 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    if (octets === 0 || octets > 4) throw new DerError('unsupported DER length');
    if (start + octets > limit) throw new DerError('truncated DER length');
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + (bytes[start + i] as number);
    start += octets;
  }
  const end = start + length;
  if (end > limit) throw new DerError('DER value runs past its container');
  return { tag, start, end, raw: bytes.subarray(offset, end), bytes };
}

/** A constructed node's children, in order. */
export function childrenOf(node: DerNode): DerNode[] {
  if ((node.tag & 0x20) === 0) throw new DerError('not a constructed value');
  const out: DerNode[] = [];
  let at = node.start;
  while (at < node.end) {
    const child = readNode(node.bytes, at, node.end);
    out.push(child);
    at = child.end;
  }
  return out;
}

/** Parses a whole buffer as exactly one node. */
export function parseDer(bytes: Buffer): DerNode {
  const node = readNode(bytes, 0);
  if (node.end !== bytes.length) throw new DerError('trailing bytes after the DER value');
  return node;
}

export function contentOf(node: DerNode): Buffer {
  return node.bytes.subarray(node.start, node.end);
}

export function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (node === undefined || node.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}`);
  return node;
}

export function decodeOid(node: DerNode): string {
  const content = contentOf(expectTag(node, TAG.OID, 'object identifier'));
  const parts: number[] = [];
  let value = 0;
  for (const byte of content) {
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      if (parts.length === 0) parts.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else parts.push(value);
      value = 0;
    }
  }
  return parts.join('.');
}

/** GeneralizedTime (RFC 5280 form YYYYMMDDHHMMSS[.fff]Z) → epoch ms. */
export function decodeGeneralizedTime(node: DerNode): number {
  const text = contentOf(expectTag(node, TAG.GENERALIZED_TIME, 'GeneralizedTime')).toString('latin1');
  const match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\.\d+)?Z$/.exec(text);
  if (match === null) throw new DerError(`unreadable GeneralizedTime ${JSON.stringify(text)}`);
  const [, y, mo, d, h, mi, s, fraction] = match;
  return Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), fraction === undefined ? 0 : Math.round(Number(fraction) * 1000));
}

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const octets: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest % 256);
  return Buffer.from([0x80 | octets.length, ...octets]);
}

export function encode(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content]);
}

export function sequence(...items: Buffer[]): Buffer {
  return encode(TAG.SEQUENCE, Buffer.concat(items));
}

export function octetString(content: Buffer): Buffer {
  return encode(TAG.OCTET_STRING, content);
}

export const DER_NULL = Buffer.from([TAG.NULL, 0]);

/** A non-negative INTEGER from its big-endian magnitude (a leading 0x00 keeps it positive, none more). */
export function unsignedInteger(magnitude: Buffer): Buffer {
  let first = 0;
  while (first < magnitude.length - 1 && magnitude[first] === 0) first++;
  const trimmed = magnitude.subarray(first);
  const content = trimmed.length === 0 ? Buffer.from([0]) : (trimmed[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
  return encode(TAG.INTEGER, content);
}

export function objectIdentifier(oid: string): Buffer {
  const parts = oid.split('.').map(Number);
  const [first = 0, second = 0, ...rest] = parts;
  const bytes: number[] = [];
  for (const value of [first * 40 + second, ...rest]) {
    const chunk: number[] = [value & 0x7f];
    for (let v = Math.floor(value / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return encode(TAG.OID, Buffer.from(bytes));
}
