/**
 * Webhook outbox retention (README "Webhooks", CSMS_RETENTION_DAYS): delivered and dead outbox rows and the attempt
 * history older than the bound are deleted in bounded batches by the retention sweep; pending rows stay, however
 * old, and so does everything newer than the bound. On both stores.
 */
import { describe, expect, it } from 'vitest';
import { webhookRetention } from '../../src/blocks/webhooks/index.js';
import { WebhookSql } from '../../src/blocks/webhooks/webhook-sql.js';
import { openStore } from '../../src/store/open-store.js';
import { RetentionSweeper } from '../../src/store/retention.js';
import { REOPEN_TIMEOUT_MS, STORE_BACKENDS } from '../support/store-backends.js';

const DAY_MS = 24 * 60 * 60 * 1000;

describe.each(STORE_BACKENDS)('webhook retention ($name)', (backend) => {
  it(
    'prunes settled outbox rows and attempts older than CSMS_RETENTION_DAYS in batches, keeps pending and newer ones',
    async () => {
      const location = await backend.newLocation();
      const store = await openStore(location.options);
      try {
        const now = Date.now();
        const ago = (days: number): string => new Date(now - days * DAY_MS).toISOString();
        // 7 delivered and 2 dead events from 40 days ago, one still pending from then (its webhook inactive), and one
        // delivered yesterday; an attempt for each old settled event, one of yesterday.
        const outbox: [string, string, string][] = [];
        for (let i = 0; i < 7; i += 1) outbox.push([`msg_old_${i}`, 'delivered', ago(40)]);
        for (let i = 0; i < 2; i += 1) outbox.push([`msg_dead_${i}`, 'dead', ago(40)]);
        outbox.push(['msg_waiting', 'pending', ago(40)], ['msg_recent', 'delivered', ago(1)]);
        await store.transaction(async (q) => {
          for (const [eventId, state, at] of outbox) {
            await q.query(
              `INSERT INTO webhook_outbox (webhook_id, event_id, station_id, type, occurred_at, data, state, created_at)
               VALUES ('wh-ret', $1, 'RET-WH', 'station.status', $2::timestamptz, '{}'::jsonb, $3, $2::timestamptz)`,
              [eventId, at, state],
            );
            if (state === 'pending') continue;
            await q.query(
              `INSERT INTO webhook_attempts (webhook_id, event_id, type, attempt, at, status, outcome)
               VALUES ('wh-ret', $1, 'station.status', 1, $2::timestamptz, 200, $3)`,
              [eventId, at, state === 'dead' ? 'dead' : 'delivered'],
            );
          }
        });

        const deleted: Record<string, number[]> = {};
        const errors: unknown[] = [];
        const sweeper = new RetentionSweeper({
          store,
          retentionDays: 30,
          now: () => now,
          tables: webhookRetention(new WebhookSql(store.database)),
          batchRows: 4,
          onDeleted: (table, rows) => (deleted[table] ??= []).push(rows),
          onError: (err) => errors.push(err),
        });
        await sweeper.sweep();
        expect(errors).toEqual([]);
        // Batches of at most 4 rows: 9 old settled rows and 9 old attempts take 4 + 4 + 1 each.
        expect(deleted).toEqual({ webhook_outbox: [4, 4, 1], webhook_attempts: [4, 4, 1] });

        const left = await store.transaction(async (q) => ({
          outbox: (await q.query<{ event_id: string }>('SELECT event_id FROM webhook_outbox ORDER BY event_id')).map((r) => r.event_id),
          attempts: (await q.query<{ event_id: string }>('SELECT event_id FROM webhook_attempts')).map((r) => r.event_id),
        }));
        expect(left).toEqual({ outbox: ['msg_recent', 'msg_waiting'], attempts: ['msg_recent'] });

        // A second sweep finds nothing more; with retention 0 nothing is ever pruned.
        await sweeper.sweep();
        expect(deleted).toEqual({ webhook_outbox: [4, 4, 1], webhook_attempts: [4, 4, 1] });
        const keepAll = new RetentionSweeper({ store, retentionDays: 0, now: () => now + 400 * DAY_MS, tables: webhookRetention(new WebhookSql(store.database)) });
        await keepAll.sweep();
        const count = await store.transaction((q) => q.query<{ n: number | string }>('SELECT count(*) AS n FROM webhook_outbox'));
        expect(Number(count[0]?.n)).toBe(2);
      } finally {
        await store.close();
        await location.remove();
      }
    },
    REOPEN_TIMEOUT_MS,
  );
});
