import type { AuthorizeRequest, AuthorizeResponse } from '../../ocpp/v201/types.js';
import type { BlockModule, HandlerContext } from '../../station/types.js';
import { authorization16 } from './v16.js';

/**
 * Authorization (C01, C09, C12, C16): who may charge. Decisions come from the Authorizer (authorizer.ts),
 * which the transactions block asks again for every token a TransactionEvent carries (E02.FR.04).
 */

function authorize(ctx: HandlerContext, request: AuthorizeRequest): AuthorizeResponse | Promise<AuthorizeResponse> {
  const info = ctx.services.authorizer.authorize(request.idToken, ctx.station.stationId);
  return info instanceof Promise ? info.then((idTokenInfo) => ({ idTokenInfo })) : { idTokenInfo: info };
}

/**
 * C07: an Authorize that carries a contract certificate or its hash data is decided by Plug & Charge (OCSP, then
 * the register); it answers undefined for any other Authorize.
 */
export type ContractAuthorizer = (ctx: HandlerContext, request: AuthorizeRequest) => Promise<AuthorizeResponse> | undefined;

export function createAuthorizationBlock(contracts?: ContractAuthorizer): BlockModule {
  return {
    name: 'authorization',
    handlers: {
      Authorize: (ctx, request) => contracts?.(ctx, request) ?? authorize(ctx, request),
    },
    v16: authorization16,
  };
}

export const authorization: BlockModule = createAuthorizationBlock();
