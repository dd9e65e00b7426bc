import { describe, expect, it } from 'vitest';
import type { Clock } from '../../src/clock.js';
import { Authorizer, TOKEN_CACHE_TTL_MS } from '../../src/blocks/authorization/authorizer.js';
import type { BillingStore, IdTokenRecord } from '../../src/store/billing-store.js';
import type { Store } from '../../src/store/store.js';

type AuthorizerStore = BillingStore & Pick<Store, 'hasRemoteStartGrant'>;

/** Only what the authorizer reads: one id-token table in memory, counting its reads. */
function tokenTable(): { store: AuthorizerStore; tokens: Map<string, IdTokenRecord>; reads: () => number } {
  const tokens = new Map<string, IdTokenRecord>();
  let reads = 0;
  const store = {
    getIdToken: async (type: string, idToken: string) => {
      reads++;
      return tokens.get(`${type}/${idToken}`);
    },
    // No remote start was requested in these cases.
    hasRemoteStartGrant: async () => false,
  } as unknown as AuthorizerStore;
  return { store, tokens, reads: () => reads };
}

function token(status: IdTokenRecord['status'], groupId?: string): IdTokenRecord {
  return { idToken: 'AABBCCDD', type: 'ISO14443', status, groupId, expiresAt: undefined, updatedAt: new Date(0) };
}

describe('Authorizer', () => {
  it('answers from memory once warm, and re-reads a decision older than the cache TTL (a change made on another node)', async () => {
    let now = 1_000_000;
    const clock: Clock = { now: () => now };
    const { store, tokens, reads } = tokenTable();
    tokens.set('ISO14443/AABBCCDD', token('Accepted', 'G1'));
    const authorizer = new Authorizer(store, clock, undefined);
    const card = { idToken: 'aabbccdd', type: 'ISO14443' as const };

    expect(await authorizer.authorize(card, 'CS1')).toEqual({ status: 'Accepted', groupIdToken: { idToken: 'G1', type: 'Central' } });
    // Warm: synchronous, no read.
    expect(authorizer.authorize(card, 'CS1')).toEqual({ status: 'Accepted', groupIdToken: { idToken: 'G1', type: 'Central' } });
    expect(reads()).toBe(1);

    tokens.set('ISO14443/AABBCCDD', token('Blocked'));
    now += TOKEN_CACHE_TTL_MS - 1;
    expect(authorizer.authorize(card, 'CS1')).toMatchObject({ status: 'Accepted' });
    now += 2;
    expect(await authorizer.authorize(card, 'CS1')).toEqual({ status: 'Blocked' });
    expect(reads()).toBe(2);
  });

  it('forgets a decision at once when this node changes the token', async () => {
    const { store, tokens, reads } = tokenTable();
    const authorizer = new Authorizer(store, { now: () => 0 }, undefined);
    const card = { idToken: 'AABBCCDD', type: 'ISO14443' as const };
    expect(await authorizer.authorize(card, 'CS1')).toEqual({ status: 'Unknown' });
    tokens.set('ISO14443/AABBCCDD', token('Accepted'));
    authorizer.invalidate('ISO14443', 'aabbccdd');
    expect(await authorizer.authorize(card, 'CS1')).toEqual({ status: 'Accepted' });
    expect(reads()).toBe(2);
  });
});
