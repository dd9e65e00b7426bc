import type { MeterValueType } from '../../ocpp/v201/types.js';
import { Exact, minorUnits } from './money.js';

/** A tariff as data (CONTRACT §8.4); amounts are the decimal strings the operator gave. */
export interface TariffTerms {
  id: string;
  currency: string;
  energyPerKWh?: string | undefined;
  timePerHour?: string | undefined;
  sessionFee?: string | undefined;
  idleFeePerHour?: string | undefined;
  description?: Record<string, string> | undefined;
}

/** What pricing needs of one TransactionEvent, as the station sent it. */
export interface PricedEvent {
  seqNo: number;
  eventType: string;
  timestamp: string;
  chargingState?: string | undefined;
  meterValue?: readonly MeterValueType[] | undefined;
}

export interface CostBreakdown {
  /** Rounded once, half-up, to the currency's minor unit. */
  cost: string;
  currency: string;
  energyWh: Exact;
  durationMs: number;
  idleMs: number;
}

const MS_PER_HOUR = Exact.of(3_600_000n);
const WH_PER_KWH = Exact.of(1000n);

/** A register sample in Wh, exactly: the value as the station wrote it, times its unit and multiplier. */
function sampleWh(sample: { value: number; unitOfMeasure?: { unit?: string; multiplier?: number } }): Exact {
  const unit = sample.unitOfMeasure?.unit ?? 'Wh';
  const multiplier = sample.unitOfMeasure?.multiplier ?? 0;
  const scale = multiplier >= 0 ? Exact.of(10n ** BigInt(multiplier)) : Exact.of(1n, 10n ** BigInt(-multiplier));
  const wh = Exact.fromNumber(sample.value).mul(scale);
  return unit === 'kWh' ? wh.mul(WH_PER_KWH) : wh;
}

/**
 * Energy as the transaction view computes it (CONTRACT §4 `energyWh`): the latest minus the earliest
 * Energy.Active.Import.Register reading without a phase, by the readings' own timestamps; zero without two.
 */
export function energyOf(events: readonly PricedEvent[]): Exact {
  let first: { at: number; wh: Exact } | undefined;
  let last: { at: number; wh: Exact } | undefined;
  for (const event of events) {
    for (const meterValue of event.meterValue ?? []) {
      const at = Date.parse(meterValue.timestamp);
      if (Number.isNaN(at)) continue;
      for (const sample of meterValue.sampledValue) {
        if ((sample.measurand ?? 'Energy.Active.Import.Register') !== 'Energy.Active.Import.Register' || sample.phase !== undefined) continue;
        const reading = { at, wh: sampleWh(sample) };
        if (first === undefined || at < first.at) first = reading;
        if (last === undefined || at >= last.at) last = reading;
      }
    }
  }
  return first === undefined || last === undefined ? Exact.ZERO : last.wh.sub(first.wh);
}

/**
 * Time and idle time (CONTRACT §8.4): from the Started event's timestamp (the earliest event when the Started one
 * never arrived) to the Ended event's, or to the latest event while the transaction runs, as the station stamped
 * them. Idle is the part of it in a chargingState other than Charging after charging first began; a state holds
 * from the event that reported it until the next event that reports another.
 */
export function durationsOf(events: readonly PricedEvent[]): { durationMs: number; idleMs: number } {
  const timed = events
    .map((event) => ({ event, at: Date.parse(event.timestamp) }))
    .filter((entry) => !Number.isNaN(entry.at))
    .sort((a, b) => a.at - b.at || a.event.seqNo - b.event.seqNo);
  if (timed.length === 0) return { durationMs: 0, idleMs: 0 };
  const started = timed.find((entry) => entry.event.eventType === 'Started') ?? timed[0];
  const ended = timed.find((entry) => entry.event.eventType === 'Ended');
  const start = (started as { at: number }).at;
  const end = ended?.at ?? (timed[timed.length - 1] as { at: number }).at;
  if (end <= start) return { durationMs: 0, idleMs: 0 };
  let idleMs = 0;
  let state: string | undefined;
  let chargingBegan = false;
  let since = start;
  for (const { event, at } of timed) {
    const now = Math.min(Math.max(at, start), end);
    if (chargingBegan && state !== undefined && state !== 'Charging') idleMs += now - since;
    since = now;
    if (event.chargingState !== undefined) state = event.chargingState;
    if (state === 'Charging') chargingBegan = true;
  }
  if (chargingBegan && state !== undefined && state !== 'Charging') idleMs += end - since;
  return { durationMs: end - start, idleMs };
}

function amount(text: string | undefined): Exact {
  return text === undefined ? Exact.ZERO : Exact.parseMoney(text);
}

/**
 * Cost = sessionFee + energy × energyPerKWh + time × timePerHour + idle × idleFeePerHour, exactly, rounded once.
 * A pure function of the tariff and the stored events: the same events always give the same cost.
 */
export function costOf(tariff: TariffTerms, events: readonly PricedEvent[]): CostBreakdown {
  const energyWh = energyOf(events);
  const { durationMs, idleMs } = durationsOf(events);
  // A meter that ran backwards is not a refund.
  const billedWh = energyWh.isNegative() ? Exact.ZERO : energyWh;
  const exact = amount(tariff.sessionFee)
    .add(billedWh.div(WH_PER_KWH).mul(amount(tariff.energyPerKWh)))
    .add(Exact.of(BigInt(durationMs)).div(MS_PER_HOUR).mul(amount(tariff.timePerHour)))
    .add(Exact.of(BigInt(idleMs)).div(MS_PER_HOUR).mul(amount(tariff.idleFeePerHour)));
  return { cost: exact.roundHalfUp(minorUnits(tariff.currency)), currency: tariff.currency, energyWh, durationMs, idleMs };
}

/** CONTRACT §8.4: the description in `language` when the tariff has it, else `en`, else the first. */
export function tariffText(tariff: TariffTerms, language: string | undefined): { language: string; content: string } | undefined {
  const description = tariff.description ?? {};
  const chosen =
    (language !== undefined && description[language] !== undefined ? language : undefined) ?? (description.en !== undefined ? 'en' : Object.keys(description)[0]);
  if (chosen === undefined) return undefined;
  return { language: chosen, content: description[chosen] as string };
}
