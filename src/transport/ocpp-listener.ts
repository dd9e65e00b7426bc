import type { Logger } from '../log.js';
import type { CsmsMetrics } from '../metrics.js';
import type { Admission, ClientCertificateInfo, StationGatekeeper, UpgradeRequest } from '../station/admission.js';
import type { SessionRegistry } from '../station/registry.js';
import type { StationSession } from '../station/station-session.js';
import type { StationSocket } from '../station/types.js';
import type { StationRecord } from '../store/store.js';
import { PROXY_HEADERS, TrustedProxies, viewThroughProxy, type ProxyHeaders } from './proxy.js';
import { remoteAddressOf, type HttpRequest, type TemplatedApp, type Uws, type WebSocket } from './uws.js';

export interface OcppListenerOptions {
  maxPayloadBytes: number;
  idleTimeoutSeconds: number;
  /** Bytes buffered for a station that does not read; beyond this the socket is closed. */
  maxBackpressureBytes: number;
}

interface SocketData {
  station: StationRecord;
  remoteAddress: string;
  /** Profile 3 behind a trusted TLS-terminating proxy: the certificate the proxy verified. */
  clientCertificate: ClientCertificateInfo | undefined;
  session: StationSession | undefined;
  open: boolean;
}

/** Status lines of refused upgrades (shared with the TLS listener). */
export const UPGRADE_STATUS_LINES: Readonly<Record<number, string>> = {
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
};

/** RFC 6455 close codes we use. */
const CLOSE_UNSUPPORTED_DATA = 1003;
const CLOSE_POLICY = 1008;

function proxyHeadersOf(req: HttpRequest): ProxyHeaders {
  const headers: ProxyHeaders = {};
  for (const name of Object.values(PROXY_HEADERS)) {
    const value = req.getHeader(name);
    if (value !== '') headers[name] = value;
  }
  return headers;
}

/**
 * The plain `ws://` OCPP endpoint (security profile 1) on uWebSockets.js: upgrade checks before any 101,
 * then frames handed to the station's session. Knows sockets, not OCPP.
 *
 * Behind a TLS-terminating proxy listed in `trustedProxies` (see haproxy.example.cfg), a connection the
 * proxy received over TLS counts as profile 2, and as profile 3 when the proxy verified a client
 * certificate naming the station. Client-certificate headers from any other address are refused (403).
 */
export function mountOcppListener(
  uws: Uws,
  app: TemplatedApp,
  deps: { gatekeeper: StationGatekeeper; registry: SessionRegistry; metrics: CsmsMetrics; log: Logger; trustedProxies?: TrustedProxies },
  options: OcppListenerOptions,
): void {
  const { gatekeeper, registry, metrics, log } = deps;
  const trustedProxies = deps.trustedProxies ?? TrustedProxies.none();

  app.ws<SocketData>('/ocpp/*', {
    // RFC 7692 (errata 2025-01 §4.3 makes it a SHALL); a shared compressor keeps per-socket memory flat.
    compression: uws.SHARED_COMPRESSOR,
    maxPayloadLength: options.maxPayloadBytes,
    idleTimeout: options.idleTimeoutSeconds,
    maxBackpressure: options.maxBackpressureBytes,
    sendPingsAutomatically: true,

    upgrade: (res, req, context) => {
      // Everything from `req` must be read now: it is gone once this function returns.
      const rawIdentity = req.getUrl().slice('/ocpp/'.length);
      const authorization = req.getHeader('authorization') || undefined;
      const protocols = req.getHeader('sec-websocket-protocol') || undefined;
      const key = req.getHeader('sec-websocket-key');
      const extensions = req.getHeader('sec-websocket-extensions');
      const connection = req.getHeader('connection');
      const view = viewThroughProxy(remoteAddressOf(res), proxyHeadersOf(req), trustedProxies);
      const remoteAddress = view.remoteAddress;
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });

      let decision: Promise<Admission>;
      if (!/(^|,)\s*upgrade\s*(,|$)/i.test(connection)) {
        // RFC 6455 §4.2.1. Also load-bearing: uWS marks a request whose Connection value is 5 characters
        // ("close") as connection-close, and an uncorked async upgrade of such a request (below) closes the
        // socket and then builds the WebSocket on it (use after free, segfault).
        decision = Promise.resolve({ ok: false, status: 400, reason: 'a WebSocket handshake needs "Connection: Upgrade"', result: 'bad_request' });
      } else if (view.kind === 'forged') {
        // A station claiming a client certificate in a header: only our own proxy may say that.
        log.warn({ event: 'untrusted_proxy_header', remoteAddress, headers: view.headers }, 'client-certificate headers from an address that is not a trusted proxy');
        decision = Promise.resolve({ ok: false, status: 403, reason: 'client-certificate headers are only accepted from a trusted proxy', result: 'untrusted_proxy_header' });
      } else {
        const request: UpgradeRequest = { rawIdentity, authorization, protocols, remoteAddress, listenerProfile: 1 };
        if (view.kind === 'proxied' && view.tls) {
          request.listenerProfile = 2;
          if (view.clientCertificate !== undefined) request.clientCertificate = view.clientCertificate;
        }
        decision = gatekeeper.admitSafely(request);
      }

      decision.then((admission) => {
          if (aborted) return;
          metrics.connectionsTotal.labels(admission.ok ? 'accepted' : admission.result).inc();
          if (admission.ok) {
            // NOT inside res.cork(): uWS 20.30's HttpResponse::cork(), after an upgrade whose adopt-realloc
            // kept the socket's address, reads HttpResponseData::state from what is now WebSocket memory, and
            // when a stray bit says "connection: close" it shuts the new WebSocket down right after the 101
            // (client: 1006). uNetworking/uWebSockets#1928, fixed upstream by #1929; not in 20.30.0.
            // Cost: uWS.js prints its "writes must be made from within a corked callback" warning per upgrade.
            const data: SocketData = { station: admission.station, remoteAddress, clientCertificate: admission.clientCertificate, session: undefined, open: false };
            res.upgrade(data, key, admission.protocol, extensions, context);
            return;
          }
          res.cork(() => {
            log.info({ rawIdentity: rawIdentity.slice(0, 64), remoteAddress, status: admission.status }, `upgrade refused: ${admission.reason}`);
            res.writeStatus(UPGRADE_STATUS_LINES[admission.status] ?? '400 Bad Request');
            if (admission.status === 401) res.writeHeader('WWW-Authenticate', 'Basic realm="OCPP", charset="UTF-8"');
            if (admission.retryAfterSeconds !== undefined) res.writeHeader('Retry-After', String(admission.retryAfterSeconds));
            res.writeHeader('Content-Type', 'text/plain; charset=utf-8').end(admission.reason, true);
          });
        });
    },

    open: (ws) => {
      const data = ws.getUserData();
      data.open = true;
      data.session = registry.open(data.station, socketAdapter(ws, data, log));
    },

    message: (ws, message, isBinary) => {
      const data = ws.getUserData();
      if (isBinary) {
        // OCPP-J is text only (Part 4 §4.1.2).
        ws.end(CLOSE_UNSUPPORTED_DATA, 'OCPP-J uses text frames');
        return;
      }
      // The ArrayBuffer is only valid during this callback; toString copies it out.
      data.session?.onMessage(Buffer.from(message).toString('utf8'));
    },

    close: (ws) => {
      const data = ws.getUserData();
      data.open = false;
      data.session?.onSocketClosed();
    },
  });
}

function socketAdapter(ws: WebSocket<SocketData>, data: SocketData, log: Logger): StationSocket & { readonly clientCertificate: ClientCertificateInfo | undefined } {
  return {
    remoteAddress: data.remoteAddress,
    clientCertificate: data.clientCertificate,
    send(text) {
      if (!data.open) return false;
      const status = ws.send(text, false, true);
      if (status === 2) {
        // Dropped: the station has not read what we sent for a long while. Better a clean reconnect
        // than a station whose answers silently vanish.
        log.warn({ stationId: data.station.id, buffered: ws.getBufferedAmount() }, 'station is not reading; closing');
        ws.end(CLOSE_POLICY, 'backpressure limit reached');
        return false;
      }
      return status === 1;
    },
    close(code, reason) {
      if (!data.open) return;
      data.open = false;
      ws.end(code, reason);
    },
    bufferedAmount() {
      return data.open ? ws.getBufferedAmount() : 0;
    },
  };
}
