import { Counter, Histogram } from 'prom-client';
import type { ChangeFeed } from '../../changes/change-feed.js';
import type { CsmsMetrics } from '../../metrics.js';
import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import type { Logger } from '../../log.js';
import type { RouteSpec } from '../../api/route-spec.js';
import type { BatchWriter, BatchWriterSpec } from '../../store/group-commit.js';
import type { RecordCompanions } from '../../store/record-companions.js';
import type { SqlDatabase } from '../../store/sql.js';
import { DeliveryWorker } from './delivery.js';
import { WebhookOutbox } from './outbox.js';
import { webhookRoutes } from './routes.js';
import type { PrunableTable } from '../../store/retention.js';
import { outboxWriterSpec, WebhookSql, type OutboxRow, type WebhookRecord } from './webhook-sql.js';

/** What the webhooks block needs of the store: its database, a writer in its group commit, its record hook. */
export interface WebhookStoreAccess {
  readonly database: SqlDatabase;
  writer<Row>(spec: BatchWriterSpec<Row>): BatchWriter<Row>;
  useRecordCompanions(companions: RecordCompanions): void;
}

export interface Webhooks {
  routes: RouteSpec[];
  stop(): Promise<void>;
}

/**
 * How often each node reads the webhooks from the store: a webhook created or changed through another node
 * starts (or stops) collecting events within this long. Through this node, at once.
 */
const REFRESH_MS = 1000;

/**
 * CONTRACT §8.7 webhooks: the outbox rows travel with the records the station sends (group commit companions) or
 * with the published changes that have no record, and the delivery worker sends them.
 */
export async function startWebhooks(deps: {
  store: WebhookStoreAccess;
  feed: ChangeFeed;
  config: Config;
  log: Logger;
  clock: Clock;
  metrics: CsmsMetrics;
}): Promise<Webhooks> {
  const { store, feed, config, clock } = deps;
  const registers = [deps.metrics.registry];
  const attempts = new Counter({
    name: 'csms_webhook_attempts_total',
    help: 'Webhook delivery attempts, by outcome (delivered, failed: to be retried, dead: the last one failed)',
    labelNames: ['outcome'],
    registers,
  });
  const attemptSeconds = new Histogram({
    name: 'csms_webhook_attempt_seconds',
    help: 'One webhook delivery attempt: request sent → answer (or failure)',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });
  const log = deps.log.child({ component: 'webhooks' });
  const sql = new WebhookSql(store.database);
  const outbox = new WebhookOutbox(
    store.writer<OutboxRow>(outboxWriterSpec),
    () => clock.now(),
    (err: unknown) => log.warn({ err }, 'webhook outbox row of a published change was not written'),
  );
  let webhooks: readonly WebhookRecord[] = [];
  const refresh = async (): Promise<void> => {
    webhooks = await sql.list();
    outbox.setWebhooks(webhooks);
  };
  await refresh();
  store.useRecordCompanions(outbox);
  feed.onPublish((kind, data) => outbox.published(kind, data));
  const worker = new DeliveryWorker({
    sql,
    log,
    nodeId: config.nodeId,
    retrySchedule: config.webhookRetryScheduleMs,
    timeoutMs: config.webhookTimeoutMs,
    webhooks: () => webhooks,
    now: () => clock.now(),
    onAttempt: (outcome, seconds) => {
      attempts.labels(outcome).inc();
      attemptSeconds.observe(seconds);
    },
  });
  await worker.start(store.database.kind === 'embedded');
  // While the store is degraded this fails every second: said once when it starts failing, once when it recovers.
  let refreshFailing = false;
  const refreshTimer = setInterval(() => {
    refresh().then(
      () => {
        if (refreshFailing) log.info('reading the webhooks works again');
        refreshFailing = false;
      },
      (err: unknown) => {
        if (!refreshFailing) log.warn({ err }, 'reading the webhooks failed; the last ones read stay in force');
        refreshFailing = true;
      },
    );
  }, REFRESH_MS);
  refreshTimer.unref();
  return {
    routes: webhookRoutes({ sql, onChange: refresh }),
    stop: async () => {
      clearInterval(refreshTimer);
      await worker.stop();
    },
  };
}

/** What the retention sweep prunes of the webhooks (README "Webhooks"): settled outbox rows, then old attempts. */
export function webhookRetention(sql: WebhookSql): PrunableTable[] {
  return [
    { table: 'webhook_outbox', prune: (before, limit) => sql.pruneSettled(before, limit) },
    { table: 'webhook_attempts', prune: (before, limit) => sql.pruneAttempts(before, limit) },
  ];
}
