import type { StationPasswords } from '../../security/password-verifier.js';
import type { Clock } from '../../clock.js';
import type { CommandRouter, DecisionChannel } from '../../cluster/command-router.js';
import type { CommandService } from '../../commands/service.js';
import type { CsmsMetrics } from '../../metrics.js';
import type { BillingStore } from '../../store/billing-store.js';
import type { Store } from '../../store/store.js';
import type { RouteSpec } from '../route-spec.js';
import { billingRoutes } from './billing.js';
import { commandRoutes } from './commands.js';
import { stationDataRoutes } from './station-data.js';
import { stationRoutes } from './stations.js';

export interface ApiRouteDeps {
  store: Store & BillingStore;
  passwords: StationPasswords;
  /** Where operator decisions are announced, so every node's caches drop them (CONTRACT §6). */
  decisions: DecisionChannel;
  router: CommandRouter;
  commands: CommandService;
  metrics: CsmsMetrics;
  clock: Clock;
}

/** Every /api/v1 route, in the order the OpenAPI document lists them. */
export function buildApiRoutes(deps: ApiRouteDeps): RouteSpec[] {
  return [
    ...stationRoutes({ store: deps.store, passwords: deps.passwords, router: deps.router, clock: deps.clock }),
    ...commandRoutes({ commands: deps.commands, metrics: deps.metrics }),
    ...stationDataRoutes(deps.store),
    ...billingRoutes({ store: deps.store, decisions: deps.decisions }),
  ];
}
