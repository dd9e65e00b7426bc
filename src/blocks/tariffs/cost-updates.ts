import { createActor, type Actor } from 'xstate';
import { costUpdateMachine } from '../../../machines/cost-update.machine.js';
import type { JsonObject } from '../../json.js';
import type { Logger } from '../../log.js';
import type { DeviceVariable, Store } from '../../store/store.js';

/** When the device model says nothing: often enough for a display, far from a flood (DRV-AUI-02). */
export const DEFAULT_COST_INTERVAL_MS = 60_000;

function actualValue(variables: readonly DeviceVariable[], component: string, variable: string, instance?: string): string | undefined {
  for (const entry of variables) {
    if (entry.component.name !== component || entry.variable.name !== variable) continue;
    if (instance !== undefined && entry.variable.instance !== instance) continue;
    const actual = entry.attributes.find((attribute) => attribute.type === 'Actual');
    if (actual?.value !== undefined) return actual.value;
  }
  return undefined;
}

function positiveSeconds(value: string | undefined): number | undefined {
  if (value === undefined || !/^\s*[0-9]+\s*$/.test(value)) return undefined;
  const seconds = Number(value);
  return seconds > 0 ? seconds * 1000 : undefined;
}

/**
 * The CostUpdated interval from the station's device model (CONTRACT §8.4 leaves the variable open; the 2.0.1
 * device model has no standard one): `TariffCostCtrlr.Enabled[Cost]` = false turns CostUpdated off;
 * `TariffCostCtrlr.Interval` (seconds, any instance) sets it; else `SampledDataCtrlr.TxUpdatedInterval`, the
 * station's own cadence of Updated events; else DEFAULT_COST_INTERVAL_MS. Undefined: off.
 */
export function costIntervalMs(variables: readonly DeviceVariable[]): number | undefined {
  if (actualValue(variables, 'TariffCostCtrlr', 'Enabled', 'Cost')?.trim().toLowerCase() === 'false') return undefined;
  return (
    positiveSeconds(actualValue(variables, 'TariffCostCtrlr', 'Interval')) ??
    positiveSeconds(actualValue(variables, 'SampledDataCtrlr', 'TxUpdatedInterval')) ??
    DEFAULT_COST_INTERVAL_MS
  );
}

/** The connection a CostUpdated goes out on: the one the transaction's events arrive on. */
export interface CostUpdateChannel {
  readonly stationId: string;
  call(action: string, payload: JsonObject): Promise<JsonObject>;
}

/**
 * Hosts one cost-update machine per priced transaction running on a station connected to this node. The
 * transaction's events arrive where its station is connected, so its CostUpdated goes out from the same node;
 * the machines are live state only (a restart or reconnect starts a new one at the next event).
 */
export class CostUpdates {
  private readonly actors = new Map<string, { actor: Actor<typeof costUpdateMachine>; channel: CostUpdateChannel }>();

  constructor(
    private readonly deps: {
      store: Pick<Store, 'getVariables'>;
      log: Logger;
    },
  ) {}

  /** How many transactions are being followed on this node. */
  get size(): number {
    return this.actors.size;
  }

  /** After the answer to one of the transaction's events went out with `totalCost`. */
  async priced(channel: CostUpdateChannel, transactionId: string, totalCost: number, ended: boolean): Promise<void> {
    const key = `${channel.stationId}\u0000${transactionId}`;
    const existing = this.actors.get(key);
    if (ended) {
      existing?.actor.send({ type: 'ENDED' });
      this.actors.delete(key);
      return;
    }
    if (existing !== undefined && existing.channel === channel) {
      existing.actor.send({ type: 'PRICED', totalCost });
      return;
    }
    // The station reconnected: the machine of the old connection would send where nobody listens.
    if (existing !== undefined) {
      existing.actor.stop();
      this.actors.delete(key);
    }
    const intervalMs = costIntervalMs(await this.deps.store.getVariables(channel.stationId));
    if (intervalMs === undefined || this.actors.has(key)) return;
    const machine = costUpdateMachine.provide({
      actions: {
        sendCostUpdated: (_, params) => {
          channel.call('CostUpdated', { totalCost: params.totalCost, transactionId: params.transactionId }).then(
            () => actor.send({ type: 'DELIVERED' }),
            (err: unknown) => {
              this.deps.log.info({ stationId: channel.stationId, transactionId, err }, 'CostUpdated not delivered; the next event of the transaction starts again');
              actor.send({ type: 'UNDELIVERED' });
            },
          );
        },
      },
    });
    const actor = createActor(machine, { input: { stationId: channel.stationId, transactionId, totalCost, intervalMs } });
    actor.subscribe({
      complete: () => {
        if (this.actors.get(key)?.actor === actor) this.actors.delete(key);
      },
    });
    this.actors.set(key, { actor, channel });
    actor.start();
  }

  stopAll(): void {
    for (const { actor } of this.actors.values()) actor.stop();
    this.actors.clear();
  }
}
