import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Who a CALL to a station is for. `operator`: the operator's own request waits for it and its answer reports it, so
 * the request's audit entry already stands for it (CONTRACT §8.7). `system`: the CSMS sends it on its own (a local
 * list sync, a site's load push, a reservation expiry, a CostUpdated, the boot inventory…) and the station session
 * audits it when it settles.
 */
export type CallOrigin = 'operator' | 'system';

/** One operator request while its answer is being made; `open` turns false once the answer is ready. */
interface RequestScope {
  open: boolean;
}

const scope = new AsyncLocalStorage<RequestScope>();

/**
 * Runs an API handler as an operator request. Work the handler starts and leaves running after its answer (a
 * background sync it kicked off) inherits the async context, so the scope closes when the answer is ready: a CALL
 * made after that is the CSMS's own.
 */
export async function asOperatorRequest<T>(handler: () => Promise<T> | T): Promise<T> {
  const state: RequestScope = { open: true };
  try {
    return await scope.run(state, handler);
  } finally {
    state.open = false;
  }
}

/** The origin of a CALL made now, from the async context it is made in. */
export function currentCallOrigin(): CallOrigin {
  return scope.getStore()?.open === true ? 'operator' : 'system';
}
