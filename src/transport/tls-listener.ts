import { X509Certificate, constants as cryptoConstants, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { ConfigError } from '../config.js';
import type { Logger } from '../log.js';
import type { CsmsMetrics } from '../metrics.js';
import { describeKey, keyWeakness } from '../security/csr.js';
import type { OcppProtocols } from '../ocpp/protocol.js';
import type { VerifiedClientCertificate } from '../station/admission.js';
import type { StationSession } from '../station/station-session.js';
import type { ClientCertificateInfo, StationSocket } from '../station/types.js';
import { PROXY_HEADERS, normalizeAddress, type ProxyHeaders } from './proxy.js';
import type { RefusalResponse, UpgradeAttempt, UpgradePath } from './upgrade.js';

/**
 * A00.FR.318: the four suites every CSMS must offer (ECDHE-ECDSA AES-128/256-GCM, RSA key exchange
 * AES-128/256-GCM), plus ECDHE-RSA for forward secrecy with RSA-only clients, and the TLS 1.3 suites.
 * Nothing else: no CBC, no SHA-1 MACs.
 */
export const OCPP_TLS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'AES128-GCM-SHA256',
  'AES256-GCM-SHA384',
].join(':');

/** One server certificate chain and its key, checked. */
export interface ServerCredential {
  certPem: string;
  keyPem: string;
  keyType: 'rsa' | 'ec';
  /** For logs: "CN=csms.example.com (EC prime256v1)". */
  description: string;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

function readPem(file: string, key: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(key, `cannot read ${file}: ${(error as Error).message}`);
  }
}

/**
 * Reads and checks CSMS_TLS_CERT / CSMS_TLS_KEY (paired by position): each key belongs to its certificate,
 * keys are strong enough (RSA ≥ 2048, EC ≥ 224 bits; A00.FR.318), and there is at most one RSA and one
 * ECDSA pair (OpenSSL serves one certificate per key type). Throws ConfigError naming the key.
 */
export function loadServerCredentials(certFiles: readonly string[], keyFiles: readonly string[], log?: Logger): ServerCredential[] {
  if (certFiles.length === 0) throw new ConfigError('CSMS_TLS_CERT', 'the TLS listener needs at least one certificate');
  if (certFiles.length !== keyFiles.length) throw new ConfigError('CSMS_TLS_KEY', 'CSMS_TLS_CERT and CSMS_TLS_KEY must list the same number of files');
  const credentials: ServerCredential[] = [];
  certFiles.forEach((certFile, index) => {
    const keyFile = keyFiles[index] as string;
    const certPem = readPem(certFile, 'CSMS_TLS_CERT');
    const keyPem = readPem(keyFile, 'CSMS_TLS_KEY');
    let certificate: X509Certificate;
    try {
      // The file is a chain: the leaf comes first.
      certificate = new X509Certificate(PEM_CERTIFICATE.exec(certPem)?.[0] ?? certPem);
    } catch {
      throw new ConfigError('CSMS_TLS_CERT', `${certFile} is not a PEM X.509 certificate`);
    }
    let key: KeyObject;
    try {
      key = createPrivateKey(keyPem);
    } catch {
      throw new ConfigError('CSMS_TLS_KEY', `${keyFile} is not a readable PEM private key`);
    }
    const weakness = keyWeakness(key);
    if (weakness !== undefined) throw new ConfigError('CSMS_TLS_KEY', `${keyFile}: ${weakness}`);
    if (!certificate.checkPrivateKey(key)) throw new ConfigError('CSMS_TLS_KEY', `${keyFile} is not the key of ${certFile}`);
    const keyType = key.asymmetricKeyType === 'ec' ? 'ec' : 'rsa';
    if (credentials.some((other) => other.keyType === keyType)) {
      throw new ConfigError('CSMS_TLS_CERT', `two ${keyType.toUpperCase()} certificates configured; serve one RSA and one ECDSA certificate side by side`);
    }
    if (Date.parse(certificate.validTo) <= Date.now()) log?.warn({ certFile, validTo: certificate.validTo }, 'the TLS server certificate has expired');
    credentials.push({ certPem, keyPem, keyType, description: `${certificate.subject.replace(/\n/g, ', ')} (${describeKey(key)})` });
  });
  if (credentials.length < 2) {
    log?.warn(
      { certificates: credentials.map((c) => c.description) },
      'only one TLS server certificate: A00.FR.318 needs an RSA and an ECDSA certificate side by side for all four mandatory cipher suites',
    );
  }
  return credentials;
}

/** The CA certificates of a PEM bundle file (CSMS_TLS_CLIENT_CA). */
export function loadCaBundle(file: string, key = 'CSMS_TLS_CLIENT_CA'): string[] {
  const text = readPem(file, key);
  const pems = text.match(new RegExp(PEM_CERTIFICATE.source, 'g')) ?? [];
  if (pems.length === 0) throw new ConfigError(key, `${file} holds no PEM certificate`);
  for (const pem of pems) {
    try {
      new X509Certificate(pem);
    } catch {
      throw new ConfigError(key, `${file} holds an unreadable certificate`);
    }
  }
  return pems;
}

export interface TlsListenerOptions {
  host: string;
  port: number;
  /** Server certificates: one RSA and one ECDSA pair side by side (A00.FR.318). */
  credentials: readonly ServerCredential[];
  /** Client certificates (profile 3) must chain to one of these; none = no profile 3 on this port. */
  clientCaPems: readonly string[];
  maxPayloadBytes: number;
  /** Seconds of silence before a ping and, if unanswered, close; 0 = never. */
  idleTimeoutSeconds: number;
  /** Bytes buffered for a station that does not read; beyond this the socket is dropped. */
  maxBackpressureBytes: number;
  /** TLS handshake deadline; default 10 s. */
  handshakeTimeoutMs?: number;
}

export interface TlsListenerDeps {
  upgrades: UpgradePath;
  protocols: OcppProtocols;
  metrics: CsmsMetrics;
  log: Logger;
}

export interface TlsListener {
  readonly port: number;
  /** Open station WebSockets on this listener. */
  readonly connections: number;
  /** Stops accepting, then waits (at most `graceMs`) for open sockets to close before destroying them. */
  close(graceMs?: number): Promise<void>;
}

/** RFC 6455 close codes. */
const CLOSE_UNSUPPORTED_DATA = 1003;
/** Above this much unsent data `send` reports backpressure (the frame is still queued). */
const BACKPRESSURE_SIGNAL_BYTES = 64 * 1024;

interface Connection {
  ws: WebSocket;
  stationId: string;
  session: StationSession | undefined;
  open: boolean;
  alive: boolean;
}

function firstValue(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return value.length === 1 ? value[0] : undefined;
  return value;
}

/** The certificate this TLS stack verified against the client CAs, or why there is none. */
function verifiedCertificate(socket: TLSSocket): { certificate?: VerifiedClientCertificate; problem?: string } {
  const peer = socket.getPeerCertificate();
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- Node returns null (untyped) once the socket is destroyed, and {} when the peer sent no certificate
  if (peer === null || typeof peer !== 'object' || Object.keys(peer).length === 0) return {};
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- typed as always set, but Node leaves it undefined on some unauthorized paths
  if (!socket.authorized) return { problem: `client certificate not verified: ${String(socket.authorizationError ?? 'unknown reason')}` };
  // A subject with several CNs (or Os) names nobody in particular: treated as none.
  const subject = peer.subject as unknown as Record<string, string | string[] | undefined>;
  return {
    certificate: {
      commonName: firstValue(subject.CN),
      organization: firstValue(subject.O),
      serialNumber: typeof peer.serialNumber === 'string' ? peer.serialNumber.toLowerCase() : undefined,
      verifiedBy: 'tls',
    },
  };
}

function proxyHeadersOf(req: IncomingMessage): ProxyHeaders {
  const headers: ProxyHeaders = {};
  for (const name of Object.values(PROXY_HEADERS)) {
    const value = req.headers[name];
    const text = Array.isArray(value) ? value.join(', ') : value;
    if (text !== undefined && text !== '') headers[name] = text;
  }
  return headers;
}

function refuseUpgrade(socket: Duplex, refusal: RefusalResponse): void {
  const lines = [`HTTP/1.1 ${refusal.statusLine}`, 'Connection: close', `Content-Length: ${Buffer.byteLength(refusal.body)}`];
  for (const [name, value] of refusal.headers) lines.push(`${name}: ${value}`);
  socket.end(`${lines.join('\r\n')}\r\n\r\n${refusal.body}`);
}

/**
 * The `wss://` OCPP endpoint for security profiles 2 and 3, on Node's TLS stack (uWS serves one
 * certificate per context and cannot show us the peer certificate): TLS 1.2/1.3 only, the OCPP suites,
 * an RSA and an ECDSA certificate side by side, no compression, no renegotiation.
 *
 * Profile 2 and 3 stations share the port: a client certificate is requested but not required, and the
 * gatekeeper decides per station (a station registered at profile 3 needs a verified certificate whose CN
 * is its identity; a profile 2 station needs Basic auth). Upgrades are checked before any 101, exactly as
 * on the plain listener, and admitted sockets feed the same session layer through `StationSocket`.
 */
export async function startTlsListener(deps: TlsListenerDeps, options: TlsListenerOptions): Promise<TlsListener> {
  const { upgrades, protocols, metrics, log } = deps;
  const requestClientCertificates = options.clientCaPems.length > 0;

  const server: Server = createServer({
    cert: options.credentials.map((c) => c.certPem),
    key: options.credentials.map((c) => c.keyPem),
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    ciphers: OCPP_TLS_CIPHERS,
    honorCipherOrder: true,
    // A00.FR.321: no TLS compression (CRIME); no client-initiated renegotiation either.
    secureOptions: cryptoConstants.SSL_OP_NO_COMPRESSION | cryptoConstants.SSL_OP_NO_RENEGOTIATION,
    ...(requestClientCertificates ? { ca: [...options.clientCaPems] } : {}),
    requestCert: requestClientCertificates,
    // Decided per station after the handshake: a profile 2 station has no certificate to show.
    rejectUnauthorized: false,
    handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;

  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    // RFC 7692 (errata 2025-01 §4.3).
    perMessageDeflate: true,
    maxPayload: options.maxPayloadBytes,
    // The gatekeeper chose already (the registration's pin included); this only repeats the choice for the 101.
    handleProtocols: (offered, req) => chosenSubprotocol.get(req) ?? protocols.select([...offered].join(','))?.subprotocol ?? false,
  });
  const chosenSubprotocol = new WeakMap<IncomingMessage, string>();

  const sockets = new Set<Socket>();
  const connections = new Set<Connection>();

  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
    // TC_A_06: a TLS 1.0/1.1 ClientHello ends here, as does a client offering none of our suites.
    metrics.connectionsTotal.labels('tls_handshake_failed').inc();
    log.debug({ remoteAddress: normalizeAddress(socket.remoteAddress ?? ''), code: err.code, reason: err.message }, 'TLS handshake refused');
  });
  server.on('request', (req, res) => {
    const upgradeRequired = (req.url ?? '').startsWith('/ocpp/');
    res.writeHead(upgradeRequired ? 426 : 404, {
      'Content-Type': 'text/plain; charset=utf-8',
      Connection: 'close',
      ...(upgradeRequired ? { Upgrade: 'websocket' } : {}),
    });
    res.end('OCPP-J stations connect with a WebSocket upgrade to /ocpp/{stationId}');
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- an HTTPS server upgrades the TLSSocket it accepted; Node types the upgrade socket as Duplex
    const tlsSocket = socket as TLSSocket;
    const path = (req.url ?? '').split('?')[0] as string;
    if (!path.startsWith('/ocpp/')) {
      refuseUpgrade(socket, { statusLine: '404 Not Found', headers: [['Content-Type', 'text/plain; charset=utf-8']], body: 'stations connect to /ocpp/{stationId}' });
      return;
    }
    const attempt: UpgradeAttempt = {
      rawIdentity: path.slice('/ocpp/'.length),
      authorization: req.headers.authorization,
      protocols: req.headers['sec-websocket-protocol'],
      // Node's HTTP server emits 'upgrade' only for a request that asks for one.
      connectionUpgrade: true,
      peerAddress: tlsSocket.remoteAddress ?? '',
      proxyHeaders: proxyHeadersOf(req),
      tls: true,
      ownCertificate: verifiedCertificate(tlsSocket),
    };
    const { remoteAddress, admission } = upgrades.decide(attempt);
    void admission.then((decided) => {
      if (socket.destroyed) return;
      const refusal = upgrades.settle(attempt, remoteAddress, decided);
      if (!decided.ok) {
        if (refusal !== undefined) refuseUpgrade(socket, refusal);
        return;
      }
      chosenSubprotocol.set(req, decided.protocol.subprotocol);
      wss.handleUpgrade(req, socket, head, (ws) => {
        const connection: Connection = { ws, stationId: decided.station.id, session: undefined, open: true, alive: true };
        connections.add(connection);
        ws.on('message', (data: RawData, isBinary: boolean) => {
          connection.alive = true;
          if (isBinary) {
            // OCPP-J is text only (Part 4 §4.1.2).
            connection.open = false;
            ws.close(CLOSE_UNSUPPORTED_DATA, 'OCPP-J uses text frames');
            return;
          }
          connection.session?.onMessage(rawDataText(data));
        });
        ws.on('pong', () => (connection.alive = true));
        ws.on('ping', () => (connection.alive = true));
        ws.on('error', (err) => log.debug({ stationId: connection.stationId, err: err.message }, 'station socket error'));
        ws.on('close', () => {
          connection.open = false;
          connections.delete(connection);
          connection.session?.onSocketClosed();
        });
        connection.session = upgrades.open(decided, socketAdapter(connection, remoteAddress, decided.clientCertificate, options.maxBackpressureBytes, log));
      });
    });
  });

  // Idle stations are pinged, and dropped when the next round finds them still silent.
  let pinger: NodeJS.Timeout | undefined;
  if (options.idleTimeoutSeconds > 0) {
    pinger = setInterval(
      () => {
        for (const connection of connections) {
          if (!connection.alive) {
            connection.open = false;
            connection.ws.terminate();
            continue;
          }
          connection.alive = false;
          connection.ws.ping();
        }
      },
      (options.idleTimeoutSeconds * 1000) / 2,
    );
    pinger.unref();
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(new Error(`cannot listen on ${options.host}:${options.port} (TLS): ${err.message}`));
    server.once('error', onError);
    server.listen(options.port, options.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  server.on('error', (err) => log.error({ err }, 'TLS listener error'));
  log.info({ port, certificates: options.credentials.map((c) => c.description), clientCertificates: requestClientCertificates }, 'TLS listener ready');

  return {
    port,
    get connections() {
      return connections.size;
    },
    close(graceMs = 2000) {
      if (pinger !== undefined) clearInterval(pinger);
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          for (const connection of connections) connection.ws.terminate();
          for (const socket of sockets) socket.destroy();
        }, graceMs);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}

function rawDataText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data as ArrayBuffer).toString('utf8');
}

function socketAdapter(
  connection: Connection,
  remoteAddress: string,
  clientCertificate: ClientCertificateInfo | undefined,
  maxBackpressureBytes: number,
  log: Logger,
): StationSocket {
  const { ws } = connection;
  return {
    remoteAddress,
    clientCertificate,
    send(text) {
      if (!connection.open) return false;
      if (ws.bufferedAmount > maxBackpressureBytes) {
        // The station has not read what we sent for a long while: a clean reconnect beats answers that vanish.
        log.warn({ stationId: connection.stationId, buffered: ws.bufferedAmount }, 'station is not reading; closing');
        connection.open = false;
        ws.terminate();
        return false;
      }
      ws.send(text);
      return ws.bufferedAmount < BACKPRESSURE_SIGNAL_BYTES;
    },
    close(code, reason) {
      if (!connection.open) return;
      connection.open = false;
      ws.close(code, reason);
    },
  };
}
