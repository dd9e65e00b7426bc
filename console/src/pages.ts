import type { Page } from './page.js';
import { fleetPage } from './page-fleet.js';
import { stationPage } from './page-station.js';
import { idTokensPage } from './page-id-tokens.js';
import { tariffsPage } from './page-tariffs.js';
import { transactionPage, transactionsPage } from './page-transactions.js';
import { apiKeysPage } from './page-api-keys.js';
import { auditPage } from './page-audit.js';
import { usersPage } from './page-users.js';
import { webhookDeliveriesPage, webhooksPage } from './page-webhooks.js';

/** Every page, first match wins. A new page (charging profiles, reservations, tariffs…) is one more line. */
export const pages: Page[] = [
  fleetPage,
  stationPage,
  transactionsPage,
  transactionPage,
  idTokensPage,
  tariffsPage,
  usersPage,
  apiKeysPage,
  auditPage,
  webhooksPage,
  webhookDeliveriesPage,
];
