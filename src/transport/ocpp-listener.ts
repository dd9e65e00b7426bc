import type { Logger } from '../log.js';
import type { CsmsMetrics } from '../metrics.js';
import type { StationGatekeeper } from '../station/admission.js';
import type { SessionRegistry } from '../station/registry.js';
import type { StationSession } from '../station/station-session.js';
import type { StationSocket } from '../station/types.js';
import type { StationRecord } from '../store/store.js';
import { remoteAddressOf, type TemplatedApp, type Uws, type WebSocket } from './uws.js';

export interface OcppListenerOptions {
  maxPayloadBytes: number;
  idleTimeoutSeconds: number;
  /** Bytes buffered for a station that does not read; beyond this the socket is closed. */
  maxBackpressureBytes: number;
}

interface SocketData {
  station: StationRecord;
  remoteAddress: string;
  session: StationSession | undefined;
  open: boolean;
}

const STATUS_LINES: Readonly<Record<number, string>> = {
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  500: '500 Internal Server Error',
};

/** RFC 6455 close codes we use. */
const CLOSE_UNSUPPORTED_DATA = 1003;
const CLOSE_POLICY = 1008;

/**
 * The plain `ws://` OCPP endpoint (security profile 1) on uWebSockets.js: upgrade checks before any 101,
 * then frames handed to the station's session. Knows sockets, not OCPP.
 */
export function mountOcppListener(
  uws: Uws,
  app: TemplatedApp,
  deps: { gatekeeper: StationGatekeeper; registry: SessionRegistry; metrics: CsmsMetrics; log: Logger },
  options: OcppListenerOptions,
): void {
  const { gatekeeper, registry, metrics, log } = deps;

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
      const remoteAddress = remoteAddressOf(res);
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });

      gatekeeper
        .admit({ rawIdentity, authorization, protocols, remoteAddress, listenerProfile: 1 })
        .catch((err: unknown) => {
          log.error({ err, remoteAddress }, 'upgrade check failed');
          return { ok: false as const, status: 500 as const, reason: 'internal error', result: 'error' };
        })
        .then((admission) => {
          if (aborted) return;
          metrics.connectionsTotal.labels(admission.ok ? 'accepted' : admission.result).inc();
          res.cork(() => {
            if (!admission.ok) {
              log.info({ rawIdentity: rawIdentity.slice(0, 64), remoteAddress, status: admission.status }, `upgrade refused: ${admission.reason}`);
              res.writeStatus(STATUS_LINES[admission.status] ?? '400 Bad Request');
              if (admission.status === 401) res.writeHeader('WWW-Authenticate', 'Basic realm="OCPP", charset="UTF-8"');
              res.writeHeader('Content-Type', 'text/plain; charset=utf-8').end(admission.reason, true);
              return;
            }
            const data: SocketData = { station: admission.station, remoteAddress, session: undefined, open: false };
            res.upgrade(data, key, admission.protocol, extensions, context);
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

function socketAdapter(ws: WebSocket<SocketData>, data: SocketData, log: Logger): StationSocket {
  return {
    remoteAddress: data.remoteAddress,
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
