/**
 * Plug & Charge fixtures: a throw-away ISO 15118 PKI (V2G / MO roots, sub-CAs, contract certificates with an OCSP
 * responder in their AIA) and a real OCSP responder — `openssl ocsp` as a child process — behind a small HTTP
 * front that counts requests and can be made slow, broken or silent.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, webcrypto } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../bench/free-port.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const DAY = 24 * 3600_000;
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
type KeyPair = x509.X509CertificateCreateSelfSignedParams['keys'];

function pem(der: ArrayBuffer, label: string): string {
  const base64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${base64}\n-----END ${label}-----\n`;
}

function serial(): string {
  const bytes = randomBytes(10);
  bytes[0] = ((bytes[0] as number) & 0x7f) | 0x10;
  return bytes.toString('hex');
}

/** One certificate of the test PKI with its key. */
export class PkiCert {
  constructor(
    readonly cert: x509.X509Certificate,
    readonly keys: KeyPair,
    readonly keyPem: string,
  ) {}

  get pem(): string {
    return this.cert.toString('pem');
  }

  /** The OCPP CertificateHashData of this certificate as `issuer` issued it (SHA256), computed independently of the CSMS. */
  hashData(
    issuer: PkiCert,
    responderURL: string,
  ): { hashAlgorithm: 'SHA256'; issuerNameHash: string; issuerKeyHash: string; serialNumber: string; responderURL: string } {
    const spki = Buffer.from(issuer.cert.publicKey.rawData);
    // An uncompressed P-256 point is the last 65 bytes of its SubjectPublicKeyInfo: the BIT STRING's value.
    const keyBits = spki.subarray(spki.length - 65);
    return {
      hashAlgorithm: 'SHA256',
      issuerNameHash: createHash('sha256').update(Buffer.from(issuer.cert.subjectName.toArrayBuffer())).digest('hex'),
      issuerKeyHash: createHash('sha256').update(keyBits).digest('hex'),
      serialNumber: this.cert.serialNumber,
      responderURL,
    };
  }
}

async function keyPair(): Promise<{ keys: KeyPair; keyPem: string }> {
  const pair = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- @peculiar/x509 types its keys with DOM types that lib ES2023 lacks (unresolved here); the cast keeps the key pair typed as the library declares it
  return { keys: pair as unknown as KeyPair, keyPem: pem(await webcrypto.subtle.exportKey('pkcs8', pair.privateKey), 'PRIVATE KEY') };
}

export async function createRoot(name: string): Promise<PkiCert> {
  const { keys, keyPem } = await keyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 365 * DAY),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 2, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return new PkiCert(cert, keys, keyPem);
}

/** A sub-CA (isCa) or a contract certificate issued by `issuer`, naming `ocspUrl` in its AIA when given. */
export async function issue(issuer: PkiCert, subject: string, options: { isCa: boolean; ocspUrl?: string; notAfter?: Date }): Promise<PkiCert> {
  const { keys, keyPem } = await keyPair();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(options.isCa, options.isCa ? 1 : undefined, true),
    new x509.KeyUsagesExtension(
      // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment -- KeyUsageFlags are bit flags: their OR is a plain number, which the library reads as flags
      options.isCa
        ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature
        : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement,
      true,
    ),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey),
  ];
  if (options.ocspUrl !== undefined) extensions.push(new x509.AuthorityInfoAccessExtension({ ocsp: [new x509.GeneralName('url', options.ocspUrl)] }));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject,
    issuer: issuer.cert.subjectName,
    notBefore: new Date(Date.now() - DAY),
    notAfter: options.notAfter ?? new Date(Date.now() + 90 * DAY),
    publicKey: keys.publicKey,
    signingKey: issuer.keys.privateKey,
    signingAlgorithm: ALGORITHM,
    extensions,
  });
  return new PkiCert(cert, keys, keyPem);
}

function opensslDate(date: Date): string {
  return `${date.toISOString().slice(2, 19).replace(/[-:T]/g, '')}Z`;
}

export type ResponderMode = 'normal' | 'slow' | 'garbage' | 'http500';

/**
 * `openssl ocsp` answering for the certificates `issuer` issued (signed by the issuer itself, nextUpdate one day
 * ahead), behind an HTTP front on an ephemeral port that counts requests. Certificates not listed are unknown.
 */
export class OcspResponder {
  requests = 0;
  mode: ResponderMode = 'normal';
  private constructor(
    readonly url: string,
    private readonly front: Server,
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {}

  /** Starts the front first (its URL goes into the certificates), then `bind` gives the issuer and the index. */
  static async reserve(): Promise<{ url: string; start(issuer: PkiCert, entries: { cert: PkiCert; revoked?: boolean }[]): Promise<OcspResponder> }> {
    let backend: { port: number } | undefined;
    let responder: OcspResponder | undefined;
    const front = createServer((req, res) => {
      responder?.forward(req, res, backend?.port ?? 0);
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    const address = front.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/`;
    return {
      url,
      async start(issuer, entries) {
        const dir = await mkdtemp(join(tmpdir(), 'stroom-ocsp-'));
        const index = entries
          .map(({ cert, revoked }) => {
            const hexSerial = cert.cert.serialNumber.toUpperCase();
            const expiry = opensslDate(cert.cert.notAfter);
            const subject = `/${cert.cert.subject.replace(/, /g, '/')}`;
            return `${revoked === true ? 'R' : 'V'}\t${expiry}\t${revoked === true ? opensslDate(new Date(Date.now() - DAY)) : ''}\t${hexSerial.length % 2 === 1 ? `0${hexSerial}` : hexSerial}\tunknown\t${subject}\n`;
          })
          .join('');
        await writeFile(join(dir, 'index.txt'), index);
        await writeFile(join(dir, 'ca.pem'), issuer.pem);
        await writeFile(join(dir, 'ca.key'), issuer.keyPem);
        const port = await freePort();
        backend = { port };
        const child = spawn(
          'openssl',
          [
            'ocsp',
            '-index',
            join(dir, 'index.txt'),
            '-port',
            String(port),
            '-rsigner',
            join(dir, 'ca.pem'),
            '-rkey',
            join(dir, 'ca.key'),
            '-CA',
            join(dir, 'ca.pem'),
            '-ndays',
            '1',
          ],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        // openssl says when it listens; anything sent before (even a probe) may make it quit.
        let output = '';
        const listening = new Promise<void>((resolve, reject) => {
          const onData = (chunk: Buffer): void => {
            output += chunk.toString();
            if (output.includes('waiting for OCSP client connections')) resolve();
          };
          child.stdout.on('data', onData);
          child.stderr.on('data', onData);
          child.once('exit', (code) => reject(new Error(`openssl ocsp exited (${code ?? 'signal'}): ${output}`)));
        });
        responder = new OcspResponder(url, front, child, dir);
        await listening;
        return responder;
      },
    };
  }

  private forward(req: IncomingMessage, res: ServerResponse, port: number): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      this.requests++;
      if (this.mode === 'slow') return; // never answers: the CSMS's bound must end the wait
      if (this.mode === 'garbage') {
        res.writeHead(200, { 'content-type': 'application/ocsp-response' }).end('not DER at all');
        return;
      }
      if (this.mode === 'http500') {
        res.writeHead(500).end();
        return;
      }
      const body = Buffer.concat(chunks);
      const upstream = httpRequest(
        { host: '127.0.0.1', port, method: 'POST', path: '/', agent: false, headers: { 'content-type': 'application/ocsp-request', 'content-length': body.length } },
        (answer) => {
          const parts: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => parts.push(chunk));
          answer.on('end', () => res.writeHead(answer.statusCode ?? 502, { 'content-type': 'application/ocsp-response' }).end(Buffer.concat(parts)));
        },
      );
      upstream.on('error', () => res.writeHead(502).end());
      upstream.end(body);
    });
  }

  async stop(): Promise<void> {
    this.front.closeAllConnections();
    await new Promise<void>((resolve) => this.front.close(() => resolve()));
    this.child.kill();
    await rm(this.dir, { recursive: true, force: true });
  }
}
