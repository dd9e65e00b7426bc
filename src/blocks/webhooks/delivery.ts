import type { Logger } from '../../log.js';
import { afterAttempt, pendingDelivery } from '../../../machines/webhook-delivery.machine.js';
import { signatureHeader } from './signing.js';
import type { ClaimedDelivery, WebhookRecord, WebhookSql } from './webhook-sql.js';

export interface DeliveryOptions {
  sql: WebhookSql;
  log: Logger;
  /** This node's name: the lease owner of what it claims. */
  nodeId: string;
  /** CSMS_WEBHOOK_RETRY_SCHEDULE in ms. */
  retrySchedule: readonly number[];
  /** CSMS_WEBHOOK_TIMEOUT_MS: the most one attempt may take. */
  timeoutMs: number;
  /** The webhooks as stored now (the worker claims for the active ones). */
  webhooks: () => readonly WebhookRecord[];
  now: () => number;
  /** How often due deliveries are looked for (the first attempt comes within this plus one attempt). */
  pollMs?: number;
  /** Attempts in flight per webhook: a slow receiver holds at most these, never another webhook's. */
  perWebhookConcurrency?: number;
  /** Attempts in flight on this node, all webhooks together. */
  maxConcurrency?: number;
  /** Every attempt's outcome (metrics). */
  onAttempt?: (outcome: 'delivered' | 'failed' | 'dead', seconds: number) => void;
}

const DEFAULT_POLL_MS = 250;
const DEFAULT_PER_WEBHOOK = 8;
const DEFAULT_MAX = 128;
/** A claim outlives the attempt by this much, so a live node's lease never runs out under its own attempt. */
const LEASE_MARGIN_MS = 10_000;

/**
 * The delivery worker of one node. Each poll, for every active webhook with a free slot, it claims due deliveries
 * through the database (webhook-sql.ts `claim`: the oldest pending event per station, leased, SKIP LOCKED, so
 * the nodes of a cluster share the work and each event goes out from one node at a time) and posts them. Nothing
 * waits in memory: the outbox in the database is the queue, so a receiver that cannot keep up costs rows, not
 * memory, and a restart resumes where the database says.
 */
/** Why an attempt got no answer (a refused connection, a timeout), for the log: never the request itself. */
function describeError(error: unknown): string | undefined {
  if (error === undefined) return undefined;
  if (!(error instanceof Error)) return 'unknown error';
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.name}: ${error.message}${cause}`;
}

export class DeliveryWorker {
  private readonly inFlight = new Map<string, number>();
  private total = 0;
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private claimFailing = false;
  private stopped = false;
  private readonly running = new Set<Promise<void>>();
  private readonly pollMs: number;
  private readonly perWebhook: number;
  private readonly max: number;
  private readonly aborts = new Set<AbortController>();

  constructor(private readonly options: DeliveryOptions) {
    this.pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    this.perWebhook = options.perWebhookConcurrency ?? DEFAULT_PER_WEBHOOK;
    this.max = options.maxConcurrency ?? DEFAULT_MAX;
  }

  /** `releaseAllLeases`: no other process can be delivering from this store (the embedded one). */
  async start(releaseAllLeases: boolean): Promise<void> {
    const released = await this.options.sql.releaseLeases(this.options.nodeId, releaseAllLeases);
    if (released > 0) this.options.log.info({ released }, 'webhook deliveries cut short by a stop or a crash are attempted again');
    this.timer = setInterval(() => void this.poll(), this.pollMs);
    this.timer.unref();
  }

  /** Stops claiming; attempts in flight are aborted and their rows released for the next attempt (by any node). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    for (const abort of this.aborts) abort.abort();
    await Promise.allSettled([...this.running]);
    // What was cut short is due again at once for any node, instead of after its lease (the default node id
    // changes with every restart, so no later start of ours would end these leases).
    await this.options.sql
      .releaseLeases(this.options.nodeId, false)
      .catch((err: unknown) => this.options.log.warn({ err }, 'webhook delivery: ending leases at stop failed'));
  }

  /** Looks for due deliveries now (after a local change, so the first attempt need not wait for the timer). */
  kick(): void {
    setImmediate(() => void this.poll());
  }

  /** Read afresh after every await (stop() may have run meanwhile). */
  private isStopped(): boolean {
    return this.stopped;
  }

  private async poll(): Promise<void> {
    if (this.polling || this.stopped) return;
    this.polling = true;
    try {
      for (const webhook of this.options.webhooks()) {
        if (!webhook.active || this.isStopped()) continue;
        const free = Math.min(this.perWebhook - (this.inFlight.get(webhook.id) ?? 0), this.max - this.total);
        if (free <= 0) continue;
        const claimed = await this.options.sql.claim(webhook.id, free, this.options.nodeId, this.options.timeoutMs + LEASE_MARGIN_MS);
        for (const delivery of claimed) this.track(webhook, delivery);
      }
      if (this.claimFailing) this.options.log.info('webhook delivery: claiming works again');
      this.claimFailing = false;
    } catch (err) {
      // The store is degraded or busy: the outbox waits there, nothing is lost; the next poll tries again. Said
      // once per outage, not four times a second.
      if (!this.claimFailing) this.options.log.warn({ err }, 'webhook delivery: claiming failed');
      this.claimFailing = true;
    } finally {
      this.polling = false;
    }
  }

  private track(webhook: WebhookRecord, delivery: ClaimedDelivery): void {
    this.inFlight.set(webhook.id, (this.inFlight.get(webhook.id) ?? 0) + 1);
    this.total++;
    const attempt = this.attempt(webhook, delivery)
      .catch((err: unknown) => this.options.log.warn({ err, webhookId: webhook.id, eventId: delivery.eventId }, 'webhook delivery: recording the attempt failed'))
      .finally(() => {
        this.running.delete(attempt);
        this.total--;
        const left = (this.inFlight.get(webhook.id) ?? 1) - 1;
        if (left > 0) this.inFlight.set(webhook.id, left);
        else this.inFlight.delete(webhook.id);
        // A station's next event is due as soon as this one is settled.
        if (!this.stopped) this.kick();
      });
    this.running.add(attempt);
  }

  private async attempt(webhook: WebhookRecord, delivery: ClaimedDelivery): Promise<void> {
    const started = this.options.now();
    const body = JSON.stringify({ type: delivery.type, timestamp: delivery.occurredAt.toISOString(), data: delivery.data });
    const timestamp = Math.floor(started / 1000);
    const abort = new AbortController();
    this.aborts.add(abort);
    const timeout = setTimeout(() => abort.abort(), this.options.timeoutMs);
    let status: number | null = null;
    let error: unknown;
    try {
      const response = await fetch(webhook.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Stroom-CSMS-Webhooks',
          'webhook-id': delivery.eventId,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signatureHeader(webhook.secret, delivery.eventId, timestamp, body),
        },
        body,
        // A redirect is not a success; following it would send the signed event somewhere nobody configured.
        redirect: 'manual',
        signal: abort.signal,
      });
      status = response.status;
      // The answer's body is not ours to read; dropping it frees the connection for the next attempt.
      await response.body?.cancel().catch(() => undefined);
    } catch (err) {
      error = err;
    } finally {
      clearTimeout(timeout);
      this.aborts.delete(abort);
    }
    if (this.stopped && status === null) return; // aborted by stop(): the lease runs out, the attempt is made again
    const delivered = status !== null && status >= 200 && status < 300;
    const next = afterAttempt(pendingDelivery(delivery.tries, this.options.retrySchedule), delivered);
    const state = next.value === 'delivered' ? 'delivered' : next.value === 'dead' ? 'dead' : 'pending';
    const seconds = (this.options.now() - started) / 1000;
    this.options.onAttempt?.(state === 'pending' ? 'failed' : state, seconds);
    if (!delivered) {
      // Failures of a receiver that is down repeat for hours: each is counted (metrics) and listed (deliveries);
      // the log says it at debug level, and at warn only when an event is given up.
      this.options.log[state === 'dead' ? 'warn' : 'debug'](
        {
          webhookId: webhook.id,
          eventId: delivery.eventId,
          stationId: delivery.stationId,
          status,
          err: describeError(error),
          outcome: state === 'pending' ? 'failed' : state,
          retryInMs: next.context.retryInMs,
        },
        state === 'dead' ? 'webhook event given up: its last attempt failed (dead)' : 'webhook attempt failed',
      );
    }
    await this.options.sql.finish(delivery, this.options.nodeId, { state, retryInMs: next.context.retryInMs ?? 0, at: new Date(started), status });
  }
}
