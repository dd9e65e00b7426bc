/**
 * One generator worker process: simulates a slice of the fleet (every station a real TCP connection with
 * its own WebSocket), driven by the coordinator over the IPC channel. Started by `Fleet` (fleet.ts).
 *
 * A station behaves like a real one: it connects with Basic auth, boots, reports its connectors, and then
 * sends what its script says whenever the load schedule picks it, with at most one CALL outstanding
 * (OCPP-J). It answers every CALL the CSMS sends it.
 *
 * Open loop: messages are due at a fixed rate whatever happens; each due message goes to the next idle
 * station, and its latency counts from when it was due, not when it could be sent — a slow CSMS cannot
 * hide its slowness by slowing the generator down (no coordinated omission). Closed loop: a fixed number
 * of CALLs is kept outstanding and latency counts from the actual send.
 */
import { performance } from 'node:perf_hooks';
import { Histogram, HistogramSet } from '../histogram.js';
import { acceptedTokenIndex, basicAuthorization, localAddressFor, stationId, stationPassword, tokenId } from './fleet-data.js';
import * as msg from './messages.js';
import { MIXES, STEP_ACTION, STEP_ACTION_16, speaksOcpp16, type Step } from './messages.js';
import {
  emptyPhaseCounters,
  type ConnectCommand,
  type ConnectResult,
  type CoordinatorMessage,
  type DropCommand,
  type FailoverSettings,
  type FailoverStatus,
  type PhaseCommand,
  type PhaseCounters,
  type PhaseResult,
  type Progress,
  type WindowSnapshot,
  type WorkerConfig,
  type WorkerMessage,
} from './protocol.js';
import { MiniWebSocket } from './ws-client.js';

const enum Status {
  Offline,
  Connecting,
  Booting,
  Reporting,
  Ready,
  Failed,
}

const enum Pending {
  None,
  Setup,
  Load,
}

class Station {
  /** The connection this station is using (or trying to). */
  ws: MiniWebSocket | undefined;
  /** The connection that is open, until its close event. */
  openSocket: MiniWebSocket | undefined;
  status = Status.Offline;
  pending = Pending.None;
  pendingId = '';
  pendingAction = '';
  /** performance.now() ms */
  intendedAt = 0;
  sentAt = 0;
  attemptAt = 0;
  attempts = 0;
  cycle = 0;
  transactionId = '';
  seqNo = 0;
  wh = 0;
  sessions = 0;
  tokenCursor = 0;
  reportedEvses = 0;
  /** In the idle queue: ready with nothing outstanding. */
  queued = false;
  /** Failover: performance.now() ms when its open connection broke, 0 while it is not coming back from that. */
  lostAt = 0;
  rejoinAttempts = 0;
  /** The node whose connection broke. */
  lostNode = 0;

  constructor(
    readonly index: number,
    readonly id: string,
    readonly authorization: string | undefined,
    readonly localAddress: string,
    /** Speaks OCPP 1.6J instead of 2.0.1. */
    readonly v16: boolean,
    /** Index into the fleet's ports: the node it connects to. */
    public node: number,
  ) {}
}

/** A growable ring of numbers: station indices waiting for work, intended send times (ms). */
class NumberQueue {
  private items = new Float64Array(1024);
  private head = 0;
  size = 0;
  push(value: number): void {
    if (this.size === this.items.length) {
      const bigger = new Float64Array(this.items.length * 2);
      for (let i = 0; i < this.size; i++) bigger[i] = this.items[(this.head + i) % this.items.length] as number;
      this.items = bigger;
      this.head = 0;
    }
    this.items[(this.head + this.size) % this.items.length] = value;
    this.size++;
  }
  shift(): number {
    const value = this.items[this.head] as number;
    this.head = (this.head + 1) % this.items.length;
    this.size--;
    return value;
  }
  clear(): void {
    this.head = 0;
    this.size = 0;
  }
}

function send(message: WorkerMessage): void {
  process.send?.(message);
}

function increment(counts: Record<string, number>, key: string, by = 1): void {
  counts[key] = (counts[key] ?? 0) + by;
}

/** Epoch ms → this process's performance.now() timeline. */
function perfAt(epochMs: number): number {
  return performance.now() + (epochMs - Date.now());
}

interface ConnectState {
  command: ConnectCommand;
  startPerf: number;
  queue: Station[];
  inFlight: number;
  retryTimers: number;
  failures: Record<string, number>;
  handshake: Histogram;
  boot: Histogram;
  toAccepted: Histogram;
  toReady: Histogram;
  retries: number;
  attempted: number;
  ready: number;
  done: boolean;
}

interface PhaseState extends PhaseCounters {
  command: PhaseCommand;
  script: readonly Step[];
  startPerf: number;
  endPerf: number;
  intervalMs: number;
  due: number;
  backlog: NumberQueue;
  running: boolean;
  outstanding: number;
  latency: HistogramSet;
  latencyByVersion: HistogramSet;
  sendLag: Histogram;
  timer: NodeJS.Timeout | undefined;
}

class GeneratorWorker {
  private readonly stations: Station[] = [];
  private readonly idle: NumberQueue;
  private messageCounter = 0;
  private connectState: ConnectState | undefined;
  private phase: PhaseState | undefined;
  private connected = 0;
  private ready = 0;
  private progressSent = 0;
  private progressAnswered = 0;
  private progressErrors = 0;
  private readonly recent = new Histogram();
  private readonly idPrefix: string;
  /** Soak windows: latency and lateness since the last snapshot, and the phase whose counters a snapshot reports. */
  private windowLatency = new HistogramSet();
  private readonly windowSendLag = new Histogram();
  private lastPhase: PhaseState | undefined;
  private abandoned = 0;
  /** Failover (see FailoverStatus); `disconnecting`: the generator closes the fleet itself, nobody comes back. */
  private readonly failover = {
    lost: 0,
    rejoined: 0,
    rejoining: 0,
    failed: 0,
    failures: {} as Record<string, number>,
    retries: 0,
    retryReasons: {} as Record<string, number>,
    lastRejoinAt: 0,
    downtime: new Histogram(),
  };
  private disconnecting = false;

  constructor(private readonly config: WorkerConfig) {
    for (let i = 0; i < config.stationCount; i++) {
      const index = config.firstStation + i;
      const id = stationId(config.stationPrefix, index);
      const authorization = config.basicAuth ? basicAuthorization(id, config.fleetPassword ?? stationPassword(id)) : undefined;
      this.stations.push(
        new Station(index, id, authorization, localAddressFor(index, config.stationsPerAddress), speaksOcpp16(index, config.ocpp16Share), index % config.ports.length),
      );
    }
    this.idle = new NumberQueue();
    this.idPrefix = `w${config.workerIndex}-`;
    setInterval(() => this.sweep(), 1000).unref();
    setInterval(() => this.reportProgress(), 1000).unref();
  }

  // ------------------------------------------------------------------------------------------ connecting

  connect(command: ConnectCommand): void {
    this.disconnecting = false;
    const state: ConnectState = {
      command,
      startPerf: perfAt(command.startAt),
      queue: this.stations
        .filter((s) => s.status === Status.Offline || s.status === Status.Failed)
        .slice(0, command.limit)
        .reverse(),
      inFlight: 0,
      retryTimers: 0,
      failures: {},
      handshake: new Histogram(),
      boot: new Histogram(),
      toAccepted: new Histogram(),
      toReady: new Histogram(),
      retries: 0,
      attempted: 0,
      ready: 0,
      done: false,
    };
    for (const station of state.queue) {
      station.attempts = 0;
      station.status = Status.Offline;
    }
    state.attempted = state.queue.length;
    this.connectState = state;
    setTimeout(() => this.launch(), Math.max(0, state.startPerf - performance.now()));
  }

  private launch(): void {
    const state = this.connectState;
    if (state === undefined) return;
    while (state.inFlight < state.command.concurrency && state.queue.length > 0) {
      const station = state.queue.pop() as Station;
      state.inFlight++;
      this.open(station);
    }
    this.checkConnectDone();
  }

  private open(station: Station): void {
    const config = this.config;
    station.status = Status.Connecting;
    station.attempts++;
    station.attemptAt = performance.now();
    station.reportedEvses = 0;
    const ws: MiniWebSocket = new MiniWebSocket(
      {
        host: config.host,
        port: config.ports[station.node] as number,
        path: `/ocpp/${encodeURIComponent(station.id)}`,
        protocol: station.v16 ? 'ocpp1.6' : 'ocpp2.0.1',
        ...(station.authorization !== undefined ? { authorization: station.authorization } : {}),
        localAddress: station.localAddress,
        timeoutMs: config.handshakeTimeoutMs,
      },
      {
        onOpen: () => {
          station.openSocket = ws;
          this.connected++;
          if (station.ws === ws) this.onOpen(station);
        },
        onText: (text) => {
          if (station.ws === ws) this.onText(station, text);
        },
        onClose: (_code, error) => this.onClose(station, ws, error),
      },
    );
    station.ws = ws;
  }

  private onOpen(station: Station): void {
    this.connectState?.handshake.record((performance.now() - station.attemptAt) * 1000);
    station.status = Status.Booting;
    this.sendSetup(station, 'BootNotification', station.v16 ? msg.bootNotification16(station.id) : msg.bootNotification(station.id));
  }

  /**
   * A station that will not become ready this round. A broken connection is retried (a real station
   * reconnects with back-off); a boot answered other than Accepted is final, and the socket stays open.
   */
  private setupFailed(station: Station, reason: string, dropConnection: boolean): void {
    const state = this.connectState;
    station.pending = Pending.None;
    if (dropConnection) {
      const ws = station.ws;
      station.ws = undefined;
      ws?.destroy();
    }
    station.status = Status.Failed;
    if (station.lostAt > 0) {
      this.rejoinFailed(station, reason, dropConnection);
      return;
    }
    if (state === undefined || state.done) return;
    state.inFlight--;
    if (dropConnection && station.attempts <= state.command.retries) {
      state.retries++;
      state.retryTimers++;
      station.status = Status.Offline;
      setTimeout(
        () => {
          state.retryTimers--;
          state.queue.push(station);
          this.launch();
        },
        1000 + Math.random() * 1000,
      );
    } else {
      increment(state.failures, reason);
    }
    this.launch();
  }

  private becameReady(station: Station): void {
    station.status = Status.Ready;
    this.ready++;
    this.makeIdle(station);
    if (station.lostAt > 0) {
      this.failover.downtime.record((performance.now() - station.lostAt) * 1000);
      this.failover.rejoined++;
      this.failover.rejoining--;
      this.failover.lastRejoinAt = Date.now();
      station.lostAt = 0;
      return;
    }
    const state = this.connectState;
    if (state !== undefined && !state.done) {
      state.inFlight--;
      state.ready++;
      state.toReady.record((performance.now() - state.startPerf) * 1000);
      this.launch();
    }
  }

  private checkConnectDone(): void {
    const state = this.connectState;
    if (state === undefined || state.done) return;
    if (state.inFlight > 0 || state.queue.length > 0 || state.retryTimers > 0) return;
    state.done = true;
    const result: ConnectResult = {
      kind: 'connected',
      attempted: state.attempted,
      ready: state.ready,
      failures: state.failures,
      handshake: state.handshake.toJSON(),
      boot: state.boot.toJSON(),
      toAccepted: state.toAccepted.toJSON(),
      toReady: state.toReady.toJSON(),
      retries: state.retries,
    };
    send(result);
  }

  private onClose(station: Station, ws: MiniWebSocket, error: string | undefined): void {
    if (station.openSocket === ws) {
      station.openSocket = undefined;
      this.connected--;
    }
    if (station.ws !== ws) return; // an earlier connection of this station
    station.ws = undefined;
    switch (station.status) {
      case Status.Connecting:
      case Status.Booting:
      case Status.Reporting:
        this.setupFailed(station, error ?? 'closed by the CSMS', true);
        return;
      case Status.Ready:
        this.ready--;
        if (station.pending === Pending.Load && this.phase !== undefined) {
          increment(this.phase.errors, 'disconnected');
          this.phase.outstanding--;
        }
        station.pending = Pending.None;
        station.status = Status.Offline;
        if (!this.disconnecting) this.lost(station);
        return;
      default:
        station.status = Status.Offline;
    }
  }

  // ------------------------------------------------------------------------------------------ failover

  /** A ready station's connection broke (its node died, or the CSMS closed it): counted, and with failover on, it comes back. */
  private lost(station: Station): void {
    this.failover.lost++;
    const settings = this.config.failover;
    if (settings === undefined) return;
    this.failover.rejoining++;
    station.lostAt = performance.now();
    station.rejoinAttempts = 0;
    station.lostNode = station.node;
    // Spread over the other nodes: of the stations of one node, every (N-1)th goes to the same survivor.
    const nodes = this.config.ports.length;
    if (nodes > 1) station.node = (station.node + 1 + (Math.floor(station.index / nodes) % (nodes - 1))) % nodes;
    this.scheduleRejoin(station, settings);
  }

  /** The back-off before the next try: the minimum, doubled per failed try up to `doublings` times, plus the random part. */
  private scheduleRejoin(station: Station, settings: FailoverSettings): void {
    const delayMs = settings.backoffMs * 2 ** Math.min(station.rejoinAttempts, settings.doublings) + Math.random() * settings.randomMs;
    setTimeout(() => {
      if (station.lostAt === 0 || this.disconnecting || station.status !== Status.Offline) return;
      this.open(station);
    }, delayMs);
  }

  /** A try to come back failed: after the back-off, the next node (never the one it lost); a boot refused for good ends it. */
  private rejoinFailed(station: Station, reason: string, dropConnection: boolean): void {
    const settings = this.config.failover;
    station.rejoinAttempts++;
    if (settings !== undefined && dropConnection && !this.disconnecting) {
      this.failover.retries++;
      increment(this.failover.retryReasons, reason);
      station.status = Status.Offline;
      const nodes = this.config.ports.length;
      station.node = (station.node + 1) % nodes;
      if (station.node === station.lostNode && nodes > 1) station.node = (station.node + 1) % nodes;
      this.scheduleRejoin(station, settings);
      return;
    }
    this.failover.rejoining--;
    this.failover.failed++;
    increment(this.failover.failures, reason);
    station.lostAt = 0;
  }

  failoverStatus(): void {
    const readyByNode = this.config.ports.map(() => 0);
    for (const station of this.stations) if (station.status === Status.Ready) readyByNode[station.node] = (readyByNode[station.node] ?? 0) + 1;
    const f = this.failover;
    const status: FailoverStatus = {
      kind: 'failoverStatus',
      lost: f.lost,
      rejoined: f.rejoined,
      rejoining: f.rejoining,
      failed: f.failed,
      failures: { ...f.failures },
      retries: f.retries,
      retryReasons: { ...f.retryReasons },
      lastRejoinAt: f.lastRejoinAt,
      downtime: f.downtime.toJSON(),
      readyByNode,
    };
    send(status);
  }

  disconnect(): void {
    this.disconnecting = true;
    this.connectState = undefined;
    for (const station of this.stations) station.ws?.close(1000);
    this.idle.clear();
    for (const station of this.stations) station.queued = false;
    const deadline = performance.now() + 5000;
    const wait = (): void => {
      if (this.connected <= 0 || performance.now() > deadline) {
        send({ kind: 'disconnected' });
        return;
      }
      setTimeout(wait, 20);
    };
    wait();
  }

  /** Soak reconnect storm: see DropCommand. */
  drop(command: DropCommand): void {
    let dropped = 0;
    let abandoned = 0;
    for (const station of this.stations) {
      const offset = (((station.index - command.first) % command.total) + command.total) % command.total;
      if (offset >= command.count || station.status !== Status.Ready) continue;
      if (station.pending === Pending.Load && this.phase !== undefined) {
        this.phase.outstanding--;
        abandoned++;
      }
      station.pending = Pending.None;
      station.status = Status.Offline;
      this.ready--;
      const ws = station.ws;
      // Forgotten first: its close event then only updates the connection count.
      station.ws = undefined;
      ws?.destroy();
      dropped++;
    }
    this.abandoned += abandoned;
    send({ kind: 'dropped', dropped, abandoned });
  }

  /** Soak: the current window's figures; the window's histograms start again. */
  snapshot(): void {
    const phase = this.phase ?? this.lastPhase;
    const message: WindowSnapshot = {
      kind: 'snapshot',
      sent: phase?.sent ?? 0,
      answered: phase?.answered ?? 0,
      errors: { ...(phase?.errors ?? {}) },
      abandoned: this.abandoned,
      saturated: phase?.saturated ?? false,
      latency: this.windowLatency.toJSON(),
      sendLag: this.windowSendLag.toJSON(),
      connected: this.connected,
      ready: this.ready,
    };
    this.windowLatency = new HistogramSet();
    this.windowSendLag.reset();
    send(message);
  }

  // ------------------------------------------------------------------------------------------ frames

  private nextMessageId(): string {
    return this.idPrefix + (++this.messageCounter).toString(36);
  }

  private sendSetup(station: Station, action: string, payload: string): void {
    const messageId = this.nextMessageId();
    station.pending = Pending.Setup;
    station.pendingId = messageId;
    station.pendingAction = action;
    station.sentAt = performance.now();
    station.ws?.sendText(msg.call(messageId, action, payload));
  }

  private onText(station: Station, text: string): void {
    const type = text.charCodeAt(1);
    if (type === 51 /* 3 */ || type === 52 /* 4 */) {
      const end = text.indexOf('"', 4);
      const messageId = text.charCodeAt(3) === 34 && end > 0 ? text.slice(4, end) : String((JSON.parse(text) as unknown[])[1]);
      if (station.pending === Pending.None || messageId !== station.pendingId) return; // late: already timed out
      if (station.pending === Pending.Setup) this.onSetupAnswer(station, type === 51, text);
      else this.onLoadAnswer(station, type === 51, text);
      return;
    }
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (!Array.isArray(frame)) return;
    if (frame[0] === 2) {
      const [, messageId, action, payload] = frame as [number, string, string, Record<string, never>];
      if (this.phase !== undefined) increment(this.phase.csmsCalls, action);
      station.ws?.sendText(msg.answerCsmsCall(messageId, action, payload));
    } else if (frame[0] === 3 || frame[0] === 4) {
      // Unusual spacing in an answer: normalise and retry.
      const compact = JSON.stringify(frame);
      if (compact !== text) this.onText(station, compact);
    }
  }

  private onSetupAnswer(station: Station, ok: boolean, text: string): void {
    const state = this.connectState;
    const now = performance.now();
    station.pending = Pending.None;
    if (station.status === Status.Booting) {
      state?.boot.record((now - station.sentAt) * 1000);
      if (!ok) {
        this.setupFailed(station, `BootNotification CALLERROR ${errorCode(text)}`, true);
        return;
      }
      const status = /"status":"(\w+)"/.exec(text)?.[1] ?? 'unknown';
      if (status !== 'Accepted') {
        this.setupFailed(station, `boot ${status}`, false);
        return;
      }
      if (state !== undefined && !state.done) state.toAccepted.record((now - state.startPerf) * 1000);
      station.status = Status.Reporting;
    } else if (!ok) {
      this.setupFailed(station, `StatusNotification CALLERROR ${errorCode(text)}`, true);
      return;
    }
    if (station.reportedEvses < this.config.evses) {
      station.reportedEvses++;
      const now = new Date().toISOString();
      this.sendSetup(
        station,
        'StatusNotification',
        station.v16 ? msg.statusNotification16(station.reportedEvses, 'Available', now) : msg.statusNotification(station.reportedEvses, 'Available', now),
      );
      return;
    }
    this.becameReady(station);
  }

  // ------------------------------------------------------------------------------------------ load

  private makeIdle(station: Station): void {
    if (station.queued) return;
    station.queued = true;
    this.idle.push(station.index - this.config.firstStation);
  }

  /** The next ready station with nothing outstanding, or undefined. */
  private takeIdle(): Station | undefined {
    while (this.idle.size > 0) {
      const station = this.stations[this.idle.shift()] as Station;
      station.queued = false;
      if (station.status === Status.Ready && station.pending === Pending.None) return station;
    }
    return undefined;
  }

  runPhase(command: PhaseCommand): void {
    const startPerf = perfAt(command.startAt);
    const phase: PhaseState = {
      command,
      script: MIXES[command.mix],
      startPerf,
      endPerf: startPerf + command.durationMs,
      intervalMs: command.rate > 0 ? 1000 / command.rate : Number.POSITIVE_INFINITY,
      due: 0,
      backlog: new NumberQueue(),
      running: true,
      outstanding: 0,
      ...emptyPhaseCounters(),
      latency: new HistogramSet(),
      latencyByVersion: new HistogramSet(),
      sendLag: new Histogram(),
      timer: undefined,
    };
    // Stations start at different points of the script, so the mix holds over any stretch of the phase.
    for (const station of this.stations) if (station.transactionId === '') station.cycle = station.index % phase.script.length;
    this.phase = phase;
    this.lastPhase = phase;
    const begin = (): void => {
      if (command.mode === 'closed') {
        for (let i = 0; i < command.concurrency; i++) if (!this.dispatch(phase, performance.now())) break;
        phase.timer = setTimeout(() => this.endPhase(phase), Math.max(0, phase.endPerf - performance.now()));
      } else {
        this.tick(phase);
      }
    };
    phase.timer = setTimeout(begin, Math.max(0, startPerf - performance.now()));
  }

  private tick(phase: PhaseState): void {
    if (!phase.running) return;
    const now = performance.now();
    const limit = Math.min(now, phase.endPerf);
    // A worker with no share of the rate (or no stations) just waits for the end.
    while (Number.isFinite(phase.intervalMs)) {
      const intended = phase.startPerf + phase.due * phase.intervalMs;
      if (intended > limit) break;
      phase.due++;
      phase.backlog.push(intended);
    }
    while (phase.backlog.size > 0) {
      const station = this.takeIdle();
      if (station === undefined) break;
      this.sendLoad(phase, station, phase.backlog.shift(), now);
    }
    // More than 5 s of due messages waiting: the CSMS is not keeping up; nothing more to learn here.
    if (phase.backlog.size > Math.max(1000, phase.command.rate * 5)) {
      phase.saturated = true;
      this.endPhase(phase);
      return;
    }
    if (now >= phase.endPerf) {
      this.endPhase(phase);
      return;
    }
    const next = Number.isFinite(phase.intervalMs) ? phase.startPerf + phase.due * phase.intervalMs : phase.endPerf;
    phase.timer = setTimeout(() => this.tick(phase), Math.max(0, Math.min(next, phase.endPerf) - performance.now()));
  }

  /** Closed loop (and open-loop backlog): one more message now, if a station is free. */
  private dispatch(phase: PhaseState, intended: number): boolean {
    const station = this.takeIdle();
    if (station === undefined) return false;
    this.sendLoad(phase, station, intended, performance.now());
    return true;
  }

  private sendLoad(phase: PhaseState, station: Station, intended: number, now: number): void {
    const script = phase.script;
    let step = script[station.cycle % script.length] as Step;
    station.cycle++;
    if ((step === 'TxUpdated' || step === 'TxEnded') && station.transactionId === '') step = 'TxStarted';
    const iso = new Date().toISOString();
    let payload: string;
    if (station.v16) {
      this.sendLoad16(phase, station, step, intended, now, iso);
      return;
    }
    switch (step) {
      case 'Heartbeat':
        payload = '{}';
        break;
      case 'StatusOccupied':
        payload = msg.statusNotification(1, 'Occupied', iso);
        break;
      case 'StatusAvailable':
        payload = msg.statusNotification(1, 'Available', iso);
        break;
      case 'Authorize':
        payload = msg.authorize(this.tokenFor(station, phase.command.mix === 'authorize'));
        break;
      case 'TxStarted':
        station.sessions++;
        station.transactionId = `${station.id}-${station.sessions}`;
        station.seqNo = 0;
        station.wh += 100;
        payload = msg.transactionStarted(station.transactionId, this.tokenFor(station, false), 1, station.wh, iso);
        break;
      case 'TxUpdated':
        station.wh += 250;
        payload = msg.transactionUpdated(station.transactionId, ++station.seqNo, station.wh, iso);
        break;
      case 'TxEnded':
        station.wh += 100;
        payload = msg.transactionEnded(station.transactionId, ++station.seqNo, this.tokenFor(station, false), station.wh, iso);
        station.transactionId = '';
        break;
      case 'MeterValues':
        payload = msg.meterValues(station.wh + 1_000_000, iso);
        break;
    }
    this.sendLoadCall(phase, station, STEP_ACTION[step], payload, intended, now);
  }

  /** The same step in 1.6 words; the transactionId comes from the StartTransaction answer (onLoadAnswer). */
  private sendLoad16(phase: PhaseState, station: Station, step: Step, intended: number, now: number, iso: string): void {
    let payload: string;
    switch (step) {
      case 'Heartbeat':
        payload = '{}';
        break;
      case 'StatusOccupied':
        payload = msg.statusNotification16(1, 'Preparing', iso);
        break;
      case 'StatusAvailable':
        payload = msg.statusNotification16(1, 'Available', iso);
        break;
      case 'Authorize':
        payload = msg.authorize16(this.tokenFor(station, phase.command.mix === 'authorize'));
        break;
      case 'TxStarted':
        station.sessions++;
        station.wh += 100;
        payload = msg.startTransaction16(this.tokenFor(station, false), 1, station.wh, iso);
        break;
      case 'TxUpdated':
        station.wh += 250;
        payload = msg.transactionMeterValues16(station.transactionId, 1, station.wh, iso);
        break;
      case 'TxEnded':
        station.wh += 100;
        payload = msg.stopTransaction16(station.transactionId, this.tokenFor(station, false), station.wh, iso);
        station.transactionId = '';
        break;
      case 'MeterValues':
        payload = msg.meterValues16(station.wh + 1_000_000, iso);
        break;
    }
    this.sendLoadCall(phase, station, STEP_ACTION_16[step], payload, intended, now);
  }

  private sendLoadCall(phase: PhaseState, station: Station, action: string, payload: string, intended: number, now: number): void {
    const messageId = this.nextMessageId();
    station.pending = Pending.Load;
    station.pendingId = messageId;
    station.pendingAction = action;
    station.intendedAt = intended;
    station.sentAt = now;
    phase.outstanding++;
    phase.sent++;
    phase.sendLag.record((now - intended) * 1000);
    this.windowSendLag.record((now - intended) * 1000);
    station.ws?.sendText(msg.call(messageId, action, payload));
  }

  /** A driver's card: from all tokens (Authorize-heavy runs meet Blocked and unknown cards too) or an Accepted one. */
  private tokenFor(station: Station, anyStatus: boolean): string {
    const count = Math.max(1, this.config.tokenCount);
    if (anyStatus) {
      station.tokenCursor++;
      return tokenId((station.index * 7919 + station.tokenCursor) % count);
    }
    const accepted = Math.max(1, Math.floor((count * 18) / 20));
    return tokenId(acceptedTokenIndex((station.index * 31 + station.sessions) % accepted));
  }

  private onLoadAnswer(station: Station, ok: boolean, text: string): void {
    const now = performance.now();
    station.pending = Pending.None;
    const phase = this.phase;
    if (phase === undefined) {
      this.makeIdle(station);
      return;
    }
    phase.outstanding--;
    phase.answered++;
    const micros = (now - station.intendedAt) * 1000;
    phase.latency.get(station.pendingAction).record(micros);
    phase.latencyByVersion.get(station.v16 ? '1.6' : '2.0.1').record(micros);
    if (ok && station.pendingAction === 'StartTransaction') station.transactionId = /"transactionId":(\d+)/.exec(text)?.[1] ?? '';
    this.windowLatency.get(station.pendingAction).record(micros);
    this.recent.record(micros);
    if (!ok) increment(phase.errors, errorCode(text));
    else if (station.pendingAction === 'Authorize') increment(phase.authorizeStatus, /"status":"(\w+)"/.exec(text)?.[1] ?? 'unknown');
    this.makeIdle(station);
    if (!phase.running) return;
    if (phase.command.mode === 'closed') {
      if (now < phase.endPerf) this.dispatch(phase, now);
    } else if (phase.backlog.size > 0) {
      const next = this.takeIdle();
      if (next !== undefined) this.sendLoad(phase, next, phase.backlog.shift(), now);
    }
  }

  private endPhase(phase: PhaseState): void {
    if (!phase.running) return;
    phase.running = false;
    if (phase.timer !== undefined) clearTimeout(phase.timer);
    if (phase.backlog.size > 0) increment(phase.errors, 'unsent', phase.backlog.size);
    phase.backlog.clear();
    const drainUntil = performance.now() + phase.command.drainMs;
    const finish = (): void => {
      if (phase.outstanding > 0 && performance.now() < drainUntil) {
        setTimeout(finish, 10);
        return;
      }
      if (phase.outstanding > 0) {
        for (const station of this.stations) {
          if (station.pending !== Pending.Load) continue;
          station.pending = Pending.None;
          increment(phase.errors, 'timeout');
          this.makeIdle(station);
        }
        phase.outstanding = 0;
      }
      const result: PhaseResult = {
        kind: 'phaseDone',
        sent: phase.sent,
        answered: phase.answered,
        errors: phase.errors,
        latency: phase.latency.toJSON(),
        latencyByVersion: phase.latencyByVersion.toJSON(),
        sendLag: phase.sendLag.toJSON(),
        authorizeStatus: phase.authorizeStatus,
        csmsCalls: phase.csmsCalls,
        elapsedMs: Math.max(0, Math.min(performance.now(), phase.endPerf) - phase.startPerf),
        saturated: phase.saturated,
      };
      this.progressSent += phase.sent;
      this.progressAnswered += phase.answered;
      for (const count of Object.values(phase.errors)) this.progressErrors += count;
      this.phase = undefined;
      send(result);
    };
    finish();
  }

  // ------------------------------------------------------------------------------------------ housekeeping

  /** CALLs unanswered for longer than callTimeoutMs. */
  private sweep(): void {
    const limit = performance.now() - this.config.callTimeoutMs;
    for (const station of this.stations) {
      if (station.pending === Pending.None || station.sentAt > limit) continue;
      if (station.pending === Pending.Setup) {
        this.setupFailed(station, `${station.pendingAction} timeout`, true);
      } else {
        station.pending = Pending.None;
        if (this.phase !== undefined) {
          increment(this.phase.errors, 'timeout');
          this.phase.outstanding--;
        }
        this.makeIdle(station);
      }
    }
  }

  private reportProgress(): void {
    const phase = this.phase;
    let errors = 0;
    if (phase !== undefined) for (const count of Object.values(phase.errors)) errors += count;
    const progress: Progress = {
      kind: 'progress',
      connected: this.connected,
      ready: this.ready,
      sent: this.progressSent + (phase?.sent ?? 0),
      answered: this.progressAnswered + (phase?.answered ?? 0),
      errors: this.progressErrors + errors,
      outstanding: phase?.outstanding ?? 0,
      backlog: phase?.backlog.size ?? 0,
      recent: this.recent.toJSON(),
    };
    this.recent.reset();
    send(progress);
  }
}

function errorCode(text: string): string {
  try {
    const frame = JSON.parse(text) as unknown[];
    return typeof frame[2] === 'string' ? frame[2] : 'CALLERROR';
  } catch {
    return 'CALLERROR';
  }
}

let worker: GeneratorWorker | undefined;

process.on('message', (message: CoordinatorMessage) => {
  try {
    switch (message.kind) {
      case 'init':
        worker = new GeneratorWorker(message.config);
        send({ kind: 'ready' });
        return;
      case 'connect':
        worker?.connect(message);
        return;
      case 'phase':
        worker?.runPhase(message);
        return;
      case 'disconnect':
        worker?.disconnect();
        return;
      case 'snapshot':
        worker?.snapshot();
        return;
      case 'drop':
        worker?.drop(message);
        return;
      case 'failoverStatus':
        worker?.failoverStatus();
        return;
      case 'exit':
        process.exit(0);
    }
  } catch (err) {
    send({ kind: 'fatal', message: (err as Error).stack ?? String(err) });
  }
});

// The coordinator went away: nothing left to do.
process.on('disconnect', () => process.exit(0));
