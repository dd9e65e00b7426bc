import type { OcppProtocol } from '../ocpp/protocol.js';
import type { StationRecord } from '../store/store.js';
import { StationSession } from './station-session.js';
import type { BlockTable, StationServices, StationSocket } from './types.js';

/** Close code for a socket that a newer connection of the same identity replaced. */
export const CLOSE_REPLACED = 4000;

/**
 * The sessions this process holds, by station id. A newer connection of the same identity wins: the
 * older socket is closed, and its late close event must not unregister the newer session.
 */
export class SessionRegistry {
  private readonly sessions = new Map<string, StationSession>();
  private readonly listeners: ((stationId: string, session: StationSession | undefined) => void)[] = [];

  constructor(
    private readonly services: StationServices,
    /** The block table of each protocol version this CSMS serves. */
    private readonly tableFor: (protocol: OcppProtocol) => BlockTable,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  get(stationId: string): StationSession | undefined {
    return this.sessions.get(stationId);
  }

  ids(): IterableIterator<string> {
    return this.sessions.keys();
  }

  /** Observers (cluster presence) learn when a station's local session opens or goes away. */
  onChange(listener: (stationId: string, session: StationSession | undefined) => void): void {
    this.listeners.push(listener);
  }

  open(station: StationRecord, protocol: OcppProtocol, socket: StationSocket): StationSession {
    const previous = this.sessions.get(station.id);
    const session = new StationSession(station, protocol, socket, this.services, this.tableFor(protocol), (closed) => {
      // Every session closes once, the replaced ones included: the per-version count follows each of them.
      this.services.metrics.connectedStationsByVersion.labels(protocol.version).dec();
      this.forget(closed);
    });
    this.sessions.set(station.id, session);
    this.services.metrics.connectedStations.set(this.sessions.size);
    this.services.metrics.connectedStationsByVersion.labels(protocol.version).inc();
    if (previous !== undefined) this.close(previous, 'replaced by a newer connection');
    session.log.info({ remoteAddress: socket.remoteAddress, bootStatus: station.bootStatus, ocppVersion: protocol.version }, 'station connected');
    for (const listener of this.listeners) listener(station.id, session);
    return session;
  }

  /**
   * A newer connection of the same identity won elsewhere (another node): close this one with 4000. Only
   * `expected` is closed, so a notice about an older session never closes a newer one.
   */
  replace(expected: StationSession, newerNode: string): void {
    if (this.sessions.get(expected.stationId) !== expected) return;
    this.close(expected, `replaced by a newer connection on node ${newerNode}`);
  }

  private close(session: StationSession, why: string): void {
    this.services.metrics.connectionsTotal.labels('replaced').inc();
    session.log.info({ remoteAddress: session.remoteAddress }, why);
    session.close(CLOSE_REPLACED, 'replaced by a newer connection');
    // Its close event arrives later; until then it is no longer reachable for commands.
    session.onSocketClosed();
  }

  private forget(session: StationSession): void {
    if (this.sessions.get(session.stationId) !== session) return;
    this.sessions.delete(session.stationId);
    this.services.metrics.connectedStations.set(this.sessions.size);
    session.log.info('station disconnected');
    for (const listener of this.listeners) listener(session.stationId, undefined);
  }

  /** Shutdown: every socket closed with 1001 (going away). */
  closeAll(code: number, reason: string): void {
    for (const session of [...this.sessions.values()]) {
      session.close(code, reason);
      session.onSocketClosed();
    }
  }
}
