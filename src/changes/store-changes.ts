import type { JsonObject } from '../json.js';
import type { BillingStore, TransactionEventWrite } from '../store/billing-store.js';
import type { ConnectorStatusRecord, StationEventKind, StationPatch, StationRecord, StationStatusRecord, Store } from '../store/store.js';
import type { ChangeFeed } from './change-feed.js';

type AnyStore = Store & BillingStore;

/**
 * What a committed write tells the change feed. The store is where a station's message becomes durable, so
 * publishing after the write resolved means the stream never shows what a restart would forget, and every block
 * (and either OCPP version) is covered without knowing about the stream.
 */
interface StoreHooks {
  recordBoot(_result: unknown, stationId: string, boot: { bootStatus: string; chargingStation: JsonObject; reason: string; at: Date }): void;
  recordConnectorStatus(_result: unknown, stationId: string, status: ConnectorStatusRecord): void;
  recordStationStatus(_result: unknown, stationId: string, status: StationStatusRecord): void;
  recordTransactionEvent(result: { inserted: boolean }, event: TransactionEventWrite): void;
  recordEvent(_result: unknown, stationId: string, kind: StationEventKind, payload: JsonObject, at: Date): void;
  upsertStation(result: { station: StationRecord; created: boolean }, id: string, patch: StationPatch): void;
  deleteStation(result: boolean, id: string): void;
}

const TRANSACTION_KIND = { Started: 'transaction.started', Updated: 'transaction.updated', Ended: 'transaction.ended' } as const;

function hooksFor(feed: ChangeFeed): StoreHooks {
  return {
    recordBoot: (_r, stationId, boot) =>
      feed.publish('station.boot', { stationId, bootStatus: boot.bootStatus, reason: boot.reason, chargingStation: boot.chargingStation }),
    recordConnectorStatus: (_r, stationId, status) =>
      feed.publish('connector.status', {
        stationId,
        evseId: status.evseId,
        connectorId: status.connectorId,
        status: status.status,
        timestamp: status.updatedAt.toISOString(),
      }),
    recordStationStatus: (_r, stationId, status) => feed.publish('station.status', { stationId, status: status.status, timestamp: status.updatedAt.toISOString() }),
    recordTransactionEvent: (result, event) => {
      // A resend of a stored event changes nothing, so it is no change.
      if (!result.inserted) return;
      const idToken = event.idToken?.idToken;
      feed.publish(TRANSACTION_KIND[event.eventType], {
        stationId: event.stationId,
        transactionId: event.transactionId,
        seqNo: event.seqNo,
        triggerReason: event.triggerReason,
        timestamp: event.timestamp.toISOString(),
        ...(event.evseId !== undefined ? { evseId: event.evseId } : {}),
        ...(event.connectorId !== undefined ? { connectorId: event.connectorId } : {}),
        ...(typeof idToken === 'string' ? { idToken } : {}),
        ...(event.chargingState !== undefined ? { chargingState: event.chargingState } : {}),
        ...(event.stoppedReason !== undefined ? { stoppedReason: event.stoppedReason } : {}),
        ...(event.lastRegister !== undefined ? { energyRegisterWh: event.lastRegister.wh } : {}),
      });
    },
    recordEvent: (_r, stationId, kind, payload, at) => feed.publish('station.event', { stationId, eventKind: kind, payload, receivedAt: at.toISOString() }),
    upsertStation: (result, id) =>
      feed.publish('station.registered', {
        stationId: id,
        created: result.created,
        bootPolicy: result.station.bootPolicy,
        bootStatus: result.station.bootStatus,
        securityProfile: result.station.securityProfile,
      }),
    deleteStation: (deleted, id) => {
      if (deleted) feed.publish('station.deleted', { stationId: id });
    },
  };
}

/**
 * The store, with each write of StoreHooks announced on the feed once it resolved (a failed write announces
 * nothing). Every other member is the store's own, bound to it.
 */
export function publishingStore<S extends AnyStore>(store: S, feed: ChangeFeed): S {
  const hooks = hooksFor(feed) as unknown as Record<string, ((result: unknown, ...args: unknown[]) => void) | undefined>;
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      const cached = wrapped.get(property);
      if (cached !== undefined) return cached;
      const method = value as (...args: unknown[]) => unknown;
      const hook = typeof property === 'string' ? hooks[property] : undefined;
      const fn =
        hook === undefined
          ? method.bind(target)
          : async (...args: unknown[]): Promise<unknown> => {
              const result = await method.apply(target, args);
              hook(result, ...args);
              return result;
            };
      wrapped.set(property, fn);
      return fn;
    },
  });
}
