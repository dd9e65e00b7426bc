import type { StationPasswords } from '../../security/password-verifier.js';
import type { Clock } from '../../clock.js';
import type { CommandRouter, DecisionChannel } from '../../cluster/command-router.js';
import type { CommandService } from '../../commands/service.js';
import type { CsmsMetrics } from '../../metrics.js';
import type { BillingStore } from '../../store/billing-store.js';
import type { JsonObject, Store } from '../../store/store.js';
import type { RouteSpec } from '../route-spec.js';
import type { ChangeFeed } from '../../changes/change-feed.js';
import type { FleetIndex } from '../../changes/fleet-index.js';
import type { FleetStore } from '../../store/fleet-sql.js';
import { billingRoutes } from './billing.js';
import { displayMessageRoutes } from '../../blocks/display-messages/routes.js';
import type { DisplayMessageStore } from '../../blocks/display-messages/display-message-store.js';
import { localListRoutes } from '../../blocks/local-list/routes.js';
import type { LocalListStore } from '../../blocks/local-list/local-list-store.js';
import { consoleRoutes } from './console.js';
import { fleetRoutes } from './fleet.js';
import { streamRoutes } from './stream.js';
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
  /** What changes, for the stream; the fleet index it keeps current; the fleet-wide reads of the store. */
  feed: ChangeFeed;
  fleet: FleetIndex;
  fleetStore: FleetStore;
  /** The local-list and display-message blocks' stores, and the 2.0.1 schema check their bodies go through. */
  localLists: LocalListStore;
  displayMessages: DisplayMessageStore;
  ocppViolations: (action: string, payload: JsonObject) => readonly unknown[];
}

/** Every /api/v1 route, in the order the OpenAPI document lists them. */
export function buildApiRoutes(deps: ApiRouteDeps): RouteSpec[] {
  return [
    ...stationRoutes({ store: deps.store, passwords: deps.passwords, router: deps.router, clock: deps.clock, fleet: deps.fleet }),
    ...fleetRoutes({ fleet: deps.fleet, fleetStore: deps.fleetStore }),
    ...commandRoutes({
      commands: deps.commands,
      metrics: deps.metrics,
      onOutcome: (stationId, action, response) =>
        deps.feed.publish('command.result', {
          stationId,
          action,
          status: response.status,
          ...(response.body !== undefined ? { body: response.body as JsonObject } : {}),
        }),
    }),
    ...stationDataRoutes(deps.store),
    ...billingRoutes({ store: deps.store, decisions: deps.decisions }),
    ...localListRoutes({ store: deps.store, lists: deps.localLists, decisions: deps.decisions, violations: deps.ocppViolations }),
    ...displayMessageRoutes({ store: deps.store, messages: deps.displayMessages, commands: deps.commands, clock: deps.clock }),
    ...streamRoutes({ feed: deps.feed, clock: deps.clock }),
    ...consoleRoutes(),
  ];
}
