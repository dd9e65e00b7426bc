import { ocppDateTime } from '../../clock.js';
import type { JsonObject } from '../../json.js';
import type { HandlerContext } from '../../station/types.js';
import { enforceBootSerialNumber } from '../security/certificates.js';

/**
 * Boot and heartbeat, the domain both versions share (B01–B03; OCPP 1.6 §4.2, §4.6): the provisioning block's
 * 2.0.1 and 1.6 handlers only translate their messages into these calls.
 */

/**
 * A BootNotification of either version: the registration's policy decides, the answer is recorded, and the
 * actor follows once the answer is out. `chargingStation` is what the station view shows of the station.
 */
export async function answerBoot(
  ctx: HandlerContext,
  chargingStation: JsonObject,
  serialNumber: string | undefined,
  reason: string | undefined,
): Promise<{ currentTime: string; interval: number; status: 'Accepted' | 'Pending' | 'Rejected' }> {
  // B01.FR.11/12 (DRV-A00-04): on profile 3 a serialNumber that contradicts the client certificate closes the connection.
  enforceBootSerialNumber(ctx, { serialNumber }, ctx.station.clientCertificate);
  const { store, config, clock, metrics } = ctx.services;
  const stationId = ctx.station.stationId;
  // The policy is read fresh: the operator may have accepted the station since it connected (TC_B_02).
  const station = await store.getStation(stationId);
  const status = station?.bootPolicy ?? 'Rejected';
  const now = clock.now();
  await store.recordBoot(stationId, { bootStatus: status, chargingStation, reason, at: new Date(now) });
  // The actor changes state only once the answer is on the wire: entering Pending sends GetBaseReport,
  // which must not overtake the BootNotificationResponse.
  ctx.afterReply(() => {
    ctx.station.bootAnswered(status);
    for (const follow of ctx.services.bootFollowers ?? []) follow(ctx.station, status, ctx.services);
  });
  metrics.bootsTotal.labels(status).inc();
  ctx.station.log.info({ messageId: ctx.messageId, status, reason }, 'boot answered');
  return {
    currentTime: ocppDateTime(now),
    interval: status === 'Accepted' ? config.heartbeatIntervalSeconds : config.bootRetryIntervalSeconds,
    status,
  };
}

export function heartbeat(ctx: HandlerContext): { currentTime: string } {
  return { currentTime: ocppDateTime(ctx.services.clock.now()) };
}
