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
import type { MonitoringStore } from '../../store/monitoring-sql.js';
import { monitoringRoutes } from '../../blocks/monitoring/routes.js';
import { operatorRoutes, type OperatorRouteDeps } from '../../operators/routes.js';
import { billingRoutes } from './billing.js';
import { smartChargingRoutes } from '../../blocks/smart-charging/routes.js';
import type { SiteManager } from '../../blocks/smart-charging/sites.js';
import type { SmartChargingStore } from '../../blocks/smart-charging/store.js';
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

import { reservationRoutes } from '../../blocks/reservations/routes.js';
import type { ReservationService } from '../../blocks/reservations/reservations.js';
import type { ReservationStore } from '../../blocks/reservations/reservation-store.js';
import { tariffRoutes } from '../../blocks/tariffs/routes.js';
import type { TariffStore } from '../../blocks/tariffs/tariff-store.js';
import type { TariffFallbackMessages } from '../../blocks/tariffs/fallback-messages.js';

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
  /** The monitoring block's records (CONTRACT §8.5 monitors and monitoring reports). */
  monitoringStore: MonitoringStore;
  /** Users, sessions, API keys, the audit trail (src/operators/). */
  operators: OperatorRouteDeps;
  /** Reservations (CONTRACT §8.2) and tariffs (§8.4). */
  reservations?: { service: ReservationService; store: ReservationStore };
  tariffs?: TariffStore;
  tariffFallback?: TariffFallbackMessages;
  /** The smart-charging block's store and site manager (charging profiles, sites: CONTRACT §8.3). */
  smartCharging?: { smart: SmartChargingStore; sites: SiteManager } | undefined;
  /** The local-list and display-message blocks' stores, and the 2.0.1 schema check their bodies go through. */
  localLists: LocalListStore;
  displayMessages: DisplayMessageStore;
  ocppViolations: (action: string, payload: JsonObject) => readonly unknown[];
}

/** Every /api/v1 route, in the order the OpenAPI document lists them. */
export function buildApiRoutes(deps: ApiRouteDeps): RouteSpec[] {
  return [
    ...stationRoutes({
      store: deps.store,
      passwords: deps.passwords,
      router: deps.router,
      clock: deps.clock,
      fleet: deps.fleet,
      ...(deps.tariffs !== undefined ? { tariffs: deps.tariffs } : {}),
      ...(deps.tariffFallback !== undefined ? { tariffFallback: deps.tariffFallback } : {}),
    }),
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
    ...monitoringRoutes({ store: deps.store, monitoring: deps.monitoringStore }),
    ...billingRoutes({ store: deps.store, decisions: deps.decisions }),
    ...(deps.reservations !== undefined ? reservationRoutes({ service: deps.reservations.service, reservations: deps.reservations.store, store: deps.store }) : []),
    ...(deps.tariffs !== undefined
      ? tariffRoutes({ tariffs: deps.tariffs, clock: deps.clock, ...(deps.tariffFallback !== undefined ? { fallback: deps.tariffFallback } : {}) })
      : []),
    ...(deps.smartCharging === undefined ? [] : smartChargingRoutes({ store: deps.store, commands: deps.commands, ...deps.smartCharging })),
    ...localListRoutes({ store: deps.store, lists: deps.localLists, decisions: deps.decisions, violations: deps.ocppViolations }),
    ...displayMessageRoutes({ store: deps.store, messages: deps.displayMessages, commands: deps.commands, clock: deps.clock }),
    ...streamRoutes({ feed: deps.feed, clock: deps.clock }),
    ...operatorRoutes(deps.operators),
    ...consoleRoutes(),
  ];
}
