import { systemClock, type Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { CsmsMetrics } from '../metrics.js';
import type { OcppProtocol, OcppProtocols } from '../ocpp/protocol.js';
import { SampledLog } from '../log.js';
import { needsRehash, passwordLengthProblem } from '../security/passwords.js';
import type { StationPasswords } from '../security/password-verifier.js';
import {
  ADDRESS_LIMITS,
  IDENTITY_ADDRESS_LIMITS,
  CheckSlots,
  MAX_CHECKS_QUEUED_PER_ADDRESS,
  LocalAttemptCounter,
  MAX_CHECKS_IN_FLIGHT,
  throttleAddress,
  type AttemptCounter,
  type AttemptLimits,
  type AttemptVerdict,
} from '../security/throttle.js';
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

export type RefusalStatus = 400 | 401 | 403 | 404 | 429 | 503;

export type Admission =
  | {
      ok: true;
      station: StationRecord;
      /** The OCPP version the connection speaks: the highest the station offered, or the one its registration pins. */
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
  /** Limits of unproven attempts per (identity, address) and per address. */
  throttle?: { identityAddress: AttemptLimits; address: AttemptLimits };
  /** Where attempts are counted: Redis in cluster mode (shared by workers and nodes), in process otherwise. */
  attempts?: AttemptCounter;
  /** Password checks (scrypt) running at once per (identity, address) and per address. */
  maxChecksInFlight?: { identityAddress: number; address: number };
}

/**
 * Decides, before any 101, whether a WebSocket upgrade becomes a station session. Transport-neutral, so
 * the uWS listener and the TLS listener apply exactly the same rules, in this order: identity syntax,
 * subprotocol, known station (or the unknown-station policy), security profile, credentials (a client
 * certificate naming the station for profile 3, else Basic auth).
 *
 * Throttling (CONTRACT §3.2) sits in front of the password check only, because only a password check is an
 * unproven attempt worth counting (and costs a scrypt derivation). It is keyed per (identity, address) and per
 * address (IPv6 by /64), never per identity alone: failures from one address never lock a station out from
 * another. Per (identity, address) an attempt counts on arrival; per address the checks wait their turn a few at
 * a time (a fleet behind one NAT or proxy reconnecting after a restart is a queue, not a refusal) and each counts
 * when its turn comes. A right password takes its attempts back. While its own address is
 * cooling down a password attempt gets 429 *without* being checked, the right password included (checking it
 * would let the guessing go on at full speed); a certificate-proven connection (profile 3) is never throttled.
 * Missing credentials, a wrong username, a downgrade and an unknown identity are refused without counting: they
 * prove nothing and cost nothing, and counting them would let anyone lock out whoever shares their key.
 */
export class StationGatekeeper {
  private readonly clock: Clock;
  private readonly attempts: AttemptCounter;
  private readonly limits: { identityAddress: AttemptLimits; address: AttemptLimits };
  private readonly checksPerIdentityAddress: CheckSlots;
  private readonly checksPerAddress: CheckSlots;
  private readonly sampled: SampledLog;

  constructor(
    private readonly config: Config,
    private readonly protocols: OcppProtocols,
    private readonly store: Store,
    private readonly metrics: CsmsMetrics,
    private readonly log: Logger,
    private readonly passwords: StationPasswords,
    private readonly options: GatekeeperOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.attempts = options.attempts ?? new LocalAttemptCounter(this.clock);
    this.limits = options.throttle ?? { identityAddress: IDENTITY_ADDRESS_LIMITS, address: ADDRESS_LIMITS };
    const inFlight = options.maxChecksInFlight ?? MAX_CHECKS_IN_FLIGHT;
    // No queue per (identity, address): a station has one connection, so a second check at once is a guess.
    this.checksPerIdentityAddress = new CheckSlots(inFlight.identityAddress, 0);
    this.checksPerAddress = new CheckSlots(inFlight.address, MAX_CHECKS_QUEUED_PER_ADDRESS);
    this.sampled = new SampledLog(log, 10_000, () => this.clock.now());
  }

  /**
   * `admit` for transports: never rejects. A failure of ours (the store degraded or overloaded, CONTRACT §1) is a 503
   * with a Retry-After spread over 5–10 s, so a fleet refused together does not come back together; logged here.
   */
  admitSafely(request: UpgradeRequest): Promise<Admission> {
    return this.admit(request).catch((err: unknown): Admission => {
      this.sampled.error('upgrade_check_failed', { err, remoteAddress: request.remoteAddress }, 'upgrade check failed');
      const retryAfterSeconds = 5 + Math.floor(Math.random() * 6);
      return { ok: false, status: 503, reason: `the CSMS cannot check stations right now; retry in ${retryAfterSeconds} s`, result: 'error', retryAfterSeconds };
    });
  }

  async admit(request: UpgradeRequest): Promise<Admission> {
    const identity = parseIdentity(request.rawIdentity);
    if (identity === undefined) {
      return refuse(400, 'bad_request', `the station identity must be 1-${MAX_IDENTITY_LENGTH} printable characters without ':'`);
    }
    const admission = await this.decide(identity, request);
    if (!admission.ok) return admission;
    if (admission.station.ocppVersion !== admission.protocol.version) {
      // Before the 101, so GET station shows the version of the connection that is open (CONTRACT §4). A store that
      // cannot take the write (degraded, CONTRACT §1) costs the view its freshness, never the station its connection.
      await this.store.recordOcppVersion(identity, admission.protocol.version).then(
        () => undefined,
        (err: unknown) => this.sampled.warn('ocpp_version_not_recorded', { err, stationId: identity }, 'could not record the negotiated OCPP version'),
      );
      admission.station = { ...admission.station, ocppVersion: admission.protocol.version };
    }
    return this.raiseOnUpgrade(admission, identity);
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
      this.sampled.warn(
        'invalid_client_certificate',
        { event: 'invalid_client_certificate', stationId: identity, remoteAddress: request.remoteAddress, problem },
        'client certificate not accepted',
      );
    }
    const admitted = (station: StationRecord, chosen: OcppProtocol = protocol): Admission => ({
      ok: true,
      station,
      protocol: chosen,
      securityProfile: profile,
      ...(certificate !== undefined ? { clientCertificate: certificate } : {}),
    });

    const credentials = parseBasicAuth(request.authorization);
    let station = await this.store.getStation(identity);
    if (station === undefined) {
      if (this.config.unknownStations === 'reject') return refuse(404, 'unknown_station', `unknown station ${identity}`);
      const registered = await this.register(identity, profile, credentials);
      if (!registered.ok) return registered.refusal;
      if (registered.station !== undefined) {
        this.log.info({ stationId: identity, bootPolicy: registered.station.bootPolicy, securityProfile: profile }, 'unknown station registered on first connection');
        return admitted(registered.station);
      }
      // Another connection registered it a moment ago: this one is an ordinary connection to a known station.
      station = await this.store.getStation(identity);
      if (station === undefined) return refuse(404, 'unknown_station', `unknown station ${identity}`);
    }
    // A00.FR.002: a station registered at profile N never gets in over a lower profile.
    if (profile < station.securityProfile) {
      if (station.securityProfile === 3 && request.listenerProfile >= 2) {
        return refuse(
          401,
          'unauthorized',
          `station ${identity} is registered for security profile 3: it needs a valid client certificate whose CN is its identity${problem !== undefined ? ` (${problem})` : ''}`,
        );
      }
      return refuse(403, 'profile_downgrade', `station ${identity} is registered for security profile ${station.securityProfile}`);
    }
    // Profile 3: the certificate is the credential; there is no Basic auth (A00.FR.4xx).
    if (profile !== 3) {
      const checked = await this.checkPassword(station, identity, credentials, request.remoteAddress);
      if (checked !== undefined) return checked;
    }
    // CONTRACT §3: a pinned version must be among those offered; told only to a station that proved who it is.
    if (station.ocppVersionPin !== 'auto') {
      const pinned = this.protocols.select(request.protocols, station.ocppVersionPin);
      if (pinned === undefined) {
        return refuse(
          400,
          'bad_subprotocol',
          `station ${identity} is registered for OCPP ${station.ocppVersionPin}: it must offer ${this.protocols.get(station.ocppVersionPin).subprotocol}`,
        );
      }
      return admitted(station, pinned);
    }
    return admitted(station);
  }

  /**
   * Undefined when the password is right; the refusal otherwise. Only a password that gets checked is counted
   * (see the class comment); everything refused before that is free and counts nothing.
   */
  private async checkPassword(
    station: StationRecord,
    identity: string,
    credentials: { username: string; password: string } | undefined,
    remoteAddress: string,
  ): Promise<Admission | undefined> {
    if (credentials === undefined) return refuse(401, 'unauthorized', 'Basic authentication is required');
    // A00.FR.204: the username is the identity in the URL.
    if (credentials.username !== identity) return refuse(401, 'unauthorized', 'the username does not match the station identity');
    // CONTRACT §3.2: a profile 1/2 station without a password stays out until an operator sets one; the wire
    // never sets the password of a station that exists already (no trust on first use after registration).
    const storedHash = station.passwordHash;
    if (storedHash === undefined) return refuse(401, 'no_password', `station ${identity} has no password yet: an operator must set one`);

    const address = throttleAddress(remoteAddress);
    const identityAddressKey = `ia:${identity}|${address}`;
    const addressKey = `a:${address}`;
    // Per (identity, address) the attempt counts on arrival: a station has one connection, so parallel attempts
    // for one identity are guesses, and they see each other before any of them is checked.
    const perIdentityAddress = await this.attempts.attempt(identityAddressKey, this.limits.identityAddress);
    if (!perIdentityAddress.allowed) return this.throttledRefusal(perIdentityAddress, 'identity_address', identity, remoteAddress, address);
    // A password that verified before (on any node holding the verifier key): no derivation, no queue. Not while
    // the address cools down, though: the right password from there waits like every other attempt, or a guesser
    // whose address is throttled could go on testing guesses at HMAC speed and learn from each 101.
    const stored = { passwordHash: storedHash, passwordVerifier: station.passwordVerifier };
    if (this.passwords.fastMatch(identity, stored, credentials.password)) {
      const perAddress = await this.attempts.peek(addressKey, this.limits.address);
      await this.attempts.retract(identityAddressKey);
      return perAddress.allowed ? undefined : this.throttledRefusal(perAddress, 'address', identity, remoteAddress, address);
    }
    if (!(await this.checksPerIdentityAddress.acquire(identityAddressKey))) return busy();
    // Per address the checks queue (a fleet behind one NAT or proxy reconnecting is not an attack) and each
    // counts when its turn comes, so at most a few unproven ones are ever counted ahead of their outcome.
    if (!(await this.checksPerAddress.acquire(address))) {
      this.checksPerIdentityAddress.release(identityAddressKey);
      return busy();
    }
    let right: boolean;
    try {
      const perAddress = await this.attempts.attempt(addressKey, this.limits.address);
      if (!perAddress.allowed) {
        await this.attempts.retract(identityAddressKey);
        return this.throttledRefusal(perAddress, 'address', identity, remoteAddress, address);
      }
      right = await this.passwords.slowMatch(stored, credentials.password);
      if (right) await Promise.all([this.attempts.retract(identityAddressKey), this.attempts.retract(addressKey)]);
    } finally {
      this.checksPerIdentityAddress.release(identityAddressKey);
      this.checksPerAddress.release(address);
    }
    this.metrics.passwordChecksTotal.labels(right ? 'right' : 'wrong').inc();
    if (!right) return refuse(401, 'unauthorized', 'wrong password');
    if (needsRehash(storedHash)) await this.rehash(identity, storedHash, credentials.password);
    else await this.rememberVerified(identity, storedHash, credentials.password);
    return undefined;
  }

  private throttledRefusal(verdict: AttemptVerdict, scope: 'address' | 'identity_address', identity: string, remoteAddress: string, address: string): Admission {
    if (verdict.startedCooldown) {
      const limits = scope === 'address' ? this.limits.address : this.limits.identityAddress;
      this.metrics.authThrottledTotal.labels(scope).inc();
      this.sampled.warn(
        `auth_throttled:${scope}:${scope === 'address' ? address : `${identity}|${address}`}`,
        {
          event: 'auth_throttled',
          scope,
          stationId: identity,
          remoteAddress,
          failures: limits.maxAttempts,
          windowSeconds: limits.windowMs / 1000,
          cooldownSeconds: limits.cooldownMs / 1000,
        },
        `repeated unproven password attempts from this ${scope === 'address' ? 'address' : 'address for this station'}: refused with 429 for the cool-down`,
      );
    }
    const retryAfterSeconds = Math.ceil(verdict.retryAfterMs / 1000);
    return { ok: false, status: 429, result: 'throttled', reason: `too many failed attempts; retry in ${retryAfterSeconds} s`, retryAfterSeconds };
  }

  /**
   * A password stored at an older, weaker cost is rewritten at today's cost on its next successful login. The
   * stored hash is read again just before writing, so an operator's password change in the meantime wins (a
   * change landing in the few milliseconds between that read and the write would be lost; the operator's API
   * answer came first, so they can repeat it).
   */
  private async rehash(identity: string, oldHash: string, password: string): Promise<void> {
    try {
      const created = await this.passwords.create(identity, password);
      const current = await this.store.getStation(identity);
      if (current?.passwordHash !== oldHash) return;
      await this.store.upsertStation(identity, created);
      this.log.info({ event: 'password_rehashed', stationId: identity }, 'station password re-hashed at the current scrypt cost');
    } catch (err) {
      // The login stands; the next one tries again.
      this.log.warn({ err, stationId: identity }, 'could not re-hash the station password');
    }
  }

  /**
   * The next check of this password, here or on any node with the same key, is one HMAC. A failed write costs only
   * speed (the next check derives again), so the login stands either way.
   */
  private async rememberVerified(identity: string, passwordHash: string, password: string): Promise<void> {
    try {
      await this.store.recordPasswordVerifier(identity, passwordHash, this.passwords.verifierFor(identity, passwordHash, password));
    } catch (err) {
      this.log.warn({ err, stationId: identity }, 'could not store the password verifier');
    }
  }

  /**
   * Open registration (CSMS_UNKNOWN_STATIONS=accept|pending). The password comes from the wire only here, on the
   * connection that creates the registration, and only when it is a valid station password (16-64 characters);
   * a profile 1/2 station offering none, or one outside that range, is refused (401, saying why) and nothing is
   * registered, since it would only be refused on every reconnect until an operator set a password. Profile 3
   * (a certificate naming the station) registers without a password.
   *
   * `station` undefined: another connection created the registration first; this one gets no say in it.
   */
  private async register(
    identity: string,
    profile: SecurityProfile,
    credentials: { username: string; password: string } | undefined,
  ): Promise<{ ok: true; station: StationRecord | undefined } | { ok: false; refusal: Admission }> {
    let password: { passwordHash: string; passwordVerifier: Buffer } | undefined;
    if (profile < 3) {
      if (credentials === undefined)
        return { ok: false, refusal: refuse(401, 'unauthorized', 'Basic authentication is required: a new station registers with its password') };
      if (credentials.username !== identity) return { ok: false, refusal: refuse(401, 'unauthorized', 'the username does not match the station identity') };
      const problem = passwordLengthProblem(credentials.password);
      if (problem !== undefined) return { ok: false, refusal: refuse(401, 'bad_password', `not registered: ${problem}`) };
      password = await this.passwords.create(identity, credentials.password);
    }
    // Create first, then fill in: of two connections racing to register one identity, only the one whose
    // statement created the row sets the profile and the password; the other is checked as an ordinary login.
    const { created } = await this.store.upsertStation(identity, { bootPolicy: this.config.unknownStations === 'pending' ? 'Pending' : 'Accepted' });
    if (!created) return { ok: true, station: undefined };
    const { station } = await this.store.upsertStation(identity, { securityProfile: profile, ...password });
    return { ok: true, station };
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
      return {
        profile: 2,
        problem: `the client certificate (serial ${issued.serialNumber}) was revoked on ${issued.revokedAt.toISOString()} (${issued.revocationReason ?? 'revoked'})`,
      };
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
}

function refuse(status: RefusalStatus, result: string, reason: string): Admission {
  return { ok: false, status, reason, result };
}

/** More password checks of this key are running than allowed: the excess is refused at once, never queued. */
function busy(): Admission {
  return { ok: false, status: 429, result: 'throttled', reason: 'too many password checks at once from this address; retry in 1 s', retryAfterSeconds: 1 };
}
