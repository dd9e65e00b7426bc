import { createActor, type Actor } from 'xstate';
import { monitoringReportMachine } from '../../../machines/monitoring-report.machine.js';
import type { Logger } from '../../log.js';
import type { MonitoringStore } from '../../store/monitoring-sql.js';
import { reportComplete } from './monitors.js';

/** Station answers after which a report is awaited; anything else (EmptyResultSet, Rejected, …) ends it at once. */
const AWAITED_STATUSES: readonly string[] = ['Requested', 'Accepted'];

/**
 * Hosts one monitoring-report machine per report under way on this node (DRV-ADM-09). Started by the accepted
 * GetMonitoringReport answer, told of every part that arrives here; when the deadline passes it marks the report
 * `Incomplete` in the store — after checking the store, because the remaining parts may have reached another node
 * (the station reconnected there). Timers are per node and die with it: a report whose node went down stays
 * `Accepted` (documented in README).
 */
export class MonitoringReportDeadlines {
  private readonly actors = new Map<string, Actor<typeof monitoringReportMachine>>();

  constructor(
    private readonly deps: {
      monitoring: Pick<MonitoringStore, 'getReportParts' | 'setReportStatus'>;
      log: Logger;
    },
  ) {}

  /** How many reports this node is waiting for. */
  get size(): number {
    return this.actors.size;
  }

  /** The station accepted to send report `requestId`: the wait for its parts starts now. */
  accepted(stationId: string, requestId: number, deadlineMs: number): void {
    const key = `${stationId}\u0000${requestId}`;
    // The same requestId asked again: the newer request's wait replaces the older one.
    this.actors.get(key)?.stop();
    const machine = monitoringReportMachine.provide({
      actions: {
        markIncomplete: (_, params) => {
          this.actors.delete(key);
          this.markIncomplete(params.stationId, params.requestId, deadlineMs).catch((err: unknown) =>
            this.deps.log.warn({ err, stationId, requestId }, 'could not mark an overdue monitoring report incomplete'),
          );
        },
      },
    });
    const actor = createActor(machine, { input: { stationId, requestId, deadlineMs } });
    actor.subscribe({
      complete: () => {
        if (this.actors.get(key) === actor) this.actors.delete(key);
      },
    });
    this.actors.set(key, actor);
    actor.start();
  }

  /** A part of `requestId` was stored on this node; `complete` when it was the last one missing. */
  partArrived(stationId: string, requestId: number, complete: boolean): void {
    this.actors.get(`${stationId}\u0000${requestId}`)?.send({ type: complete ? 'COMPLETE' : 'PART' });
  }

  stopAll(): void {
    for (const actor of this.actors.values()) actor.stop();
    this.actors.clear();
  }

  private async markIncomplete(stationId: string, requestId: number, deadlineMs: number): Promise<void> {
    const parts = await this.deps.monitoring.getReportParts(stationId, requestId);
    if (reportComplete(parts)) return;
    const marked = await this.deps.monitoring.setReportStatus(stationId, requestId, 'Incomplete', AWAITED_STATUSES);
    if (marked) {
      this.deps.log.warn(
        { event: 'monitoring_report_incomplete', stationId, requestId, partsReceived: parts.length, deadlineMs },
        'monitoring report incomplete: no part arrived before the deadline',
      );
    }
  }
}
