import { X509Certificate } from 'node:crypto';
import type { AuthorizeRequest, AuthorizeResponse, AuthorizeCertificateStatusEnumType, IdTokenInfoType } from '../../ocpp/v201/types.js';
import type { HandlerContext } from '../../station/types.js';
import type { ContractRevocationStore } from '../../store/contract-revocations-sql.js';
import { eMaidKey } from '../authorization/authorizer.js';
import { OcspFailure, certificateIdOf, type CertificateId, type OcspClient, type OcspStatus } from './ocsp.js';

/**
 * C07 (Authorize with a contract certificate): the certificate is checked by OCSP against the responder each
 * entry names — real time or cached — and the contract (the eMAID token) against the register. CONTRACT §8.6:
 * never Accepted without a good answer from the responder.
 */

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const OCSP_ACCESS_METHOD = /OCSP - URI:(\S+)/g;

/** The verdict on the certificate alone, before the contract is looked at. */
type CertificateVerdict = { status: 'Accepted' } | { status: Exclude<AuthorizeCertificateStatusEnumType, 'Accepted'>; reason: string };

/** One certificate to ask about: its CertID and the responder to ask. */
interface OcspQuestion {
  id: CertificateId;
  responderUrl: string;
}

function commonNameOf(certificate: X509Certificate): string | undefined {
  const match = /(?:^|\n)CN=([^\n]*)/.exec(certificate.subject);
  return match?.[1];
}

export class ContractAuthorization {
  constructor(
    private readonly ocsp: OcspClient,
    /** CSMS_V2G_TRUST_ROOTS: the V2G and MO roots a contract certificate chain must end at. */
    private readonly trustRoots: readonly X509Certificate[],
    /** Where a revoked contract is remembered for the TransactionEvents that follow (the derived half of TC_C_51). */
    private readonly revocations?: ContractRevocationStore,
  ) {}

  /** Whether this Authorize is a Plug & Charge one (the certificate or its hash data came with it). */
  static applies(request: AuthorizeRequest): boolean {
    return request.certificate !== undefined || request.iso15118CertificateHashData !== undefined;
  }

  async authorize(ctx: HandlerContext, request: AuthorizeRequest): Promise<AuthorizeResponse> {
    const { station, services } = ctx;
    const verdict = await this.checkCertificate(request, ctx);
    if (verdict.status !== 'Accepted') {
      station.log.warn(
        { event: 'contract_certificate_refused', messageId: ctx.messageId, idToken: request.idToken.idToken, certificateStatus: verdict.status, reason: verdict.reason },
        'contract certificate not accepted',
      );
      if (verdict.status === 'CertificateRevoked' && this.revocations !== undefined) {
        // Committed before the answer leaves: the station may send its TransactionEvent right after it.
        await this.revocations.recordRevoked({
          emaid: eMaidKey(request.idToken.idToken),
          stationId: station.stationId,
          certificateStatus: verdict.status,
          revokedAt: new Date(services.clock.now()),
        });
      }
      // C07.FR.16: a certificate that is not good leaves the token Invalid, whatever the register says.
      return { idTokenInfo: { status: 'Invalid' }, certificateStatus: verdict.status };
    }
    // A good answer for this eMAID now (a renewed contract certificate) lifts an earlier revocation.
    if (this.revocations !== undefined && request.idToken.type === 'eMAID') await this.revocations.clear(eMaidKey(request.idToken.idToken));
    const decided = services.authorizer.authorize(request.idToken, station.stationId);
    const idTokenInfo: IdTokenInfoType = decided instanceof Promise ? await decided : decided;
    // DRV-ISO-09: a good certificate for a contract the register blocked or let expire is a cancelled contract.
    const cancelled = idTokenInfo.status === 'Blocked' || idTokenInfo.status === 'Expired';
    station.log.info(
      { event: 'contract_authorized', messageId: ctx.messageId, idToken: request.idToken.idToken, status: idTokenInfo.status },
      'contract certificate good; token decided by the register',
    );
    return { idTokenInfo, certificateStatus: cancelled ? 'ContractCancelled' : 'Accepted' };
  }

  private async checkCertificate(request: AuthorizeRequest, ctx: HandlerContext): Promise<CertificateVerdict> {
    let questions: OcspQuestion[];
    let knownIssuers: X509Certificate[] = [...this.trustRoots];
    if (request.certificate !== undefined) {
      const chain = this.checkChain(request.certificate, request.idToken.idToken, ctx.services.clock.now());
      if ('status' in chain) return chain;
      questions = chain.questions;
      knownIssuers = [...chain.certificates, ...this.trustRoots];
    } else {
      questions = (request.iso15118CertificateHashData ?? []).map((entry) => ({
        id: { hashAlgorithm: entry.hashAlgorithm, issuerNameHash: entry.issuerNameHash, issuerKeyHash: entry.issuerKeyHash, serialNumber: entry.serialNumber },
        responderUrl: entry.responderURL,
      }));
    }
    if (questions.length === 0) return { status: 'NoCertificateAvailable', reason: 'nothing to check: no certificate and no hash data' };
    // Asked together: the 5 s bound holds for the whole Authorize, not per entry.
    const answers = await Promise.all(
      questions.map(async (question): Promise<{ status: OcspStatus } | { failure: string }> => {
        try {
          return await this.ocsp.check(question.responderUrl, question.id, knownIssuers);
        } catch (error) {
          if (error instanceof OcspFailure) return { failure: `${question.responderUrl}: ${error.message}` };
          throw error;
        }
      }),
    );
    const revoked = answers.find((answer) => 'status' in answer && answer.status === 'revoked');
    if (revoked !== undefined) return { status: 'CertificateRevoked', reason: 'the OCSP responder says revoked' };
    for (const answer of answers) {
      if ('failure' in answer) return { status: 'CertChainError', reason: `no good OCSP answer: ${answer.failure}` };
      if (answer.status !== 'good') return { status: 'CertChainError', reason: 'the OCSP responder does not know the certificate' };
    }
    return { status: 'Accepted' };
  }

  /**
   * C_52 (central validation): the PEM chain the EV sent — leaf first, then sub-CA(s) — must be in date, each
   * certificate signed by the next, the last one signed by a configured root; the leaf's CN is the eMAID. The OCSP
   * questions are every certificate but the root, each at the responder of its AIA extension.
   */
  private checkChain(pem: string, idToken: string, now: number): CertificateVerdict | { questions: OcspQuestion[]; certificates: X509Certificate[] } {
    let certificates: X509Certificate[];
    try {
      certificates = (pem.match(PEM_CERTIFICATE) ?? []).map((block) => new X509Certificate(block));
    } catch {
      return { status: 'CertChainError', reason: 'the certificate field holds an unreadable PEM certificate' };
    }
    const leaf = certificates[0];
    if (leaf === undefined) return { status: 'NoCertificateAvailable', reason: 'the certificate field holds no PEM certificate' };
    for (const certificate of certificates) {
      if (now < Date.parse(certificate.validFrom) || now > Date.parse(certificate.validTo)) {
        return { status: 'CertificateExpired', reason: `${certificate.subject.replace(/\n/g, ', ')} is valid ${certificate.validFrom} to ${certificate.validTo}` };
      }
    }
    for (let i = 0; i + 1 < certificates.length; i++) {
      const child = certificates[i] as X509Certificate;
      const parent = certificates[i + 1] as X509Certificate;
      if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) {
        return { status: 'SignatureError', reason: `certificate ${i} of the chain is not signed by certificate ${i + 1}` };
      }
    }
    const top = certificates[certificates.length - 1] as X509Certificate;
    const root = this.trustRoots.find((candidate) => top.checkIssued(candidate) && top.verify(candidate.publicKey));
    const topIsRoot = this.trustRoots.some((candidate) => candidate.fingerprint256 === top.fingerprint256);
    if (root === undefined && !topIsRoot) {
      return {
        status: 'CertChainError',
        reason: this.trustRoots.length === 0 ? 'no V2G or MO root is configured (CSMS_V2G_TRUST_ROOTS)' : 'the chain does not end at a configured V2G or MO root',
      };
    }
    const commonName = commonNameOf(leaf);
    if (commonName === undefined || eMaidKey(commonName) !== eMaidKey(idToken)) {
      return { status: 'CertChainError', reason: `the contract certificate's CN is not the eMAID ${idToken}` };
    }
    const issuers = [...certificates.slice(1), ...(root === undefined ? [] : [root])];
    const questions: OcspQuestion[] = [];
    for (let i = 0; i < certificates.length; i++) {
      const subject = certificates[i] as X509Certificate;
      const issuer = issuers[i];
      // A root in the chain is its own trust anchor: there is no one to ask about it.
      if (issuer === undefined) break;
      const urls = [...(subject.infoAccess ?? '').matchAll(OCSP_ACCESS_METHOD)].map((match) => match[1] as string);
      const responderUrl = urls[0];
      if (responderUrl === undefined) {
        return { status: 'CertChainError', reason: `certificate ${i} of the chain names no OCSP responder (AIA), so its revocation cannot be checked` };
      }
      questions.push({ id: certificateIdOf(subject, issuer), responderUrl });
    }
    return { questions, certificates };
  }
}
