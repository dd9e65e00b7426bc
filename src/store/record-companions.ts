import type { TransactionEventWrite } from './billing-store.js';
import type { Companion } from './group-commit.js';
import type { BootStatus, JsonObject, StationEventKind } from './store.js';

/**
 * Rows another module wants committed in the same transaction as a record a station sent (the webhook outbox:
 * CONTRACT §8.7 "an event is in the durable outbox before the change that caused it is acknowledged"). Each
 * method answers undefined when it has nothing to add, which is the common case and must stay cheap: it runs on
 * the station's hot path for every such record.
 */
export interface RecordCompanions {
  boot(stationId: string, boot: { bootStatus: BootStatus; chargingStation: JsonObject; reason: string | undefined; at: Date }): readonly Companion[] | undefined;
  stationEvent(stationId: string, kind: StationEventKind, payload: JsonObject, at: Date): readonly Companion[] | undefined;
  transactionEvent(event: TransactionEventWrite): readonly Companion[] | undefined;
}
