import type { Clock } from '../../clock.js';
import type { CommandRouter } from '../../cluster/command-router.js';
import type { Config } from '../../config.js';
import type { CsmsMetrics } from '../../metrics.js';
import type { OcppSchemas } from '../../ocpp/validation.js';
import type { Authorizer } from '../../station/authorizer.js';
import type { CertificateSigningLog } from '../../station/handlers/certificates.js';
import type { BillingStore } from '../../store/billing-store.js';
import type { Store } from '../../store/store.js';
import type { RouteSpec } from '../route-spec.js';
import { billingRoutes } from './billing.js';
import { commandRoutes } from './commands.js';
import { stationDataRoutes } from './station-data.js';
import { stationRoutes } from './stations.js';

export interface ApiRouteDeps {
  config: Config;
  store: Store & BillingStore;
  authorizer: Authorizer;
  router: CommandRouter;
  schemas: OcppSchemas;
  metrics: CsmsMetrics;
  clock: Clock;
  /** TC_A_14: the last certificate-signing outcome per station, shown on GET /stations/{id}. */
  certificateSigning?: CertificateSigningLog;
}

/** Every /api/v1 route, in the order the OpenAPI document lists them. */
export function buildApiRoutes(deps: ApiRouteDeps): RouteSpec[] {
  return [
    ...stationRoutes({ store: deps.store, router: deps.router, certificateSigning: deps.certificateSigning }),
    ...commandRoutes({ ...deps, callTimeoutMs: deps.config.callTimeoutMs }),
    ...stationDataRoutes(deps.store),
    ...billingRoutes({ store: deps.store, authorizer: deps.authorizer }),
  ];
}
