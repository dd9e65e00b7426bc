/**
 * TLS test fixtures: a throw-away PKI generated per test file (server CA with an RSA and an ECDSA server
 * certificate, a station CA, a foreign CA, station client certificates incl. expired and wrong-CN ones,
 * CSRs), a TLS probe for cipher-suite checks, and `withSecureCsms`: a CSMS with its wss:// listener on,
 * whose TLS stations are closed and checked after each test.
 */
// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata API first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { randomBytes, webcrypto } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions, type DetailedPeerCertificate } from 'node:tls';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type WebSocket from 'ws';
import { startTestCsms, type RawConfig, type TestCsms } from './csms.js';
import { ConnectRefusedError, TestStation, randomPassword, uniqueIdentity, type ConnectOptions } from './station.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export type KeySpec = 'ec-p256' | 'ec-p384' | 'rsa-1024' | 'rsa-2048' | 'rsa-3072';

type KeyPair = x509.X509CertificateCreateSelfSignedParams['keys'];
type Algorithm = { name: string; hash: string };

interface GeneratedKey {
  keys: KeyPair;
  signingAlgorithm: Algorithm;
  keyPem: string;
}

function toPem(der: ArrayBuffer, label: string): string {
  const base64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${base64}\n-----END ${label}-----\n`;
}

export async function generateKey(spec: KeySpec): Promise<GeneratedKey> {
  const subtle = webcrypto.subtle;
  let pair: webcrypto.CryptoKeyPair;
  let signingAlgorithm: Algorithm;
  if (spec.startsWith('ec-')) {
    const namedCurve = spec === 'ec-p384' ? 'P-384' : 'P-256';
    signingAlgorithm = { name: 'ECDSA', hash: spec === 'ec-p384' ? 'SHA-384' : 'SHA-256' };
    pair = await subtle.generateKey({ name: 'ECDSA', namedCurve }, true, ['sign', 'verify']);
  } else {
    const modulusLength = Number(spec.slice('rsa-'.length));
    signingAlgorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    pair = await subtle.generateKey({ name: 'RSASSA-PKCS1-v1_5', modulusLength, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, true, ['sign', 'verify']);
  }
  const keyPem = toPem(await subtle.exportKey('pkcs8', pair.privateKey), 'PRIVATE KEY');
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- @peculiar/x509 types its keys with DOM types that lib ES2023 lacks (unresolved here); the cast keeps the key pair typed as the library declares it
  return { keys: pair as unknown as KeyPair, signingAlgorithm, keyPem };
}

function serialNumber(): string {
  const bytes = randomBytes(12);
  bytes[0] = ((bytes[0] as number) & 0x7f) | 0x01;
  return bytes.toString('hex');
}

/** A certificate with its private key, as PEM texts. */
export interface IssuedPem {
  certPem: string;
  keyPem: string;
  cert: x509.X509Certificate;
}

export interface IssueOptions {
  cn: string;
  o?: string;
  key?: KeySpec;
  usage: 'server' | 'client';
  notBefore?: Date;
  notAfter?: Date;
  /** Server certificates: SAN entries; default localhost and 127.0.0.1. */
  dnsNames?: string[];
  ipAddresses?: string[];
}

const DAY = 24 * 3600_000;

export class TestCa {
  private constructor(
    readonly cert: x509.X509Certificate,
    private readonly key: GeneratedKey,
  ) {}

  get certPem(): string {
    return this.cert.toString('pem');
  }

  get keyPem(): string {
    return this.key.keyPem;
  }

  static async create(name: string, key: KeySpec = 'ec-p256'): Promise<TestCa> {
    const generated = await generateKey(key);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serialNumber(),
      name,
      notBefore: new Date(Date.now() - DAY),
      notAfter: new Date(Date.now() + 365 * DAY),
      keys: generated.keys,
      signingAlgorithm: generated.signingAlgorithm,
      extensions: [
        new x509.BasicConstraintsExtension(true, 1, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(generated.keys.publicKey),
      ],
    });
    return new TestCa(cert, generated);
  }

  async issue(options: IssueOptions): Promise<IssuedPem> {
    const generated = await generateKey(options.key ?? 'ec-p256');
    const isRsa = (options.key ?? 'ec-p256').startsWith('rsa');
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | (isRsa ? x509.KeyUsageFlags.keyEncipherment : x509.KeyUsageFlags.keyAgreement), true),
      new x509.ExtendedKeyUsageExtension([options.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
      await x509.AuthorityKeyIdentifierExtension.create(this.key.keys.publicKey),
    ];
    if (options.usage === 'server') {
      extensions.push(
        new x509.SubjectAlternativeNameExtension([
          ...(options.dnsNames ?? ['localhost']).map((value) => ({ type: 'dns' as const, value })),
          ...(options.ipAddresses ?? ['127.0.0.1']).map((value) => ({ type: 'ip' as const, value })),
        ]),
      );
    }
    const subject = options.o === undefined ? `CN=${options.cn}` : `CN=${options.cn}, O=${options.o}`;
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serialNumber(),
      subject,
      issuer: this.cert.subjectName,
      notBefore: options.notBefore ?? new Date(Date.now() - DAY),
      notAfter: options.notAfter ?? new Date(Date.now() + 90 * DAY),
      publicKey: generated.keys.publicKey,
      signingKey: this.key.keys.privateKey,
      signingAlgorithm: this.key.signingAlgorithm,
      extensions,
    });
    return { certPem: cert.toString('pem'), keyPem: generated.keyPem, cert };
  }

  /** Signs an arbitrary CSR's key as a client certificate (e.g. to hand a station a certificate out of band). */
  async signCsr(csrPem: string, notAfter = new Date(Date.now() + 90 * DAY)): Promise<string> {
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serialNumber(),
      subject: csr.subjectName,
      issuer: this.cert.subjectName,
      notBefore: new Date(Date.now() - DAY),
      notAfter,
      publicKey: csr.publicKey,
      signingKey: this.key.keys.privateKey,
      signingAlgorithm: this.key.signingAlgorithm,
      extensions: [new x509.BasicConstraintsExtension(false, undefined, true), new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth])],
    });
    return cert.toString('pem');
  }
}

/** A PKCS#10 CSR and its key. */
export async function createCsr(options: { cn: string; o?: string; key?: KeySpec }): Promise<{ csrPem: string; keyPem: string; csr: x509.Pkcs10CertificateRequest }> {
  const generated = await generateKey(options.key ?? 'ec-p256');
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: options.o === undefined ? `CN=${options.cn}` : `CN=${options.cn}, O=${options.o}`,
    keys: generated.keys,
    signingAlgorithm: generated.signingAlgorithm,
  });
  return { csrPem: csr.toString('pem'), keyPem: generated.keyPem, csr };
}

export const CSO_NAME = 'Stroom Test CSO';

/** Everything a secure-profile test needs, written to a temporary directory. */
export interface TestPki {
  dir: string;
  /** Issues the CSMS's server certificates; stations trust it. */
  serverCa: TestCa;
  /** CSMS_TLS_CLIENT_CA: station certificates chain to it. */
  stationCa: TestCa;
  /** A CA the CSMS does not know (TC_A_08 "unknown CA"). */
  foreignCa: TestCa;
  rsaServer: IssuedPem;
  ecdsaServer: IssuedPem;
  files: { rsaCert: string; rsaKey: string; ecdsaCert: string; ecdsaKey: string; clientCa: string; serverCa: string };
  /** CSMS_TLS_* keys for these files. */
  config(): RawConfig;
  /** A valid station certificate: CN = identity, O = the CSO name. */
  stationCertificate(identity: string, options?: Partial<IssueOptions>): Promise<IssuedPem>;
  remove(): Promise<void>;
}

export async function createTestPki(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'stroom-pki-'));
  const [serverCa, stationCa, foreignCa] = await Promise.all([
    TestCa.create('CN=Stroom Test Server CA, O=Stroom Test'),
    TestCa.create(`CN=Stroom Test Station CA, O=${CSO_NAME}`),
    TestCa.create('CN=Somebody Else CA, O=Somebody Else'),
  ]);
  const [rsaServer, ecdsaServer] = await Promise.all([
    serverCa.issue({ cn: 'localhost', o: 'Stroom Test', key: 'rsa-2048', usage: 'server' }),
    serverCa.issue({ cn: 'localhost', o: 'Stroom Test', key: 'ec-p256', usage: 'server' }),
  ]);
  const files = {
    rsaCert: join(dir, 'server-rsa.pem'),
    rsaKey: join(dir, 'server-rsa.key'),
    ecdsaCert: join(dir, 'server-ecdsa.pem'),
    ecdsaKey: join(dir, 'server-ecdsa.key'),
    clientCa: join(dir, 'client-ca.pem'),
    serverCa: join(dir, 'server-ca.pem'),
  };
  await Promise.all([
    // Chains: leaf then issuer, as operators deploy them.
    writeFile(files.rsaCert, `${rsaServer.certPem}\n${serverCa.certPem}\n`),
    writeFile(files.rsaKey, rsaServer.keyPem, { mode: 0o600 }),
    writeFile(files.ecdsaCert, `${ecdsaServer.certPem}\n${serverCa.certPem}\n`),
    writeFile(files.ecdsaKey, ecdsaServer.keyPem, { mode: 0o600 }),
    writeFile(files.clientCa, stationCa.certPem),
    writeFile(files.serverCa, serverCa.certPem),
  ]);
  return {
    dir,
    serverCa,
    stationCa,
    foreignCa,
    rsaServer,
    ecdsaServer,
    files,
    config: () => ({
      CSMS_OCPP_TLS_PORT: 0,
      CSMS_TLS_CERT: `${files.rsaCert},${files.ecdsaCert}`,
      CSMS_TLS_KEY: `${files.rsaKey},${files.ecdsaKey}`,
      CSMS_TLS_CLIENT_CA: files.clientCa,
    }),
    stationCertificate: (identity, options = {}) => stationCa.issue({ cn: identity, o: CSO_NAME, usage: 'client', ...options }),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * TC_A_08: the certificates that must never grant `identity` profile 3 (none at all, another CA, expired, another
 * CN), keyed by a name for the assertion message.
 */
export async function refusedProfile3Certificates(pki: TestPki, identity: string): Promise<Record<string, IssuedPem | undefined>> {
  return {
    none: undefined,
    unknownCa: await pki.foreignCa.issue({ cn: identity, o: CSO_NAME, usage: 'client' }),
    expired: await pki.stationCa.issue({
      cn: identity,
      o: CSO_NAME,
      usage: 'client',
      notBefore: new Date(Date.now() - 10 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    }),
    otherCn: await pki.stationCertificate(`${identity}-X`),
  };
}

/** Client-side TLS options for a station: trusts the server CA, presents `certificate` when given. */
export function stationTls(pki: TestPki, certificate?: { certPem: string; keyPem: string }): WebSocket.ClientOptions {
  return {
    ca: pki.serverCa.certPem,
    ...(certificate !== undefined ? { cert: certificate.certPem, key: certificate.keyPem } : {}),
  };
}

export type TlsProbe = { ok: true; protocol: string | null; cipher: string; peer: DetailedPeerCertificate; compression: undefined } | { ok: false; error: string };

/** Opens a TLS connection with `options`, reports what was negotiated, and closes it. */
export function probeTls(port: number, options: ConnectionOptions): Promise<TlsProbe> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ...options });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ ok: false, error: 'timeout' });
    }, 5000);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const result: TlsProbe = {
        ok: true,
        protocol: socket.getProtocol(),
        cipher: socket.getCipher().standardName,
        peer: socket.getPeerCertificate(true),
        compression: undefined,
      };
      socket.end();
      resolve(result);
    });
    socket.once('error', (err: Error & { code?: string }) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok: false, error: err.code ?? err.message });
    });
  });
}

/** Expects `attempt` to be refused; returns the refusal (status undefined = refused at TLS / socket level). */
export async function refusal(attempt: Promise<TestStation>): Promise<ConnectRefusedError> {
  let station: TestStation;
  try {
    station = await attempt;
  } catch (err) {
    if (err instanceof ConnectRefusedError) return err;
    throw err;
  }
  await station.close();
  throw new Error(`the CSMS admitted ${station.identity}, which it should have refused`);
}

/** A CSMS with the wss:// listener on, plus the PKI it uses and the TLS stations a test opened. */
export class SecureCsms {
  private readonly opened: TestStation[] = [];

  constructor(
    readonly csms: TestCsms,
    readonly pki: TestPki,
  ) {}

  get tlsPort(): number {
    const port = this.csms.csms.ocppTlsPort;
    if (port === undefined) throw new Error('the CSMS has no TLS listener (CSMS_OCPP_TLS_PORT not wired?)');
    return port;
  }

  get tlsUrl(): string {
    return `wss://127.0.0.1:${this.tlsPort}/ocpp`;
  }

  /** Registers a station through the API. */
  async register(securityProfile: 1 | 2 | 3, opts: { identity?: string; prefix?: string; password?: string } = {}): Promise<{ identity: string; password: string }> {
    const identity = opts.identity ?? uniqueIdentity(opts.prefix ?? `SP${securityProfile}`);
    const password = opts.password ?? randomPassword();
    const res = await this.csms.api.putStation(identity, { securityProfile, password, bootPolicy: 'Accepted' });
    if (res.status !== 200 && res.status !== 201) throw new Error(`PUT station ${identity}: ${res.status} ${res.text}`);
    return { identity, password };
  }

  /** Opens a wss:// station connection (tracked: closed and checked after each test). */
  async connectTls(opts: ConnectOptions, certificate?: { certPem: string; keyPem: string }, extra: WebSocket.ClientOptions = {}): Promise<TestStation> {
    const station = await TestStation.connectWith(
      this.tlsUrl,
      { csmsCallTimeoutMs: this.csms.callTimeoutMs, ...opts },
      { ...stationTls(this.pki, certificate), ...extra },
    );
    this.opened.push(station);
    return station;
  }

  /** Opens a plain ws:// station connection (tracked). */
  async connectPlain(opts: ConnectOptions): Promise<TestStation> {
    return this.csms.connect(opts);
  }

  track(station: TestStation): TestStation {
    this.opened.push(station);
    return station;
  }

  async closeStations(): Promise<string[]> {
    const stations = this.opened.splice(0);
    const problems = stations.flatMap((s) => s.problems());
    await Promise.all(stations.map((s) => s.close()));
    return [...problems, ...(await this.csms.closeStations())];
  }

  async stop(): Promise<void> {
    await this.closeStations();
    try {
      await this.csms.stop();
    } finally {
      await this.pki.remove();
    }
  }
}

/** Starts a CSMS with a fresh PKI and its TLS listener for this file's tests (like `withCsms`). */
export async function startSecureCsms(raw: RawConfig = {}, pki?: TestPki): Promise<SecureCsms> {
  const keys = pki ?? (await createTestPki());
  try {
    return new SecureCsms(await startTestCsms({ ...keys.config(), ...raw }), keys);
  } catch (err) {
    await keys.remove();
    throw err;
  }
}

export function withSecureCsms(raw: RawConfig = {}): { readonly secure: SecureCsms } {
  let secure: SecureCsms | undefined;
  beforeAll(async () => {
    secure = await startSecureCsms(raw);
  }, 60_000);
  afterEach(async () => {
    if (secure === undefined) return;
    const problems = await secure.closeStations();
    if (problems.length > 0) throw new Error(`protocol problems seen by the test station(s):\n  ${problems.join('\n  ')}`);
  });
  afterAll(async () => {
    await secure?.stop();
  }, 30_000);
  return {
    get secure(): SecureCsms {
      if (secure === undefined) throw new Error('the CSMS is not running (beforeAll failed or not yet run)');
      return secure;
    },
  };
}
