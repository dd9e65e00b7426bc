/**
 * The simulated fleet's identities: station ids, passwords and id tokens are pure functions of an index,
 * so the coordinator (which registers them through the API) and the workers (which use them) agree
 * without shipping lists around.
 */

export const DEFAULT_STATION_PREFIX = 'BENCH';

export function stationId(prefix: string, index: number): string {
  return `${prefix}${String(index).padStart(6, '0')}`;
}

/** 16–64 characters (passwordString), different per station. */
export function stationPassword(id: string): string {
  return `bench-secret-${id}`.padEnd(24, '0');
}

export function basicAuthorization(id: string, password: string): string {
  return `Basic ${Buffer.from(`${id}:${password}`).toString('base64')}`;
}

/**
 * Source address for the station with this index: each loopback address has its own ~28k ephemeral ports
 * (net.ipv4.ip_local_port_range), so stations are spread over 127.0.0.1, 127.0.0.2, … in blocks.
 */
export function localAddressFor(index: number, stationsPerAddress: number): string {
  return `127.0.0.${1 + Math.floor(index / stationsPerAddress)}`;
}

export type TokenStatus = 'Accepted' | 'Blocked' | 'Unknown';

/** Of every 20 tokens, 18 are registered Accepted, one Blocked, one not registered at all (answered Unknown). */
export function tokenStatus(index: number): TokenStatus {
  const slot = index % 20;
  return slot === 18 ? 'Blocked' : slot === 19 ? 'Unknown' : 'Accepted';
}

/** A 7-byte ISO14443 UID, upper-case hex. */
export function tokenId(index: number): string {
  return `BE${index.toString(16).toUpperCase().padStart(12, '0')}`;
}

/** The j-th token whose status is Accepted. */
export function acceptedTokenIndex(j: number): number {
  return Math.floor(j / 18) * 20 + (j % 18);
}
