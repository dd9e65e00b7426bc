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
  if (pricing !== undefined) return Promise.resolve(info).then((idTokenInfo) => withTariffText(pricing, ctx.station.stationId, idTokenInfo));
  return info instanceof Promise ? info.then((idTokenInfo) => ({ idTokenInfo })) : { idTokenInfo: info };
}

/** I01 (CONTRACT §8.4): an accepted driver is told the tariff in `personalMessage`. */
async function withTariffText(pricing: PricingHooks, stationId: string, idTokenInfo: IdTokenInfoType): Promise<AuthorizeResponse> {
  if (idTokenInfo.status !== 'Accepted') return { idTokenInfo };
  const personalMessage = await pricing.personalMessage(stationId, idTokenInfo);
  return { idTokenInfo: personalMessage === undefined ? idTokenInfo : { ...idTokenInfo, personalMessage } };
}

export const authorization: BlockModule = {
  name: 'authorization',
  handlers: {
    Authorize: authorize,
  },
  v16: authorization16,
};
