import type { HistogramJson } from '../histogram.js';
import type { MixName } from './messages.js';

/** Messages between the coordinator (bench/run) and its generator worker processes, over the IPC channel. */

/** What every station of the fleet shares, whichever worker simulates it. */
export interface FleetSettings {
  host: string;
  /** The CSMS's OCPP ports, one per cluster node: station i first connects to ports[i % ports.length]. */
  ports: number[];
  stationPrefix: string;
  /** One password for every station (a fleet seeded in the database); unset: `stationPassword(id)`, one per station. */
  fleetPassword?: string;
  /** Reconnect a ready station whose connection broke, to another node (see FailoverSettings); unset: it stays offline. */
  failover?: FailoverSettings;
  /** Send `Authorization: Basic` (profile 1). */
  basicAuth: boolean;
  stationsPerAddress: number;
  /** EVSEs per station, each with one connector: one StatusNotification each after boot. */
  evses: number;
  /** Id tokens registered for the run (see fleet-data.ts). */
  tokenCount: number;
  handshakeTimeoutMs: number;
  /** A station CALL with no answer after this long counts as a timeout. */
  callTimeoutMs: number;
  /** Share of the stations that speak OCPP 1.6J instead of 2.0.1: 0 none, 1 all (`--ocpp`, `--ocpp-mix`). */
  ocpp16Share: number;
}

/**
 * A station whose open connection breaks (its node died) comes back as a real one does (OCPP 2.0.1 B.2.1 reconnection
 * back-off): after `backoffMs` (RetryBackOffWaitMinimum) plus a random part of `randomMs` (RetryBackOffRandomRange),
 * the wait doubling after each failed try `doublings` times (RetryBackOffRepeatTimes) and then staying, and it never
 * gives up. It goes to another node (the stations of one node spread over the others, so they do not all land on the
 * same survivor), and after a failed try to the next one, never back to the node it lost (as a load balancer that
 * has taken a dead node out of rotation would not send it there).
 */
export interface FailoverSettings {
  backoffMs: number;
  randomMs: number;
  doublings: number;
}

export interface WorkerConfig extends FleetSettings {
  workerIndex: number;
  /** Global index of this worker's first station, and how many it simulates. */
  firstStation: number;
  stationCount: number;
}

export interface ConnectCommand {
  kind: 'connect';
  /** Handshakes in flight at once (per worker); Infinity for a storm. */
  concurrency: number;
  /** Connect at most this many of the worker's stations that are not connected yet. */
  limit: number;
  /** Retries of a failed connection, 1–2 s apart. */
  retries: number;
  /** Epoch ms at which everyone starts, so workers begin together. */
  startAt: number;
}

export type PhaseMode = 'open' | 'closed';

export interface PhaseCommand {
  kind: 'phase';
  mode: PhaseMode;
  mix: MixName;
  /** Open loop: messages per second from this worker. */
  rate: number;
  /** Closed loop: CALLs outstanding at once from this worker. */
  concurrency: number;
  durationMs: number;
  /** After the phase, how long to wait for answers still outstanding. */
  drainMs: number;
  startAt: number;
}

export interface DisconnectCommand {
  kind: 'disconnect';
}

export interface ExitCommand {
  kind: 'exit';
}

/** Soak: what the running (or last) phase measured since the previous snapshot; answered at once with a WindowSnapshot. */
export interface SnapshotCommand {
  kind: 'snapshot';
}

/**
 * Soak reconnect storm: drop the TCP connection (no close frame, as a station losing power or network) of
 * every ready station whose global index is in [first, first + count) modulo `total`. A load CALL still
 * outstanding on one is abandoned (counted apart, not an error: the generator dropped it). The stations are
 * left offline for the next `connect`.
 */
export interface DropCommand {
  kind: 'drop';
  first: number;
  count: number;
  total: number;
}

/** Failover: where the worker's stations are and how those that lost their connection came back; answered at once. */
export interface FailoverStatusCommand {
  kind: 'failoverStatus';
}

export type CoordinatorMessage =
  { kind: 'init'; config: WorkerConfig } | ConnectCommand | PhaseCommand | DisconnectCommand | SnapshotCommand | DropCommand | FailoverStatusCommand | ExitCommand;

export interface Progress {
  kind: 'progress';
  connected: number;
  ready: number;
  sent: number;
  answered: number;
  errors: number;
  outstanding: number;
  backlog: number;
  /** Latency of what was answered since the last progress message (all actions). */
  recent: HistogramJson;
}

export interface ConnectResult {
  kind: 'connected';
  attempted: number;
  ready: number;
  /** Reasons a station did not become ready (HTTP 401, ECONNREFUSED, boot Rejected, …) with counts. */
  failures: Record<string, number>;
  /** TCP connect + WebSocket upgrade, per successful attempt. */
  handshake: HistogramJson;
  /** BootNotification sent → answered. */
  boot: HistogramJson;
  /** Start of the storm → station Accepted (µs). Its max is the time to all Accepted. */
  toAccepted: HistogramJson;
  /** Start → station ready (connectors reported). */
  toReady: HistogramJson;
  retries: number;
}

/** What a phase counts, the same in the worker, on the wire and in the coordinator's summary. */
export interface PhaseCounters {
  sent: number;
  answered: number;
  /** CALLERROR codes, plus `timeout`, `disconnected`, `unsent` (open loop: due but never sent in time). */
  errors: Record<string, number>;
  authorizeStatus: Record<string, number>;
  /** CSMS CALLs received during the phase, by action. */
  csmsCalls: Record<string, number>;
  /** Open loop: the backlog of due messages grew beyond 10 s worth; the phase was cut short. */
  saturated: boolean;
}

export function emptyPhaseCounters(): PhaseCounters {
  return { sent: 0, answered: 0, errors: {}, authorizeStatus: {}, csmsCalls: {}, saturated: false };
}

export interface PhaseResult extends PhaseCounters {
  kind: 'phaseDone';
  /** From the intended send time (open loop) or the actual send time (closed loop), by action. */
  latency: Record<string, HistogramJson>;
  /** The same latencies by the OCPP version of the station (`1.6`, `2.0.1`). */
  latencyByVersion: Record<string, HistogramJson>;
  /** Actual send − intended send: the generator's own lateness (open loop). */
  sendLag: HistogramJson;
  elapsedMs: number;
}

export interface Disconnected {
  kind: 'disconnected';
}

export interface WindowSnapshot {
  kind: 'snapshot';
  /** Cumulative counters of the running phase (or of the last one, once it ended); the coordinator takes differences. */
  sent: number;
  answered: number;
  errors: Record<string, number>;
  /** Load CALLs outstanding on stations a storm dropped (cumulative over the worker's life). */
  abandoned: number;
  saturated: boolean;
  /** Since the previous snapshot: latency by action (from the intended send) and the generator's lateness. */
  latency: Record<string, HistogramJson>;
  sendLag: HistogramJson;
  connected: number;
  ready: number;
}

export interface Dropped {
  kind: 'dropped';
  dropped: number;
  /** Load CALLs that were outstanding on the dropped stations. */
  abandoned: number;
}

export interface FailoverStatus {
  kind: 'failoverStatus';
  /** Ready stations whose connection broke without the generator asking (cumulative over the worker's life). */
  lost: number;
  /** Of those, back: connected to a node, booted and Accepted, connectors reported. */
  rejoined: number;
  /** Still trying. */
  rejoining: number;
  /** Refused for good (a boot answered other than Accepted), with reasons. */
  failed: number;
  failures: Record<string, number>;
  /** Tries that failed and were retried after the back-off, by reason (HTTP 500, ECONNREFUSED, a CALLERROR, …). */
  retries: number;
  retryReasons: Record<string, number>;
  /** Epoch ms of the last station that came back (0: none yet). */
  lastRejoinAt: number;
  /** Connection lost → ready again, µs. */
  downtime: HistogramJson;
  /** Ready stations per node (index into `ports`). */
  readyByNode: number[];
}

export type WorkerMessage =
  Progress | ConnectResult | PhaseResult | Disconnected | WindowSnapshot | Dropped | FailoverStatus | { kind: 'ready' } | { kind: 'fatal'; message: string };
