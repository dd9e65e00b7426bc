import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as x509 from '@peculiar/x509';
import { Counter, type Registry } from 'prom-client';
import { ConfigError, type Config } from '../../config.js';
import type { Clock } from '../../clock.js';
import type { Logger } from '../../log.js';
import type {
  AuthorizeRequest,
  AuthorizeResponse,
  Get15118EVCertificateRequest,
  Get15118EVCertificateResponse,
  GetCertificateStatusRequest,
  GetCertificateStatusResponse,
} from '../../ocpp/v201/types.js';
import type { CertificateAuthority } from '../../security/ca.js';
import type { BlockModule, HandlerContext } from '../../station/types.js';
import type { ContractRevocationStore } from '../../store/contract-revocations-sql.js';
import type { V2gSigning } from '../security/certificates.js';
import { ContractAuthorization } from './contract-authorization.js';
import { builtInTestProvider, httpContractProvider, type ContractCertificateProvider } from './contract-provider.js';
import { DerError, TAG, childrenOf, expectTag, parseDer } from './der.js';
import { MAX_OCSP_RESULT_CHARS, OcspClient, OcspFailure, buildOcspRequest } from './ocsp.js';
import { reportedSeccIds, verifyV2gCsr } from './v2g-csr.js';

/**
 * Plug & Charge (ISO 15118 support, CONTRACT §8.6): the station's V2G certificate signed by the V2G CA (the
 * security block runs the SignCertificate / CertificateSigned exchange with the signing given here), EV contract
 * certificates through the contract-certificate provider (M01/M02), contract authorization by OCSP (C07, given to
 * the authorization block), and OCSP for the station's own certificates (M06).
 */

export interface PlugAndChargeDeps {
  v2gCa: CertificateAuthority;
  config: Pick<Config, 'contractCertProvider' | 'contractCertTimeoutMs' | 'v2gTrustRoots'>;
  clock: Clock;
  log: Logger;
  /** Where this block's counters register (the CSMS's /metrics registry). */
  registry: Registry;
  /** eMAIDs found revoked at Authorize, for the TransactionEvents that follow (C07.FR.16). */
  revocations?: ContractRevocationStore;
  /** Tests shorten the OCSP bound; CONTRACT §8.6 fixes 5 s. */
  ocspTimeoutMs?: number;
}

export interface PlugAndCharge {
  block: BlockModule;
  /** For the security block: how V2GCertificate CSRs are checked and signed. */
  v2gSigning: V2gSigning;
  /** For the authorization block: Authorize with a certificate or its hash data. */
  authorizeContract: (ctx: HandlerContext, request: AuthorizeRequest) => Promise<AuthorizeResponse> | undefined;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** CSMS_V2G_TRUST_ROOTS: every certificate of the bundle; a bundle with none, or an unreadable one, stops start-up. */
export function loadTrustRoots(file: string | undefined): X509Certificate[] {
  if (file === undefined) return [];
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError('CSMS_V2G_TRUST_ROOTS', `cannot read ${file}: ${(error as Error).message}`);
  }
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new ConfigError('CSMS_V2G_TRUST_ROOTS', `${file} holds no PEM certificate`);
  return blocks.map((block, index) => {
    try {
      return new X509Certificate(block);
    } catch {
      throw new ConfigError('CSMS_V2G_TRUST_ROOTS', `certificate ${index + 1} of ${file} is unreadable`);
    }
  });
}

export function createPlugAndCharge(deps: PlugAndChargeDeps): PlugAndCharge {
  const { config, log } = deps;
  const trustRoots = loadTrustRoots(config.v2gTrustRoots);
  const provider: ContractCertificateProvider =
    config.contractCertProvider === undefined ? builtInTestProvider : httpContractProvider(config.contractCertProvider, config.contractCertTimeoutMs);
  if (config.contractCertProvider === undefined) {
    log.warn(
      { event: 'contract_provider_builtin', key: 'CSMS_CONTRACT_CERT_PROVIDER' },
      'CSMS_CONTRACT_CERT_PROVIDER is unset: Get15118EVCertificate is answered by the built-in test provider, which issues no real contract certificates (not for production)',
    );
  }
  const ocspChecks = new Counter({
    name: 'csms_ocsp_checks_total',
    help: 'OCSP checks of contract certificates (C07), by outcome (good, revoked, unknown, failed) and whether the cache answered',
    labelNames: ['outcome', 'cached'],
    registers: [deps.registry],
  });
  const contractRequests = new Counter({
    name: 'csms_contract_certificate_requests_total',
    help: 'Get15118EVCertificate requests, by action and outcome (Accepted, Failed from the provider, provider_error)',
    labelNames: ['action', 'outcome'],
    registers: [deps.registry],
  });
  const ocsp = new OcspClient({
    clock: deps.clock,
    log,
    onCheck: (outcome, cached) => ocspChecks.labels(outcome, String(cached)).inc(),
    ...(deps.ocspTimeoutMs === undefined ? {} : { timeoutMs: deps.ocspTimeoutMs }),
  });
  const contracts = new ContractAuthorization(ocsp, trustRoots, deps.revocations);

  /** M01/M02 (TC_M_26, TC_M_28): forwarded untouched; whatever goes wrong is Failed, never a CALLERROR. */
  async function get15118EvCertificate(ctx: HandlerContext, request: Get15118EVCertificateRequest): Promise<Get15118EVCertificateResponse> {
    const answer = await provider.request({
      stationId: ctx.station.stationId,
      iso15118SchemaVersion: request.iso15118SchemaVersion,
      action: request.action,
      exiRequest: request.exiRequest,
    });
    contractRequests.labels(request.action, answer.failure === undefined ? answer.status : 'provider_error').inc();
    if (answer.failure !== undefined) {
      ctx.station.log.warn(
        { event: 'contract_provider_failed', messageId: ctx.messageId, action: request.action, provider: provider.description, reason: answer.failure },
        'the contract-certificate provider gave no usable answer; Failed to the station',
      );
      return {
        status: 'Failed',
        exiResponse: answer.exiResponse,
        statusInfo: { reasonCode: 'ProviderFailed', additionalInfo: `provider ${answer.failure}`.slice(0, 512) },
      };
    }
    ctx.station.log.info(
      { event: 'contract_certificate_answered', messageId: ctx.messageId, action: request.action, status: answer.status },
      'Get15118EVCertificate answered',
    );
    return { status: answer.status, exiResponse: answer.exiResponse };
  }

  /**
   * M06 (TC_M_24): the station's OCSP question goes to its responder; the DER answer comes back unchanged.
   * Accepted only with a readable OCSPResponse; an unreachable, slow or garbled responder is Failed (DRV-ISO-10).
   */
  async function getCertificateStatus(ctx: HandlerContext, request: GetCertificateStatusRequest): Promise<GetCertificateStatusResponse> {
    const data = request.ocspRequestData;
    try {
      const der = await ocsp.fetchRaw(
        data.responderURL,
        buildOcspRequest({ hashAlgorithm: data.hashAlgorithm, issuerNameHash: data.issuerNameHash, issuerKeyHash: data.issuerKeyHash, serialNumber: data.serialNumber }),
      );
      assertOcspResponse(der);
      const ocspResult = der.toString('base64');
      if (ocspResult.length > MAX_OCSP_RESULT_CHARS)
        throw new OcspFailure(`the OCSP response is ${ocspResult.length} base64 characters (OCPP allows ${MAX_OCSP_RESULT_CHARS})`);
      return { status: 'Accepted', ocspResult };
    } catch (error) {
      if (!(error instanceof OcspFailure)) throw error;
      ctx.station.log.warn(
        { event: 'ocsp_forward_failed', messageId: ctx.messageId, responderUrl: data.responderURL, reason: error.message },
        'GetCertificateStatus failed',
      );
      return { status: 'Failed', statusInfo: { reasonCode: 'OcspFailed', additionalInfo: error.message.slice(0, 512) } };
    }
  }

  const v2gSigning: V2gSigning = {
    ca: deps.v2gCa,
    async verify(csr, station, services) {
      return verifyV2gCsr(csr, reportedSeccIds(await services.store.getVariables(station.stationId)));
    },
    // The SECC is the TLS server of the ISO 15118 session with the EV.
    issueOptions: { extendedKeyUsages: [x509.ExtendedKeyUsage.serverAuth] },
  };

  return {
    block: {
      name: 'plug-and-charge',
      handlers: { Get15118EVCertificate: get15118EvCertificate, GetCertificateStatus: getCertificateStatus },
    },
    v2gSigning,
    authorizeContract: (ctx, request) => (ContractAuthorization.applies(request) ? contracts.authorize(ctx, request) : undefined),
  };
}

/** An OCSPResponse at its outermost: SEQUENCE { ENUMERATED responseStatus, … } — enough to refuse garbage. */
function assertOcspResponse(der: Buffer): void {
  try {
    expectTag(childrenOf(expectTag(parseDer(der), TAG.SEQUENCE, 'OCSPResponse'))[0], TAG.ENUMERATED, 'responseStatus');
  } catch (error) {
    if (error instanceof DerError) throw new OcspFailure(`the responder answered something that is not an OCSP response (${error.message})`);
    throw error;
  }
}
