import type { Redis } from 'ioredis';
import { parsePresenceValue, type RedisKeys } from '../../src/cluster/presence.js';

/** Keys per MGET: 1,000 presence keys are a reply of ~80 KB. */
const CHUNK = 1000;

/**
 * Where Redis says stations are, read the way the nodes read it (src/cluster/presence.ts): a station key names its
 * node, and counts only while that node's liveness key exists. One pipeline of MGETs for any number of stations,
 * so the bench can watch 100,000 of them come back after a fault without asking the nodes.
 */
export class PresenceReader {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /** For each station, the node holding it (alive), or undefined. Throws when Redis cannot answer. */
  async locate(stationIds: readonly string[]): Promise<(string | undefined)[]> {
    const pipeline = this.redis.pipeline();
    for (let i = 0; i < stationIds.length; i += CHUNK) pipeline.mget(...stationIds.slice(i, i + CHUNK).map((id) => this.keys.presence(id)));
    const replies = (await pipeline.exec()) ?? [];
    const nodes: (string | undefined)[] = [];
    for (const [err, values] of replies) {
      if (err !== null) throw err;
      for (const value of values as (string | null)[]) nodes.push(value === null ? undefined : parsePresenceValue(value)?.nodeId);
    }
    const named = [...new Set(nodes.filter((node): node is string => node !== undefined))];
    const alive = await Promise.all(named.map((node) => this.redis.exists(this.keys.liveness(node))));
    const live = new Set(named.filter((_, i) => alive[i] === 1));
    return nodes.map((node) => (node !== undefined && live.has(node) ? node : undefined));
  }

  /** How many of the stations are on a live node, and on which. */
  async census(stationIds: readonly string[]): Promise<{ present: number; byNode: Record<string, number> }> {
    const byNode: Record<string, number> = {};
    let present = 0;
    for (const node of await this.locate(stationIds)) {
      if (node === undefined) continue;
      present++;
      byNode[node] = (byNode[node] ?? 0) + 1;
    }
    return { present, byNode };
  }
}
