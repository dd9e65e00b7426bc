import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * CONTRACT.md §5. Labels are bounded sets (action, status, code, outcome): never a station id, which
 * would make one scrape cost megabytes at fleet size.
 */

// 100 µs … 60 s: the certification limit is 60 s, our answers are sub-millisecond.
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

type LabelValues = Record<string, string>;

/** prom-client hashes label objects on every observe; caching the bound child keeps the hot path flat. */
class ChildCache<T> {
  private readonly children = new Map<string, T>();
  constructor(private readonly bind: (key: string) => T) {}
  get(key: string): T {
    let child = this.children.get(key);
    if (child === undefined) {
      child = this.bind(key);
      this.children.set(key, child);
    }
    return child;
  }
}

export class CsmsMetrics {
  readonly registry = new Registry();
  readonly connectedStations: Gauge;
  /** The same stations by the OCPP version their connection negotiated (a mixed fleet's split; never per station). */
  readonly connectedStationsByVersion: Gauge<'version'>;
  readonly ocppResponseSeconds: Histogram;
  readonly authorizeResponseSeconds: Histogram;
  readonly outboundCallSeconds: Histogram;
  readonly messagesTotal: Counter;
  readonly rpcErrorsTotal: Counter;
  readonly connectionsTotal: Counter;
  readonly authThrottledTotal: Counter;
  readonly passwordChecksTotal: Counter;
  readonly bootsTotal: Counter;
  readonly storeCommitSeconds: Histogram;
  readonly storeBatchSize: Histogram;
  readonly storeBatchesRewritten: Counter;
  readonly commandsTotal: Counter;
  readonly budgetRefusals: Counter;
  readonly retentionDeletedRows: Counter;
  readonly storeUp: Gauge;
  /** CONTRACT §5: NotifyEvent alerts of monitors by the monitor's severity (0-9); never a station label. */
  readonly monitorAlertsTotal: Counter<'severity'>;

  private readonly responseByAction: ChildCache<Histogram>;
  private readonly messagesIn: ChildCache<Counter>;
  private readonly messagesOut: ChildCache<Counter>;

  constructor(defaultLabels: LabelValues = {}) {
    this.registry.setDefaultLabels(defaultLabels);
    collectDefaultMetrics({ register: this.registry, prefix: '' });
    const registers = [this.registry];
    this.connectedStations = new Gauge({ name: 'csms_connected_stations', help: 'Stations with an open socket on this node', registers });
    this.connectedStationsByVersion = new Gauge({
      name: 'csms_connected_stations_by_version',
      help: 'Stations with an open socket on this node, by the OCPP version they negotiated',
      labelNames: ['version'],
      registers,
    });
    this.ocppResponseSeconds = new Histogram({
      name: 'csms_ocpp_response_seconds',
      help: 'Station CALL received to CSMS answer written, every action except Authorize',
      labelNames: ['action'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.authorizeResponseSeconds = new Histogram({
      name: 'csms_authorize_response_seconds',
      help: 'Authorize received to answer written, by idTokenInfo.status',
      labelNames: ['status'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.outboundCallSeconds = new Histogram({
      name: 'csms_outbound_call_seconds',
      help: 'CSMS CALL sent to station answer received',
      labelNames: ['action', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.messagesTotal = new Counter({
      name: 'csms_messages_total',
      help: 'OCPP frames in and out',
      labelNames: ['direction', 'type', 'action'],
      registers,
    });
    this.rpcErrorsTotal = new Counter({ name: 'csms_rpc_errors_total', help: 'CALLERRORs sent, by OCPP error code', labelNames: ['code'], registers });
    this.connectionsTotal = new Counter({
      name: 'csms_connections_total',
      help: 'WebSocket upgrade attempts by result (accepted, unauthorized, unknown_station, bad_request, replaced)',
      labelNames: ['result'],
      registers,
    });
    this.authThrottledTotal = new Counter({
      name: 'csms_auth_throttled_total',
      help: 'Cool-downs started by unproven password attempts, by scope (identity_address, address)',
      labelNames: ['scope'],
      registers,
    });
    this.passwordChecksTotal = new Counter({
      name: 'csms_password_checks_total',
      help: 'Station passwords checked with scrypt (cache hits and throttled attempts excluded), by outcome',
      labelNames: ['outcome'],
      registers,
    });
    this.bootsTotal = new Counter({ name: 'csms_boots_total', help: 'BootNotifications answered, by status', labelNames: ['status'], registers });
    this.storeCommitSeconds = new Histogram({
      name: 'csms_store_commit_seconds',
      help: 'Duration of one group commit',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.storeBatchSize = new Histogram({
      name: 'csms_store_batch_size',
      help: 'Writes per group commit',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000],
      registers,
    });
    this.storeBatchesRewritten = new Counter({
      name: 'csms_store_batches_rewritten_total',
      help: 'Group commits written again statement by statement (a resent TransactionEvent, a deleted station, a failed round trip)',
      registers,
    });
    this.commandsTotal = new Counter({
      name: 'csms_commands_total',
      help: 'Operator commands by action and HTTP outcome',
      labelNames: ['action', 'outcome'],
      registers,
    });
    this.storeUp = new Gauge({ name: 'csms_store_up', help: '1 while the store takes writes, 0 while degraded (unreachable, stalled or disk low)', registers });
    this.storeUp.set(1);

    this.budgetRefusals = new Counter({
      name: 'csms_station_budget_refusals_total',
      help: 'Station traffic refused or dropped over a per-station budget (bytes, queued_calls, report_parts, report_requests, bytes_closed)',
      labelNames: ['budget'],
      registers,
    });
    this.retentionDeletedRows = new Counter({
      name: 'csms_retention_deleted_rows_total',
      help: 'Rows deleted because they outlived CSMS_RETENTION_DAYS, by table',
      labelNames: ['table'],
      registers,
    });

    this.monitorAlertsTotal = new Counter({
      name: 'csms_monitor_alerts_total',
      help: "NotifyEvent alerts of monitors (trigger Alerting or Delta, not cleared), by the monitor's severity (0-9; unknown when the monitor is not known)",
      labelNames: ['severity'],
      registers,
    });
    // Every severity is exported from the start (at 0), so rate() and the alert rule see an increase from the first alert.
    for (let severity = 0; severity <= 9; severity++) this.monitorAlertsTotal.labels(String(severity)).inc(0);

    this.responseByAction = new ChildCache((action) => this.ocppResponseSeconds.labels(action) as unknown as Histogram);
    this.messagesIn = new ChildCache((key) => this.messagesTotal.labels(...(['in', ...key.split('|')] as [string, string, string])) as unknown as Counter);
    this.messagesOut = new ChildCache((key) => this.messagesTotal.labels(...(['out', ...key.split('|')] as [string, string, string])) as unknown as Counter);
  }

  observeResponse(action: string, seconds: number): void {
    this.responseByAction.get(action).observe(seconds);
  }

  /** `type` is CALL, CALLRESULT or CALLERROR; `action` is the action the frame belongs to ("" when unknown). */
  countIn(type: string, action: string): void {
    this.messagesIn.get(`${type}|${action}`).inc();
  }

  countOut(type: string, action: string): void {
    this.messagesOut.get(`${type}|${action}`).inc();
  }

  async render(): Promise<string> {
    return this.registry.metrics();
  }
}
