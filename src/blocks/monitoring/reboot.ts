import type { Clock } from '../../clock.js';
import type { BootFollower, StationHandle } from '../../station/types.js';
import type { MonitoringStore } from '../../store/monitoring-sql.js';
import { rebootRereadRequestId } from './monitors.js';

/**
 * N04.FR.19 (DRV-ADM-06): a station that booted may have renumbered its monitors, and custom monitors may not have
 * survived. Once its BootNotification was Accepted, a station the registry holds monitors for is asked for all of
 * them (GetMonitoringReport without filters); the monitoring block re-maps the CSMS-set monitors when that report
 * is complete. A station with no known monitor is not asked: there is nothing to re-map, and a station without the
 * Advanced Device Management profile would only answer a CALLERROR.
 */
export function monitorsRereadAfterBoot(deps: { monitoring: MonitoringStore; clock: Clock }): BootFollower {
  const { monitoring, clock } = deps;

  async function reread(station: StationHandle): Promise<void> {
    const stationId = station.stationId;
    const known = await monitoring.listMonitors(stationId);
    if (!known.some((monitor) => monitor.id !== null)) return;
    const requestId = rebootRereadRequestId(clock.now());
    const payload = { requestId };
    // Kept before it leaves, like an operator's request: the first part may come before the answer is processed.
    await monitoring.recordReportRequest(stationId, { requestId, request: payload, status: 'Requested', answeredAt: new Date(clock.now()) });
    station.log.info({ event: 'monitors_reread_after_boot', requestId, known: known.length }, 'station booted: re-reading its monitors (N04.FR.19)');
    try {
      // The monitoring block's result hook records the answer and starts the report's deadline.
      await station.call('GetMonitoringReport', payload);
    } catch (err) {
      await monitoring.recordReportRequest(stationId, { requestId, request: payload, status: 'Failed', answeredAt: new Date(clock.now()) });
      station.log.warn({ event: 'monitors_reread_failed', requestId, err }, 're-reading the monitors after a boot failed');
    }
  }

  return (station, status) => {
    if (status !== 'Accepted' || station.protocol.version !== '2.0.1') return;
    reread(station).catch((err: unknown) => station.log.warn({ err }, 'could not start re-reading the monitors after a boot'));
  };
}
