import { FOREIGN_KEY_VIOLATION, sqlState } from './sql.js';

/** A write for a station that is not registered (never was, or was deleted meanwhile). */
export class UnknownStationError extends Error {
  constructor(
    readonly stationId: string,
    options?: { cause?: unknown },
  ) {
    super(`unknown station ${stationId}`, options);
    this.name = 'UnknownStationError';
  }
}

/**
 * Inserts fail on the foreign key when the station is missing (or vanished between a check and the
 * insert): callers get the same UnknownStationError as for updates that found no station.
 */
export function withStation<T>(stationId: string, write: Promise<T>): Promise<T> {
  return write.catch((error: unknown) => {
    throw sqlState(error) === FOREIGN_KEY_VIOLATION ? new UnknownStationError(stationId, { cause: error }) : error;
  });
}
