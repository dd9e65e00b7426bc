import type { JsonObject } from '../json.js';
import type { BillingStore, TransactionEventWrite } from '../store/billing-store.js';
import type { ConnectorStatusRecord, StationEventKind, StationPatch, StationRecord, StationStatusRecord, Store } from '../store/store.js';
import type { ChangeData, ChangeFeed, ChangeKind } from './change-feed.js';

type AnyStore = Store & BillingStore;

/**
 * What a committed write tells the change feed. The store is where a station's message becomes durable, so
 * publishing after the write resolved means the stream never shows what a restart would forget, and every block
 * (and either OCPP version) is covered without knowing about the stream.
 */
interface StoreHooks {
  recordBoot(_result: unknown, stationId: string, boot: { bootStatus: string; chargingStation: JsonObject; reason: string | undefined; at: Date }): void;
  recordConnectorStatus(_result: unknown, stationId: string, status: ConnectorStatusRecord): void;
  recordStationStatus(_result: unknown, stationId: string, status: StationStatusRecord): void;
  recordTransactionEvent(result: { inserted: boolean }, event: TransactionEventWrite): void;
  recordEvent(_result: unknown, stationId: string, kind: StationEventKind, payload: JsonObject, at: Date): void;
  upsertStation(result: { station: StationRecord; created: boolean }, id: string, patch: StationPatch): void;
  deleteStation(result: boolean, id: string): void;
}

const TRANSACTION_KIND = { Started: 'transaction.started', Updated: 'transaction.updated', Ended: 'transaction.ended' } as const;

/** A change as the stream (and a webhook) tells it: its kind and its data without `at`. */
export interface DescribedChange {
  kind: ChangeKind;
  data: Omit<ChangeData, 'at'>;
}

/** What a boot record tells (also the webhook outbox's description of it, so both say the same). */
export function bootChange(stationId: string, boot: { bootStatus: string; chargingStation: JsonObject; reason: string | undefined }): DescribedChange {
  return {
    kind: 'station.boot',
    data: { stationId, bootStatus: boot.bootStatus, ...(boot.reason !== undefined ? { reason: boot.reason } : {}), chargingStation: boot.chargingStation },
  };
}

export function connectorStatusChange(stationId: string, status: ConnectorStatusRecord): DescribedChange {
  return {
    kind: 'connector.status',
    data: { stationId, evseId: status.evseId, connectorId: status.connectorId, status: status.status, timestamp: status.updatedAt.toISOString() },
  };
}

export function transactionChange(event: TransactionEventWrite): DescribedChange {
  const idToken = event.idToken?.idToken;
  return {
    kind: TRANSACTION_KIND[event.eventType],
    data: {
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
    },
  };
}

export function stationEventChange(stationId: string, kind: StationEventKind, payload: JsonObject, at: Date): DescribedChange {
  return { kind: 'station.event', data: { stationId, eventKind: kind, payload, receivedAt: at.toISOString() } };
}

function hooksFor(feed: ChangeFeed): StoreHooks {
  const publish = (change: DescribedChange): void => feed.publish(change.kind, change.data);
  return {
    recordBoot: (_r, stationId, boot) => publish(bootChange(stationId, boot)),
    recordConnectorStatus: (_r, stationId, status) => publish(connectorStatusChange(stationId, status)),
    recordStationStatus: (_r, stationId, status) => feed.publish('station.status', { stationId, status: status.status, timestamp: status.updatedAt.toISOString() }),
    recordTransactionEvent: (result, event) => {
      // A resend of a stored event changes nothing, so it is no change.
      if (result.inserted) publish(transactionChange(event));
    },
    recordEvent: (_r, stationId, kind, payload, at) => publish(stationEventChange(stationId, kind, payload, at)),
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
