/** The one clock. Tests inject their own; production reads the system clock (NTP-synced, DRV-B01-01). */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** OCPP dateTime: RFC 3339 in UTC with millisecond precision (at most 3 fractional digits). */
export function ocppDateTime(epochMs: number): string {
  return new Date(epochMs).toISOString();
}
