import type { HandlerTable } from '../station-session.js';
import type { AnyHandler, AnyResultHook, HandlerModule } from '../types.js';
import { certificateInventory } from './certificate-inventory.js';
import { dataTransferModule } from './data-transfer.js';
import { deviceManagement } from './device-management.js';
import { provisioning } from './provisioning.js';
import { reporting } from './reporting.js';
import { transactions } from './transactions.js';
import { unsupported } from './unsupported.js';

/** Every functional block the CSMS serves. An action may be claimed by one module only. */
export const HANDLER_MODULES: readonly HandlerModule[] = [provisioning, transactions, deviceManagement, certificateInventory, reporting, dataTransferModule, unsupported];

export function buildHandlerTable(modules: readonly HandlerModule[] = HANDLER_MODULES): HandlerTable {
  const handlers = new Map<string, AnyHandler>();
  const resultHooks = new Map<string, AnyResultHook>();
  for (const module of modules) {
    for (const [action, handler] of Object.entries(module.handlers)) {
      if (handlers.has(action)) throw new Error(`${action} is handled twice`);
      handlers.set(action, handler as AnyHandler);
    }
    for (const [action, hook] of Object.entries(module.resultHooks ?? {})) {
      if (resultHooks.has(action)) throw new Error(`${action} result hook registered twice`);
      resultHooks.set(action, hook as AnyResultHook);
    }
  }
  return { handlers, resultHooks };
}
