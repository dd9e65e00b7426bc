import type { StationHandle } from '../../station/types.js';

/** The transaction running on an EVSE (1.6: connector), from the station actor's live view; undefined when none. */
export async function transactionOnEvse(station: StationHandle, evseId: number): Promise<string | undefined> {
  const open = await station.openTransactions();
  return open.find((tx) => tx.evseId === evseId)?.transactionId;
}
