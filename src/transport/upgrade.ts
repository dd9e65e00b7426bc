import { SampledLog, type Logger } from '../log.js';
import type { CsmsMetrics } from '../metrics.js';
import type { Admission, StationGatekeeper, UpgradeRequest, VerifiedClientCertificate } from '../station/admission.js';
import type { SessionRegistry } from '../station/registry.js';
import type { StationSession } from '../station/station-session.js';
import type { StationSocket } from '../station/types.js';
import { TrustedProxies, viewThroughProxy, type ProxyHeaders } from './proxy.js';

/** What a listener read from one WebSocket upgrade request, before anything async happens. */
export interface UpgradeAttempt {
  /** The path segment after /ocpp/, still percent-encoded. */
  rawIdentity: string;
  authorization: string | undefined;
  protocols: string | undefined;
  /** RFC 6455 §4.2.1: the Connection header names "upgrade" (Node's HTTP server checks this itself). */
  connectionUpgrade: boolean;
  /** The TCP peer. Behind a trusted proxy, the station's own address comes from the proxy's headers. */
  peerAddress: string;
  proxyHeaders: ProxyHeaders;
  /** The listener terminated TLS itself (the wss:// port). */
  tls: boolean;
  /** The client certificate this process's TLS stack verified, or why the presented one was not. */
  ownCertificate?: { certificate?: VerifiedClientCertificate; problem?: string };
}

export type Accepted = Extract<Admission, { ok: true }>;
export type Refused = Extract<Admission, { ok: false }>;

/** How a refusal goes on the wire; each listener writes it its own way. */
export interface RefusalResponse {
  statusLine: string;
  headers: [string, string][];
  body: string;
}

const STATUS_LINES: Readonly<Record<number, string>> = {
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  429: '429 Too Many Requests',
  503: '503 Service Unavailable',
};

export interface UpgradeDeps {
  gatekeeper: StationGatekeeper;
  registry: SessionRegistry;
  metrics: CsmsMetrics;
  log: Logger;
  trustedProxies?: TrustedProxies;
}

/**
 * The one upgrade path of both OCPP listeners (uWS on ws://, Node's TLS stack on wss://): which profile the
 * connection proves, what the gatekeeper decides, how a refusal is answered and counted, and how an
 * admitted socket becomes a session. A listener only reads headers and writes bytes.
 */
export class UpgradePath {
  private readonly trustedProxies: TrustedProxies;
  /**
   * Refusals are free for anyone to cause: every one is counted in `csms_connections_total{result}`, and the log
   * shows each kind (result) once, then at most one line per 10 s with how many were not shown.
   */
  private readonly refusals: SampledLog;

  constructor(private readonly deps: UpgradeDeps) {
    this.trustedProxies = deps.trustedProxies ?? TrustedProxies.none();
    this.refusals = new SampledLog(deps.log);
  }

  /** Never rejects. `remoteAddress` is the station's address (the proxy's view when it is trusted). */
  decide(attempt: UpgradeAttempt): { remoteAddress: string; admission: Promise<Admission> } {
    const view = viewThroughProxy(attempt.peerAddress, attempt.proxyHeaders, this.trustedProxies);
    const remoteAddress = view.remoteAddress;
    if (!attempt.connectionUpgrade) {
      return { remoteAddress, admission: Promise.resolve(refusal(400, 'bad_request', 'a WebSocket handshake needs "Connection: Upgrade"')) };
    }
    if (view.kind === 'forged') {
      // A station claiming a client certificate in a header: only our own proxy may say that.
      this.refusals.warn(
        'untrusted_proxy_header',
        { event: 'untrusted_proxy_header', remoteAddress, headers: view.headers },
        'client-certificate headers from an address that is not a trusted proxy',
      );
      return { remoteAddress, admission: Promise.resolve(refusal(403, 'untrusted_proxy_header', 'client-certificate headers are only accepted from a trusted proxy')) };
    }
    const request: UpgradeRequest = {
      rawIdentity: attempt.rawIdentity,
      authorization: attempt.authorization,
      protocols: attempt.protocols,
      remoteAddress,
      listenerProfile: attempt.tls || (view.kind === 'proxied' && view.tls) ? 2 : 1,
    };
    if (view.kind === 'proxied' && view.clientCertificate !== undefined) {
      // Through a trusted (re-encrypting or terminating) proxy, the station's certificate is the proxy's to verify.
      request.clientCertificate = view.clientCertificate;
    } else if (attempt.ownCertificate?.certificate !== undefined) {
      // Our own TLS stack verified it: straight from the station, or through a TCP (TLS-passthrough) proxy that is
      // trusted for its ws:// headers too (deploy/haproxy.cfg). Nobody can forge that handshake.
      request.clientCertificate = attempt.ownCertificate.certificate;
    } else if (attempt.ownCertificate?.problem !== undefined) {
      request.clientCertificateProblem = attempt.ownCertificate.problem;
    }
    return { remoteAddress, admission: this.deps.gatekeeper.admitSafely(request) };
  }

  /** Counts the decision; for a refusal, logs it and says what to answer. */
  settle(attempt: UpgradeAttempt, remoteAddress: string, admission: Admission): RefusalResponse | undefined {
    this.deps.metrics.connectionsTotal.labels(admission.ok ? 'accepted' : admission.result).inc();
    if (admission.ok) return undefined;
    this.refusals.info(
      `upgrade_refused:${admission.result}`,
      { event: 'upgrade_refused', result: admission.result, rawIdentity: attempt.rawIdentity.slice(0, 64), remoteAddress, status: admission.status, tls: attempt.tls },
      `upgrade refused: ${admission.reason}`,
    );
    const headers: [string, string][] = [['Content-Type', 'text/plain; charset=utf-8']];
    if (admission.status === 401) headers.push(['WWW-Authenticate', 'Basic realm="OCPP", charset="UTF-8"']);
    if (admission.retryAfterSeconds !== undefined) headers.push(['Retry-After', String(admission.retryAfterSeconds)]);
    return { statusLine: STATUS_LINES[admission.status] ?? '400 Bad Request', headers, body: admission.reason };
  }

  /** An admitted socket is open: it becomes the station's session (replacing an older one). */
  open(admitted: Accepted, socket: StationSocket): StationSession {
    return this.deps.registry.open(admitted.station, admitted.protocol, socket);
  }
}

function refusal(status: Refused['status'], result: string, reason: string): Refused {
  return { ok: false, status, reason, result };
}
