import type { TransactionEventWrite } from '../../src/store/billing-store.js';

/** The parts of a TransactionEventWrite that name the event; everything it could contribute is left unsaid. */
export type TransactionEventCore = Pick<TransactionEventWrite, 'stationId' | 'transactionId' | 'seqNo' | 'eventType' | 'timestamp' | 'triggerReason' | 'payload'>;

/** A TransactionEventWrite as the store takes it: online, answered `{}`, contributing nothing beyond `extra`. */
export function transactionEventWrite(core: TransactionEventCore, extra: Partial<TransactionEventWrite> = {}): TransactionEventWrite {
  return {
    ...core,
    offline: false,
    response: {},
    evseId: undefined,
    connectorId: undefined,
    idToken: undefined,
    chargingState: undefined,
    stoppedReason: undefined,
    remoteStartId: undefined,
    firstRegister: undefined,
    lastRegister: undefined,
    ...extra,
  };
}
