import { describe, expect, it } from 'vitest';
import { RecentMap } from '../../src/recent-map.js';

describe('RecentMap', () => {
  it('drops the least recently set entry when full; setting a key again makes it the newest', () => {
    const map = new RecentMap<string, number>(2);
    map.set('a', 1);
    map.set('b', 2);
    map.set('a', 3);
    map.set('c', 4);
    expect(map.get('b')).toBeUndefined();
    expect(map.get('a')).toBe(3);
    expect(map.get('c')).toBe(4);
    expect(map.size).toBe(2);
  });

  it('refuses a capacity below one', () => {
    expect(() => new RecentMap(0)).toThrow(RangeError);
  });
});
