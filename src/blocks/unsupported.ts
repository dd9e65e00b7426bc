import { OcppError } from '../ocpp/errors.js';
import type { StationAction } from '../ocpp/v201/actions.js';
import type { BlockModule } from '../station/types.js';

/**
 * Station messages of functional blocks this CSMS does not implement (outside the certified Core and
 * Advanced Security profiles). Each gets a deliberate NotSupported naming the block, so a station
 * integrator sees at once why, instead of a generic failure.
 */
const UNSUPPORTED_BLOCKS: Partial<Record<StationAction, string>> = {
  PublishFirmwareStatusNotification: 'local controller firmware publishing (L)',
};

export const unsupported: BlockModule = {
  name: 'unsupported',
  handlers: Object.fromEntries(
    Object.entries(UNSUPPORTED_BLOCKS).map(([action, block]) => [
      action,
      () => {
        throw new OcppError('NotSupported', `${action} belongs to ${block}, which this CSMS does not support`);
      },
    ]),
  ),
};
