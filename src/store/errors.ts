/** A write for a station that is not registered (never was, or was deleted meanwhile). */
export class UnknownStationError extends Error {
  constructor(readonly stationId: string, options?: { cause?: unknown }) {
    super(`unknown station ${stationId}`, options);
    this.name = 'UnknownStationError';
  }
}
