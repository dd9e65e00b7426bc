import type { Clock } from '../../clock.js';
import type { IdTokenInfoType, MessageContentType, MeterValueType, TransactionEventRequest } from '../../ocpp/v201/types.js';
import type { BillingStore } from '../../store/billing-store.js';
import { costOf, tariffText, type PricedEvent, type TariffTerms } from './cost.js';
import type { CostUpdateChannel, CostUpdates } from './cost-updates.js';
import type { PriceQuote, PricingHooks } from './hooks.js';
import type { TariffStore } from './tariff-store.js';

/** How stale the CSMS's knowledge that no tariff exists may be (CONTRACT §6: a decision holds everywhere within 1 s). */
export const PRICING_CHECK_MS = 500;

function pricedEvent(payload: Record<string, unknown>, fallbackSeqNo: number): PricedEvent {
  const info = payload.transactionInfo as { chargingState?: string } | undefined;
  return {
    seqNo: typeof payload.seqNo === 'number' ? payload.seqNo : fallbackSeqNo,
    eventType: String(payload.eventType),
    timestamp: String(payload.timestamp),
    chargingState: info?.chargingState,
    meterValue: payload.meterValue as MeterValueType[] | undefined,
  };
}

function personalMessageOf(tariff: TariffTerms, info: IdTokenInfoType | undefined): MessageContentType | undefined {
  const text = tariffText(tariff, info?.language1);
  return text === undefined ? undefined : { format: 'UTF8', language: text.language, content: text.content };
}

/** MessageContentType.content holds at most 512 characters. */
const MAX_MESSAGE_CONTENT = 512;

/**
 * I06: the cost so far (the total, in the answer to Ended) in front of the tariff's text. Amount and currency are
 * language-neutral, so the message keeps the language of the text it carries; the text is cut, never the amount.
 */
export function runningCostMessage(tariff: TariffTerms, cost: string, info: IdTokenInfoType | undefined): MessageContentType | undefined {
  const text = tariffText(tariff, info?.language1);
  if (text === undefined) return undefined;
  const head = `${cost} ${tariff.currency} · `;
  return { format: 'UTF8', language: text.language, content: (head + text.content).slice(0, MAX_MESSAGE_CONTENT) };
}

/**
 * Tariff & cost (I01–I03, I06) for the transactions and authorization blocks. The cost of a TransactionEvent's answer
 * is computed before the event is stored, from the events stored before it plus this one (costOf is pure), so the
 * answer stored with the event is exactly what the station was told, and the cost is reproducible from the stored
 * events and the tariff copy the transaction keeps.
 */
export class TransactionPricing implements PricingHooks {
  /** Whether any tariff exists, and when that was read (see `inUse`). */
  private anyTariff: { value: Promise<boolean>; readAt: number; known?: boolean } | undefined;

  constructor(
    private readonly deps: {
      tariffs: TariffStore;
      store: Pick<BillingStore, 'getTransactionEvents'>;
      clock: Clock;
      /** CostUpdated between events; none when not given. */
      costUpdates?: CostUpdates;
    },
  ) {}

  /**
   * A fleet without tariffs pays nothing for pricing: whether any tariff exists is read at most once per
   * PRICING_CHECK_MS per node, so a tariff created through any node prices the next events everywhere within
   * that time (CONTRACT §6: within 1 s). While no tariff exists at all, transactions priced before keep the
   * cost they have but get no totalCost.
   */
  private inUse(): Promise<boolean> {
    const now = this.deps.clock.now();
    if (this.anyTariff === undefined || now - this.anyTariff.readAt >= PRICING_CHECK_MS) {
      const value = this.deps.tariffs.any();
      // A failed read is not remembered: the next message asks again.
      value.catch(() => (this.anyTariff = undefined));
      const entry: { value: Promise<boolean>; readAt: number; known?: boolean } = { value, readAt: now };
      void value.then(
        (known) => (entry.known = known),
        () => undefined,
      );
      this.anyTariff = entry;
    }
    return this.anyTariff.value;
  }

  knownUnpriced(): boolean {
    const entry = this.anyTariff;
    return entry !== undefined && entry.known === false && this.deps.clock.now() - entry.readAt < PRICING_CHECK_MS;
  }

  async quoteTransactionEvent(station: CostUpdateChannel, request: TransactionEventRequest, idTokenInfo: IdTokenInfoType | undefined): Promise<PriceQuote | undefined> {
    const { tariffs, store, clock, costUpdates } = this.deps;
    const stationId = station.stationId;
    if (!(await this.inUse())) return undefined;
    const transactionId = request.transactionInfo.transactionId;
    const applied = await tariffs.applicable(stationId, transactionId, idTokenInfo?.groupIdToken?.idToken);
    if (applied === undefined) return undefined;
    const stored = await store.getTransactionEvents(stationId, transactionId);
    const events = stored.map((event) => pricedEvent(event.payload, event.seqNo));
    // A resend of a stored seqNo is already among them; counting it twice would change nothing anyway.
    if (!stored.some((event) => event.seqNo === request.seqNo)) events.push(pricedEvent(request as unknown as Record<string, unknown>, request.seqNo));
    const { cost } = costOf(applied.tariff, events);
    // CONTRACT §8.4: the text goes with the first TransactionEventResponse that carries the token.
    const firstToken = request.idToken !== undefined && !stored.some((event) => event.payload.idToken !== undefined && event.seqNo !== request.seqNo);
    const personalMessage = firstToken && idTokenInfo?.status === 'Accepted' ? personalMessageOf(applied.tariff, idTokenInfo) : undefined;
    return {
      totalCost: Number(cost),
      personalMessage,
      // The answer that introduces the tariff says it once; every later one gives the cost with the same text.
      updatedPersonalMessage: personalMessage === undefined ? runningCostMessage(applied.tariff, cost, idTokenInfo) : undefined,
      commit: async () => {
        await tariffs.recordCost(stationId, transactionId, applied.tariff, cost, new Date(clock.now()));
        await costUpdates?.priced(station, transactionId, Number(cost), request.eventType === 'Ended');
      },
    };
  }

  async priceTransaction16(stationId: string, transactionId: string, groupId: string | undefined): Promise<void> {
    const { tariffs, store, clock } = this.deps;
    if (!(await this.inUse())) return;
    const applied = await tariffs.applicable(stationId, transactionId, groupId);
    if (applied === undefined) return;
    // CONTRACT §3.1: energy = meterStop − meterStart; time from the Start's timestamp to the Stop's (1.6 has no
    // charging state, so no idle time).
    const events: PricedEvent[] = (await store.getTransactionEvents(stationId, transactionId)).map((event) => {
      const wh = event.payload.meterStart ?? event.payload.meterStop;
      const timestamp = event.timestamp.toISOString();
      return {
        seqNo: event.seqNo,
        eventType: event.eventType,
        timestamp,
        meterValue: typeof wh === 'number' ? [{ timestamp, sampledValue: [{ value: wh }] }] : undefined,
      };
    });
    const { cost } = costOf(applied.tariff, events);
    await tariffs.recordCost(stationId, transactionId, applied.tariff, cost, new Date(clock.now()));
  }

  async personalMessage(stationId: string, idTokenInfo: IdTokenInfoType): Promise<MessageContentType | undefined> {
    if (!(await this.inUse())) return undefined;
    const applied = await this.deps.tariffs.applicable(stationId, undefined, idTokenInfo.groupIdToken?.idToken);
    return applied === undefined ? undefined : personalMessageOf(applied.tariff, idTokenInfo);
  }
}
