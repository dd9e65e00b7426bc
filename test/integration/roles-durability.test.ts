/**
 * The audit trail is durable before an answer leaves (issue 21): SIGKILL the CSMS while state-changing requests are
 * in flight, restart it on the same store, and every request that got an answer has its entry. Both stores; the
 * embedded one runs inside the killed process, so what it acknowledged must be in its files.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { crashChildEnv, spawnCsms, type CleanupSteps, type SpawnedCsms } from '../support/csms.js';
import { sleep } from '../support/station.js';

interface AuditPage {
  items: { path: string; status: number; outcome: string }[];
  next: string | null;
}

describe('the audit trail across a crash', () => {
  const cleanup: CleanupSteps = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  for (const store of ['PostgreSQL', 'embedded'] as const) {
    it(`${store}: every answered request's entry survives SIGKILL`, async () => {
      const env = await crashChildEnv(store, 'stroom-roles-audit-', cleanup);
      let csms: SpawnedCsms = await spawnCsms(env);
      cleanup.push(() => csms.kill());
      const answered: string[] = [];
      let stop = false;
      // Four clients, each deleting stations that do not exist (404: refused, so audited, and nothing else to do).
      const clients = [0, 1, 2, 3].map(async (client) => {
        for (let n = 0; !stop; n += 1) {
          const path = `/api/v1/stations/crash-${client}-${n}`;
          const res = await csms.api.request('DELETE', path).catch(() => undefined);
          if (res === undefined) return;
          if (res.status === 404) answered.push(path);
        }
      });
      while (answered.length < 20) await sleep(10);
      await sleep(Math.floor(Math.random() * 200));
      const killed = new Promise<void>((resolve) => csms.child.once('exit', () => resolve()));
      csms.kill();
      await killed;
      stop = true;
      await Promise.all(clients);
      const acknowledged = [...answered];

      csms = await spawnCsms(env);
      const stored = new Set<string>();
      let cursor: string | null = null;
      do {
        const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
        const res = await csms.api.request<AuditPage>('GET', `/api/v1/audit?limit=500${query}`);
        expect(res.status).toBe(200);
        for (const item of res.body.items) if (item.status === 404 && item.outcome === 'rejected') stored.add(item.path);
        cursor = res.body.next;
      } while (cursor !== null);
      const missing = acknowledged.filter((path) => !stored.has(path));
      expect(missing, `${acknowledged.length} answered before the kill`).toEqual([]);
      await csms.stop();
    }, 120_000);
  }
});
