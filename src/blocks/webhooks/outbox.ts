import { randomBytes } from 'node:crypto';
import type { ChangeData, ChangeKind } from '../../changes/change-feed.js';
import { bootChange, stationEventChange, transactionChange, type DescribedChange } from '../../changes/store-changes.js';
import type { JsonObject } from '../../json.js';
import { contentHash } from '../../store/content-hash.js';
import type { BatchWriter, Companion } from '../../store/group-commit.js';
import type { RecordCompanions } from '../../store/record-companions.js';
import type { StationEventKind } from '../../store/store.js';
import type { OutboxRow, WebhookRecord } from './webhook-sql.js';

/** CONTRACT §8.7: the kinds of the stream (§4) plus `security.event` and `firmware.status`. */
export const WEBHOOK_EVENT_KINDS = [
  'station.connected',
  'station.disconnected',
  'station.boot',
  'station.status',
  'connector.status',
  'transaction.started',
  'transaction.updated',
  'transaction.ended',
  'command.result',
  'station.event',
  'security.event',
  'firmware.status',
] as const;
export type WebhookEventKind = (typeof WEBHOOK_EVENT_KINDS)[number];

/**
 * Kinds that describe state written behind or nothing stored at all: their outbox row is written when the change is
 * published (committed on its own, just after). Every other kind describes a record the station sent, and its row
 * is a companion of that record's write (same transaction).
 */
const PUBLISHED_KINDS: ReadonlySet<ChangeKind> = new Set(['station.connected', 'station.disconnected', 'station.status', 'connector.status', 'command.result']);

/** A Standard Webhooks message id: time-ordered, unique across nodes. The same on every attempt and replay. */
export function newEventId(nowMs: number): string {
  return `msg_${nowMs.toString(36).padStart(9, '0')}${randomBytes(10).toString('hex')}`;
}

/** One change to deliver: the kind, the stream's data (with `at`), and what makes a resend the same event. */
interface OutboxEvent {
  kind: WebhookEventKind;
  data: ChangeData;
  dedupKey: string | undefined;
}

function securityEventData(base: ChangeData, payload: JsonObject): ChangeData {
  return {
    stationId: base.stationId,
    at: base.at,
    type: payload.type ?? null,
    timestamp: payload.timestamp ?? null,
    ...(payload.techInfo !== undefined ? { techInfo: payload.techInfo } : {}),
  };
}

function firmwareStatusData(base: ChangeData, kind: StationEventKind, payload: JsonObject): ChangeData {
  return {
    stationId: base.stationId,
    at: base.at,
    message: kind,
    status: payload.status ?? null,
    ...(payload.requestId !== undefined ? { requestId: payload.requestId } : {}),
  };
}

/**
 * Which active webhook wants which kind (refreshed from the store by the host), and the rows each change becomes.
 * With no webhook, every method is one Map lookup that finds nothing: no cost for stations.
 */
export class WebhookOutbox implements RecordCompanions {
  private subscribers = new Map<WebhookEventKind, string[]>();

  constructor(
    private readonly writer: BatchWriter<OutboxRow>,
    private readonly now: () => number,
    private readonly onLateError: (error: unknown) => void,
  ) {}

  /** The webhooks as stored now (the active ones subscribe). */
  setWebhooks(webhooks: readonly WebhookRecord[]): void {
    const next = new Map<WebhookEventKind, string[]>();
    for (const webhook of webhooks) {
      if (!webhook.active) continue;
      for (const kind of webhook.events as WebhookEventKind[]) next.set(kind, [...(next.get(kind) ?? []), webhook.id]);
    }
    this.subscribers = next;
  }

  get idle(): boolean {
    return this.subscribers.size === 0;
  }

  boot(stationId: string, boot: Parameters<RecordCompanions['boot']>[1]): readonly Companion[] | undefined {
    if (!this.subscribers.has('station.boot')) return undefined;
    return this.companions([this.fromChange(bootChange(stationId, boot), undefined)]);
  }

  transactionEvent(event: Parameters<RecordCompanions['transactionEvent']>[0]): readonly Companion[] | undefined {
    if (this.subscribers.size === 0) return undefined;
    const change = transactionChange(event);
    if (!this.subscribers.has(change.kind as WebhookEventKind)) return undefined;
    // A resent TransactionEvent (same seqNo) is the same event: stored once per webhook.
    return this.companions([this.fromChange(change, `tx\u001f${event.stationId}\u001f${event.transactionId}\u001f${event.seqNo}`)]);
  }

  stationEvent(stationId: string, kind: StationEventKind, payload: JsonObject, at: Date): readonly Companion[] | undefined {
    const security = kind === 'SecurityEventNotification';
    const firmware = kind === 'FirmwareStatusNotification' || kind === 'SignedFirmwareStatusNotification';
    const wanted = this.subscribers.has('station.event') || (security && this.subscribers.has('security.event')) || (firmware && this.subscribers.has('firmware.status'));
    if (!wanted) return undefined;
    // NotifyEvent and SecurityEventNotification resent after a lost answer are stored once (CONTRACT §3.2): so are their events.
    const dedup = kind === 'NotifyEvent' || security ? `ev\u001f${stationId}\u001f${kind}\u001f${contentHash(payload)}` : undefined;
    const base = this.fromChange(stationEventChange(stationId, kind, payload, at), dedup);
    const events: OutboxEvent[] = [base];
    if (security) events.push({ kind: 'security.event', data: securityEventData(base.data, payload), dedupKey: dedup });
    if (firmware) events.push({ kind: 'firmware.status', data: firmwareStatusData(base.data, kind, payload), dedupKey: undefined });
    return this.companions(events);
  }

  /**
   * A published change of the kinds that have no record of their own (see PUBLISHED_KINDS): its rows are written
   * with the next batch; nobody waits for them.
   */
  published(kind: ChangeKind, data: ChangeData): void {
    if (!PUBLISHED_KINDS.has(kind) || !this.subscribers.has(kind as WebhookEventKind)) return;
    const rows = this.rows([{ kind: kind as WebhookEventKind, data, dedupKey: undefined }]);
    if (rows.length > 0) this.writer.writeMany(rows).catch(this.onLateError);
  }

  private fromChange(change: DescribedChange, dedupKey: string | undefined): OutboxEvent {
    return { kind: change.kind as WebhookEventKind, data: { ...change.data, at: new Date(this.now()).toISOString() } as ChangeData, dedupKey };
  }

  private companions(events: OutboxEvent[]): readonly Companion[] | undefined {
    const rows = this.rows(events);
    return rows.length === 0 ? undefined : [this.writer.companion(rows)];
  }

  /** One row per (event, subscribed webhook); the event id is shared by the event's rows. */
  private rows(events: OutboxEvent[]): OutboxRow[] {
    const rows: OutboxRow[] = [];
    const nowMs = this.now();
    for (const event of events) {
      const webhooks = this.subscribers.get(event.kind);
      if (webhooks === undefined) continue;
      const eventId = newEventId(nowMs);
      const dedupKey = event.dedupKey === undefined ? undefined : `${event.kind}\u001f${event.dedupKey}`;
      for (const webhookId of webhooks) {
        rows.push({ webhookId, eventId, stationId: event.data.stationId, type: event.kind, occurredAt: new Date(event.data.at), data: event.data, dedupKey });
      }
    }
    return rows;
  }
}
