import { createHash } from 'node:crypto';
import type { Get15118EVCertificateRequest, Get15118EVCertificateResponse } from '../../ocpp/v201/types.js';

/**
 * Where EV contract certificates come from (M01/M02): a Get15118EVCertificate is forwarded as JSON to the
 * configured provider (CONTRACT §8.6) and its answer passed back. The EXI stays opaque both ways: the CSMS
 * neither decodes nor re-encodes it.
 */
export interface ContractCertificateQuery {
  stationId: string;
  iso15118SchemaVersion: string;
  action: Get15118EVCertificateRequest['action'];
  exiRequest: string;
}

export type ContractCertificateAnswer = Pick<Get15118EVCertificateResponse, 'status' | 'exiResponse'> & {
  /** Why the answer is Failed when the provider did not say so itself (logged, and put in statusInfo). */
  failure?: string;
};

export interface ContractCertificateProvider {
  /** Never throws: a provider that fails, is slow or answers garbage is a `Failed` answer. */
  request(query: ContractCertificateQuery): Promise<ContractCertificateAnswer>;
  readonly description: string;
}

/** The OCPP schema's limit on exiResponse. */
const MAX_EXI_CHARS = 5600;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function failed(failure: string): ContractCertificateAnswer {
  // DRV-ISO-04: the schema requires exiResponse; with no EXI of the provider's own, it is empty.
  return { status: 'Failed', exiResponse: '', failure };
}

/**
 * The provider at `url`: POST `{"stationId","iso15118SchemaVersion","action","exiRequest"}`, expect
 * `{"status":"Accepted"|"Failed","exiResponse"}` with 2xx within `timeoutMs`.
 */
export function httpContractProvider(url: string, timeoutMs: number): ContractCertificateProvider {
  return {
    description: url,
    async request(query) {
      let response: Response;
      let text: string;
      try {
        response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify(query),
          signal: AbortSignal.timeout(timeoutMs),
          redirect: 'error',
        });
        text = await response.text();
      } catch (error) {
        return failed((error as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : `unreachable: ${(error as Error).message}`);
      }
      if (!response.ok) return failed(`answered HTTP ${response.status}`);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return failed('answered something that is not JSON');
      }
      if (typeof body !== 'object' || body === null) return failed('answered JSON that is not an object');
      const { status, exiResponse } = body as Record<string, unknown>;
      if (status !== 'Accepted' && status !== 'Failed')
        return failed(`answered status ${typeof status === 'string' ? JSON.stringify(status.slice(0, 40)) : typeof status}`);
      if (typeof exiResponse !== 'string' || exiResponse.length > MAX_EXI_CHARS || !BASE64.test(exiResponse)) {
        return failed(`answered an exiResponse that is not base64 of at most ${MAX_EXI_CHARS} characters`);
      }
      if (status === 'Accepted' && exiResponse.length === 0) return failed('answered Accepted with an empty exiResponse');
      // The provider's own Failed passes through with its EXI (an ISO 15118 error response for the EV).
      return { status, exiResponse };
    },
  };
}

/**
 * NOT FOR PRODUCTION. The built-in provider used when CSMS_CONTRACT_CERT_PROVIDER is unset, so a station's
 * Get15118EVCertificate gets a well-formed answer without an outside service (demos, station integration tests).
 * It issues no contract certificate: its exiResponse is base64 of a marker text naming the action and the SHA-256
 * of the request, which no EV will accept as a CertificateInstallationRes / CertificateUpdateRes.
 */
export const builtInTestProvider: ContractCertificateProvider = {
  description: 'the built-in test provider (not for production)',
  request(query) {
    const digest = createHash('sha256').update(query.exiRequest).digest('hex');
    const marker = `stroom-test-contract-provider ${query.action} ${query.iso15118SchemaVersion} ${digest}`;
    return Promise.resolve({ status: 'Accepted', exiResponse: Buffer.from(marker).toString('base64') });
  },
};
