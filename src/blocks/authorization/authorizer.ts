import type { Clock } from '../../clock.js';
import type { IdTokenInfoType, IdTokenType } from '../../ocpp/v201/types.js';
import type { BillingStore, IdTokenRecord } from '../../store/billing-store.js';
import type { Store } from '../../store/store.js';
import type { ContractRevocationStore } from '../../store/contract-revocations-sql.js';

/** Hex UIDs are the same card whatever their case (DRV-AUTH-01/02). */
const HEX_UID_TYPES: ReadonlySet<string> = new Set(['ISO14443', 'ISO15693']);

export function normalizeIdToken(type: string, idToken: string): string {
  return HEX_UID_TYPES.has(type) ? idToken.toUpperCase() : idToken;
}

/** ISO 15118-2 / DIN SPEC 91286: an eMAID is written with or without its '-' separators, in any case. */
export function eMaidKey(value: string): string {
  return value.replace(/-/g, '').toUpperCase();
}

function cacheKey(type: string, idToken: string): string {
  return `${type}\u0000${normalizeIdToken(type, idToken)}`;
}

/** A 1.6 idTag has no type: it is cached by its value, case-insensitively (CONTRACT §3.1). */
function idTagCacheKey(idTag: string): string {
  return `\u0001${idTag.toUpperCase()}`;
}

/** The type under which a remote-start grant for a 1.6 idTag is kept (the value upper-cased, as it is matched). */
export const ID_TAG_GRANT_TYPE = 'IdTag';

interface CachedToken {
  /** undefined: the token is not registered (cached too, so unknown cards do not hammer the database). */
  record: IdTokenRecord | undefined;
  loadedAt: number;
}

/**
 * How long a cached decision is trusted while changes made elsewhere might not reach this node (Redis down).
 * Otherwise every change is announced to every node (CONTRACT §6: within 1 s) and an entry lives until it is
 * invalidated, or TRUSTED_CACHE_MAX_AGE_MS at most.
 */
export const TOKEN_CACHE_TTL_MS = 30_000;
export const TRUSTED_CACHE_MAX_AGE_MS = 10 * 60_000;

/** Above this the cache is dropped and refilled on demand: a bound, not an eviction policy. */
const MAX_CACHED_TOKENS = 200_000;
/**
 * How long a remote-start grant whose transaction has not started (nor was named by the answer) is honoured:
 * a station that accepted the request but never starts (no EV plugged in within its EVConnectionTimeOut)
 * must not keep the token for ever. Once a transaction is linked, the grant lasts until that transaction ends.
 */
export const UNBOUND_REMOTE_START_GRANT_MS = 15 * 60_000;

/**
 * Decides idTokenInfo for Authorize and for every TransactionEvent that carries a token (E02.FR.04: the
 * CSMS re-verifies, so a Blocked card is Blocked even if the station let it start locally).
 *
 * Decisions come from memory once warm: Authorize does not wait on the database. A change through any
 * node's API is announced to every node, which invalidates its entry; while announcements might be missed
 * (Redis down) entries expire after TOKEN_CACHE_TTL_MS.
 */
export class Authorizer {
  private readonly cache = new Map<string, CachedToken>();
  /** Bumped by every invalidation: a read that started before one must not be cached after it. */
  private generation = 0;

  constructor(
    private readonly store: Pick<BillingStore, 'getIdToken' | 'findIdTokenByValue'> & Pick<Store, 'hasRemoteStartGrant'>,
    private readonly clock: Clock,
    private readonly masterPassGroup: string | undefined,
    /** Whether every change to a token is known to be announced to this node (see DecisionChannel). */
    private readonly changesReachUs: () => boolean = () => false,
    /** Plug & Charge: eMAIDs whose contract certificate was found revoked (C07.FR.16); absent without the block. */
    private readonly contractRevocations?: Pick<ContractRevocationStore, 'find'>,
  ) {}

  /**
   * The decision for `token` presented at `stationId`. Synchronous when the decision is warm and the token is
   * registered, so the hot path allocates no promise; an unregistered token costs one indexed read of the
   * station's remote-start grants (never cached: a grant holds on every node from the moment it is made).
   */
  authorize(token: IdTokenType, stationId: string): IdTokenInfoType | Promise<IdTokenInfoType> {
    const decided = this.authorizeByRegister(token, stationId);
    if (token.type !== 'eMAID' || this.contractRevocations === undefined) return decided;
    return this.unlessRevoked(this.contractRevocations, token, decided);
  }

  /**
   * C07.FR.16 and the derived half of TC_C_51: once a responder called the contract certificate of an eMAID
   * revoked, a TransactionEvent (or a plain Authorize) with that token is Invalid, whatever the register says.
   * Read from the store every time (not cached): the revocation may have been found on another node a moment ago.
   */
  private async unlessRevoked(
    revocations: Pick<ContractRevocationStore, 'find'>,
    token: IdTokenType,
    decided: IdTokenInfoType | Promise<IdTokenInfoType>,
  ): Promise<IdTokenInfoType> {
    const [info, revoked] = await Promise.all([decided, revocations.find(eMaidKey(token.idToken))]);
    return revoked === undefined ? info : { status: 'Invalid' };
  }

  private authorizeByRegister(token: IdTokenType, stationId: string): IdTokenInfoType | Promise<IdTokenInfoType> {
    const fixed = this.decideWithoutRecord(token);
    if (fixed !== undefined) return fixed;
    const key = cacheKey(token.type, token.idToken);
    const cached = this.cache.get(key);
    const now = this.clock.now();
    const maxAge = this.changesReachUs() ? TRUSTED_CACHE_MAX_AGE_MS : TOKEN_CACHE_TTL_MS;
    if (cached !== undefined && now - cached.loadedAt < maxAge) return this.decideAt(stationId, token, cached.record);
    const generation = this.generation;
    return this.store.getIdToken(token.type, normalizeIdToken(token.type, token.idToken)).then((record) => {
      if (this.cache.size >= MAX_CACHED_TOKENS) this.cache.clear();
      if (generation === this.generation) this.cache.set(key, { record, loadedAt: now });
      return this.decideAt(stationId, token, record);
    });
  }

  /**
   * The decision for a 1.6 idTag presented at `stationId` (CONTRACT §3.1): the registered token of that value,
   * case-insensitively and whatever its type, decides as a 2.0.1 token of that type would. The answer is in the
   * domain's (2.0.1) shape; the 1.6 side maps it to idTagInfo.
   */
  authorizeIdTag(idTag: string, stationId: string): IdTokenInfoType | Promise<IdTokenInfoType> {
    const key = idTagCacheKey(idTag);
    const cached = this.cache.get(key);
    const now = this.clock.now();
    const maxAge = this.changesReachUs() ? TRUSTED_CACHE_MAX_AGE_MS : TOKEN_CACHE_TTL_MS;
    if (cached !== undefined && now - cached.loadedAt < maxAge) return this.decideIdTag(stationId, idTag, cached.record);
    const generation = this.generation;
    return this.store.findIdTokenByValue(idTag).then((record) => {
      if (this.cache.size >= MAX_CACHED_TOKENS) this.cache.clear();
      if (generation === this.generation) this.cache.set(key, { record, loadedAt: now });
      return this.decideIdTag(stationId, idTag, record);
    });
  }

  private decideIdTag(stationId: string, idTag: string, record: IdTokenRecord | undefined): IdTokenInfoType | Promise<IdTokenInfoType> {
    if (record !== undefined) return this.decide(record, record);
    const unboundSince = new Date(this.clock.now() - UNBOUND_REMOTE_START_GRANT_MS);
    return this.store
      .hasRemoteStartGrant(stationId, ID_TAG_GRANT_TYPE, idTag.toUpperCase(), unboundSince)
      .then((granted): IdTokenInfoType => (granted ? { status: 'Accepted' } : { status: 'Unknown' }));
  }

  invalidate(type: string, idToken: string): void {
    this.generation++;
    this.cache.delete(cacheKey(type, idToken));
    // The same value may answer a 1.6 idTag, whatever the type that changed.
    this.cache.delete(idTagCacheKey(idToken));
  }

  /** Announcements may have been missed: nothing cached can be trusted. */
  invalidateAll(): void {
    this.generation++;
    this.cache.clear();
  }

  /**
   * CONTRACT §3.2 "Remote-start tokens": an unregistered token the CSMS sent to this station in
   * RequestStartTransaction is Accepted there (C-38) while its grant lasts, and nowhere else. Matched by
   * type and value (hex UIDs case-insensitively, like registered tokens).
   */
  private decideAt(stationId: string, token: IdTokenType, record: IdTokenRecord | undefined): IdTokenInfoType | Promise<IdTokenInfoType> {
    // A Local id needs no grant: unregistered, the station's own decision stands (see decide).
    if (record !== undefined || token.type === 'Local') return this.decide(token, record);
    const unboundSince = new Date(this.clock.now() - UNBOUND_REMOTE_START_GRANT_MS);
    return this.store
      .hasRemoteStartGrant(stationId, token.type, normalizeIdToken(token.type, token.idToken), unboundSince)
      .then((granted): IdTokenInfoType => (granted ? { status: 'Accepted' } : this.decide(token, undefined)));
  }

  private decideWithoutRecord(token: IdTokenType): IdTokenInfoType | undefined {
    // C-35/C-39: no authorization at all; the station sends an empty idToken and no Authorize.
    if (token.type === 'NoAuthorization') return { status: 'Accepted' };
    return undefined;
  }

  private decide(token: { type: string }, record: IdTokenRecord | undefined): IdTokenInfoType {
    if (record === undefined) {
      // C-33: a Local id is generated by the station itself; unless the operator registered it
      // (e.g. as Blocked), the station's own decision stands.
      if (token.type === 'Local') return { status: 'Accepted' };
      return { status: 'Unknown' };
    }
    const expired = record.expiresAt !== undefined && record.expiresAt.getTime() <= this.clock.now();
    const info: IdTokenInfoType = { status: expired && record.status === 'Accepted' ? 'Expired' : record.status };
    if (record.expiresAt !== undefined && !expired) info.cacheExpiryDateTime = record.expiresAt.toISOString();
    if (record.groupId !== undefined) {
      // C09 group authorization and C16 master pass: both answer with the group as groupIdToken.
      info.groupIdToken = { idToken: record.groupId, type: 'Central' };
    }
    return info;
  }

  /** C16: a token of the master-pass group may stop any transaction. */
  isMasterPass(info: IdTokenInfoType): boolean {
    return this.masterPassGroup !== undefined && info.status === 'Accepted' && info.groupIdToken?.idToken === this.masterPassGroup;
  }
}
