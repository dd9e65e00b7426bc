import type { IdTokenInfoType, MessageContentType, TransactionEventRequest } from '../../ocpp/v201/types.js';
import type { CostUpdateChannel } from './cost-updates.js';

/** The price of a transaction as of one TransactionEvent, before that event is stored. */
export interface PriceQuote {
  /** The running (or, for Ended, final) cost: exact, rounded once to the currency's minor unit. */
  totalCost: number;
  /** The tariff text, when this event is the first of the transaction to carry the token (CONTRACT §8.4). */
  personalMessage: MessageContentType | undefined;
  /**
   * I06: the running (or final) cost with the tariff's text, for every answer that does not carry `personalMessage`;
   * undefined when the tariff has no text.
   */
  updatedPersonalMessage: MessageContentType | undefined;
  /**
   * Stores the cost with the transaction, once the event itself is stored; then follows the transaction with
   * CostUpdated between events (none after Ended).
   */
  commit(): Promise<void>;
}

/** What the transactions and authorization blocks ask of the tariffs block. */
export interface PricingHooks {
  /** Undefined when no tariff applies to the transaction. */
  quoteTransactionEvent(station: CostUpdateChannel, request: TransactionEventRequest, idTokenInfo: IdTokenInfoType | undefined): Promise<PriceQuote | undefined>;
  /**
   * A 1.6 transaction after its StartTransaction or StopTransaction was stored: its cost from meterStart/meterStop
   * and the two timestamps (1.6 answers carry no cost; the cost shows in the API and the CSV).
   */
  priceTransaction16(stationId: string, transactionId: string, groupId: string | undefined): Promise<void>;
  /**
   * True while this node's last look (within PRICING_CHECK_MS) found no tariff at all: a caller may skip pricing
   * without waiting for anything (an Authorize stays synchronous in a fleet without tariffs).
   */
  knownUnpriced(): boolean;
  /** The tariff text for an Authorize answer; undefined when no tariff (or no text) applies. */
  personalMessage(stationId: string, idTokenInfo: IdTokenInfoType): Promise<MessageContentType | undefined>;
}
