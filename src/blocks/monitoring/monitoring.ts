import type { Clock } from '../../clock.js';
import { asJson } from '../../json.js';
import type {
  ClearVariableMonitoringRequest,
  ClearVariableMonitoringResponse,
  EventDataType,
  GetMonitoringReportRequest,
  GetMonitoringReportResponse,
  MonitoringDataType,
  NotifyEventRequest,
  NotifyEventResponse,
  NotifyMonitoringReportRequest,
  NotifyMonitoringReportResponse,
  SetMonitoringBaseRequest,
  SetMonitoringBaseResponse,
  SetMonitoringLevelRequest,
  SetMonitoringLevelResponse,
  SetVariableMonitoringRequest,
  SetVariableMonitoringResponse,
} from '../../ocpp/v201/types.js';
import type { MonitorEventWrite, MonitoringStore } from '../../store/monitoring-sql.js';
import type { BlockModule, CommandPlan, HandlerContext, PlanContext, StationHandle, StationServices } from '../../station/types.js';
import { recordAvailability } from '../availability/availability.js';
import { planClearVariableMonitoring, planGetMonitoringReport, planSetMonitoringLevel, planSetVariableMonitoring } from './monitoring-plans.js';
import { inReportScope, isMonitorEvent, isRebootReread, monitorsFromReport, monitorsFromSetResult, remapAfterReboot, reportComplete } from './monitors.js';
import type { MonitoringReportDeadlines } from './report-deadlines.js';

/**
 * Monitoring (Advanced Device Management, N02-N08): the monitors a station holds, as the CSMS set them
 * (SetVariableMonitoring answers) and as the station reported them (NotifyMonitoringReport, assembled per
 * requestId); the monitoring base and level; ClearVariableMonitoring; and NotifyEvent, whose monitor events
 * become alerts with the monitor's severity, counted in csms_monitor_alerts_total{severity}. Everything the
 * station sends is committed before it is answered; what the CSMS learns from an answer is committed before
 * the command's API answer.
 */

/**
 * An alert is a monitor's report of a problem: trigger Alerting (a threshold crossed) or Delta (a change), not
 * the return to normal (`cleared`) and not a Periodic sample (TC_N_50: a periodic value is no alert).
 */
function isAlert(event: { trigger: string; cleared?: boolean }): boolean {
  return event.trigger !== 'Periodic' && event.cleared !== true;
}

export interface MonitoringBlockDeps {
  monitoring: MonitoringStore;
  clock: Clock;
  /** The deadlines of reports under way (DRV-ADM-09); a unit test that builds the table alone leaves it out. */
  reportDeadlines?: MonitoringReportDeadlines;
}

export function createMonitoringBlock({ monitoring, clock, reportDeadlines }: MonitoringBlockDeps): BlockModule {
  /**
   * N07/N08 NotifyEvent: always answered `{}` once stored (N07.FR.03; unknown components, an empty actualValue,
   * a `cleared` without an open alert and unknown monitor ids included). The stored payload is the request, with
   * the monitor's severity added to each event of a monitor the CSMS knows, so GET …/events shows it. A
   * Connector/ChargingStation AvailabilityState event also updates that status, as a StatusNotification would.
   */
  async function notifyEvent(ctx: HandlerContext, request: NotifyEventRequest): Promise<NotifyEventResponse> {
    const { store, metrics } = ctx.services;
    const stationId = ctx.station.stationId;
    const receivedAt = new Date(clock.now());

    const severities = new Map<number, number>();
    for (const id of new Set(request.eventData.flatMap((e) => (e.variableMonitoringId === undefined ? [] : [e.variableMonitoringId])))) {
      const monitor = await monitoring.findMonitor(stationId, id);
      if (monitor !== undefined) severities.set(id, monitor.severity);
    }
    const severityOf = (event: EventDataType): number | undefined => (event.variableMonitoringId === undefined ? undefined : severities.get(event.variableMonitoringId));

    const eventData = request.eventData.map((event) => {
      const severity = severityOf(event);
      return severity === undefined ? event : { ...event, severity };
    });
    const monitorEvents: MonitorEventWrite[] = request.eventData.filter(isMonitorEvent).map((event) => ({
      generatedAt: request.generatedAt,
      seqNo: request.seqNo,
      eventId: event.eventId,
      timestamp: event.timestamp,
      trigger: event.trigger,
      actualValue: event.actualValue,
      cleared: event.cleared ?? false,
      severity: severityOf(event) ?? null,
      variableMonitoringId: event.variableMonitoringId ?? null,
      eventNotificationType: event.eventNotificationType,
      component: asJson(event.component),
      variable: asJson(event.variable),
    }));

    const writes: Promise<unknown>[] = [store.recordEvent(stationId, 'NotifyEvent', asJson({ ...request, eventData }), receivedAt)];
    for (const event of request.eventData) {
      if (event.variable.name !== 'AvailabilityState') continue;
      const evse = event.component.evse;
      const updatedAt = new Date(Date.parse(event.timestamp) || clock.now());
      if (event.component.name === 'Connector' && evse?.connectorId !== undefined) {
        writes.push(recordAvailability(ctx, evse.id, evse.connectorId, event.actualValue, updatedAt));
      } else if (event.component.name === 'ChargingStation' || evse?.id === 0) {
        // The station as a whole (the ChargingStation component, or anything on evse 0): the station's status.
        writes.push(recordAvailability(ctx, 0, 0, event.actualValue, updatedAt));
      }
    }
    const stored = monitoring.recordMonitorEvents(stationId, monitorEvents);
    writes.push(stored);
    await Promise.all(writes);
    // Counted and logged only when first stored: a NotifyEvent resent after a lost answer is one alert, not two.
    const fresh = (await stored).filter(isAlert);
    for (const event of fresh) metrics.monitorAlertsTotal.labels(event.severity === null ? 'unknown' : String(event.severity)).inc();
    if (fresh.length > 0) {
      ctx.station.log.info(
        {
          messageId: ctx.messageId,
          alerts: fresh.map((e) => ({
            eventId: e.eventId,
            variableMonitoringId: e.variableMonitoringId,
            trigger: e.trigger,
            severity: e.severity,
            actualValue: e.actualValue,
          })),
        },
        'monitor alert',
      );
    }
    return {};
  }

  /**
   * N02 NotifyMonitoringReport: each part is stored per requestId before it is answered (CSMS_REPORT_MAX_PARTS
   * bounds the seqNo and CSMS_REPORT_MAX_REQUESTS the reports kept per station, as for NotifyReport). Once every
   * part up to the last (tbc absent or false) is in, the report replaces what the station reported before within
   * the request's filters.
   */
  async function notifyMonitoringReport(ctx: HandlerContext, request: NotifyMonitoringReportRequest): Promise<NotifyMonitoringReportResponse> {
    const { config } = ctx.services;
    const stationId = ctx.station.stationId;
    if (request.seqNo < 0 || request.seqNo >= config.reportMaxParts) {
      ctx.station.overBudget('report_parts');
      ctx.station.log.debug({ messageId: ctx.messageId, requestId: request.requestId, seqNo: request.seqNo }, 'monitoring report part beyond the budget dropped');
      return {};
    }
    const part = {
      requestId: request.requestId,
      seqNo: request.seqNo,
      tbc: request.tbc ?? false,
      generatedAt: request.generatedAt,
      monitor: (request.monitor ?? []).map((m) => asJson(m)),
    };
    const earlier = await monitoring.getReportParts(stationId, request.requestId);
    const parts = [...earlier.filter((p) => p.seqNo !== part.seqNo), part].sort((a, b) => a.seqNo - b.seqNo);
    const complete = reportComplete(parts);
    if (complete) {
      // The registry is brought up to date before the last part is stored, so whoever sees the report complete
      // sees the monitors it holds too (a failure here leaves the part unstored: the station resends it).
      const asked = await monitoring.getReportRequest(stationId, request.requestId);
      // A report nobody asked for through this CSMS (or from before it kept requests) covers every monitor.
      const scope = inReportScope(asked?.request ?? {});
      const reported = monitorsFromReport(parts.flatMap((p) => p.monitor) as unknown as MonitoringDataType[]);
      await monitoring.replaceReportedMonitors(stationId, reported, scope);
      if (asked !== undefined && isRebootReread(request.requestId, asked.request)) {
        // N04.FR.19: the CSMS's monitors take the ids the station gives them since its reboot; the rest are gone.
        const accepted = (await monitoring.listMonitors(stationId)).filter((m) => m.source === 'CSMS' && m.id !== null);
        const survivors = remapAfterReboot(accepted, reported);
        await monitoring.replaceAcceptedCsmsMonitors(stationId, survivors);
        ctx.station.log.info(
          { event: 'monitors_remapped_after_boot', requestId: request.requestId, known: accepted.length, survived: survivors.length },
          'monitors re-read after the reboot',
        );
      }
      // Late parts after the deadline still complete the report: it is no longer incomplete.
      if (asked?.status === 'Incomplete') await monitoring.setReportStatus(stationId, request.requestId, 'Accepted', ['Incomplete']);
    }
    await monitoring.recordReportPart(stationId, part);
    reportDeadlines?.partArrived(stationId, request.requestId, complete);
    if (part.seqNo === 0) {
      // After the answer, once per report: older monitoring reports beyond CSMS_REPORT_MAX_REQUESTS are housekeeping.
      ctx.afterReply(() => {
        monitoring.pruneReports(stationId, config.reportMaxRequests).then(
          (dropped) => {
            for (let i = 0; i < dropped; i++) ctx.station.overBudget('report_requests');
          },
          (err: unknown) => ctx.station.log.warn({ err }, 'pruning old monitoring reports failed'),
        );
      });
    }
    return {};
  }

  async function learnSetMonitors(station: StationHandle, request: SetVariableMonitoringRequest, response: SetVariableMonitoringResponse): Promise<void> {
    const { monitors, supersededKeys } = monitorsFromSetResult(request.setMonitoringData, response.setMonitoringResult);
    await monitoring.recordSetMonitors(station.stationId, monitors, supersededKeys);
  }

  /** N06: an accepted clear removes the monitor; NotFound says the station holds none, so none is kept; Rejected keeps it (TC_N_44). */
  async function learnClear(station: StationHandle, _request: ClearVariableMonitoringRequest, response: ClearVariableMonitoringResponse): Promise<void> {
    const gone = response.clearMonitoringResult.filter((r) => r.status === 'Accepted' || r.status === 'NotFound').map((r) => r.id);
    await monitoring.removeMonitors(station.stationId, gone);
  }

  /** N03.FR.03-05: All keeps custom monitors; FactoryDefault and HardWiredOnly delete them, so the registry does too. */
  async function learnBase(station: StationHandle, request: SetMonitoringBaseRequest, response: SetMonitoringBaseResponse, services: StationServices): Promise<void> {
    if (response.status !== 'Accepted') return;
    await monitoring.recordMonitoringBase(station.stationId, request.monitoringBase, new Date(services.clock.now()));
    if (request.monitoringBase !== 'All') await monitoring.removeCustomMonitors(station.stationId);
  }

  /** N05: the level the station accepted is the active one; a rejection keeps the previous level (TC_N_17). */
  async function learnLevel(station: StationHandle, request: SetMonitoringLevelRequest, response: SetMonitoringLevelResponse, services: StationServices): Promise<void> {
    if (response.status !== 'Accepted') return;
    await monitoring.recordMonitoringLevel(station.stationId, request.severity, new Date(services.clock.now()));
  }

  /**
   * N02: the request is kept with the station's answer, so GET …/monitoring-reports/{requestId} knows it is under
   * way (Accepted) or that nothing will come; EmptyResultSet means the station holds no monitor within the
   * filters (N02.FR.10), which is what the registry then shows for them.
   */
  async function learnReportRequest(
    station: StationHandle,
    request: GetMonitoringReportRequest,
    response: GetMonitoringReportResponse,
    services: StationServices,
  ): Promise<void> {
    await monitoring.recordReportRequest(station.stationId, {
      requestId: request.requestId,
      request: asJson(request),
      status: response.status,
      answeredAt: new Date(services.clock.now()),
    });
    if (response.status === 'EmptyResultSet') await monitoring.replaceReportedMonitors(station.stationId, [], inReportScope(request));
    // DRV-ADM-09: from now on the parts have a deadline (reset by each part); none can come after any other answer.
    if (response.status === 'Accepted') reportDeadlines?.accepted(station.stationId, request.requestId, services.config.monitoringReportTimeoutMs);
  }

  /**
   * The request is kept before it leaves: a station may send its first NotifyMonitoringReport before the CSMS has
   * processed the answer, and the parts must find the filters they answer. A request that gets no answer is marked
   * `Failed` (nothing will come).
   */
  async function planReportRequest(payload: GetMonitoringReportRequest, ctx: PlanContext): Promise<CommandPlan> {
    const plan = await planGetMonitoringReport(payload, ctx);
    const stationId = ctx.station.id;
    const keep = (status: string): Promise<void> =>
      monitoring.recordReportRequest(stationId, { requestId: payload.requestId, request: asJson(payload), status, answeredAt: new Date(clock.now()) });
    await keep('Requested');
    return {
      ...plan,
      settle: async (outcome) => {
        if (outcome.kind === 'failed') await keep('Failed');
      },
    };
  }

  return {
    name: 'monitoring',
    handlers: {
      NotifyEvent: notifyEvent,
      NotifyMonitoringReport: notifyMonitoringReport,
    },
    resultHooks: {
      SetVariableMonitoring: learnSetMonitors,
      ClearVariableMonitoring: learnClear,
      SetMonitoringBase: learnBase,
      SetMonitoringLevel: learnLevel,
      GetMonitoringReport: learnReportRequest,
    },
    plans: {
      SetVariableMonitoring: planSetVariableMonitoring,
      ClearVariableMonitoring: planClearVariableMonitoring,
      SetMonitoringLevel: planSetMonitoringLevel,
      GetMonitoringReport: planReportRequest,
    },
  };
}
