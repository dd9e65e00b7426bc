import type { CommandService } from '../../commands/service.js';
import type { Logger } from '../../log.js';
import type { Store } from '../../store/store.js';
import { tariffText, type TariffTerms } from './cost.js';
import type { TariffStore } from './tariff-store.js';

/** SetVariables' attributeValue holds at most 1000 characters (SetVariableDataType). */
const MAX_VARIABLE_VALUE = 1000;

/**
 * The tariff's prices in one language-neutral line ("0.35 EUR/kWh + 1.20 EUR/h + 0.50 EUR/session + 6.00 EUR/h idle"):
 * what a driver needs to work the cost out when the station cannot show it.
 */
export function priceSummary(tariff: TariffTerms): string {
  const parts: string[] = [];
  if (tariff.energyPerKWh !== undefined) parts.push(`${tariff.energyPerKWh} ${tariff.currency}/kWh`);
  if (tariff.timePerHour !== undefined) parts.push(`${tariff.timePerHour} ${tariff.currency}/h`);
  if (tariff.sessionFee !== undefined) parts.push(`${tariff.sessionFee} ${tariff.currency}/session`);
  if (tariff.idleFeePerHour !== undefined) parts.push(`${tariff.idleFeePerHour} ${tariff.currency}/h idle`);
  return parts.length === 0 ? `0 ${tariff.currency}` : parts.join(' + ');
}

/**
 * I04/I05: the texts a station shows on its own, from the tariff it was given. TariffFallbackMessage is shown when
 * no driver-specific tariff text arrives (the tariff's text, else its prices); TotalCostFallbackMessage when the
 * station cannot learn a transaction's total (the prices, so the driver can work it out).
 */
export function fallbackMessages(tariff: TariffTerms): { tariff: string; totalCost: string } {
  const prices = priceSummary(tariff);
  const text = tariffText(tariff, undefined)?.content;
  return {
    tariff: (text === undefined ? prices : text).slice(0, MAX_VARIABLE_VALUE),
    totalCost: prices.slice(0, MAX_VARIABLE_VALUE),
  };
}

/**
 * Sets TariffCostCtrlr.TariffFallbackMessage and TotalCostFallbackMessage (I04/I05) on a station when a tariff is
 * assigned to it, and on every station holding a tariff when that tariff is replaced. It goes through the command
 * service, so it reaches the station on whichever node holds it, and the SetVariables result hook records the
 * values in the station's device model (GET …/variables). Sent after the API answered: the operator's change is
 * stored whatever the station says, and a station that is offline or refuses is logged, not retried.
 */
export class TariffFallbackMessages {
  constructor(
    private readonly deps: {
      tariffs: Pick<TariffStore, 'get' | 'stationsOf' | 'stationTariff'>;
      store: Pick<Store, 'getStation'>;
      commands: Pick<CommandService, 'run'>;
      log: Logger;
    },
  ) {}

  /** After PUT/PATCH station stored `tariffId`. Never rejects: what fails is logged. */
  async stationAssigned(stationId: string, tariffId: string): Promise<void> {
    try {
      const tariff = await this.deps.tariffs.get(tariffId);
      if (tariff !== undefined) await this.push(stationId, tariff);
    } catch (err) {
      this.deps.log.warn({ stationId, tariffId, err }, 'tariff fallback messages: reading the tariff failed');
    }
  }

  /**
   * After an Accepted boot of a station connected to this node: a station that was offline when it was given its
   * tariff, or that was reset to its factory texts, gets them now. One indexed read per boot; none is sent to a
   * station without a tariff. Never rejects.
   */
  async stationBooted(stationId: string): Promise<void> {
    try {
      const tariffId = await this.deps.tariffs.stationTariff(stationId);
      if (tariffId !== undefined) await this.stationAssigned(stationId, tariffId);
    } catch (err) {
      this.deps.log.warn({ stationId, err }, 'tariff fallback messages: reading the station tariff failed');
    }
  }

  /** After PUT tariff stored it: every station holding it gets the new texts. Never rejects. */
  async tariffChanged(tariffId: string): Promise<void> {
    try {
      const tariff = await this.deps.tariffs.get(tariffId);
      if (tariff === undefined) return;
      for (const stationId of await this.deps.tariffs.stationsOf(tariffId)) await this.push(stationId, tariff);
    } catch (err) {
      this.deps.log.warn({ tariffId, err }, 'tariff fallback messages: reading the tariff failed');
    }
  }

  private async push(stationId: string, tariff: TariffTerms): Promise<void> {
    const { store, commands, log } = this.deps;
    const station = await store.getStation(stationId);
    // TariffCostCtrlr is a 2.0.1 component; a 1.6 station (or one never connected) has nowhere to hold the texts.
    if (station?.ocppVersion !== '2.0.1') return;
    const messages = fallbackMessages(tariff);
    try {
      const { outcome } = await commands.run(stationId, 'SetVariables', {
        setVariableData: [
          { component: { name: 'TariffCostCtrlr' }, variable: { name: 'TariffFallbackMessage' }, attributeValue: messages.tariff },
          { component: { name: 'TariffCostCtrlr' }, variable: { name: 'TotalCostFallbackMessage' }, attributeValue: messages.totalCost },
        ],
      });
      if (outcome.kind !== 'result') log.info({ stationId, tariffId: tariff.id, outcome: outcome.kind }, 'tariff fallback messages not delivered');
    } catch (err) {
      // A refusal (not connected, not accepted yet) ends here: the texts follow at the next assignment or tariff change.
      log.info({ stationId, tariffId: tariff.id, err }, 'tariff fallback messages not sent');
    }
  }
}
