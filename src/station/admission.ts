import { systemClock, type Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { CsmsMetrics } from '../metrics.js';
import type { OcppProtocol, OcppProtocols } from '../ocpp/protocol.js';
import { hashPassword, verifyPassword, VerifiedCredentialCache } from '../security/passwords.js';
import { ADDRESS_THROTTLE, FailureThrottle, IDENTITY_THROTTLE, type ThrottleLimits } from '../security/throttle.js';
import { normalizeSerialNumber, type SecurityProfile, type StationRecord, type Store } from '../store/store.js';
import type { ClientCertificateInfo } from './types.js';

/** Part 4 §3.1.1: the identity is an identifierString of at most 48 characters and never contains ':'. */
export const MAX_IDENTITY_LENGTH = 48;

/**
 * A client certificate that the transport verified against the client CA bundle: by this process's TLS
 * stack, or by a TLS-terminating proxy whose address is trusted (CSMS_TRUSTED_PROXIES).
 */
export interface VerifiedClientCertificate {
  commonName: string | undefined;
  organization: string | undefined;
  /** Hexadecimal serial number, when known. */
  serialNumber: string | undefined;
  verifiedBy: 'tls' | 'proxy';
}

export interface UpgradeRequest {
  /** The path segment after /ocpp/, still percent-encoded. */
  rawIdentity: string;
  authorization: string | undefined;
  protocols: string | undefined;
  /** The station's address (behind a trusted proxy: the address the proxy forwarded). */
  remoteAddress: string;
  /**
   * What the transport provides: 1 plain, 2 TLS. Profile 3 is decided here, from `clientCertificate`: a
   * verified certificate naming the station (a listener passing 3 without one gets 2).
   */
  listenerProfile: SecurityProfile;
  /** A client certificate the transport verified (chain to the client CA, validity dates). */
  clientCertificate?: VerifiedClientCertificate;
  /** Why a certificate the station presented was not verified (expired, unknown CA…), for the log. */
  clientCertificateProblem?: string;
}

export type RefusalStatus = 400 | 401 | 403 | 404 | 429 | 500;

export type Admission =
  | {
      ok: true;
      station: StationRecord;
      /** The OCPP version the connection speaks: the highest the station offered. */
      protocol: OcppProtocol;
      /** The security profile of this connection: 1, 2, or 3 when a client certificate names the station. */
      securityProfile: SecurityProfile;
      /** Set when the connection is profile 3. */
      clientCertificate?: ClientCertificateInfo;
    }
  | { ok: false; status: RefusalStatus; reason: string; result: string; retryAfterSeconds?: number };

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

export function parseBasicAuth(header: string | undefined): { username: string; password: string } | undefined {
  if (header === undefined) return undefined;
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (match === null) return undefined;
  const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export interface GatekeeperOptions {
  clock?: Clock;
  /** A00.FR.404: when set, a profile-3 certificate's subject O must equal it (the CSO name). */
  clientOrganization?: string;
  throttle?: { address: ThrottleLimits; identity: ThrottleLimits };
}

/** Refusals that count as failed attempts for throttling: credentials, downgrades, unknown identities. */
const COUNTED_FAILURES: ReadonlySet<RefusalStatus> = new Set<RefusalStatus>([401, 403, 404]);

/**
 * Decides, before any 101, whether a WebSocket upgrade becomes a station session. Transport-neutral, so
 * the uWS listener and the TLS listener apply exactly the same rules, in this order: identity syntax,
 * throttling, subprotocol, known station (or the unknown-station policy), security profile, credentials
 * (a client certificate naming the station for profile 3, else Basic auth).
 */
export class StationGatekeeper {
  private readonly verified = new VerifiedCredentialCache();
  private readonly clock: Clock;
  private readonly addressFailures: FailureThrottle;
  private readonly identityFailures: FailureThrottle;

  constructor(
    private readonly config: Config,
    private readonly protocols: OcppProtocols,
    private readonly store: Store,
    private readonly metrics: CsmsMetrics,
    private readonly log: Logger,
    private readonly options: GatekeeperOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.addressFailures = new FailureThrottle(options.throttle?.address ?? ADDRESS_THROTTLE, this.clock);
    this.identityFailures = new FailureThrottle(options.throttle?.identity ?? IDENTITY_THROTTLE, this.clock);
  }

  /** `admit` for transports: never rejects; a failure of ours (database down) is a 500, logged once here. */
  admitSafely(request: UpgradeRequest): Promise<Admission> {
    return this.admit(request).catch((err: unknown): Admission => {
      this.log.error({ err, remoteAddress: request.remoteAddress }, 'upgrade check failed');
      return { ok: false, status: 500, reason: 'internal error', result: 'error' };
    });
  }

  async admit(request: UpgradeRequest): Promise<Admission> {
    const identity = parseIdentity(request.rawIdentity);
    if (identity === undefined) {
      return refuse(400, 'bad_request', `the station identity must be 1-${MAX_IDENTITY_LENGTH} printable characters without ':'`);
    }
    const throttled = this.throttled(identity, request.remoteAddress);
    if (throttled !== undefined) return throttled;

    const admission = await this.decide(identity, request);
    if (admission.ok) {
      this.identityFailures.succeed(identity);
      return this.raiseOnUpgrade(admission, identity);
    }
    if (COUNTED_FAILURES.has(admission.status)) this.countFailure(identity, request.remoteAddress, admission.status);
    return admission;
  }

  /** The profile this connection proves: 3 needs a verified certificate naming the station (A00.FR.405). */
  private connectionProfile(identity: string, request: UpgradeRequest): { profile: SecurityProfile; certificate?: ClientCertificateInfo; problem?: string } {
    if (request.listenerProfile === 1) return { profile: 1 };
    const certificate = request.clientCertificate;
    if (certificate === undefined) {
      return { profile: 2, ...(request.clientCertificateProblem !== undefined ? { problem: request.clientCertificateProblem } : {}) };
    }
    if (certificate.commonName !== identity) {
      return { profile: 2, problem: `the client certificate's CN "${(certificate.commonName ?? '').slice(0, 64)}" is not the station identity` };
    }
    const organization = this.options.clientOrganization;
    if (organization !== undefined && certificate.organization !== organization) {
      return { profile: 2, problem: `the client certificate's O "${(certificate.organization ?? '').slice(0, 64)}" is not the CSO name` };
    }
    return { profile: 3, certificate: { commonName: identity, serialNumber: certificate.serialNumber, verifiedBy: certificate.verifiedBy } };
  }

  private async decide(identity: string, request: UpgradeRequest): Promise<Admission> {
    // Part 4 §3.1.2: the subprotocol decides the version, never the URL.
    const protocol = this.protocols.select(request.protocols);
    if (protocol === undefined) {
      return refuse(400, 'bad_subprotocol', `the station must offer one of the subprotocols ${this.protocols.subprotocols.join(', ')}`);
    }
    const { profile, certificate, problem } = await this.currentCertificate(identity, this.connectionProfile(identity, request));
    if (problem !== undefined) {
      // A00.FR.408: an invalid station certificate is a security event.
      this.log.warn({ event: 'invalid_client_certificate', stationId: identity, remoteAddress: request.remoteAddress, problem }, 'client certificate not accepted');
    }
    const admitted = (station: StationRecord): Admission => ({
      ok: true,
      station,
      protocol,
      securityProfile: profile,
      ...(certificate !== undefined ? { clientCertificate: certificate } : {}),
    });

    const credentials = parseBasicAuth(request.authorization);
    let station = await this.store.getStation(identity);
    if (station === undefined) {
      if (this.config.unknownStations === 'reject') return refuse(404, 'unknown_station', `unknown station ${identity}`);
      station = await this.register(identity, profile, credentials);
      this.log.info({ stationId: identity, bootPolicy: station.bootPolicy, securityProfile: profile }, 'unknown station registered on first connection');
      return admitted(station);
    }
    // A00.FR.002: a station registered at profile N never gets in over a lower profile.
    if (profile < station.securityProfile) {
      if (station.securityProfile === 3 && request.listenerProfile >= 2) {
        return refuse(401, 'unauthorized', `station ${identity} is registered for security profile 3: it needs a valid client certificate whose CN is its identity${problem !== undefined ? ` (${problem})` : ''}`);
      }
      return refuse(403, 'profile_downgrade', `station ${identity} is registered for security profile ${station.securityProfile}`);
    }
    // Profile 3: the certificate is the credential; there is no Basic auth (A00.FR.4xx).
    if (profile === 3) return admitted(station);
    const checked = await this.checkPassword(station, identity, credentials);
    return checked === undefined ? admitted(station) : checked;
  }

  /** Undefined when the password is right; the refusal otherwise. */
  private async checkPassword(
    station: StationRecord,
    identity: string,
    credentials: { username: string; password: string } | undefined,
  ): Promise<Admission | undefined> {
    // Open registration and no password yet: the station was registered without credentials and may
    // keep connecting without them until the operator sets a password (README, "unknown stations").
    if (credentials === undefined && station.passwordHash === undefined && this.config.unknownStations !== 'reject') return undefined;
    if (credentials === undefined) return refuse(401, 'unauthorized', 'Basic authentication is required');
    // A00.FR.204: the username is the identity in the URL.
    if (credentials.username !== identity) return refuse(401, 'unauthorized', 'the username does not match the station identity');
    if (station.passwordHash === undefined) {
      // Open registration (unknown stations accepted): the first password presented becomes the station's.
      if (this.config.unknownStations === 'reject') return refuse(401, 'unauthorized', 'no password is configured for this station');
      const passwordHash = await hashPassword(credentials.password);
      await this.store.upsertStation(identity, { passwordHash });
      return undefined;
    }
    if (this.verified.has(identity, station.passwordHash, credentials.password)) return undefined;
    if (!(await verifyPassword(credentials.password, station.passwordHash))) {
      return refuse(401, 'unauthorized', 'wrong password');
    }
    this.verified.remember(identity, station.passwordHash, credentials.password);
    return undefined;
  }

  private async register(
    identity: string,
    profile: SecurityProfile,
    credentials: { username: string; password: string } | undefined,
  ): Promise<StationRecord> {
    const passwordHash = profile < 3 && credentials !== undefined && credentials.username === identity ? await hashPassword(credentials.password) : undefined;
    const { station } = await this.store.upsertStation(identity, {
      securityProfile: profile,
      bootPolicy: this.config.unknownStations === 'pending' ? 'Pending' : 'Accepted',
      ...(passwordHash !== undefined ? { passwordHash } : {}),
    });
    return station;
  }

  /**
   * CONTRACT §3.2 "Certificates": a certificate the CSMS CA issued (its serial is in the issued table) proves
   * profile 3 only while it is current: issued to this station and not revoked (password change, delete,
   * re-registration, or the operator's DELETE). Certificates of the operator's own client CA are not in the
   * table and are unaffected. One indexed read per profile-3 upgrade; no cache, so a revocation holds on
   * every node at once.
   */
  private async currentCertificate(
    identity: string,
    connection: { profile: SecurityProfile; certificate?: ClientCertificateInfo; problem?: string },
  ): Promise<{ profile: SecurityProfile; certificate?: ClientCertificateInfo; problem?: string }> {
    const serialNumber = connection.certificate?.serialNumber;
    if (connection.profile !== 3 || serialNumber === undefined) return connection;
    const issued = await this.store.getIssuedCertificate(normalizeSerialNumber(serialNumber));
    if (issued === undefined) return connection;
    if (issued.stationId !== identity) return { profile: 2, problem: `the client certificate (serial ${issued.serialNumber}) was issued to another station` };
    if (issued.revokedAt !== undefined) {
      return { profile: 2, problem: `the client certificate (serial ${issued.serialNumber}) was revoked on ${issued.revokedAt.toISOString()} (${issued.revocationReason ?? 'revoked'})` };
    }
    return connection;
  }

  /**
   * TC_A_19: the first admitted connection at the profile the station accepted (SetNetworkProfile) raises the
   * registration. The pending profile lives with the station in the store, so the station may come back
   * through any node or worker; the raise is one conditional UPDATE (applied once, never lowering).
   */
  private async raiseOnUpgrade(admission: Extract<Admission, { ok: true }>, identity: string): Promise<Admission> {
    const target = admission.station.pendingSecurityProfile;
    if (target === undefined || admission.securityProfile < target) return admission;
    const station = await this.store.applyPendingSecurityProfile(identity, target);
    if (station === undefined) return admission;
    this.log.info(
      { event: 'security_profile_raised', stationId: identity, from: admission.station.securityProfile, to: station.securityProfile },
      `station connected with security profile ${target}: lower profiles are refused from now on`,
    );
    return { ...admission, station };
  }

  private throttled(identity: string, remoteAddress: string): Admission | undefined {
    const waitMs = Math.max(this.addressFailures.remainingCooldown(remoteAddress), this.identityFailures.remainingCooldown(identity));
    if (waitMs === 0) return undefined;
    const retryAfterSeconds = Math.ceil(waitMs / 1000);
    this.log.debug({ event: 'auth_throttled_refusal', stationId: identity, remoteAddress, retryAfterSeconds }, 'upgrade refused while cooling down');
    return { ok: false, status: 429, result: 'throttled', reason: `too many failed attempts; retry in ${retryAfterSeconds} s`, retryAfterSeconds };
  }

  private countFailure(identity: string, remoteAddress: string, status: RefusalStatus): void {
    const addressBlocked = this.addressFailures.fail(remoteAddress);
    // Unknown identities (404) are a scan of the address, not an attack on a station.
    const identityBlocked = status !== 404 && this.identityFailures.fail(identity);
    if (!addressBlocked && !identityBlocked) return;
    const limits = addressBlocked ? (this.options.throttle?.address ?? ADDRESS_THROTTLE) : (this.options.throttle?.identity ?? IDENTITY_THROTTLE);
    this.log.warn(
      {
        event: 'auth_throttled',
        scope: addressBlocked ? 'address' : 'identity',
        stationId: identity,
        remoteAddress,
        failures: limits.maxFailures,
        windowSeconds: limits.windowMs / 1000,
        cooldownSeconds: limits.cooldownMs / 1000,
      },
      `repeated failed upgrades from this ${addressBlocked ? 'address' : 'identity'}: refused with 429 for the cool-down`,
    );
  }
}

function refuse(status: RefusalStatus, result: string, reason: string): Admission {
  return { ok: false, status, reason, result };
}
