import type { Logger } from '../log.js';
import type { StationSession } from '../station/station-session.js';
import type { ClientCertificateInfo, StationSocket } from '../station/types.js';
import { PROXY_HEADERS, type ProxyHeaders } from './proxy.js';
import type { Accepted, UpgradeAttempt, UpgradePath } from './upgrade.js';
import { remoteAddressOf, type HttpRequest, type TemplatedApp, type Uws, type WebSocket } from './uws.js';

export interface OcppListenerOptions {
  maxPayloadBytes: number;
  idleTimeoutSeconds: number;
  /** Bytes buffered for a station that does not read; beyond this the socket is closed. */
  maxBackpressureBytes: number;
}

interface SocketData {
  admitted: Accepted;
  stationId: string;
  remoteAddress: string;
  session: StationSession | undefined;
  open: boolean;
}

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
 * The plain `ws://` OCPP endpoint (security profile 1) on uWebSockets.js: reads the upgrade request, lets
 * the shared upgrade path decide before any 101, then hands frames to the station's session. Knows
 * sockets, not OCPP.
 *
 * Behind a TLS-terminating proxy listed in `trustedProxies` (see haproxy.example.cfg), a connection the
 * proxy received over TLS counts as profile 2, and as profile 3 when the proxy verified a client
 * certificate naming the station. Client-certificate headers from any other address are refused (403).
 */
export function mountOcppListener(uws: Uws, app: TemplatedApp, upgrades: UpgradePath, log: Logger, options: OcppListenerOptions): void {
  app.ws<SocketData>('/ocpp/*', {
    // RFC 7692 (errata 2025-01 §4.3 makes it a SHALL); a shared compressor keeps per-socket memory flat.
    compression: uws.SHARED_COMPRESSOR,
    maxPayloadLength: options.maxPayloadBytes,
    idleTimeout: options.idleTimeoutSeconds,
    maxBackpressure: options.maxBackpressureBytes,
    sendPingsAutomatically: true,

    upgrade: (res, req, context) => {
      // Everything from `req` must be read now: it is gone once this function returns.
      const attempt: UpgradeAttempt = {
        rawIdentity: req.getUrl().slice('/ocpp/'.length),
        authorization: req.getHeader('authorization') || undefined,
        protocols: req.getHeader('sec-websocket-protocol') || undefined,
        // RFC 6455 §4.2.1. Also load-bearing: uWS marks a request whose Connection value is 5 characters
        // ("close") as connection-close, and an uncorked async upgrade of such a request (below) closes the
        // socket and then builds the WebSocket on it (use after free, segfault).
        connectionUpgrade: /(^|,)\s*upgrade\s*(,|$)/i.test(req.getHeader('connection')),
        peerAddress: remoteAddressOf(res),
        proxyHeaders: proxyHeadersOf(req),
        tls: false,
      };
      const key = req.getHeader('sec-websocket-key');
      const extensions = req.getHeader('sec-websocket-extensions');
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });

      const { remoteAddress, admission } = upgrades.decide(attempt);
      void admission.then((decided) => {
        if (aborted) return;
        const refusal = upgrades.settle(attempt, remoteAddress, decided);
        if (decided.ok) {
          // NOT inside res.cork(): uWS 20.30's HttpResponse::cork(), after an upgrade whose adopt-realloc
          // kept the socket's address, reads HttpResponseData::state from what is now WebSocket memory, and
          // when a stray bit says "connection: close" it shuts the new WebSocket down right after the 101
          // (client: 1006). uNetworking/uWebSockets#1928, fixed upstream by #1929; not in 20.30.0.
          // Cost: uWS.js prints its "writes must be made from within a corked callback" warning per upgrade.
          const data: SocketData = { admitted: decided, stationId: decided.station.id, remoteAddress, session: undefined, open: false };
          res.upgrade(data, key, decided.protocol.subprotocol, extensions, context);
          return;
        }
        if (refusal === undefined) return;
        res.cork(() => {
          res.writeStatus(refusal.statusLine);
          for (const [name, value] of refusal.headers) res.writeHeader(name, value);
          res.end(refusal.body, true);
        });
      });
    },

    open: (ws) => {
      const data = ws.getUserData();
      data.open = true;
      data.session = upgrades.open(data.admitted, socketAdapter(ws, data, data.admitted.clientCertificate, log));
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

function socketAdapter(ws: WebSocket<SocketData>, data: SocketData, clientCertificate: ClientCertificateInfo | undefined, log: Logger): StationSocket {
  return {
    remoteAddress: data.remoteAddress,
    clientCertificate,
    send(text) {
      if (!data.open) return false;
      const status = ws.send(text, false, true);
      if (status === 2) {
        // Dropped: the station has not read what we sent for a long while. Better a clean reconnect
        // than a station whose answers silently vanish.
        log.warn({ stationId: data.stationId, buffered: ws.getBufferedAmount() }, 'station is not reading; closing');
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
  };
}
