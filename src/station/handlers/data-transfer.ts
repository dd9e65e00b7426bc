import type { DataTransferRequest, DataTransferResponse } from '../../ocpp/generated/ocpp-types.js';
import type { HandlerContext, HandlerModule } from '../types.js';

/**
 * P02: vendor-specific messages. This CSMS runs no vendor extensions, so every vendorId is unknown
 * (TC_P_02); the message is logged so an operator can see which vendor a station is trying to reach.
 */
function dataTransfer(ctx: HandlerContext, request: DataTransferRequest): DataTransferResponse {
  ctx.station.log.info({ messageId: ctx.messageId, vendorId: request.vendorId, vendorMessageId: request.messageId }, 'DataTransfer for an unknown vendor');
  return { status: 'UnknownVendorId' };
}

export const dataTransferModule: HandlerModule = {
  handlers: { DataTransfer: dataTransfer },
};
