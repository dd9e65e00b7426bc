import type { AuthorizeRequest, AuthorizeResponse, IdTokenInfoType } from '../../ocpp/v201/types.js';
import type { PricingHooks } from '../tariffs/hooks.js';
import type { BlockModule, HandlerContext } from '../../station/types.js';
import { authorization16 } from './v16.js';

/**
 * Authorization (C01, C09, C12, C16): who may charge. Decisions come from the Authorizer (authorizer.ts),
 * which the transactions block asks again for every token a TransactionEvent carries (E02.FR.04).
 */

function authorize(ctx: HandlerContext, request: AuthorizeRequest): AuthorizeResponse | Promise<AuthorizeResponse> {
  const info = ctx.services.authorizer.authorize(request.idToken, ctx.station.stationId);
  const pricing = ctx.services.pricing;
  if (pricing !== undefined && !pricing.knownUnpriced()) return Promise.resolve(info).then((idTokenInfo) => withTariffText(pricing, ctx.station.stationId, idTokenInfo));
  return info instanceof Promise ? info.then((idTokenInfo) => ({ idTokenInfo })) : { idTokenInfo: info };
}

/** I01 (CONTRACT §8.4): an accepted driver is told the tariff in `personalMessage`. */
async function withTariffText(pricing: PricingHooks, stationId: string, idTokenInfo: IdTokenInfoType): Promise<AuthorizeResponse> {
  if (idTokenInfo.status !== 'Accepted') return { idTokenInfo };
  const personalMessage = await pricing.personalMessage(stationId, idTokenInfo);
  return { idTokenInfo: personalMessage === undefined ? idTokenInfo : { ...idTokenInfo, personalMessage } };
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
