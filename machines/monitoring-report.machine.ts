import { setup } from 'xstate';

/**
 * One monitoring report the station accepted to send (N02, DRV-ADM-09): it is under way until its last part (no
 * `tbc`, no seqNo missing) arrives. A station that sends `tbc:true` and then falls silent — it rebooted, lost its
 * queue, or has a bug — must not leave the report pending for ever: when no part comes for `deadlineMs` (from the
 * accepted answer, then from each part) the host marks it `Incomplete`. A part that arrives resets the wait, so a
 * long report that keeps coming is never cut short.
 *
 * Pure: `markIncomplete` is supplied by the host with `.provide()`. A unit test drives it with fake timers.
 */

export interface MonitoringReportContext {
  stationId: string;
  requestId: number;
  deadlineMs: number;
}

export type MonitoringReportInput = MonitoringReportContext;

export type MonitoringReportEvent = { type: 'PART' } | { type: 'COMPLETE' };

export const monitoringReportMachine = setup({
  types: {
    context: {} as MonitoringReportContext,
    input: {} as MonitoringReportInput,
    events: {} as MonitoringReportEvent,
  },
  actions: {
    /** Host: record the report as Incomplete (unless the store shows it completed, e.g. through another node). */
    markIncomplete: (_, _params: { stationId: string; requestId: number }) => undefined,
  },
  delays: {
    reportDeadline: ({ context }) => context.deadlineMs,
  },
}).createMachine({
  id: 'monitoringReport',
  context: ({ input }) => ({ ...input }),
  initial: 'awaiting',
  states: {
    awaiting: {
      after: { reportDeadline: 'overdue' },
      on: {
        PART: { target: 'awaiting', reenter: true },
        COMPLETE: 'complete',
      },
    },
    overdue: {
      type: 'final',
      entry: { type: 'markIncomplete', params: ({ context }) => ({ stationId: context.stationId, requestId: context.requestId }) },
    },
    complete: { type: 'final' },
  },
});
