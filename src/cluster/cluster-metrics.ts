import { Counter, Gauge, Histogram } from 'prom-client';
import type { CsmsMetrics } from '../metrics.js';

/** Routing overhead is sub-millisecond on loopback; the buckets still reach the 60 s command limit. */
const ROUTING_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Cluster-mode metrics, registered on the node's registry next to CONTRACT §5's. */
export class ClusterMetrics {
  /** Command published → reply received, minus the time the owner spent on the station: the cost of the hop. */
  readonly routingSeconds: Histogram;
  /** Commands sent to another node, by outcome (result, callError, timeout, notConnected, refused, unavailable). */
  readonly routedCommands: Counter;
  /** A newer connection on this node took a station's presence from a session on another node. */
  readonly presenceTakeovers: Counter;
  /** 1 while both Redis connections are ready. Aggregated over workers by minimum: 1 means every worker is up. */
  readonly redisUp: Gauge;
  /** Routing messages received and dropped: malformed, stale (past their deadline), unknown (reply nobody waits for), foreign. */
  readonly droppedMessages: Counter;
  /** Commands this node ran for another node. */
  readonly servedCommands: Counter;
  /** Presence re-registered after the Redis connection came back (not the first connect). */
  readonly presenceRebuilds: Counter;

  constructor(metrics: CsmsMetrics) {
    const registers = [metrics.registry];
    this.routingSeconds = new Histogram({
      name: 'csms_routing_seconds',
      help: 'Cross-node command routing overhead: round trip through Redis minus the time the owning node spent on the station',
      buckets: ROUTING_BUCKETS,
      registers,
    });
    this.routedCommands = new Counter({
      name: 'csms_routed_commands_total',
      help: 'Operator commands sent to the node holding the station, by outcome',
      labelNames: ['outcome'],
      registers,
    });
    this.presenceTakeovers = new Counter({
      name: 'csms_presence_takeovers_total',
      help: 'Stations whose presence a newer connection on this node took from a session on another node',
      registers,
    });
    this.redisUp = new Gauge({
      name: 'csms_redis_up',
      help: '1 while this node is connected to Redis (commands and subscriber)',
      registers,
      aggregator: 'min',
    });
    this.droppedMessages = new Counter({
      name: 'csms_routing_dropped_messages_total',
      help: 'Routing messages received and ignored, by reason (malformed, stale, unknown, foreign)',
      labelNames: ['reason'],
      registers,
    });
    this.servedCommands = new Counter({
      name: 'csms_routing_served_commands_total',
      help: 'Commands this node ran for another node, by outcome',
      labelNames: ['outcome'],
      registers,
    });
    this.presenceRebuilds = new Counter({
      name: 'csms_presence_rebuilds_total',
      help: "Times this node re-registered its stations' presence after its Redis connection came back",
      registers,
    });
  }
}
