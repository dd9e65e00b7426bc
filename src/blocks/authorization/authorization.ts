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

export const authorization: BlockModule = {
  name: 'authorization',
  handlers: {
    Authorize: authorize,
  },
  v16: authorization16,
};
