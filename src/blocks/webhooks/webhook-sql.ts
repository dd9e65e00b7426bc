import type { JsonObject } from '../../json.js';
import { batchStatement, type BatchWriterSpec } from '../../store/group-commit.js';
import { json, type SqlDatabase } from '../../store/sql.js';

/** A webhook as stored; `secret` never leaves this block except to sign. */
export interface WebhookRecord {
  id: string;
  url: string;
  events: string[];
  secret: string;
  active: boolean;
  createdAt: Date;
  updatedAt: Date;
}

/** One event for one webhook, on its way into the outbox. */
export interface OutboxRow {
  webhookId: string;
  eventId: string;
  stationId: string;
  type: string;
  occurredAt: Date;
  data: JsonObject;
  /** Rows of one webhook with the same key are stored once (a resent record is the same event). */
  dedupKey: string | undefined;
}

/** An outbox row this node claimed for one attempt. */
export interface ClaimedDelivery {
  id: number;
  webhookId: string;
  eventId: string;
  stationId: string;
  type: string;
  occurredAt: Date;
  data: JsonObject;
  /** Attempts at this event before this row's (numbering continues across replays). */
  attempts: number;
  /** Failed attempts of this row (the position in the retry schedule). */
  tries: number;
}

export interface DeliveryItem {
  eventId: string;
  type: string;
  attempt: number;
  at: string;
  status: number | null;
  outcome: 'delivered' | 'failed' | 'pending' | 'dead';
}

interface WebhookRow {
  id: string;
  url: string;
  events: string[];
  secret: string;
  active: boolean;
  created_at: Date;
  updated_at: Date;
}

function toWebhook(row: WebhookRow): WebhookRecord {
  return { id: row.id, url: row.url, events: row.events, secret: row.secret, active: row.active, createdAt: row.created_at, updatedAt: row.updated_at };
}

const WEBHOOK_COLUMNS = 'id, url, events, secret, active, created_at, updated_at';

/**
 * The outbox writer's rows, as one statement of a group-commit batch. Rows of a webhook deleted or deactivated
 * meanwhile are left out by the join (never an error: the station's record must commit whatever happens to
 * webhooks); a resent record's row is left out by the dedup key. ORDER BY ordinality: ids, which fix the order
 * of delivery per station, follow the order the records were received in.
 */
export const outboxWriterSpec: BatchWriterSpec<OutboxRow> = {
  name: 'webhook outbox',
  statement: (rows) =>
    batchStatement(
      `INSERT INTO webhook_outbox (webhook_id, event_id, station_id, type, occurred_at, data, dedup_key)
       SELECT u.webhook_id, u.event_id, u.station_id, u.type, u.occurred_at::timestamptz, u.data::jsonb, u.dedup_key
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
              WITH ORDINALITY AS u(webhook_id, event_id, station_id, type, occurred_at, data, dedup_key, ord)
         JOIN webhooks w ON w.id = u.webhook_id AND w.active
        ORDER BY u.ord
       ON CONFLICT (webhook_id, dedup_key) DO NOTHING`,
      [
        rows.map((row) => row.webhookId),
        rows.map((row) => row.eventId),
        rows.map((row) => row.stationId),
        rows.map((row) => row.type),
        rows.map((row) => row.occurredAt.toISOString()),
        rows.map((row) => json(row.data)),
        rows.map((row) => row.dedupKey ?? null),
      ],
    ),
};

/** Webhooks, their outbox and their attempts in SQL (one path for PostgreSQL and the embedded store). */
export class WebhookSql {
  constructor(private readonly db: SqlDatabase) {}

  async put(
    id: string,
    fields: { url: string; events: string[]; secret: string | undefined; active: boolean },
    newSecret: string,
  ): Promise<{ webhook: WebhookRecord; created: boolean }> {
    // An update without a secret keeps the one it has; `newSecret` is used only when the row is created.
    const rows = await this.db.query<WebhookRow & { created: boolean }>(
      `INSERT INTO webhooks (id, url, events, secret, active)
       VALUES ($1, $2, $3::text[], coalesce($4::text, $5::text), $6)
       ON CONFLICT (id) DO UPDATE SET
         url = excluded.url, events = excluded.events, active = excluded.active,
         secret = coalesce($4::text, webhooks.secret), updated_at = now()
       RETURNING ${WEBHOOK_COLUMNS}, (xmax = 0) AS created`,
      [id, fields.url, fields.events, fields.secret ?? null, newSecret, fields.active],
    );
    const row = rows[0];
    if (row === undefined) throw new Error(`webhook ${id} was not stored`);
    return { webhook: toWebhook(row), created: row.created };
  }

  async get(id: string): Promise<WebhookRecord | undefined> {
    const rows = await this.db.query<WebhookRow>(`SELECT ${WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1`, [id]);
    const row = rows[0];
    return row === undefined ? undefined : toWebhook(row);
  }

  async list(): Promise<WebhookRecord[]> {
    const rows = await this.db.query<WebhookRow>(`SELECT ${WEBHOOK_COLUMNS} FROM webhooks ORDER BY id`);
    return rows.map(toWebhook);
  }

  /** Deletes the webhook with its outbox and attempts, in one transaction. */
  async delete(id: string): Promise<boolean> {
    return this.db.transaction(async (q) => {
      const deleted = await q.query<{ id: string }>('DELETE FROM webhooks WHERE id = $1 RETURNING id', [id]);
      if (deleted.length === 0) return false;
      await q.query('DELETE FROM webhook_outbox WHERE webhook_id = $1', [id]);
      await q.query('DELETE FROM webhook_attempts WHERE webhook_id = $1', [id]);
      return true;
    });
  }

  /**
   * Claims up to `limit` deliveries of one webhook that are due, each the oldest pending event of its station
   * for this webhook (order per station and webhook), and not leased by a node already. The heads are found with a
   * loose index scan (one index probe per station with pending events, however many events wait behind a failing
   * head: a receiver down for hours costs stations, not events). SKIP LOCKED: nodes claiming at once take
   * different rows and never wait for each other; the lease makes a claim last until the attempt is over (or the
   * node died and the lease ran out).
   */
  async claim(webhookId: string, limit: number, owner: string, leaseMs: number): Promise<ClaimedDelivery[]> {
    if (limit <= 0) return [];
    const rows = await this.db.query<{
      id: number | string;
      event_id: string;
      station_id: string;
      type: string;
      occurred_at: Date;
      data: JsonObject;
      attempts: number;
      tries: number;
    }>(
      `WITH RECURSIVE heads AS (
         (SELECT station_id, id FROM webhook_outbox
           WHERE webhook_id = $1 AND state = 'pending'
           ORDER BY station_id, id LIMIT 1)
         UNION ALL
         SELECT next.station_id, next.id FROM heads h
           CROSS JOIN LATERAL (SELECT station_id, id FROM webhook_outbox
                                WHERE webhook_id = $1 AND state = 'pending' AND station_id > h.station_id
                                ORDER BY station_id, id LIMIT 1) next)
       UPDATE webhook_outbox SET lease_owner = $3, lease_until = now() + $4 * interval '1 millisecond'
        WHERE id IN (
          SELECT o.id FROM webhook_outbox o
           WHERE o.id IN (SELECT id FROM heads)
             AND o.state = 'pending' AND o.next_at <= now()
             AND (o.lease_until IS NULL OR o.lease_until < now())
           ORDER BY o.id
           LIMIT $2
           FOR UPDATE SKIP LOCKED)
        RETURNING id, event_id, station_id, type, occurred_at, data, attempts, tries`,
      [webhookId, limit, owner, leaseMs],
    );
    return rows
      .map((row) => ({
        id: Number(row.id),
        webhookId,
        eventId: row.event_id,
        stationId: row.station_id,
        type: row.type,
        occurredAt: row.occurred_at,
        data: row.data,
        attempts: row.attempts,
        tries: row.tries,
      }))
      .sort((a, b) => a.id - b.id);
  }

  /**
   * Ends leases no live attempt holds any more: this node's own (a restart under the same CSMS_NODE_ID), or every
   * lease when `all` (the embedded store: its data dir lock proves no other process delivers from it).
   */
  async releaseLeases(owner: string, all: boolean): Promise<number> {
    const rows = await this.db.query<{ id: number | string }>(
      `UPDATE webhook_outbox SET lease_owner = NULL, lease_until = NULL
        WHERE state = 'pending' AND lease_owner IS NOT NULL AND ($2 OR lease_owner = $1)
    RETURNING id`,
      [owner, all],
    );
    return rows.length;
  }

  /**
   * An attempt's outcome, in one statement: the attempt is listed and the row moves on (delivered, dead, or due
   * again after `retryInMs`) together, and only while this node still holds the lease.
   */
  async finish(
    delivery: ClaimedDelivery,
    owner: string,
    outcome: { state: 'pending' | 'delivered' | 'dead'; retryInMs: number; at: Date; status: number | null },
  ): Promise<void> {
    const attemptOutcome = outcome.state === 'pending' ? 'failed' : outcome.state;
    await this.db.query(
      `WITH done AS (
         UPDATE webhook_outbox
            SET state = $3, tries = tries + CASE WHEN $3 = 'delivered' THEN 0 ELSE 1 END, attempts = attempts + 1,
                next_at = now() + $4 * interval '1 millisecond', lease_owner = NULL, lease_until = NULL
          WHERE id = $1 AND lease_owner = $2
      RETURNING webhook_id, event_id, type, attempts)
       INSERT INTO webhook_attempts (webhook_id, event_id, type, attempt, at, status, outcome)
       SELECT webhook_id, event_id, type, attempts, $5::timestamptz, $6::int, $7 FROM done`,
      [delivery.id, owner, outcome.state, outcome.retryInMs, outcome.at.toISOString(), outcome.status, attemptOutcome],
    );
  }

  /** Queues the event for the webhook once more (same event id and data), whatever its state. False: unknown event. */
  async replay(webhookId: string, eventId: string): Promise<boolean> {
    const rows = await this.db.query<{ id: number | string }>(
      `INSERT INTO webhook_outbox (webhook_id, event_id, station_id, type, occurred_at, data, attempts)
       SELECT o.webhook_id, o.event_id, o.station_id, o.type, o.occurred_at, o.data,
              (SELECT count(*) FROM webhook_attempts a WHERE a.webhook_id = o.webhook_id AND a.event_id = o.event_id)::int
         FROM webhook_outbox o
        WHERE o.webhook_id = $1 AND o.event_id = $2
        ORDER BY o.id
        LIMIT 1
       RETURNING id`,
      [webhookId, eventId],
    );
    return rows.length > 0;
  }

  /**
   * Retention (CSMS_RETENTION_DAYS): at most `limit` settled outbox rows (delivered or dead) of events committed
   * before `before`. Pending rows are never pruned, however old (an inactive webhook's events wait for it).
   */
  async pruneSettled(before: Date, limit: number): Promise<number> {
    const rows = await this.db.query<{ id: number | string }>(
      `DELETE FROM webhook_outbox WHERE id IN (
         SELECT id FROM webhook_outbox WHERE state <> 'pending' AND created_at < $1::timestamptz LIMIT $2)
       RETURNING id`,
      [before.toISOString(), Math.max(0, Math.floor(limit))],
    );
    return rows.length;
  }

  /** Retention: at most `limit` attempt records made before `before`. */
  async pruneAttempts(before: Date, limit: number): Promise<number> {
    const rows = await this.db.query<{ id: number | string }>(
      `DELETE FROM webhook_attempts WHERE id IN (SELECT id FROM webhook_attempts WHERE at < $1::timestamptz LIMIT $2) RETURNING id`,
      [before.toISOString(), Math.max(0, Math.floor(limit))],
    );
    return rows.length;
  }

  /** Attempts made, and the pending ones still to come, newest first. */
  async deliveries(webhookId: string, filter: { eventId?: string | undefined; limit: number }): Promise<DeliveryItem[]> {
    const rows = await this.db.query<{ event_id: string; type: string; attempt: number; at: Date; status: number | null; outcome: DeliveryItem['outcome'] }>(
      `SELECT event_id, type, attempt, at, status, outcome FROM (
         SELECT id, event_id, type, attempt, at, status, outcome, 1 AS made
           FROM webhook_attempts WHERE webhook_id = $1 AND ($2::text IS NULL OR event_id = $2::text)
         UNION ALL
         SELECT id, event_id, type, attempts + 1, next_at, NULL::int, 'pending', 0
           FROM webhook_outbox WHERE webhook_id = $1 AND state = 'pending' AND ($2::text IS NULL OR event_id = $2::text)
       ) d
       ORDER BY at DESC, made ASC, id DESC
       LIMIT $3`,
      [webhookId, filter.eventId ?? null, filter.limit],
    );
    return rows.map((row) => ({
      eventId: row.event_id,
      type: row.type,
      attempt: row.attempt,
      at: row.at.toISOString(),
      status: row.status,
      outcome: row.outcome,
    }));
  }
}
