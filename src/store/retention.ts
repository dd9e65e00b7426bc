import type { Store } from './store.js';

/** Rows deleted per statement: small enough that one sweep never holds a table for long. */
const BATCH_ROWS = 5000;
/** Statements per table per sweep: what is left waits for the next sweep. */
const MAX_BATCHES = 20;
const SWEEP_EVERY_MS = 60 * 60 * 1000;
const FIRST_SWEEP_AFTER_MS = 60 * 1000;

/** A table a block prunes with the same bound (the webhook outbox and its attempts). */
export interface PrunableTable {
  table: string;
  /** Deletes at most `limit` rows older than `before`; answers how many. */
  prune(before: Date, limit: number): Promise<number>;
}

export interface RetentionOptions {
  store: Pick<Store, 'deleteExpired'>;
  /** CSMS_RETENTION_DAYS; 0 keeps everything. */
  retentionDays: number;
  now: () => number;
  /** Other tables swept with the same bound, each in its own batches. */
  tables?: readonly PrunableTable[];
  /** Rows per statement (default 5000). */
  batchRows?: number;
  onDeleted?: (table: string, rows: number) => void;
  onError?: (err: unknown) => void;
}

/**
 * CSMS_RETENTION_DAYS (README "Budgets and retention"): station events and meter values not tied to a
 * transaction older than the retention are deleted hourly, in bounded batches, and so are the rows of the other
 * `tables` (settled webhook outbox rows and attempt history). Transactions, their events
 * and meter values, and the device model are records kept for billing and are not touched.
 */
export class RetentionSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly options: RetentionOptions) {}

  start(): void {
    if (this.options.retentionDays <= 0 || this.timer !== undefined) return;
    const schedule = (ms: number): void => {
      this.timer = setTimeout(() => {
        void this.sweep().finally(() => {
          if (this.timer !== undefined) schedule(SWEEP_EVERY_MS);
        });
      }, ms);
      this.timer.unref();
    };
    schedule(FIRST_SWEEP_AFTER_MS);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One sweep (one at a time): at most MAX_BATCHES × BATCH_ROWS rows of each table. */
  sweep(): Promise<void> {
    return (this.running ??= this.sweepOnce().finally(() => (this.running = undefined)));
  }

  private async sweepOnce(): Promise<void> {
    const { store, retentionDays, now, onDeleted, onError } = this.options;
    if (retentionDays <= 0) return;
    const before = new Date(now() - retentionDays * 24 * 60 * 60 * 1000);
    const batchRows = this.options.batchRows ?? BATCH_ROWS;
    try {
      for (let batch = 0; batch < MAX_BATCHES; batch++) {
        const deleted = await store.deleteExpired(before, batchRows);
        if (deleted.stationEvents > 0) onDeleted?.('station_events', deleted.stationEvents);
        if (deleted.meterValues > 0) onDeleted?.('meter_values', deleted.meterValues);
        if (deleted.stationEvents < batchRows && deleted.meterValues < batchRows) break;
      }
    } catch (err) {
      onError?.(err);
    }
    // Each table on its own: one failing leaves the others swept.
    for (const prunable of this.options.tables ?? []) {
      try {
        for (let batch = 0; batch < MAX_BATCHES; batch++) {
          const deleted = await prunable.prune(before, batchRows);
          if (deleted > 0) onDeleted?.(prunable.table, deleted);
          if (deleted < batchRows) break;
        }
      } catch (err) {
        onError?.(err);
      }
    }
  }
}
