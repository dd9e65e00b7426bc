import type { OcppVersionId } from '../ocpp/protocol.js';
import type { AnyHandler, AnyPlanner, AnyResultHook, BlockModule, BlockTable } from '../station/types.js';
import { createAuthorizationBlock } from './authorization/authorization.js';
import { availability } from './availability/availability.js';
import { dataTransfer } from './data-transfer/data-transfer.js';
import { createDisplayMessagesBlock } from './display-messages/display-messages.js';
import type { DisplayMessageStore } from './display-messages/display-message-store.js';
import { diagnostics } from './diagnostics/diagnostics.js';
import { firmware } from './firmware/firmware.js';
import type { PlugAndCharge } from './plug-and-charge/plug-and-charge.js';
import { createMonitoringBlock, type MonitoringBlockDeps } from './monitoring/monitoring.js';
import { createLocalListBlock, type LocalListBlockDeps } from './local-list/local-list.js';
import { provisioning } from './provisioning/provisioning.js';
import { createSecurityBlock, type CertificateModuleDeps } from './security/certificates.js';
import { createSmartChargingBlock, remoteStartProfiles, transactionProfiles, type SmartChargingDeps } from './smart-charging/smart-charging.js';
import { createTransactionsBlock } from './transactions/transactions.js';
import { reservationsBlock } from './reservations/reservations.js';
import { unsupported } from './unsupported.js';

/**
 * Every functional block the CSMS serves. A new OCPP profile is one more folder here and one more entry in
 * this list; an action (in either direction) may be claimed by one block only.
 */
export function createBlocks(
  deps: CertificateModuleDeps &
    Parameters<typeof createTransactionsBlock>[0] &
    MonitoringBlockDeps & {
      plugAndCharge?: PlugAndCharge;
      smartCharging?: SmartChargingDeps | undefined;
      localList?: LocalListBlockDeps;
      displayMessages?: DisplayMessageStore;
    },
): BlockModule[] {
  const pnc = deps.plugAndCharge;
  const smart = deps.smartCharging;
  // Transactions carry charging profiles (K05) and drive the site load manager: the smart-charging block follows them.
  const chargingProfiles = smart === undefined ? undefined : { remoteStart: remoteStartProfiles(smart), transactionEvent: transactionProfiles(smart) };
  return [
    provisioning,
    availability,
    createAuthorizationBlock(pnc?.authorizeContract),
    createTransactionsBlock({ ...deps, chargingProfiles }),
    createSecurityBlock({ ...deps, ...(pnc === undefined ? {} : { v2g: pnc.v2gSigning }) }),
    ...(smart === undefined ? [] : [createSmartChargingBlock(smart)]),
    firmware,
    diagnostics,
    createMonitoringBlock(deps),
    dataTransfer,
    ...(pnc === undefined ? [] : [pnc.block]),
    reservationsBlock,
    // Blocks with a store of their own; a unit test that builds the table without them leaves them out.
    ...(deps.localList !== undefined ? [createLocalListBlock(deps.localList)] : []),
    ...(deps.displayMessages !== undefined ? [createDisplayMessagesBlock(deps.displayMessages)] : []),
    unsupported,
  ];
}

/** The entries of every block for one protocol version: a 1.6 table holds the blocks' `v16` sides. */
export function buildBlockTable(blocks: readonly BlockModule[], version: OcppVersionId = '2.0.1'): BlockTable {
  const handlers = new Map<string, AnyHandler>();
  const resultHooks = new Map<string, AnyResultHook>();
  const plans = new Map<string, AnyPlanner>();
  const claim = <T>(map: Map<string, T>, what: string, block: BlockModule, entries: object | undefined): void => {
    for (const [action, entry] of Object.entries(entries ?? {})) {
      if (map.has(action)) throw new Error(`${action} ${what} is claimed twice (again by the ${block.name} block)`);
      map.set(action, entry as T);
    }
  };
  for (const block of blocks) {
    const side = version === '1.6' ? block.v16 : block;
    if (side === undefined) continue;
    claim(handlers, 'handler', block, side.handlers);
    claim(resultHooks, 'result hook', block, side.resultHooks);
    claim(plans, 'command plan', block, side.plans);
  }
  return { version, handlers, resultHooks, plans };
}
