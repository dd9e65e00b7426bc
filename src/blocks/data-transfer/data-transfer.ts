import type { DataTransferRequest } from '../../ocpp/v201/types.js';
import type { BlockModule, HandlerContext } from '../../station/types.js';

/**
 * P02: vendor-specific messages. This CSMS runs no vendor extensions, so every vendorId is unknown
 * (TC_P_02); the message is logged so an operator can see which vendor a station is trying to reach: first
 * one, then at most one line per 10 s per station (a station may send them as fast as it likes).
 */
function answerDataTransfer(ctx: HandlerContext, request: Pick<DataTransferRequest, 'vendorId' | 'messageId'>): { status: 'UnknownVendorId' } {
  ctx.station.sampledLog.info(
    'data_transfer_unknown_vendor',
    { messageId: ctx.messageId, vendorId: request.vendorId, vendorMessageId: request.messageId },
    'DataTransfer for an unknown vendor',
  );
  return { status: 'UnknownVendorId' };
}

export const dataTransfer: BlockModule = {
  name: 'data-transfer',
  handlers: { DataTransfer: answerDataTransfer },
  // 1.6 §4.3: the same message and the same answer.
  v16: { handlers: { DataTransfer: answerDataTransfer } },
};
