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
import type { CertificateAuthority, IssueOptions, IssuedCertificate } from '../../security/ca.js';
import { verifyCsr, type CsrVerdict } from '../../security/csr.js';
import type { BlockModule, ClientCertificateInfo, HandlerContext, StationHandle, StationServices } from '../../station/types.js';
import { normalizeSerialNumber, type SecurityProfile } from '../../store/store.js';
import { certificateInventoryHooks, certificateInventoryHooks16 } from './certificate-inventory.js';
import { planSetNetworkProfile } from './network-profile.js';

/**
 * Security (block A) as far as station messages go: certificates signed for stations (A02 on the CSMS's
 * request through TriggerMessage, A03 on the station's own initiative), and security-profile upgrades
 * (A05, TC_A_19) learnt from the answer to SetNetworkProfile.
 */

/**
 * The last certificate-signing outcome of a station, for the operator (TC_A_14: a rejection is visible). Kept
 * with the station in the store (`certificate_signing`), so every node and a restarted one show the same.
 */
export interface CertificateSigningOutcome {
  /**
   * Signing: a SignCertificate is being checked and signed; CsrRejected: the request was refused (no
   * certificate issued); Issued: signed, CertificateSigned under way; Accepted / Rejected: the station's
   * answer to CertificateSigned; Failed: it never answered usefully. Signing and Issued mean "in progress":
   * another SignCertificate is answered Rejected meanwhile (CONTRACT §3.2 "Certificates").
   */
  status: 'Signing' | 'CsrRejected' | 'Issued' | 'Accepted' | 'Rejected' | 'Failed';
  /** When this outcome was recorded (RFC 3339). */
  at: string;
  certificateType: string;
  /** Serial number (hex) of the certificate concerned, when one was issued. */
  serialNumber?: string;
  reason?: string;
  /** CertificateSigned deliveries tried. */
  attempts?: number;
}

/**
 * ISO 15118 (CONTRACT §8.6): how a V2GCertificate CSR is checked and who signs it. Given by the plug-and-charge
 * block; without it V2G CSRs are refused.
 */
export interface V2gSigning {
  ca: CertificateAuthority;
  verify(csr: string, station: StationHandle, services: StationServices): Promise<CsrVerdict>;
  issueOptions: IssueOptions;
}

export interface CertificateModuleDeps {
  ca: CertificateAuthority;
  v2g?: V2gSigning;
  /** Waits before the 2nd, 3rd… CertificateSigned attempt after a timeout or CALLERROR; default 2 s, 10 s. */
  retryDelaysMs?: readonly number[];
}

/** CONTRACT §3.2: at most this many certificates signed per station per window. */
export const MAX_CERTIFICATES_PER_WINDOW = 5;
export const CERTIFICATE_WINDOW_MS = 10 * 60_000;
/** A signing left "in progress" by a process that died is taken over after the longest delivery plus this. */
const SIGNING_LEASE_MARGIN_MS = 60_000;
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
export function enforceBootSerialNumber(
  ctx: HandlerContext,
  chargingStation: Pick<ChargingStationType, 'serialNumber'>,
  certificate: ClientCertificateInfo | undefined,
): void {
  const mismatch = bootSerialNumberMismatch(certificate, chargingStation);
  if (mismatch === undefined) return;
  ctx.station.log.warn(
    { event: 'certificate_serial_mismatch', messageId: ctx.messageId, serialNumber: chargingStation.serialNumber, certificateCn: certificate?.commonName },
    mismatch,
  );
  ctx.station.close(1008, 'serialNumber does not match the client certificate');
  throw new OcppError('SecurityError', mismatch);
}

/**
 * The security block (A, M), with the CA that signs station certificates: SignCertificate and the answer to
 * CertificateSigned, security events, installed certificates, and security-profile upgrades (SetNetworkProfile,
 * never a downgrade).
 */
export function createSecurityBlock(deps: CertificateModuleDeps): BlockModule {
  const { ca } = deps;
  const retryDelaysMs = deps.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;

  function now(services: StationServices): string {
    return new Date(services.clock.now()).toISOString();
  }

  function record(services: StationServices, stationId: string, outcome: CertificateSigningOutcome): Promise<void> {
    return services.store.recordCertificateSigning(stationId, asJson(outcome));
  }

  /** How long a signing may stay in progress: every CertificateSigned attempt timing out, plus the waits. */
  function signingLeaseMs(services: StationServices): number {
    const attempts = retryDelaysMs.length + 1;
    return attempts * services.config.callTimeoutMs + retryDelaysMs.reduce((sum, delay) => sum + delay, 0) + SIGNING_LEASE_MARGIN_MS;
  }

  /** CertificateSigned through the station's outbound queue, retried after a timeout or CALLERROR. */
  async function deliver(
    station: StationHandle,
    issued: IssuedCertificate,
    services: StationServices,
    certificateType: 'ChargingStationCertificate' | 'V2GCertificate',
  ): Promise<void> {
    // The 1.6 Security Extension's CertificateSigned has no certificateType: it only ever carries the station's own.
    // A V2G chain says so (TC_A_12): without the type the station would install it as its OCPP client certificate.
    const payload: CertificateSignedRequest =
      station.protocol.version === '1.6' ? { certificateChain: issued.chainPem } : { certificateChain: issued.chainPem, certificateType };
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
          await record(services, station.stationId, {
            status: 'Failed',
            at: now(services),
            certificateType,
            serialNumber: issued.serialNumber,
            reason,
            attempts: attempt,
          }).catch((recordError: unknown) => station.log.warn({ err: recordError }, 'could not record the failed certificate delivery'));
          station.log.warn(
            { event: 'certificate_delivery_failed', serialNumber: issued.serialNumber, attempts: attempt, reason },
            'CertificateSigned could not be delivered',
          );
          return;
        }
        station.log.info({ serialNumber: issued.serialNumber, attempt, retryInMs: delay, reason }, 'CertificateSigned failed; retrying');
        await sleep(delay, undefined, { ref: false });
      }
    }
  }

  /**
   * A02/A03: one signing per station at a time, at most MAX_CERTIFICATES_PER_WINDOW per window; verify the CSR,
   * sign, keep the serial (so the certificate can be revoked), answer, then send CertificateSigned.
   */
  async function signCertificate(ctx: HandlerContext, request: SignCertificateRequest): Promise<SignCertificateResponse> {
    const { station, services } = ctx;
    const { store, clock } = services;
    const stationId = station.stationId;
    const certificateType = request.certificateType ?? 'ChargingStationCertificate';
    const startedAt = clock.now();
    // The claim is one conditional UPDATE, so two SignCertificates on two nodes cannot both get it.
    const claimed = await store.claimCertificateSigning(
      stationId,
      asJson({ status: 'Signing', at: now(services), certificateType }),
      new Date(startedAt - signingLeaseMs(services)),
    );
    if (!claimed) {
      station.log.warn({ event: 'csr_refused_in_progress', messageId: ctx.messageId }, 'SignCertificate refused: another one is in progress');
      return {
        status: 'Rejected',
        statusInfo: {
          reasonCode: 'SigningInProgress',
          additionalInfo: 'a certificate for this station is being signed or delivered; ask again once CertificateSigned was answered',
        },
      };
    }
    try {
      // V2G certificates (ISO 15118, CONTRACT §8.6) are signed by the V2G CA, never by the station CA.
      const v2g = certificateType === 'V2GCertificate' ? deps.v2g : undefined;
      if (certificateType !== 'ChargingStationCertificate' && v2g === undefined) {
        await record(services, stationId, { status: 'CsrRejected', at: now(services), certificateType, reason: `${certificateType} is not signed by this CSMS` });
        return { status: 'Rejected', statusInfo: { reasonCode: 'UnsupportedCertType', additionalInfo: `this CSMS does not sign ${certificateType}` } };
      }
      const recent = await store.countCertificatesIssuedSince(stationId, new Date(startedAt - CERTIFICATE_WINDOW_MS));
      if (recent >= MAX_CERTIFICATES_PER_WINDOW) {
        const reason = `${recent} certificates were signed for this station in the last ${CERTIFICATE_WINDOW_MS / 60_000} minutes (at most ${MAX_CERTIFICATES_PER_WINDOW})`;
        await record(services, stationId, { status: 'CsrRejected', at: now(services), certificateType, reason });
        station.log.warn({ event: 'csr_rate_limited', messageId: ctx.messageId, recent }, 'SignCertificate refused: too many certificates signed recently');
        return { status: 'Rejected', statusInfo: { reasonCode: 'RateLimited', additionalInfo: reason } };
      }
      const verdict = v2g === undefined ? await verifyCsr(request.csr, stationId) : await v2g.verify(request.csr, station, services);
      if (!verdict.ok) {
        // A02.FR.12 / DRV-A02-01: Rejected, and no CertificateSigned follows.
        await record(services, stationId, { status: 'CsrRejected', at: now(services), certificateType, reason: verdict.reason });
        station.log.warn({ event: 'csr_rejected', messageId: ctx.messageId, reason: verdict.reason }, 'certificate signing request rejected');
        return { status: 'Rejected', statusInfo: { reasonCode: 'InvalidCSR', additionalInfo: verdict.reason.slice(0, MAX_ADDITIONAL_INFO) } };
      }
      const issued = v2g === undefined ? await ca.issue(verdict, clock.now()) : await v2g.ca.issue(verdict, clock.now(), v2g.issueOptions);
      const serialNumber = normalizeSerialNumber(issued.serialNumber);
      // Kept before the station can hold it: profile 3 accepts a CSMS-CA certificate only while its serial is current.
      await store.recordIssuedCertificate({ serialNumber, stationId, certificateType, issuedAt: new Date(clock.now()), notAfter: issued.notAfter });
      await record(services, stationId, { status: 'Issued', at: now(services), certificateType, serialNumber });
      station.log.info(
        { event: 'certificate_issued', messageId: ctx.messageId, certificateType, serialNumber, notAfter: issued.notAfter.toISOString() },
        'station certificate issued',
      );
      // A02.FR.11: the SignCertificateResponse goes first; CertificateSigned follows through the outbound queue.
      const signedType = v2g === undefined ? 'ChargingStationCertificate' : 'V2GCertificate';
      ctx.afterReply(() => void deliver(station, issued, services, signedType));
      return { status: 'Accepted' };
    } catch (err) {
      // Never leave the signing "in progress" because of our own failure.
      await record(services, stationId, { status: 'Failed', at: now(services), certificateType, reason: (err as Error).message }).catch(() => undefined);
      throw err;
    }
  }

  async function learnFromCertificateSigned(
    station: StationHandle,
    request: CertificateSignedRequest,
    response: CertificateSignedResponse,
    services: StationServices,
  ): Promise<void> {
    const certificateType = request.certificateType ?? 'ChargingStationCertificate';
    const serialNumber = leafSerialNumber(request.certificateChain);
    const info = response.statusInfo;
    const reason = info === undefined ? undefined : [info.reasonCode, info.additionalInfo].filter((part) => part !== undefined).join(': ');
    await record(services, station.stationId, {
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

  async function rememberProfileUpgrade(
    station: StationHandle,
    request: SetNetworkProfileRequest,
    response: SetNetworkProfileResponse,
    services: StationServices,
  ): Promise<void> {
    if (response.status !== 'Accepted') return;
    const target = request.connectionData.securityProfile;
    const registered = (await services.store.getStation(station.stationId))?.securityProfile ?? station.station.securityProfile;
    if (target <= registered || target > 3) return;
    // In the store, not in this process: the station may come back through any node or worker.
    await services.store.setPendingSecurityProfile(station.stationId, target as SecurityProfile);
    station.log.info(
      { event: 'security_profile_upgrade_pending', from: registered, to: target, configurationSlot: request.configurationSlot },
      `the station accepted security profile ${target}; it is raised when the station connects with it`,
    );
  }

  return {
    name: 'security',
    handlers: { SignCertificate: signCertificate, SecurityEventNotification: securityEventNotification },
    resultHooks: { CertificateSigned: learnFromCertificateSigned, SetNetworkProfile: rememberProfileUpgrade, ...certificateInventoryHooks },
    plans: { SetNetworkProfile: planSetNetworkProfile },
    // The Security Extension's messages: the same signing, the same records; 1.6 only answers without statusInfo.
    v16: {
      handlers: {
        SignCertificate: async (ctx, request) => ({ status: (await signCertificate(ctx, { csr: request.csr })).status }),
        SecurityEventNotification: securityEventNotification,
      },
      resultHooks: { CertificateSigned: learnFromCertificateSigned, ...certificateInventoryHooks16 },
    },
  };
}

/** A04: a security event is a record, kept before it is acknowledged and visible through the API. */
async function securityEventNotification(ctx: HandlerContext, request: SecurityEventNotificationRequest): Promise<SecurityEventNotificationResponse> {
  const { store, clock } = ctx.services;
  await store.recordEvent(ctx.station.stationId, 'SecurityEventNotification', asJson(request), new Date(clock.now()));
  ctx.station.log.info({ messageId: ctx.messageId, securityEvent: request.type }, 'security event reported');
  return {};
}
