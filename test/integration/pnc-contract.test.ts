/**
 * EV contract certificates (ISO 15118 support profile, M01/M02): TC_M_26 (install) and TC_M_28 (update) forwarded
 * to the contract-certificate provider with the EXI untouched, and DRV-ISO-04 (a provider that fails, answers
 * garbage or HTTP errors, or is slower than CSMS_CONTRACT_CERT_TIMEOUT_MS → Failed, never a CALLERROR). The
 * provider is a real HTTP receiver in the test process; the built-in test provider answers when none is set.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricValue } from '../support/api.js';
import { startTestCsms, withCsms, type TestCsms } from '../support/csms.js';
import type { Payload } from '../support/station.js';

type Behaviour = (body: Payload, res: ServerResponse) => void;

/** A contract-certificate provider under the test's control: records what it receives, answers as told. */
class ProviderReceiver {
  received: Payload[] = [];
  behaviour: Behaviour = (_body, res) => json(res, 200, { status: 'Accepted', exiResponse: '' });
  url = '';
  private readonly server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Payload;
      this.received.push({ ...body, contentType: req.headers['content-type'] ?? '' });
      this.behaviour(body, res);
    });
  });

  static async start(): Promise<ProviderReceiver> {
    const receiver = new ProviderReceiver();
    await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
    const address = receiver.server.address();
    receiver.url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/contract-certificates`;
    return receiver;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** An EXI stream is opaque to us: random bytes, base64, as an EV's CertificateInstallationReq would be. */
function exi(bytes = 900): string {
  return randomBytes(bytes).toString('base64');
}

interface EvCertificateAnswer extends Payload {
  status: string;
  exiResponse: string;
}

describe('with a configured provider', () => {
  let provider: ProviderReceiver;
  let csms: TestCsms;
  const TIMEOUT_MS = 1500;

  beforeAll(async () => {
    provider = await ProviderReceiver.start();
    csms = await startTestCsms({ CSMS_CONTRACT_CERT_PROVIDER: provider.url, CSMS_CONTRACT_CERT_TIMEOUT_MS: TIMEOUT_MS });
  }, 120_000);

  afterAll(async () => {
    await csms.stop();
    await provider.stop();
  });

  it('TC_M_26: Install is POSTed to the provider as JSON with the EXI untouched, and its EXI answer comes back as is', async () => {
    const station = await csms.bootedStation({ prefix: 'EVC' });
    const exiRequest = exi();
    const exiResponse = exi(1200);
    provider.behaviour = (_body, res) => json(res, 200, { status: 'Accepted', exiResponse });
    const answer = await station.call<EvCertificateAnswer>('Get15118EVCertificate', {
      iso15118SchemaVersion: 'urn:iso:15118:2:2013:MsgDef',
      action: 'Install',
      exiRequest,
    });
    expect(answer).toEqual({ status: 'Accepted', exiResponse });
    expect(metricValue(await csms.api.metrics(), 'csms_contract_certificate_requests_total', { action: 'Install', outcome: 'Accepted' })).toBe(1);
    expect(provider.received.at(-1)).toEqual({
      stationId: station.identity,
      iso15118SchemaVersion: 'urn:iso:15118:2:2013:MsgDef',
      action: 'Install',
      exiRequest,
      contentType: 'application/json',
    });
    expect(await csms.closeStations()).toEqual([]);
  });

  it('TC_M_28: Update is forwarded the same way (the provider answers a CertificateUpdateRes)', async () => {
    const station = await csms.bootedStation({ prefix: 'EVC' });
    const exiRequest = exi(700);
    const exiResponse = exi(1000);
    provider.behaviour = (body, res) => json(res, 200, body.action === 'Update' ? { status: 'Accepted', exiResponse } : { status: 'Failed', exiResponse: '' });
    const answer = await station.call<EvCertificateAnswer>('Get15118EVCertificate', {
      iso15118SchemaVersion: 'urn:iso:15118:2:2013:MsgDef',
      action: 'Update',
      exiRequest,
    });
    expect(answer).toEqual({ status: 'Accepted', exiResponse });
    expect(provider.received.at(-1)).toMatchObject({ action: 'Update', exiRequest });
    expect(await csms.closeStations()).toEqual([]);
  });

  it("the provider's own Failed passes through with its EXI error response", async () => {
    const station = await csms.bootedStation({ prefix: 'EVC' });
    const errorExi = exi(64);
    provider.behaviour = (_body, res) => json(res, 200, { status: 'Failed', exiResponse: errorExi });
    const answer = await station.call<EvCertificateAnswer>('Get15118EVCertificate', { iso15118SchemaVersion: '2', action: 'Install', exiRequest: exi() });
    expect(answer).toEqual({ status: 'Failed', exiResponse: errorExi });
    expect(await csms.closeStations()).toEqual([]);
  });

  const broken: [string, Behaviour][] = [
    ['HTTP 500', (_body, res) => json(res, 500, { status: 'Accepted', exiResponse: exi(10) })],
    ['a body that is not JSON', (_body, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('<html>oops</html>')],
    ['a status outside the enum', (_body, res) => json(res, 200, { status: 'Maybe', exiResponse: exi(10) })],
    ['an exiResponse that is not base64', (_body, res) => json(res, 200, { status: 'Accepted', exiResponse: 'not base64 at all!' })],
    ['an exiResponse over 5600 characters', (_body, res) => json(res, 200, { status: 'Accepted', exiResponse: 'A'.repeat(5604) })],
    ['no exiResponse', (_body, res) => json(res, 200, { status: 'Accepted' })],
    ['no answer at all (slower than CSMS_CONTRACT_CERT_TIMEOUT_MS)', () => undefined],
  ];
  for (const [what, behaviour] of broken) {
    it(`DRV-ISO-04: a provider that answers ${what} → Failed with an empty exiResponse, never a CALLERROR`, async () => {
      const station = await csms.bootedStation({ prefix: 'EVC' });
      provider.behaviour = behaviour;
      const answer = await station.call<EvCertificateAnswer>(
        'Get15118EVCertificate',
        { iso15118SchemaVersion: '2', action: 'Install', exiRequest: exi() },
        { timeoutMs: 10_000 },
      );
      expect(answer.status).toBe('Failed');
      expect(answer.exiResponse).toBe('');
      expect(await csms.closeStations()).toEqual([]);
    });
  }

  it('DRV-ISO-04: an unreachable provider → Failed', async () => {
    const gone = await ProviderReceiver.start();
    await gone.stop();
    const other = await startTestCsms({ CSMS_CONTRACT_CERT_PROVIDER: gone.url });
    try {
      const station = await other.bootedStation({ prefix: 'EVC' });
      const answer = await station.call<EvCertificateAnswer>('Get15118EVCertificate', { iso15118SchemaVersion: '2', action: 'Install', exiRequest: exi() });
      expect(answer).toMatchObject({ status: 'Failed', exiResponse: '' });
      expect(await other.closeStations()).toEqual([]);
    } finally {
      await other.stop();
    }
  });
});

describe('without a provider (the built-in test provider)', () => {
  const h = withCsms();

  it('answers Accepted with a marker EXI that names the action, so the flow runs without an outside service', async () => {
    const station = await h.csms.bootedStation({ prefix: 'EVC' });
    const answer = await station.call<EvCertificateAnswer>('Get15118EVCertificate', { iso15118SchemaVersion: '2', action: 'Update', exiRequest: exi() });
    expect(answer.status).toBe('Accepted');
    expect(Buffer.from(answer.exiResponse, 'base64').toString('utf8')).toMatch(/^stroom-test-contract-provider Update /);
  });
});
