import { X509Certificate } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { asJson } from '../../json.js';
import { CallTimeoutError, OcppError } from '../../ocpp/errors.js';
import type {
  CertificateSignedRequest,
  CertificateSignedResponse,
  ChargingStationType,
  SetNetworkProfileRequest,
  SetNetworkProfileResponse,
  SecurityEventNotificationRequest,
  SecurityEventNotificationResponse,
  SignCertificateRequest,
  SignCertificateResponse,
} from '../../ocpp/v201/types.js';
import type { CertificateAuthority, IssuedCertificate } from '../../security/ca.js';
import { RecentMap } from '../../recent-map.js';
import { verifyCsr } from '../../security/csr.js';
import type { PendingProfileUpgrades } from '../../station/admission.js';
import type { BlockModule, ClientCertificateInfo, HandlerContext, StationHandle, StationServices } from '../../station/types.js';
import type { SecurityProfile } from '../../store/store.js';
import { certificateInventoryHooks } from './certificate-inventory.js';
import { planSetNetworkProfile } from './network-profile.js';

/**
 * Security (block A) as far as station messages go: certificates signed for stations (A02 on the CSMS's
 * request through TriggerMessage, A03 on the station's own initiative), and security-profile upgrades
 * (A05, TC_A_19) learnt from the answer to SetNetworkProfile.
 */

/** The last certificate-signing outcome of a station, for the operator (TC_A_14: a rejection is visible). */
export interface CertificateSigningOutcome {
  /**
   * CsrRejected: the CSR was refused (no certificate issued); Issued: signed, CertificateSigned under way;
   * Accepted / Rejected: the station's answer to CertificateSigned; Failed: it never answered usefully.
   */
  status: 'CsrRejected' | 'Issued' | 'Accepted' | 'Rejected' | 'Failed';
  /** When this outcome was recorded (RFC 3339). */
  at: string;
  certificateType: string;
  /** Serial number (hex) of the certificate concerned, when one was issued. */
  serialNumber?: string;
  reason?: string;
  /** CertificateSigned deliveries tried. */
  attempts?: number;
}

/** The latest outcome per station, in memory (bounded: the least recently updated are forgotten first). */
export class CertificateSigningLog {
  private readonly outcomes: RecentMap<string, CertificateSigningOutcome>;

  constructor(maxStations = 100_000) {
    this.outcomes = new RecentMap(maxStations);
  }

  get(stationId: string): CertificateSigningOutcome | undefined {
    return this.outcomes.get(stationId);
  }

  record(stationId: string, outcome: CertificateSigningOutcome): void {
    this.outcomes.set(stationId, outcome);
  }
}

export interface CertificateModuleDeps {
  ca: CertificateAuthority;
  /** Shared with the StationGatekeeper, which raises the registration when the station comes back (TC_A_19). */
  profileUpgrades: PendingProfileUpgrades;
  outcomes?: CertificateSigningLog;
  /** Waits before the 2nd, 3rd… CertificateSigned attempt after a timeout or CALLERROR; default 2 s, 10 s. */
  retryDelaysMs?: readonly number[];
}

export interface SecurityBlock extends BlockModule {
  readonly outcomes: CertificateSigningLog;
}

const DEFAULT_RETRY_DELAYS_MS = [2_000, 10_000];
/** StatusInfo.reasonCode is at most 20 characters, additionalInfo at most 512. */
const MAX_ADDITIONAL_INFO = 512;

function leafSerialNumber(chain: string): string | undefined {
  const leaf = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(chain);
  if (leaf === null) return undefined;
  try {
    return new X509Certificate(leaf[0]).serialNumber.toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * B01.FR.11/12 (DRV-A00-04): on a profile 3 connection, the BootNotification serialNumber must be the
 * client certificate's CN. Returns why it is not, or undefined (also when there is no certificate, or
 * the station sent no serialNumber: nothing to compare).
 */
export function bootSerialNumberMismatch(certificate: ClientCertificateInfo | undefined, chargingStation: Pick<ChargingStationType, 'serialNumber'>): string | undefined {
  if (certificate === undefined || chargingStation.serialNumber === undefined) return undefined;
  if (chargingStation.serialNumber === certificate.commonName) return undefined;
  return `BootNotification serialNumber "${chargingStation.serialNumber}" does not match the client certificate CN "${certificate.commonName}" (B01.FR.11/12)`;
}

/**
 * For the BootNotification handler: closes the connection (1008) and throws a SecurityError when the
 * serialNumber contradicts the client certificate; does nothing otherwise.
 */
export function enforceBootSerialNumber(ctx: HandlerContext, chargingStation: Pick<ChargingStationType, 'serialNumber'>, certificate: ClientCertificateInfo | undefined): void {
  const mismatch = bootSerialNumberMismatch(certificate, chargingStation);
  if (mismatch === undefined) return;
  ctx.station.log.warn({ event: 'certificate_serial_mismatch', messageId: ctx.messageId, serialNumber: chargingStation.serialNumber, certificateCn: certificate?.commonName }, mismatch);
  ctx.station.close(1008, 'serialNumber does not match the client certificate');
  throw new OcppError('SecurityError', mismatch);
}

/**
 * The security block (A, M), with the CA that signs station certificates: SignCertificate and the answer to
 * CertificateSigned, security events, installed certificates, and security-profile upgrades (SetNetworkProfile,
 * never a downgrade).
 */
export function createSecurityBlock(deps: CertificateModuleDeps): SecurityBlock {
  const { ca, profileUpgrades } = deps;
  const outcomes = deps.outcomes ?? new CertificateSigningLog();
  const retryDelaysMs = deps.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;

  function now(services: StationServices): string {
    return new Date(services.clock.now()).toISOString();
  }

  /** CertificateSigned through the station's outbound queue, retried after a timeout or CALLERROR. */
  async function deliver(station: StationHandle, issued: IssuedCertificate, services: StationServices): Promise<void> {
    const payload: CertificateSignedRequest = { certificateChain: issued.chainPem, certificateType: 'ChargingStationCertificate' };
    for (let attempt = 1; ; attempt++) {
      try {
        // The answer is recorded by the CertificateSigned result hook below.
        await station.call('CertificateSigned', asJson(payload));
        return;
      } catch (err) {
        const retriable = err instanceof CallTimeoutError || err instanceof OcppError;
        const delay = retryDelaysMs[attempt - 1];
        const reason = (err as Error).message;
        if (!retriable || delay === undefined) {
          outcomes.record(station.stationId, { status: 'Failed', at: now(services), certificateType: 'ChargingStationCertificate', serialNumber: issued.serialNumber, reason, attempts: attempt });
          station.log.warn({ event: 'certificate_delivery_failed', serialNumber: issued.serialNumber, attempts: attempt, reason }, 'CertificateSigned could not be delivered');
          return;
        }
        station.log.info({ serialNumber: issued.serialNumber, attempt, retryInMs: delay, reason }, 'CertificateSigned failed; retrying');
        await sleep(delay, undefined, { ref: false });
      }
    }
  }

  /** A02/A03: verify the CSR, answer, then sign and send CertificateSigned once the answer is out. */
  async function signCertificate(ctx: HandlerContext, request: SignCertificateRequest): Promise<SignCertificateResponse> {
    const { station, services } = ctx;
    const certificateType = request.certificateType ?? 'ChargingStationCertificate';
    if (certificateType !== 'ChargingStationCertificate') {
      // V2G certificates belong to ISO 15118 (a CSMS forwards them to a V2G PKI), which this CSMS does not do.
      outcomes.record(station.stationId, { status: 'CsrRejected', at: now(services), certificateType, reason: 'V2G certificates are not signed by this CSMS' });
      return { status: 'Rejected', statusInfo: { reasonCode: 'UnsupportedCertType', additionalInfo: 'this CSMS signs ChargingStationCertificate only' } };
    }
    const verdict = await verifyCsr(request.csr, station.stationId);
    if (!verdict.ok) {
      // A02.FR.12 / DRV-A02-01: Rejected, and no CertificateSigned follows.
      outcomes.record(station.stationId, { status: 'CsrRejected', at: now(services), certificateType, reason: verdict.reason });
      station.log.warn({ event: 'csr_rejected', messageId: ctx.messageId, reason: verdict.reason }, 'certificate signing request rejected');
      return { status: 'Rejected', statusInfo: { reasonCode: 'InvalidCSR', additionalInfo: verdict.reason.slice(0, MAX_ADDITIONAL_INFO) } };
    }
    const issued = await ca.issue(verdict, services.clock.now());
    outcomes.record(station.stationId, { status: 'Issued', at: now(services), certificateType, serialNumber: issued.serialNumber });
    station.log.info({ event: 'certificate_issued', messageId: ctx.messageId, serialNumber: issued.serialNumber, notAfter: issued.notAfter.toISOString() }, 'station certificate issued');
    // A02.FR.11: the SignCertificateResponse goes first; CertificateSigned follows through the outbound queue.
    ctx.afterReply(() => void deliver(station, issued, services));
    return { status: 'Accepted' };
  }

  function learnFromCertificateSigned(station: StationHandle, request: CertificateSignedRequest, response: CertificateSignedResponse, services: StationServices): void {
    const certificateType = request.certificateType ?? 'ChargingStationCertificate';
    const serialNumber = leafSerialNumber(request.certificateChain);
    const info = response.statusInfo;
    const reason = info === undefined ? undefined : [info.reasonCode, info.additionalInfo].filter((part) => part !== undefined).join(': ');
    outcomes.record(station.stationId, {
      status: response.status,
      at: now(services),
      certificateType,
      ...(serialNumber !== undefined ? { serialNumber } : {}),
      ...(reason !== undefined ? { reason } : {}),
    });
    if (response.status === 'Rejected') {
      // TC_A_14: the station keeps its old certificate; the operator must see that the renewal failed.
      station.log.warn({ event: 'certificate_rejected', certificateType, serialNumber, reason }, 'the station rejected the certificate signed for it');
    } else {
      station.log.info({ event: 'certificate_installed', certificateType, serialNumber }, 'the station accepted its new certificate');
    }
  }

  async function rememberProfileUpgrade(station: StationHandle, request: SetNetworkProfileRequest, response: SetNetworkProfileResponse, services: StationServices): Promise<void> {
    if (response.status !== 'Accepted') return;
    const target = request.connectionData.securityProfile;
    const registered = (await services.store.getStation(station.stationId))?.securityProfile ?? station.station.securityProfile;
    if (target <= registered || target > 3) return;
    profileUpgrades.remember(station.stationId, target as SecurityProfile);
    station.log.info(
      { event: 'security_profile_upgrade_pending', from: registered, to: target, configurationSlot: request.configurationSlot },
      `the station accepted security profile ${target}; it is raised when the station connects with it`,
    );
  }

  return {
    name: 'security',
    outcomes,
    handlers: { SignCertificate: signCertificate, SecurityEventNotification: securityEventNotification },
    resultHooks: { CertificateSigned: learnFromCertificateSigned, SetNetworkProfile: rememberProfileUpgrade, ...certificateInventoryHooks },
    plans: { SetNetworkProfile: planSetNetworkProfile },
  };
}

/** A04: a security event is a record, kept before it is acknowledged and visible through the API. */
async function securityEventNotification(ctx: HandlerContext, request: SecurityEventNotificationRequest): Promise<SecurityEventNotificationResponse> {
  const { store, clock } = ctx.services;
  await store.recordEvent(ctx.station.stationId, 'SecurityEventNotification', asJson(request), new Date(clock.now()));
  ctx.station.log.info({ messageId: ctx.messageId, securityEvent: request.type }, 'security event reported');
  return {};
}
