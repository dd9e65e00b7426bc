import type { JsonObject } from '../../json.js';
import type { IdTokenRecord } from '../../store/billing-store.js';
import type { DeviceVariable } from '../../store/store.js';
import { entryKey, type LocalListEntry, type ResolvedEntry } from './local-list-store.js';

/**
 * The pure half of the local list (D01/D02): what the station should hold, what changed since it last
 * accepted a list, and how that travels as SendLocalList messages within the station's limits. No I/O here.
 */

/** `ItemsPerMessage` / `BytesPerMessage` of LocalAuthListCtrlr (1.6: `SendLocalListMaxLength`); undefined = no limit known. */
export interface ListLimits {
  items: number | undefined;
  bytes: number | undefined;
}

export type TokenRef = { idToken: string; type: string };

/** One SendLocalList before it has a version: Full or Differential, entries with idTokenInfo (set) or without (remove). */
export interface ListPart {
  updateType: 'Full' | 'Differential';
  items: { idToken: TokenRef; idTokenInfo?: JsonObject }[];
}

export type OcppListVersion = '2.0.1' | '1.6';

/**
 * Room the OCPP-J frame around the payload takes: `[2,"<messageId up to 36>","SendLocalList",` and `]`.
 * BytesPerMessage counts the whole message, so the payload gets what is left.
 */
const FRAME_OVERHEAD_BYTES = 64;

/** A register entry as the idTokenInfo a station keeps (the same answer the Authorizer gives online). */
export function registerInfo(record: IdTokenRecord | undefined, now: number): JsonObject | undefined {
  if (record === undefined) return undefined;
  const expired = record.expiresAt !== undefined && record.expiresAt.getTime() <= now;
  const info: JsonObject = { status: expired && record.status === 'Accepted' ? 'Expired' : record.status };
  if (record.expiresAt !== undefined && !expired) info.cacheExpiryDateTime = record.expiresAt.toISOString();
  if (record.groupId !== undefined) info.groupIdToken = { idToken: record.groupId, type: 'Central' };
  return info;
}

/**
 * The list as the station should hold it: own idTokenInfo kept, register entries looked up. A register entry
 * whose token is not registered (any more) is left out: there is no status to give it.
 */
export function resolveEntries(entries: readonly LocalListEntry[], register: (token: TokenRef) => JsonObject | undefined): ResolvedEntry[] {
  const resolved: ResolvedEntry[] = [];
  for (const entry of entries) {
    const info = entry.idTokenInfo ?? register(entry.idToken);
    if (info !== undefined) resolved.push({ idToken: entry.idToken, idTokenInfo: info });
  }
  return resolved;
}

/** JSON with object keys sorted: jsonb gives keys back in its own order, so plain JSON text does not compare. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** Whether two idTokenInfos say the same, whatever the order of their keys. */
export function sameInfo(a: JsonObject | undefined, b: JsonObject | undefined): boolean {
  return canonical(a) === canonical(b);
}

/** What turns `installed` into `desired`: entries to set (new or changed) and tokens to remove (D01.FR.16/17). */
export function diffLists(installed: readonly ResolvedEntry[], desired: readonly ResolvedEntry[]): { upsert: ResolvedEntry[]; remove: TokenRef[] } {
  const before = new Map(installed.map((e) => [entryKey(e.idToken), e]));
  const after = new Set(desired.map((e) => entryKey(e.idToken)));
  const upsert = desired.filter((e) => {
    const old = before.get(entryKey(e.idToken));
    return old === undefined || !sameInfo(old.idTokenInfo, e.idTokenInfo);
  });
  const remove = installed.filter((e) => !after.has(entryKey(e.idToken))).map((e) => e.idToken);
  return { upsert, remove };
}

/** The list the station holds after it accepted `part`. */
export function applyPart(installed: readonly ResolvedEntry[], part: ListPart): ResolvedEntry[] {
  const held = new Map(part.updateType === 'Full' ? [] : installed.map((e) => [entryKey(e.idToken), e]));
  for (const item of part.items) {
    if (item.idTokenInfo === undefined) held.delete(entryKey(item.idToken));
    else held.set(entryKey(item.idToken), { idToken: item.idToken, idTokenInfo: item.idTokenInfo });
  }
  return [...held.values()];
}

/** A 2.0.1 status the 1.6 idTagInfo cannot say becomes Invalid (1.6 knows Accepted, Blocked, Expired, Invalid, ConcurrentTx). */
const STATUSES_16: ReadonlySet<string> = new Set(['Accepted', 'Blocked', 'Expired', 'Invalid', 'ConcurrentTx']);

function item16(item: ListPart['items'][number]): JsonObject {
  if (item.idTokenInfo === undefined) return { idTag: item.idToken.idToken };
  const info = item.idTokenInfo as { status: string; cacheExpiryDateTime?: string; groupIdToken?: { idToken: string } };
  const idTagInfo: JsonObject = { status: STATUSES_16.has(info.status) ? info.status : 'Invalid' };
  if (info.cacheExpiryDateTime !== undefined) idTagInfo.expiryDate = info.cacheExpiryDateTime;
  if (info.groupIdToken !== undefined) idTagInfo.parentIdTag = info.groupIdToken.idToken;
  return { idTag: item.idToken.idToken, idTagInfo };
}

function item201(item: ListPart['items'][number]): JsonObject {
  return item.idTokenInfo === undefined ? { idToken: { ...item.idToken } } : { idToken: { ...item.idToken }, idTokenInfo: item.idTokenInfo };
}

/** The SendLocalList payload of one part. An empty part omits the list (TC_D_04: `minItems 1`, so never `[]`). */
export function sendLocalListRequest(ocppVersion: OcppListVersion, part: ListPart, versionNumber: number): JsonObject {
  const list = part.items.map(ocppVersion === '1.6' ? item16 : item201);
  const request: JsonObject = ocppVersion === '1.6' ? { listVersion: versionNumber, updateType: part.updateType } : { versionNumber, updateType: part.updateType };
  if (list.length > 0) request.localAuthorizationList = list;
  return request;
}

export class EntryTooLargeError extends Error {
  constructor(
    readonly idToken: TokenRef,
    bytes: number,
    limit: number,
  ) {
    super(`the entry for ${idToken.type} ${idToken.idToken} takes ${bytes} bytes, more than BytesPerMessage ${limit} allows`);
    this.name = 'EntryTooLargeError';
  }
}

/**
 * Splits entries into SendLocalList parts within the limits (D01.FR.11). A Full that does not fit goes out as a
 * Full with the first part and Differentials with the rest (D01 error handling); an empty change is still one
 * message, which moves the station to the new version (D01.FR.04/05).
 */
export function planParts(
  change: { kind: 'full'; entries: readonly ResolvedEntry[] } | { kind: 'differential'; upsert: readonly ResolvedEntry[]; remove: readonly TokenRef[] },
  limits: ListLimits,
  ocppVersion: OcppListVersion,
): ListPart[] {
  const items: ListPart['items'] = change.kind === 'full' ? [...change.entries] : [...change.remove.map((idToken) => ({ idToken })), ...change.upsert];
  const firstType = change.kind === 'full' ? 'Full' : 'Differential';
  if (items.length === 0) return [{ updateType: firstType, items: [] }];
  const maxItems = limits.items ?? Number.POSITIVE_INFINITY;
  const maxBytes = limits.bytes === undefined ? Number.POSITIVE_INFINITY : limits.bytes - FRAME_OVERHEAD_BYTES;
  const encode = ocppVersion === '1.6' ? item16 : item201;
  const parts: ListPart[] = [];
  let current: ListPart['items'] = [];
  let bytes = 0;
  // Versions have at most 10 digits: sizing with the widest keeps every part within the limit whatever it gets.
  const sizeOfOne = (item: ListPart['items'][number], updateType: 'Full' | 'Differential'): number =>
    Buffer.byteLength(JSON.stringify(sendLocalListRequest(ocppVersion, { updateType, items: [item] }, 2_147_483_647)));
  for (const item of items) {
    const updateType = parts.length === 0 ? firstType : 'Differential';
    const itemBytes = Buffer.byteLength(JSON.stringify(encode(item)));
    if (current.length > 0 && (current.length >= maxItems || bytes + 1 + itemBytes > maxBytes)) {
      parts.push({ updateType, items: current });
      current = [];
    }
    if (current.length === 0) {
      const partType = parts.length === 0 ? firstType : 'Differential';
      bytes = sizeOfOne(item, partType);
      if (bytes > maxBytes) throw new EntryTooLargeError(item.idToken, bytes + FRAME_OVERHEAD_BYTES, limits.bytes ?? 0);
    } else {
      bytes += 1 + itemBytes;
    }
    current.push(item);
  }
  parts.push({ updateType: parts.length === 0 ? firstType : 'Differential', items: current });
  return parts;
}

function positiveInteger(value: string | undefined): number | undefined {
  const n = Number(value);
  return value !== undefined && value !== '' && Number.isInteger(n) && n > 0 ? n : undefined;
}

function actualValue(entry: DeviceVariable): string | undefined {
  return (entry.attributes.find((a) => a.type === 'Actual') ?? entry.attributes[0])?.value;
}

/** The split limits as the station last reported them (a report, GetVariables, or 1.6 GetConfiguration). */
export function limitsFromDeviceModel(deviceModel: readonly DeviceVariable[], ocppVersion: OcppListVersion): ListLimits & { known: boolean } {
  let items: number | undefined;
  let bytes: number | undefined;
  let known = false;
  for (const entry of deviceModel) {
    const component = (entry.component as { name?: string }).name;
    const variable = (entry.variable as { name?: string }).name;
    if (ocppVersion === '1.6') {
      if (component === 'OCPP16' && variable === 'SendLocalListMaxLength') {
        items = positiveInteger(actualValue(entry));
        known = true;
      }
      continue;
    }
    if (component !== 'LocalAuthListCtrlr') continue;
    if (variable === 'ItemsPerMessage') {
      items = positiveInteger(actualValue(entry));
      known = true;
    } else if (variable === 'BytesPerMessage') {
      bytes = positiveInteger(actualValue(entry));
      known = true;
    }
  }
  return { items, bytes, known };
}

/** What the station reported about holding a list at all, and how many entries it holds; undefined = not reported. */
export interface ListCapacity {
  /** LocalAuthListCtrlr.Enabled (1.6: LocalAuthListEnabled). */
  enabled: boolean | undefined;
  /** LocalAuthListCtrlr.Available: the station has the feature (2.0.1 only). */
  available: boolean | undefined;
  /** LocalAuthListCtrlr.Entries maxLimit (1.6: LocalAuthListMaxLength): the most entries the list can hold. */
  maxEntries: number | undefined;
}

function booleanValue(value: string | undefined): boolean | undefined {
  const text = value?.trim().toLowerCase();
  return text === 'true' ? true : text === 'false' ? false : undefined;
}

/**
 * DRV-LAL-09/10: the capacity and the switches exactly as the station reported them (a report, GetVariables, or
 * 1.6 GetConfiguration). A value the station never reported, or one that is not a boolean / positive integer, stays
 * undefined: the CSMS refuses only on what it knows.
 */
export function capacityFromDeviceModel(deviceModel: readonly DeviceVariable[], ocppVersion: OcppListVersion): ListCapacity {
  const capacity: ListCapacity = { enabled: undefined, available: undefined, maxEntries: undefined };
  for (const entry of deviceModel) {
    const component = (entry.component as { name?: string }).name;
    const variable = (entry.variable as { name?: string }).name;
    if (ocppVersion === '1.6') {
      if (component !== 'OCPP16') continue;
      if (variable === 'LocalAuthListEnabled') capacity.enabled = booleanValue(actualValue(entry));
      else if (variable === 'LocalAuthListMaxLength') capacity.maxEntries = positiveInteger(actualValue(entry));
      continue;
    }
    if (component !== 'LocalAuthListCtrlr') continue;
    if (variable === 'Enabled') capacity.enabled = booleanValue(actualValue(entry));
    else if (variable === 'Available') capacity.available = booleanValue(actualValue(entry));
    else if (variable === 'Entries') {
      // The Actual value of Entries is how many the station holds now; its capacity is the maxLimit characteristic.
      const maxLimit = entry.characteristics?.maxLimit;
      capacity.maxEntries = typeof maxLimit === 'number' && Number.isInteger(maxLimit) && maxLimit >= 0 ? maxLimit : undefined;
    }
  }
  return capacity;
}
