import { asJson, type Json } from '../../json.js';
import type {
  BootNotificationRequest,
  BootNotificationResponse,
  GetBaseReportRequest,
  GetBaseReportResponse,
  GetReportRequest,
  GetReportResponse,
  NotifyReportRequest,
  NotifyReportResponse,
  ResetRequest,
  ResetResponse,
} from '../../ocpp/v201/types.js';
import type { BlockModule, HandlerContext, StationHandle, StationServices } from '../../station/types.js';
import { answerBoot, heartbeat } from './boot.js';
import { deviceVariableFromReport, learnFromGetVariables, learnFromSetVariables, withoutSecrets } from './device-model.js';
import { planGetVariables, planSetVariables } from './variable-plans.js';
import { provisioning16 } from './v16.js';

/**
 * Provisioning (B01–B07, B11/B12): boot, heartbeat, the device model (reports, GetVariables and
 * SetVariables, split to the station's limits) and resets.
 */

async function bootNotification(ctx: HandlerContext, request: BootNotificationRequest): Promise<BootNotificationResponse> {
  return answerBoot(ctx, asJson(request.chargingStation), request.chargingStation.serialNumber, request.reason);
}

/**
 * Reports are bounded per station (README "Budgets and retention"): a part whose seqNo lies outside
 * 0 … CSMS_REPORT_MAX_PARTS-1 is answered `{}` and dropped (a CALLERROR would only make a station resend it,
 * and an unsolicited report has nobody waiting for it), counted in csms_station_budget_refusals_total; parts
 * are stored for the newest CSMS_REPORT_MAX_REQUESTS requestIds of the station, older reports are deleted.
 */
async function notifyReport(ctx: HandlerContext, request: NotifyReportRequest): Promise<NotifyReportResponse> {
  const { store, config } = ctx.services;
  const stationId = ctx.station.stationId;
  if (request.seqNo < 0 || request.seqNo >= config.reportMaxParts) {
    ctx.station.overBudget('report_parts');
    ctx.station.log.debug({ messageId: ctx.messageId, requestId: request.requestId, seqNo: request.seqNo }, 'report part beyond the budget dropped');
    return {};
  }
  const firstPart = ctx.station.firstReportPart(request.requestId);
  const rows = (request.reportData ?? []).map(withoutSecrets);
  await Promise.all([
    store.recordReportPart(stationId, {
      requestId: request.requestId,
      seqNo: request.seqNo,
      tbc: request.tbc ?? false,
      generatedAt: request.generatedAt,
      reportData: rows as unknown as Json[],
    }),
    rows.length > 0 ? store.recordVariables(stationId, rows.map(deviceVariableFromReport)) : Promise.resolve(),
  ]);
  ctx.station.reportArrived(request.requestId);
  if (firstPart) {
    // After the answer: pruning is housekeeping, not part of what the station waits for.
    ctx.afterReply(() => {
      store.pruneReports(stationId, config.reportMaxRequests).then(
        (dropped) => {
          for (let i = 0; i < dropped; i++) ctx.station.overBudget('report_requests');
        },
        (err: unknown) => ctx.station.log.warn({ err }, 'pruning old reports failed'),
      );
    });
  }
  return {};
}

/** B07/B08: once the station accepted a report request, GET …/reports/{requestId} shows it as under way. */
async function rememberReportRequest(
  station: StationHandle,
  request: GetBaseReportRequest | GetReportRequest,
  response: GetBaseReportResponse | GetReportResponse,
  services: StationServices,
): Promise<void> {
  // EmptyResultSet: the station will send nothing, so there is no report to wait for.
  if (response.status !== 'Accepted') return;
  await services.store.recordReportRequest(station.stationId, request.requestId, new Date(services.clock.now()));
}

function noteReset(station: StationHandle, request: ResetRequest, response: ResetResponse): void {
  // B11/B12: Accepted reboots now, Scheduled after the running transactions end; either way the next
  // BootNotification (reason RemoteReset / ScheduledReset) closes the loop, and EVSE resets do not reboot.
  station.log.info({ type: request.type, evseId: request.evseId, status: response.status }, 'reset requested');
}

export const provisioning: BlockModule = {
  name: 'provisioning',
  handlers: {
    BootNotification: bootNotification,
    Heartbeat: heartbeat,
    NotifyReport: notifyReport,
  },
  resultHooks: {
    GetVariables: learnFromGetVariables,
    SetVariables: learnFromSetVariables,
    Reset: noteReset,
    GetBaseReport: rememberReportRequest,
    GetReport: rememberReportRequest,
  },
  plans: {
    GetVariables: planGetVariables,
    SetVariables: planSetVariables,
  },
  v16: provisioning16,
};
