import { describe, expect, it } from 'vitest';
import { applyPart, diffLists, limitsFromDeviceModel, planParts, sendLocalListRequest, EntryTooLargeError } from '../../src/blocks/local-list/plan.js';
import type { ResolvedEntry } from '../../src/blocks/local-list/local-list-store.js';
import type { ListPart } from '../../src/blocks/local-list/plan.js';

const entry = (n: number, status = 'Accepted'): ResolvedEntry => ({ idToken: { idToken: `T${n}`, type: 'ISO14443' }, idTokenInfo: { status } });

describe('local list plans (D01)', () => {
  it('D01.FR.16/17: a diff sets new and changed entries and removes the missing ones', () => {
    const diff = diffLists([entry(1), entry(2), entry(3)], [entry(1), entry(2, 'Blocked'), entry(4)]);
    expect(diff.upsert).toEqual([entry(2, 'Blocked'), entry(4)]);
    expect(diff.remove).toEqual([{ idToken: 'T3', type: 'ISO14443' }]);
  });

  it('entries whose idTokenInfo differs only in key order (as jsonb returns it) are not a change', () => {
    const stored: ResolvedEntry = {
      idToken: { idToken: 'T1', type: 'ISO14443' },
      idTokenInfo: { status: 'Accepted', groupIdToken: { type: 'Central', idToken: 'G' }, cacheExpiryDateTime: '2030-01-01T00:00:00.000Z' },
    };
    const fresh: ResolvedEntry = {
      idToken: { idToken: 'T1', type: 'ISO14443' },
      idTokenInfo: { status: 'Accepted', cacheExpiryDateTime: '2030-01-01T00:00:00.000Z', groupIdToken: { idToken: 'G', type: 'Central' } },
    };
    expect(diffLists([stored], [fresh])).toEqual({ upsert: [], remove: [] });
  });

  it('DRV-LAL-02: a Full over the item limit is a Full first part, then Differentials', () => {
    const parts = planParts({ kind: 'full', entries: Array.from({ length: 25 }, (_, i) => entry(i)) }, { items: 10, bytes: undefined }, '2.0.1');
    expect(parts.map((p) => [p.updateType, p.items.length])).toEqual([
      ['Full', 10],
      ['Differential', 10],
      ['Differential', 5],
    ]);
  });

  it('D01.FR.11: every part fits BytesPerMessage, the frame counted', () => {
    const limit = 400;
    const parts = planParts({ kind: 'full', entries: Array.from({ length: 30 }, (_, i) => entry(i)) }, { items: undefined, bytes: limit }, '2.0.1');
    expect(parts.length).toBeGreaterThan(1);
    parts.forEach((part, i) => {
      const request = sendLocalListRequest('2.0.1', part, 2_000_000_000 + i);
      expect(Buffer.byteLength(JSON.stringify([2, 'a'.repeat(36), 'SendLocalList', request]))).toBeLessThanOrEqual(limit);
    });
    expect(() => planParts({ kind: 'full', entries: [entry(1)] }, { items: undefined, bytes: 80 }, '2.0.1')).toThrow(EntryTooLargeError);
  });

  it('TC_D_03 / TC_D_04: removals carry no idTokenInfo; an empty Full carries no list at all', () => {
    const [removal] = planParts({ kind: 'differential', upsert: [], remove: [{ idToken: 'T1', type: 'ISO14443' }] }, { items: undefined, bytes: undefined }, '2.0.1');
    expect(sendLocalListRequest('2.0.1', removal!, 4)).toEqual({
      versionNumber: 4,
      updateType: 'Differential',
      localAuthorizationList: [{ idToken: { idToken: 'T1', type: 'ISO14443' } }],
    });
    const [empty] = planParts({ kind: 'full', entries: [] }, { items: 5, bytes: undefined }, '2.0.1');
    expect(sendLocalListRequest('2.0.1', empty!, 5)).toEqual({ versionNumber: 5, updateType: 'Full' });
  });

  it('1.6: idTag, idTagInfo with parentIdTag and expiryDate, statuses 1.6 lacks sent as Invalid', () => {
    const part: ListPart = {
      updateType: 'Full',
      items: [
        {
          idToken: { idToken: 'A', type: 'ISO14443' },
          idTokenInfo: { status: 'Accepted', cacheExpiryDateTime: '2030-01-01T00:00:00.000Z', groupIdToken: { idToken: 'G', type: 'Central' } },
        },
        { idToken: { idToken: 'B', type: 'Central' }, idTokenInfo: { status: 'NotAtThisTime' } },
      ],
    };
    expect(sendLocalListRequest('1.6', part, 3)).toEqual({
      listVersion: 3,
      updateType: 'Full',
      localAuthorizationList: [
        { idTag: 'A', idTagInfo: { status: 'Accepted', expiryDate: '2030-01-01T00:00:00.000Z', parentIdTag: 'G' } },
        { idTag: 'B', idTagInfo: { status: 'Invalid' } },
      ],
    });
  });

  it('applying the parts in order gives the desired list', () => {
    const desired = Array.from({ length: 7 }, (_, i) => entry(i));
    const parts = planParts({ kind: 'full', entries: desired }, { items: 3, bytes: undefined }, '2.0.1');
    const held = parts.reduce<ResolvedEntry[]>((list, part) => applyPart(list, part), [entry(99)]);
    expect(held).toEqual(desired);
  });

  it('limits come from LocalAuthListCtrlr (2.0.1) or SendLocalListMaxLength (1.6)', () => {
    const attrs = (value: string) => [{ type: 'Actual', value }];
    expect(
      limitsFromDeviceModel(
        [
          { component: { name: 'LocalAuthListCtrlr' }, variable: { name: 'ItemsPerMessage' }, attributes: attrs('50') },
          { component: { name: 'LocalAuthListCtrlr' }, variable: { name: 'BytesPerMessage' }, attributes: attrs('4000') },
        ],
        '2.0.1',
      ),
    ).toEqual({ items: 50, bytes: 4000, known: true });
    expect(limitsFromDeviceModel([{ component: { name: 'OCPP16' }, variable: { name: 'SendLocalListMaxLength' }, attributes: attrs('20') }], '1.6')).toEqual({
      items: 20,
      bytes: undefined,
      known: true,
    });
    expect(limitsFromDeviceModel([], '2.0.1').known).toBe(false);
  });
});
