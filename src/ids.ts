import { randomInt, randomUUID } from 'node:crypto';

/** The one id generator. A UUID is 36 characters: exactly the OCPP-J messageId limit, and unique. */
export function newMessageId(): string {
  return randomUUID();
}

/**
 * requestId / remoteStartId for CSMS-initiated requests: OCPP integers. Random rather than a counter so
 * ids stay distinct across restarts and across the nodes of a cluster without coordination.
 */
export function newRequestId(): number {
  return randomInt(1, 2 ** 31 - 1);
}
