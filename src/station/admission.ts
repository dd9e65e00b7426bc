import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { CsmsMetrics } from '../metrics.js';
import { hashPassword, verifyPassword, VerifiedCredentialCache } from '../security/passwords.js';
import type { SecurityProfile, StationRecord, Store } from '../store/store.js';

/** Part 4 §3.1.1: the identity is an identifierString of at most 48 characters and never contains ':'. */
export const MAX_IDENTITY_LENGTH = 48;
export const OCPP_SUBPROTOCOL = 'ocpp2.0.1';

export interface UpgradeRequest {
  /** The path segment after /ocpp/, still percent-encoded. */
  rawIdentity: string;
  authorization: string | undefined;
  protocols: string | undefined;
  remoteAddress: string;
  /** The security profile the listener provides: 1 plain, 2 TLS, 3 TLS with a verified client certificate. */
  listenerProfile: SecurityProfile;
  /** Profile 3: the verified client certificate's subject CN. */
  clientCertificateCn?: string;
}

export type Admission =
  | { ok: true; station: StationRecord; protocol: string }
  | { ok: false; status: 400 | 401 | 403 | 404 | 500; reason: string; result: string };

/** Decodes and checks the identity syntax; undefined when it is not acceptable. */
export function parseIdentity(raw: string): string | undefined {
  let identity: string;
  try {
    identity = decodeURIComponent(raw);
  } catch {
    return undefined;
  }
  if (identity.length === 0 || identity.length > MAX_IDENTITY_LENGTH) return undefined;
  if (identity.includes(':') || identity.includes('/')) return undefined;
  // identifierString: printable ASCII; control characters and spaces never name a station.
  if (!/^[\x21-\x7e]+$/.test(identity)) return undefined;
  return identity;
}

/** Picks ocpp2.0.1 from the offered list (Part 4 §3.1.2); the URL never decides the version. */
export function selectSubprotocol(offered: string | undefined): string | undefined {
  if (offered === undefined) return undefined;
  for (const protocol of offered.split(',')) {
    if (protocol.trim() === OCPP_SUBPROTOCOL) return OCPP_SUBPROTOCOL;
  }
  return undefined;
}

export function parseBasicAuth(header: string | undefined): { username: string; password: string } | undefined {
  if (header === undefined) return undefined;
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (match === null) return undefined;
  const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * Decides, before any 101, whether a WebSocket upgrade becomes a station session. Transport-neutral, so
 * the uWS listener and the TLS listener apply exactly the same rules, in this order: identity syntax,
 * subprotocol, known station (or the unknown-station policy), security profile, credentials.
 */
export class StationGatekeeper {
  private readonly verified = new VerifiedCredentialCache();

  constructor(
    private readonly config: Config,
    private readonly store: Store,
    private readonly metrics: CsmsMetrics,
    private readonly log: Logger,
  ) {}

  async admit(request: UpgradeRequest): Promise<Admission> {
    const identity = parseIdentity(request.rawIdentity);
    if (identity === undefined) {
      return refuse(400, 'bad_request', `the station identity must be 1-${MAX_IDENTITY_LENGTH} printable characters without ':'`);
    }
    const protocol = selectSubprotocol(request.protocols);
    if (protocol === undefined) {
      return refuse(400, 'bad_subprotocol', `the station must offer the ${OCPP_SUBPROTOCOL} subprotocol`);
    }
    const credentials = parseBasicAuth(request.authorization);
    let station = await this.store.getStation(identity);
    if (station === undefined) {
      if (this.config.unknownStations === 'reject') return refuse(404, 'unknown_station', `unknown station ${identity}`);
      station = await this.register(identity, request, credentials);
      this.log.info({ stationId: identity, bootPolicy: station.bootPolicy }, 'unknown station registered on first connection');
      return { ok: true, station, protocol };
    }
    // A00.FR.002: a station registered at profile N never gets in over a lower profile.
    if (request.listenerProfile < station.securityProfile) {
      return refuse(403, 'profile_downgrade', `station ${identity} is registered for security profile ${station.securityProfile}`);
    }
    if (station.securityProfile === 3 || request.listenerProfile === 3) {
      if (request.clientCertificateCn !== identity) {
        return refuse(401, 'unauthorized', 'the client certificate does not name this station');
      }
      return { ok: true, station, protocol };
    }
    return this.checkPassword(station, identity, credentials, protocol);
  }

  private async checkPassword(
    station: StationRecord,
    identity: string,
    credentials: { username: string; password: string } | undefined,
    protocol: string,
  ): Promise<Admission> {
    if (credentials === undefined) return refuse(401, 'unauthorized', 'Basic authentication is required');
    // A00.FR.204: the username is the identity in the URL.
    if (credentials.username !== identity) return refuse(401, 'unauthorized', 'the username does not match the station identity');
    if (station.passwordHash === undefined) {
      // Open registration (unknown stations accepted): the first password presented becomes the station's.
      if (this.config.unknownStations === 'reject') return refuse(401, 'unauthorized', 'no password is configured for this station');
      const passwordHash = await hashPassword(credentials.password);
      const updated = await this.store.upsertStation(identity, { passwordHash });
      return { ok: true, station: updated.station, protocol };
    }
    if (this.verified.has(identity, station.passwordHash, credentials.password)) return { ok: true, station, protocol };
    if (!(await verifyPassword(credentials.password, station.passwordHash))) {
      return refuse(401, 'unauthorized', 'wrong password');
    }
    this.verified.remember(identity, station.passwordHash, credentials.password);
    return { ok: true, station, protocol };
  }

  private async register(
    identity: string,
    request: UpgradeRequest,
    credentials: { username: string; password: string } | undefined,
  ): Promise<StationRecord> {
    const passwordHash = credentials !== undefined && credentials.username === identity ? await hashPassword(credentials.password) : undefined;
    const { station } = await this.store.upsertStation(identity, {
      securityProfile: request.listenerProfile,
      bootPolicy: this.config.unknownStations === 'pending' ? 'Pending' : 'Accepted',
      ...(passwordHash !== undefined ? { passwordHash } : {}),
    });
    return station;
  }
}

function refuse(status: 400 | 401 | 403 | 404 | 500, result: string, reason: string): Admission {
  return { ok: false, status, reason, result };
}
