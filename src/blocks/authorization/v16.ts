import type { AuthorizeRequest, AuthorizeResponse } from '../../ocpp/v16/types.js';
import type { IdTokenInfoType } from '../../ocpp/v201/types.js';
import type { BlockSide16, HandlerContext } from '../../station/types.js';

/** OCPP 1.6 IdTagInfo, as Authorize, StartTransaction and StopTransaction answer it. */
export type IdTagInfo = AuthorizeResponse['idTagInfo'];

/**
 * The domain's decision in 1.6 words (CONTRACT §3.1): 1.6 has no `Unknown`, so an unknown idTag is `Invalid`;
 * the token's group goes out as `parentIdTag`, its expiry as `expiryDate`.
 */
export function idTagInfo(info: IdTokenInfoType): IdTagInfo {
  const status =
    info.status === 'Unknown' ||
    info.status === 'NoCredit' ||
    info.status === 'NotAllowedTypeEVSE' ||
    info.status === 'NotAtThisLocation' ||
    info.status === 'NotAtThisTime'
      ? 'Invalid'
      : info.status;
  return {
    status,
    ...(info.cacheExpiryDateTime !== undefined ? { expiryDate: info.cacheExpiryDateTime } : {}),
    ...(info.groupIdToken !== undefined ? { parentIdTag: info.groupIdToken.idToken } : {}),
  };
}

/** Asks the one Authorizer about an idTag; synchronous when its decision is warm. */
export function authorizeIdTag(ctx: HandlerContext, idTag: string): IdTagInfo | Promise<IdTagInfo> {
  const info = ctx.services.authorizer.authorizeIdTag(idTag, ctx.station.stationId);
  return info instanceof Promise ? info.then(idTagInfo) : idTagInfo(info);
}

function authorize(ctx: HandlerContext, request: AuthorizeRequest): AuthorizeResponse | Promise<AuthorizeResponse> {
  const info = authorizeIdTag(ctx, request.idTag);
  return info instanceof Promise ? info.then((decided) => ({ idTagInfo: decided })) : { idTagInfo: info };
}

export const authorization16: BlockSide16 = {
  handlers: {
    Authorize: authorize,
  },
};
