import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Clock } from '../clock.js';
import { SampledLog, type Logger } from '../log.js';
import type { CsmsMetrics } from '../metrics.js';
import type { SessionRegistry } from '../station/registry.js';
import { ClusterMetrics } from './cluster-metrics.js';
import type { CallOrigin } from '../operators/call-origin.js';
import { executeLocally, type CommandOutcome, type CommandRouter, type DecisionChannel, type StationLocation } from './command-router.js';
import { Presence, RedisKeys, definePresenceScripts, type PresenceEntry, type PresenceValue } from './presence.js';
import { connectionNameFor, createRedisPair, parseRedisEndpoint, type RedisClient, type RedisPair } from './redis-connection.js';
import { ROUTING_VERSION, RoutingMessageCodec, type CommandMessage, type Decision, type RoutingMessage } from './routing-messages.js';
import type { JsonObject } from '../json.js';

export interface RedisRouterOptions {
  /** `REDIS_URL`: one URL, or several comma-separated seeds of a Redis Cluster. */
  redisUrl: string;
  /** Redis Cluster even with a single seed URL (`CSMS_REDIS_CLUSTER=1`). */
  cluster?: boolean;
  /** Prefix of every key and channel (`CSMS_REDIS_PREFIX`, default `stroom:`): several deployments, or tests, share a Redis. */
  prefix?: string;
  nodeId: string;
  registry: SessionRegistry;
  clock: Clock;
  log: Logger;
  metrics: CsmsMetrics;
  /** Presence TTL; refreshed every ttl / 3. At most 15 s (a dead node's stations are free again within it). */
  presenceTtlMs?: number;
  /** How long `connect` waits for Redis before starting anyway (and connecting in the background). */
  connectTimeoutMs?: number;
  /** Routed commands this node waits for, and runs for others, at most at once; beyond: `unavailable`. */
  maxInFlight?: number;
}

export const DEFAULT_REDIS_PREFIX = 'stroom:';
export const DEFAULT_PRESENCE_TTL_MS = 15_000;
/** A reply may arrive this long after the command's deadline and still be worth delivering (clock skew). */
const REPLY_GRACE_MS = 5_000;
/** Takeover and disconnect messages are worth acting on for this long. */
const NOTICE_TTL_MS = 15_000;
/** Normal close (RFC 6455) for an operator-removed station, as the local router does. */
const CLOSE_NORMAL = 1000;

interface PendingRequest {
  resolve: (outcome: CommandOutcome, executionMs: number) => void;
  timer: NodeJS.Timeout;
}

/**
 * Cluster mode (CONTRACT §6) over Redis: presence (`station → node`, see presence.ts) and command routing over
 * pub/sub. Each node listens on its own channel. A command for a station held elsewhere is published to the
 * holder's channel with this node's channel to reply to; the holder runs it through the station's own actor
 * (`executeLocally`, so the one-call-in-flight rule and the queue hold cluster-wide) and publishes the outcome
 * back. No reply by the deadline → timeout; Redis unreachable, or nobody listening on the holder's channel →
 * unavailable at once.
 */
export class RedisCommandRouter implements CommandRouter, DecisionChannel {
  readonly nodeId: string;
  private readonly keys: RedisKeys;
  private readonly channel: string;
  /** Every node listens here for operator decisions (id tokens…) made through another node's API. */
  private readonly decisionsChannel: string;
  private readonly decisionListeners: ((decision: Decision) => void)[] = [];
  private readonly resyncListeners: (() => void)[] = [];
  private readonly codec = new RoutingMessageCodec();
  private readonly clusterMetrics: ClusterMetrics;
  private readonly presence: Presence;
  private readonly pending = new Map<string, PendingRequest>();
  private readonly throttled: SampledLog;
  private readonly log: Logger;
  private readonly maxInFlight: number;
  private serving = 0;
  private sharded = true;
  private subscribed = false;
  private subscribing: Promise<void> | undefined;
  private closed = false;
  private wasUp = false;

  private constructor(
    private readonly redis: RedisPair,
    private readonly options: RedisRouterOptions,
  ) {
    this.nodeId = options.nodeId;
    this.log = options.log.child({ component: 'cluster' });
    this.throttled = new SampledLog(this.log);
    this.keys = new RedisKeys(options.prefix ?? DEFAULT_REDIS_PREFIX);
    this.channel = this.keys.nodeChannel(this.nodeId);
    this.decisionsChannel = this.keys.decisionsChannel();
    this.clusterMetrics = new ClusterMetrics(options.metrics);
    this.maxInFlight = options.maxInFlight ?? 10_000;
    const ttlMs = Math.min(options.presenceTtlMs ?? DEFAULT_PRESENCE_TTL_MS, DEFAULT_PRESENCE_TTL_MS);
    definePresenceScripts(redis.commands);
    this.presence = new Presence({
      redis: redis.commands,
      keys: this.keys,
      nodeId: this.nodeId,
      clock: options.clock,
      log: this.log,
      ttlMs,
      isUp: () => this.commandsReady(),
      events: {
        tookOver: (entry, previous) => this.onTookOver(entry, previous),
        lost: (entry, holder) => this.onLost(entry, holder),
      },
    });
  }

  /**
   * Connects to Redis and starts presence. Waits up to `connectTimeoutMs` for Redis; when it is not there the
   * node starts anyway, serves the stations it holds, answers cross-node commands `unavailable`, and registers
   * its stations once Redis answers.
   */
  static async connect(options: RedisRouterOptions): Promise<RedisCommandRouter> {
    const endpoint = parseRedisEndpoint(options.redisUrl, options.cluster === true ? '1' : undefined);
    const pair = createRedisPair(endpoint, connectionNameFor(options.nodeId));
    const router = new RedisCommandRouter(pair, options);
    await router.start(options.connectTimeoutMs ?? 3000);
    return router;
  }

  // ------------------------------------------------------------------------------------------ lifecycle

  private async start(connectTimeoutMs: number): Promise<void> {
    const { commands, subscriber } = this.redis;
    for (const [name, client] of [
      ['commands', commands],
      ['subscriber', subscriber],
    ] as const) {
      client.on('error', (err: Error) => this.throttled.warn(`redis-error-${name}`, { err: err.message, connection: name }, 'Redis connection error'));
      client.on('ready', () => this.onConnectionChange());
      client.on('close', () => this.onConnectionChange());
      client.on('end', () => this.onConnectionChange());
    }
    subscriber.on('smessage', (channel: string, message: string) => this.onMessage(channel, message));
    subscriber.on('message', (channel: string, message: string) => this.onMessage(channel, message));
    // ioredis resubscribes by itself after a reconnect; only a subscription that never succeeded is retried here.
    subscriber.on('ready', () => void this.ensureSubscribed());
    // Re-register every local station whenever the command connection is (again) ready; after the first time
    // that is a rebuild (CONTRACT §6: presence rebuilt when Redis is back).
    let connectedBefore = false;
    commands.on('ready', () => {
      const rebuild = connectedBefore;
      connectedBefore = true;
      void this.presence.beat();
      void this.presence.refreshAll().then(() => {
        if (rebuild) this.clusterMetrics.presenceRebuilds.inc();
      });
    });

    this.options.registry.onChange((stationId, session) => {
      if (session !== undefined) this.presence.track(stationId, session);
      else this.presence.untrack(stationId);
    });
    for (const stationId of [...this.options.registry.ids()]) {
      const session = this.options.registry.get(stationId);
      if (session !== undefined) this.presence.track(stationId, session);
    }
    this.presence.start();
    this.clusterMetrics.redisUp.set(0);

    const ready = await withTimeout(Promise.all([whenReady(commands), this.ensureSubscribed()]), connectTimeoutMs);
    if (!ready) this.log.error({ timeoutMs: connectTimeoutMs }, 'Redis did not answer in time; serving local stations only until it does');
    this.log.info({ channel: this.channel, cluster: this.redis.cluster, sharded: this.sharded, redisUp: this.isUp() }, 'cluster routing started');
  }

  /** SSUBSCRIBE where the server has sharded pub/sub (Redis 7), SUBSCRIBE otherwise. Never rejects. */
  private ensureSubscribed(): Promise<void> {
    if (this.subscribed || this.closed) return Promise.resolve();
    return (this.subscribing ??= this.subscribeOnce().finally(() => {
      this.subscribing = undefined;
    }));
  }

  private async subscribeOnce(): Promise<void> {
    try {
      try {
        await this.redis.subscriber.ssubscribe(this.channel);
        await this.redis.subscriber.ssubscribe(this.decisionsChannel);
        this.sharded = true;
      } catch (err) {
        if (this.redis.cluster || !/unknown command/i.test(errorText(err))) throw err;
        await this.redis.subscriber.subscribe(this.channel, this.decisionsChannel);
        this.sharded = false;
      }
      this.subscribed = true;
      this.onConnectionChange();
    } catch (err) {
      this.throttled.warn('subscribe', { err: errorText(err), channel: this.channel }, "cannot subscribe to this node's channel; retried on reconnect");
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.presence.stop();
    for (const request of [...this.pending.values()]) request.resolve({ kind: 'unavailable', reason: 'this node is shutting down' }, 0);
    // Sessions closed just before this (shutdown) released their keys: let those releases reach Redis.
    await this.presence.settle(1000);
    await this.presence.retire();
    await Promise.all([quit(this.redis.commands), quit(this.redis.subscriber)]);
    this.clusterMetrics.redisUp.set(0);
  }

  private commandsReady(): boolean {
    return !this.closed && this.redis.commands.status === 'ready';
  }

  private isUp(): boolean {
    return this.commandsReady() && this.subscribed && this.redis.subscriber.status === 'ready';
  }

  private onConnectionChange(): void {
    const up = this.isUp();
    this.clusterMetrics.redisUp.set(up ? 1 : 0);
    if (up === this.wasUp || this.closed) return;
    this.wasUp = up;
    // Decisions announced while this node could not hear them are unknown: every cached one is dropped.
    if (up) for (const listener of this.resyncListeners) listener();
    if (up) this.log.info({ stations: this.presence.size }, 'Redis connected; presence registered');
    else this.log.warn({ stations: this.presence.size }, 'Redis connection lost; serving local stations, cross-node commands unavailable');
  }

  // ------------------------------------------------------------------------------------------ decisions

  get reliable(): boolean {
    return this.isUp();
  }

  announce(decision: Decision): void {
    for (const listener of this.decisionListeners) listener(decision);
    if (!this.isUp()) return; // other nodes fall back to their caches' TTL while Redis is down
    this.publish(this.decisionsChannel, { v: ROUTING_VERSION, type: 'decision', from: this.nodeId, decision, deadline: this.options.clock.now() + NOTICE_TTL_MS }).catch(
      (err: unknown) => this.throttled.warn('decision', { err: errorText(err) }, 'could not announce a decision; other nodes see it when their caches expire'),
    );
  }

  onDecision(listener: (decision: Decision) => void): void {
    this.decisionListeners.push(listener);
  }

  onResync(listener: () => void): void {
    this.resyncListeners.push(listener);
  }

  // ------------------------------------------------------------------------------------------ CommandRouter

  async locate(stationId: string): Promise<StationLocation> {
    if (this.options.registry.get(stationId) !== undefined) return { connected: true, nodeId: this.nodeId };
    if (!this.commandsReady()) return { connected: false, nodeId: undefined };
    try {
      const holder = await this.presence.lookup(stationId);
      return holder === undefined || holder.nodeId === this.nodeId ? { connected: false, nodeId: undefined } : { connected: true, nodeId: holder.nodeId };
    } catch (err) {
      this.throttled.warn('locate', { err: errorText(err) }, 'presence lookup failed');
      return { connected: false, nodeId: undefined };
    }
  }

  async send(stationId: string, action: string, payload: JsonObject, deadline: number, origin: CallOrigin): Promise<CommandOutcome> {
    const { registry, clock } = this.options;
    if (registry.get(stationId) !== undefined) return executeLocally(registry, stationId, action, payload, deadline, origin);
    const first = await this.sendRemote(stationId, action, payload, deadline, origin);
    // The holder no longer had it: the station moved (reconnected elsewhere) between lookup and delivery.
    if (first.routed && first.outcome.kind === 'notConnected' && clock.now() < deadline) {
      return (await this.sendRemote(stationId, action, payload, deadline, origin)).outcome;
    }
    return first.outcome;
  }

  /** `routed`: the command went to another node (rather than failing before, or running here). */
  private async sendRemote(
    stationId: string,
    action: string,
    payload: JsonObject,
    deadline: number,
    origin: CallOrigin,
  ): Promise<{ outcome: CommandOutcome; routed: boolean }> {
    const { registry } = this.options;
    if (!this.isUp()) {
      return { outcome: this.count({ kind: 'unavailable', reason: 'Redis is unreachable: stations on other nodes cannot be reached' }), routed: false };
    }
    let holder: PresenceValue | undefined;
    try {
      holder = await this.presence.lookup(stationId);
    } catch (err) {
      return { outcome: this.count({ kind: 'unavailable', reason: `presence lookup failed: ${errorText(err)}` }), routed: false };
    }
    if (holder === undefined || holder.nodeId === this.nodeId) {
      // Per Redis it may still be ours for a moment after it closed; the registry is the truth for this node.
      const outcome: CommandOutcome =
        registry.get(stationId) !== undefined
          ? await executeLocally(registry, stationId, action, payload, deadline, origin)
          : { kind: 'notConnected', reason: `station ${stationId} is not connected` };
      return { outcome, routed: false };
    }
    const started = performance.now();
    const answer = await this.request(holder.nodeId, stationId, action, payload, deadline, origin);
    if (answer.replied) this.clusterMetrics.routingSeconds.observe(Math.max(0, performance.now() - started - answer.executionMs) / 1000);
    return { outcome: this.count(answer.outcome), routed: true };
  }

  private count(outcome: CommandOutcome): CommandOutcome {
    this.clusterMetrics.routedCommands.labels(outcome.kind).inc();
    return outcome;
  }

  private request(
    nodeId: string,
    stationId: string,
    action: string,
    payload: JsonObject,
    deadline: number,
    origin: CallOrigin,
  ): Promise<{ outcome: CommandOutcome; executionMs: number; replied: boolean }> {
    if (this.pending.size >= this.maxInFlight) {
      return Promise.resolve({ outcome: { kind: 'unavailable', reason: 'too many cross-node commands in flight' }, executionMs: 0, replied: false });
    }
    const id = randomUUID();
    return new Promise((resolve) => {
      const settle = (outcome: CommandOutcome, executionMs: number, replied: boolean): void => {
        const request = this.pending.get(id);
        if (request === undefined) return;
        this.pending.delete(id);
        clearTimeout(request.timer);
        resolve({ outcome, executionMs, replied });
      };
      const timer = setTimeout(() => settle({ kind: 'timeout' }, 0, false), Math.max(0, deadline - this.options.clock.now()));
      this.pending.set(id, { resolve: (outcome, executionMs) => settle(outcome, executionMs, true), timer });
      const message: CommandMessage = {
        v: ROUTING_VERSION,
        type: 'command',
        id,
        from: this.nodeId,
        replyTo: this.channel,
        stationId,
        action,
        payload,
        deadline,
        // The holder audits a CALL the CSMS makes on its own; an operator's is audited here, as its request. Only a
        // system call carries the field, so operator commands keep working with nodes of an earlier build.
        ...(origin === 'system' ? { origin } : {}),
      };
      this.publish(this.keys.nodeChannel(nodeId), message).then(
        (receivers) => {
          // Nobody listens on the holder's channel: the node is gone and its presence not yet expired.
          if (receivers === 0) settle({ kind: 'unavailable', reason: `node ${nodeId} holding station ${stationId} is not reachable` }, 0, false);
        },
        (err: unknown) => settle({ kind: 'unavailable', reason: `cannot reach node ${nodeId}: ${errorText(err)}` }, 0, false),
      );
    });
  }

  async disconnect(stationId: string, reason: string): Promise<void> {
    const local = this.options.registry.get(stationId);
    if (local !== undefined) {
      local.close(CLOSE_NORMAL, reason);
      return;
    }
    if (!this.isUp()) return;
    try {
      const holder = await this.presence.lookup(stationId);
      if (holder === undefined || holder.nodeId === this.nodeId) return;
      await this.publish(this.keys.nodeChannel(holder.nodeId), {
        v: ROUTING_VERSION,
        type: 'disconnect',
        from: this.nodeId,
        stationId,
        reason: reason.slice(0, 123),
        deadline: this.options.clock.now() + NOTICE_TTL_MS,
      });
    } catch (err) {
      this.log.warn({ err: errorText(err), stationId }, 'could not ask the holding node to disconnect the station');
    }
  }

  private publish(channel: string, message: RoutingMessage): Promise<number> {
    const text = this.codec.encode(message);
    const answer = this.sharded ? this.redis.commands.spublish(channel, text) : this.redis.commands.publish(channel, text);
    return answer.then((n) => Number(n));
  }

  // ------------------------------------------------------------------------------------------ receiving

  private onMessage(channel: string, raw: string): void {
    if (this.closed) return;
    if (channel !== this.channel && channel !== this.decisionsChannel) {
      this.drop('foreign', { channel }, 'message on a channel this node does not own');
      return;
    }
    const parsed = this.codec.decode(raw);
    if (!parsed.ok) {
      this.drop('malformed', { reason: parsed.reason, bytes: raw.length }, 'malformed routing message ignored');
      return;
    }
    const message = parsed.message;
    if (message.deadline < this.options.clock.now() - (message.type === 'reply' ? REPLY_GRACE_MS : 0)) {
      this.drop('stale', { type: message.type, from: message.from }, 'routing message past its deadline dropped');
      return;
    }
    switch (message.type) {
      case 'command':
        void this.serve(message);
        return;
      case 'reply': {
        const request = this.pending.get(message.id);
        if (request === undefined) {
          this.drop('unknown', { id: message.id, from: message.from }, 'reply to no pending command (late or forged) ignored');
          return;
        }
        request.resolve(message.outcome, message.executionMs);
        return;
      }
      case 'takeover':
        void this.onTakeoverNotice(message.stationId, message.token, message.from);
        return;
      case 'disconnect':
        this.options.registry.get(message.stationId)?.close(CLOSE_NORMAL, message.reason);
        return;
      case 'decision':
        if (message.from === this.nodeId) return; // applied when announced
        for (const listener of this.decisionListeners) listener(message.decision);
        return;
    }
  }

  private drop(reason: 'malformed' | 'stale' | 'unknown' | 'foreign', fields: Record<string, unknown>, text: string): void {
    this.clusterMetrics.droppedMessages.labels(reason).inc();
    this.throttled.warn(`drop-${reason}`, fields, text);
  }

  /** Runs a command for another node through the station's actor and publishes the outcome back. */
  private async serve(message: CommandMessage): Promise<void> {
    if (!this.keys.isNodeChannel(message.replyTo)) {
      this.drop('malformed', { replyTo: message.replyTo, from: message.from }, 'command with a reply channel outside this cluster ignored');
      return;
    }
    const { registry } = this.options;
    const started = performance.now();
    let outcome: CommandOutcome;
    if (this.serving >= this.maxInFlight) {
      outcome = { kind: 'unavailable', reason: `node ${this.nodeId} is overloaded with routed commands` };
    } else {
      this.serving += 1;
      try {
        outcome = await executeLocally(registry, message.stationId, message.action, message.payload, message.deadline, message.origin ?? 'operator');
      } catch (err) {
        this.log.error({ err, stationId: message.stationId, action: message.action, from: message.from }, 'routed command failed');
        outcome = { kind: 'unavailable', reason: `node ${this.nodeId} failed to run the command` };
      } finally {
        this.serving -= 1;
      }
    }
    this.clusterMetrics.servedCommands.labels(outcome.kind).inc();
    const executionMs = performance.now() - started;
    try {
      await this.publish(message.replyTo, {
        v: ROUTING_VERSION,
        type: 'reply',
        id: message.id,
        from: this.nodeId,
        outcome,
        executionMs,
        deadline: message.deadline,
      });
    } catch (err) {
      this.throttled.warn('reply', { err: errorText(err), to: message.replyTo }, 'could not publish a routed command reply');
    }
  }

  // ------------------------------------------------------------------------------------------ takeovers

  /** A newer session on this node took the key from `previous`; tell its node to close the older session. */
  private onTookOver(entry: PresenceEntry, previous: PresenceValue): void {
    if (previous.nodeId === this.nodeId) return; // replaced locally; the registry has closed it already
    this.clusterMetrics.presenceTakeovers.inc();
    this.log.info({ stationId: entry.stationId, previousNode: previous.nodeId }, 'station taken over from another node');
    this.publish(this.keys.nodeChannel(previous.nodeId), {
      v: ROUTING_VERSION,
      type: 'takeover',
      from: this.nodeId,
      stationId: entry.stationId,
      token: previous.token,
      deadline: this.options.clock.now() + NOTICE_TTL_MS,
    }).catch((err: unknown) => {
      // The older session finds out by itself on its node's next presence refresh.
      this.log.warn({ err: errorText(err), stationId: entry.stationId }, 'could not send takeover notice');
    });
  }

  /** A newer session elsewhere holds the station's key: close this one (found by refresh or re-registration). */
  private onLost(entry: PresenceEntry, holder: PresenceValue): void {
    this.closeReplaced(entry, holder.nodeId);
  }

  /** Verified against Redis before acting: a forged or outdated notice closes nothing. */
  private async onTakeoverNotice(stationId: string, token: string, from: string): Promise<void> {
    const entry = this.presence.entry(stationId);
    if (entry === undefined || entry.token !== token) {
      this.log.debug({ stationId, from }, 'takeover notice for a session not held here');
      return;
    }
    let holder: PresenceValue | undefined;
    try {
      holder = await this.presence.lookup(stationId);
    } catch {
      return; // the next refresh settles it
    }
    if (holder === undefined || holder.token === entry.token) {
      this.drop('unknown', { stationId, from }, 'takeover notice not backed by presence ignored');
      return;
    }
    if (this.presence.entry(stationId) === entry) this.closeReplaced(entry, holder.nodeId);
  }

  private closeReplaced(entry: PresenceEntry, newerNode: string): void {
    this.options.registry.replace(entry.session, newerNode);
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Resolves true when `promise` settles in time, false on timeout. `promise` must not reject. */
function withTimeout(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function whenReady(client: RedisClient): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => client.once('ready', () => resolve()));
}

async function quit(client: RedisClient): Promise<void> {
  if (client.status === 'end') return;
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  const done = await withTimeout(
    client.quit().catch(() => undefined),
    1000,
  );
  if (!done) client.disconnect();
}
