/**
 * A Map of at most `capacity` entries for per-station (or per-address) memory that must stay bounded
 * whatever a fleet or an attacker does. Setting a key makes it the newest; when the Map is full, the
 * oldest, least recently set, entry is dropped. A Map's insertion order makes that O(1).
 */
export class RecentMap<K, V> {
  readonly #entries = new Map<K, V>();

  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError('a RecentMap needs room for at least one entry');
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: K): V | undefined {
    return this.#entries.get(key);
  }

  set(key: K, value: V): void {
    this.#entries.delete(key);
    if (this.#entries.size >= this.capacity) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, value);
  }

  delete(key: K): boolean {
    return this.#entries.delete(key);
  }
}
