import { readFileSync } from 'node:fs';
import { buildApiRoutes } from './api/routes/index.js';
import { mountApi } from './api/server.js';
import { Authorizer } from './blocks/authorization/authorizer.js';
import { buildBlockTable, createBlocks } from './blocks/index.js';
import { Iso15118 } from './blocks/smart-charging/iso15118.js';
import { Sites } from './blocks/smart-charging/sites.js';
import type { SmartChargingDeps } from './blocks/smart-charging/smart-charging.js';
import { DisplayMessageResync } from './blocks/display-messages/resync.js';
import { LocalListSync } from './blocks/local-list/sync.js';
import { startWebhooks, webhookRetention, type Webhooks } from './blocks/webhooks/index.js';
import { WebhookSql } from './blocks/webhooks/webhook-sql.js';
import { systemClock, type Clock } from './clock.js';
import { connectionNameFor } from './cluster/redis-connection.js';
import { createCommandRouter } from './cluster/wiring.js';
import { CommandService } from './commands/service.js';
import { resolveConfig, type Config } from './config.js';
import { createLogger, type Logger } from './log.js';
import { CsmsMetrics } from './metrics.js';
import { OcppProtocols } from './ocpp/protocol.js';
import { ocpp16 } from './ocpp/v16/index.js';
import { ocpp201 } from './ocpp/v201/index.js';
import { V2G_CA, openCertificateAuthority, type CertificateAuthority } from './security/ca.js';
import { createPlugAndCharge, type PlugAndCharge } from './blocks/plug-and-charge/plug-and-charge.js';
import { monitorsRereadAfterBoot } from './blocks/monitoring/reboot.js';
import { MonitoringReportDeadlines } from './blocks/monitoring/report-deadlines.js';
import { RedisAttemptCounter } from './security/shared-throttle.js';
import { LocalAttemptCounter, type AttemptCounter } from './security/throttle.js';
import { StationGatekeeper } from './station/admission.js';
import { SessionRegistry } from './station/registry.js';
import { RetentionSweeper } from './store/retention.js';
import type { ReservationHooks } from './blocks/reservations/hooks.js';
import { ReservationService, ReservationSweeper } from './blocks/reservations/reservations.js';
import { TransactionPricing } from './blocks/tariffs/pricing.js';
import { CostUpdates } from './blocks/tariffs/cost-updates.js';
import { TariffFallbackMessages } from './blocks/tariffs/fallback-messages.js';
import type { StationServices } from './station/types.js';
import { prepareDataDir, securePermissions } from './store/data-dir.js';
import { loadVerifierKey, StationPasswords } from './security/password-verifier.js';
import { lockDataDir, type DataDirLock } from './store/data-dir-lock.js';
import { openGuardedStore } from './store/open-store.js';
import { ChangeFeed } from './changes/change-feed.js';
import { FleetIndex } from './changes/fleet-index.js';
import { publishingStore } from './changes/store-changes.js';
import { RedisChanges } from './changes/redis-changes.js';
import { sqlState } from './store/sql.js';
import { mountOcppListener } from './transport/ocpp-listener.js';
import { TrustedProxies } from './transport/proxy.js';
import { loadCaBundle, loadServerCredentials, startTlsListener, type TlsListener } from './transport/tls-listener.js';
import { UpgradePath } from './transport/upgrade.js';
import { listen, loadNativeUws, type us_listen_socket } from './transport/uws.js';
import { installWorkerMetrics, isWorkerProcess } from './workers/index.js';
import { ApiAuthenticator } from './operators/auth.js';

export interface RunningCsms {
  ocppPort: number;
  /** The wss:// port (profiles 2 and 3); undefined when CSMS_OCPP_TLS_PORT is not set. */
  ocppTlsPort: number | undefined;
  apiPort: number;
  config: Config;
  stop(): Promise<void>;
}

export interface StartOptions {
  clock?: Clock;
  log?: Logger;
  /** The embedded store's data dir, already prepared and locked (main.ts does it before loading the rest). */
  dataDir?: { lock: DataDirLock; umaskSet: boolean };
}

/** How often a cluster node checks its fleet index's connectivity against presence. */
const FLEET_RECONCILE_MS = 30_000;

/** RFC 6455 1001: the server is going away. */
const CLOSE_GOING_AWAY = 1001;

function packageVersion(): string {
  for (const relative of ['../../package.json', '../package.json']) {
    try {
      return (JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      /* source or compiled layout */
    }
  }
  return '0.0.0';
}

/**
 * Starts a whole CSMS node in-process. `raw` uses the environment variable names of CONTRACT §2; tests pass
 * port 0 for ephemeral ports.
 */
export async function startCsms(raw: Record<string, string | number | undefined>, options: StartOptions = {}): Promise<RunningCsms> {
  return startCsmsWithConfig(resolveConfig(raw), options);
}

/** The composition root: adapters at the edges, the station core in the middle. */
export async function startCsmsWithConfig(config: Config, options: StartOptions = {}): Promise<RunningCsms> {
  // CONTRACT §1 "one owner", §3.2 "Data dir": before anything slow, the data dir is made private (0700 when
  // created, nothing group/world-writable) and locked, so a second process on it stops at once with one line.
  let dataDir = options.dataDir;
  if (config.databaseUrl === undefined && dataDir === undefined) {
    const { umaskSet } = await prepareDataDir(config.dataDir);
    dataDir = { lock: await lockDataDir(config.dataDir), umaskSet };
  }
  try {
    return await startWithDataDir(config, options, dataDir);
  } catch (err) {
    // The store releases the lock when it closes; when it never opened, nobody else will.
    await dataDir?.lock.release();
    throw err;
  }
}

async function startWithDataDir(config: Config, options: StartOptions, dataDir: { lock: DataDirLock; umaskSet: boolean } | undefined): Promise<RunningCsms> {
  const uws = loadNativeUws();
  const clock = options.clock ?? systemClock;
  const log = options.log ?? createLogger(config.logLevel, { nodeId: config.nodeId });
  // Security configuration is checked before anything starts: a bad key or CIDR stops start-up with one line.
  const trustedProxies = TrustedProxies.parse(config.trustedProxies);
  const wideProxyRanges = trustedProxies.wideRanges();
  if (wideProxyRanges !== undefined) {
    log.warn(
      { event: 'trusted_proxies_wide', key: 'CSMS_TRUSTED_PROXIES', ranges: wideProxyRanges.ranges, addresses: wideProxyRanges.addresses.toString() },
      `CSMS_TRUSTED_PROXIES trusts ${wideProxyRanges.addresses.toString()} addresses (${wideProxyRanges.ranges.join(', ')}): a station inside that range can forge client-certificate headers and pass as any profile-3 station; list only your TLS proxies' own addresses`,
    );
  }
  const tlsCredentials = config.ocppTlsPort === undefined ? undefined : loadServerCredentials(config.tlsCert, config.tlsKey, log);
  const clientCaPems = config.tlsClientCa === undefined ? [] : loadCaBundle(config.tlsClientCa);
  const metrics = new CsmsMetrics();
  if (isWorkerProcess()) installWorkerMetrics(metrics, log);
  const protocols = new OcppProtocols([ocpp201(), ocpp16()]);

  const { store: sqlStore, health: storeHealth } = await openGuardedStore({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    dataDirLock: dataDir?.lock,
    timeoutMs: config.dbTimeoutMs,
    minFreeBytes: config.minFreeBytes,
    onHealthChange: (health) => {
      metrics.storeUp.set(health.up ? 1 : 0);
      if (health.up) log.info('store takes writes again');
      else log.error({ reason: health.reason }, 'store degraded: station writes are answered InternalError');
    },
    onCommit: (batchSize, seconds) => {
      metrics.storeBatchSize.observe(batchSize);
      metrics.storeCommitSeconds.observe(seconds);
    },
    onBatchRewritten: (err, batchSize) => {
      metrics.storeBatchesRewritten.inc();
      // A resent TransactionEvent (refused by the statement with SQLSTATE SR001) is routine; anything else is worth a look.
      if (sqlState(err) === 'SR001') log.debug({ batchSize }, 'batch holds a transaction event that is not new; writing it statement by statement');
      else log.warn({ err, batchSize }, 'batch failed in one round trip; writing it statement by statement');
    },
    onBatchError: (err, batchSize) => log.error({ err, batchSize }, 'group commit failed; retrying its writes one by one'),
    onLazyError: (err, writer) => log.warn({ err, writer }, 'lazy write failed'),
    onIdleError: (err) => log.warn({ err }, 'idle database connection failed'),
  });
  // Every committed change a station or an operator makes is published for the stream and the fleet index.
  const feed = new ChangeFeed({ clock });
  const fleet = new FleetIndex(() => clock.now());
  const store = publishingStore(sqlStore, feed);
  // The station CA: from CSMS_CA_CERT/KEY, or the one in the database that the first node created (CONTRACT §6).
  let ca: CertificateAuthority;
  let plugAndCharge: PlugAndCharge;
  try {
    ca = await openCertificateAuthority({ certFile: config.caCert, keyFile: config.caKey, dataDir: config.dataDir, store, log });
    // CONTRACT §8.6: V2G certificates have a CA of their own, shared by every node the same way.
    const v2gCa = await openCertificateAuthority({ certFile: config.v2gCaCert, keyFile: config.v2gCaKey, dataDir: config.dataDir, store, log, kind: V2G_CA });
    plugAndCharge = createPlugAndCharge({ v2gCa, config, clock, log, registry: metrics.registry, revocations: sqlStore.contractRevocations });
    if (dataDir !== undefined) {
      const fixed = await securePermissions(config.dataDir);
      if (fixed.length > 0) log.warn({ dataDir: config.dataDir, fixed: fixed.length, first: fixed[0] }, 'removed group/world write permission under the data dir');
      if (!dataDir.umaskSet) log.warn({ dataDir: config.dataDir }, 'cannot set the umask here (worker thread): files created later may be group/world-writable');
    }
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }

  let passwords: StationPasswords;
  try {
    const key = await loadVerifierKey({ configured: config.passwordVerifierKey, dataDir: config.dataDir, clustered: config.redisUrl !== undefined, log });
    passwords = new StationPasswords(key);
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }

  const retention = new RetentionSweeper({
    store,
    retentionDays: config.retentionDays,
    now: () => clock.now(),
    tables: webhookRetention(new WebhookSql(sqlStore.database)),
    onDeleted: (table, rows) => metrics.retentionDeletedRows.labels(table).inc(rows),
    onError: (err) => log.warn({ err }, 'retention sweep failed'),
  });
  retention.start();
  let decisionsReachUs = (): boolean => false;
  const authorizer = new Authorizer(store, clock, config.masterPassGroup, () => decisionsReachUs(), sqlStore.contractRevocations);
  const costUpdates = new CostUpdates({ store, log });
  const pricing = new TransactionPricing({ tariffs: sqlStore.tariffs, store, clock, costUpdates });
  // The reservation service sends through the command service, built below; it is only called once that exists.
  const reservationsRef: { service?: ReservationService } = {};
  const reservationHooks: ReservationHooks = {
    used: (stationId, id, transactionId) => reservationsRef.service?.used(stationId, id, transactionId) ?? Promise.resolve(),
    stationUpdate: (stationId, id, status) => reservationsRef.service?.stationUpdate(stationId, id, status) ?? Promise.resolve(),
  };
  // DRV-ADM-09 / N04.FR.19: monitoring reports get a deadline, and a booted station's monitors are re-read.
  const reportDeadlines = new MonitoringReportDeadlines({ monitoring: sqlStore.monitoring, log });
  const bootFollowers = [monitorsRereadAfterBoot({ monitoring: sqlStore.monitoring, clock })];
  // CONTRACT §8.7: the CALLs the CSMS sends on its own are audited as actor `system` (operators' are their requests).
  const callAudit: StationServices['callAudit'] = (call) => {
    sqlStore.operators
      .appendAudit({
        at: new Date(clock.now()),
        actor: 'system',
        role: undefined,
        method: 'CALL',
        path: call.action,
        target: call.stationId,
        stationId: call.stationId,
        action: call.action,
        outcome: call.outcome,
        status: call.status,
        address: undefined,
        nodeId: config.nodeId,
      })
      .catch((err: unknown) => log.error({ err, event: 'audit_unwritten', actor: 'system', ...call }, 'audit entry not written'));
  };
  const services: StationServices = {
    config,
    store,
    authorizer,
    metrics,
    clock,
    log,
    passwords,
    reservations: reservationHooks,
    pricing,
    bootFollowers,
    callAudit,
  };
  // The site load manager listens to the smart-charging block and sends through the command service: wired below.
  const smartCharging: SmartChargingDeps = { smart: sqlStore.smartCharging, store };
  // Local lists (CONTRACT §8.1): each node syncs the stations connected to it (the registry is built below).
  const localListSync = new LocalListSync({
    lists: sqlStore.localLists,
    store,
    session: (stationId) => {
      const session = registry.get(stationId);
      return session === undefined || session.isClosed ? undefined : session;
    },
    clock,
    log,
  });
  const blocks = createBlocks({
    ca,
    store,
    clock,
    plugAndCharge,
    monitoring: sqlStore.monitoring,
    reportDeadlines,
    smartCharging,
    localList: { lists: sqlStore.localLists, sync: () => localListSync, announce: (decision) => router.announce(decision) },
    displayMessages: sqlStore.displayMessages,
  });
  // One table per version: a session dispatches through the table of the version it negotiated.
  const versions = protocols.all.map((protocol) => ({ protocol, blocks: buildBlockTable(blocks, protocol.version) }));
  const tables = new Map(versions.map((v) => [v.protocol, v.blocks]));
  const registry = new SessionRegistry(services, (protocol) => {
    const table = tables.get(protocol);
    if (table === undefined) throw new Error(`no block table for OCPP ${protocol.version}`);
    return table;
  });
  registry.onChange((stationId, session) => {
    if (session !== undefined) feed.publish('station.connected', { stationId, nodeId: config.nodeId, ocppVersion: session.protocol.version });
    else feed.publish('station.disconnected', { stationId, nodeId: config.nodeId });
  });
  const syncFailed = (stationId: string) => (err: unknown) => log.warn({ stationId, err }, 'local list: could not start the sync');
  // The console follows a station's list and display messages live (CONTRACT §4 stream, kinds of their own).
  sqlStore.localLists.onChange((stationId) => feed.publish('local-list.updated', { stationId }));
  sqlStore.displayMessages.onChange((stationId) => feed.publish('display-messages.updated', { stationId }));
  // DRV-AUI-10: what a station shows is read again at each connection and Accepted boot.
  const displayResync = new DisplayMessageResync({
    messages: sqlStore.displayMessages,
    store,
    session: (stationId) => {
      const session = registry.get(stationId);
      return session === undefined || session.isClosed ? undefined : session;
    },
    log,
    clock,
  });
  registry.onChange((stationId, session) => {
    if (session === undefined) {
      localListSync.disconnected(stationId);
      displayResync.disconnected(stationId);
    } else {
      localListSync.connected(stationId).catch(syncFailed(stationId));
      displayResync.connected(stationId);
    }
  });
  // A station that boots again (it may have lost its list) is asked what it holds once its boot is Accepted.
  feed.onChange((event, data) => {
    if (event.kind === 'station.boot' && data.bootStatus === 'Accepted' && registry.get(event.stationId) !== undefined) {
      localListSync.connected(event.stationId).catch(syncFailed(event.stationId));
      displayResync.connected(event.stationId);
    }
  });
  const router = await createCommandRouter(config, registry, clock, log, metrics);
  // Operator decisions made through any node reach this node's caches (CONTRACT §6).
  decisionsReachUs = () => router.reliable;
  router.onDecision((decision) => {
    if (decision.kind === 'idToken') authorizer.invalidate(decision.type, decision.idToken);
    if (decision.kind === 'idToken') {
      localListSync.tokenChanged(decision.type, decision.idToken).catch((err: unknown) => log.warn({ err }, 'local list: register change not applied'));
    }
    if (decision.kind === 'localList') localListSync.changed(decision.stationId);
  });
  router.onResync(() => authorizer.invalidateAll());
  router.onResync(() => {
    localListSync.resync([...registry.ids()]).catch((err: unknown) => log.warn({ err }, 'local list: resync after Redis came back failed'));
  });
  const commands = new CommandService({ store, router, versions, clock, callTimeoutMs: config.callTimeoutMs });
  const reservations = new ReservationService({ reservations: sqlStore.reservations, store, commands, feed, clock, log });
  reservationsRef.service = reservations;
  // I04/I05: the tariff fallback texts follow an assignment, a tariff change, and each Accepted boot of a station
  // connected here (500 ms later, so the boot answer leaves before the SetVariables; as the local-list sync does).
  const tariffFallback = new TariffFallbackMessages({ tariffs: sqlStore.tariffs, store, commands, log });
  feed.onChange((event, data) => {
    if (event.kind === 'station.boot' && data.bootStatus === 'Accepted' && registry.get(event.stationId) !== undefined) {
      setTimeout(() => void tariffFallback.stationBooted(event.stationId), 500).unref();
    }
  });
  // CONTRACT §8.2: expiry by the CSMS's own clock, durable across restarts, safe on every node of a cluster.
  const reservationSweeper = new ReservationSweeper(reservations, log);
  reservationSweeper.start();
  const sites = new Sites({
    smart: sqlStore.smartCharging,
    store,
    commands,
    locate: (id) => router.locate(id),
    clock,
    log,
    attemptTimeoutMs: config.callTimeoutMs,
    registry: metrics.registry,
  });
  smartCharging.listener = sites;
  smartCharging.iso15118 = new Iso15118({ smart: sqlStore.smartCharging, store, commands, sites, log });
  registry.onChange((stationId, session) => {
    if (session !== undefined) sites.stationConnected(stationId);
  });
  // Unproven attempts are counted where every worker and node sees them (CONTRACT §3.2): Redis in cluster mode.
  const attempts: AttemptCounter =
    config.redisUrl === undefined
      ? new LocalAttemptCounter(clock)
      : RedisAttemptCounter.connect({
          redisUrl: config.redisUrl,
          cluster: config.redisCluster,
          prefix: config.redisPrefix,
          connectionName: connectionNameFor(config.nodeId),
          clock,
          log,
        });
  const gatekeeper = new StationGatekeeper(config, protocols, store, metrics, log, passwords, { clock, clientOrganization: config.tlsClientOrganization, attempts });
  const upgrades = new UpgradePath({ gatekeeper, registry, metrics, log, trustedProxies });

  let ready = false;
  let changeStream: RedisChanges | undefined;
  let webhooks: Webhooks | undefined;
  let reconcileTimer: NodeJS.Timeout | undefined;
  const listenSockets: us_listen_socket[] = [];
  let tls: TlsListener | undefined;
  try {
    // Loaded before any listener is up; in a cluster, changes other nodes make meanwhile are read from the stream
    // position taken before the snapshot, so none slips between the two.
    changeStream =
      config.redisUrl === undefined
        ? undefined
        : await RedisChanges.connect({
            redisUrl: config.redisUrl,
            cluster: config.redisCluster,
            prefix: config.redisPrefix,
            connectionName: connectionNameFor(config.nodeId),
            feed,
            log,
          });
    // Before any station connects: every record from the first one on carries its webhook outbox rows.
    webhooks = await startWebhooks({ store: sqlStore, feed, config, log, clock, metrics });
    fleet.load(await sqlStore.fleet.loadFleet());
    feed.onChange((event, data) => fleet.apply(event, data));
    changeStream?.startReading();
    if (changeStream !== undefined) {
      // Presence is the truth about other nodes' stations: learn it now, then keep the index in step with it.
      const reconcile = (): void => void fleet.reconcile((id) => router.locate(id)).catch((err: unknown) => log.warn({ err }, 'fleet index: reconcile failed'));
      reconcile();
      reconcileTimer = setInterval(reconcile, FLEET_RECONCILE_MS);
      reconcileTimer.unref();
    }
    const ocppApp = uws.App();
    mountOcppListener(uws, ocppApp, upgrades, log, {
      maxPayloadBytes: config.maxPayloadBytes,
      idleTimeoutSeconds: config.idleTimeoutSeconds,
      maxBackpressureBytes: 4 * config.maxPayloadBytes,
    });
    const ocpp = await listen(uws, ocppApp, config.ocppHost, config.ocppPort);
    listenSockets.push(ocpp.socket);
    if (config.ocppTlsPort !== undefined && tlsCredentials !== undefined) {
      tls = await startTlsListener(
        { upgrades, protocols, metrics, log },
        {
          host: config.ocppHost,
          port: config.ocppTlsPort,
          credentials: tlsCredentials,
          // Certificates this CSMS signs (SignCertificate) are station certificates too (TC_A_11 reconnects with one).
          clientCaPems: [...clientCaPems, ca.certificatePem],
          maxPayloadBytes: config.maxPayloadBytes,
          idleTimeoutSeconds: config.idleTimeoutSeconds,
          maxBackpressureBytes: 4 * config.maxPayloadBytes,
        },
      );
    }

    const apiApp = uws.App();
    const operators = sqlStore.operators;
    await sites.load();
    const ocpp201Schemas = protocols.all.find((protocol) => protocol.version === '2.0.1')?.schemas;
    const apiRoutes = buildApiRoutes({
      store,
      passwords,
      decisions: router,
      router,
      commands,
      metrics,
      clock,
      feed,
      fleet,
      fleetStore: sqlStore.fleet,
      monitoringStore: sqlStore.monitoring,
      operators: { store: operators, attempts, clock, log, hasApiToken: config.apiToken !== undefined },
      reservations: { service: reservations, store: sqlStore.reservations },
      tariffs: sqlStore.tariffs,
      tariffFallback,
      smartCharging: { smart: sqlStore.smartCharging, sites },
      localLists: sqlStore.localLists,
      displayMessages: sqlStore.displayMessages,
      ocppViolations: (action, payload) => ocpp201Schemas?.violations(action, 'Request', payload) ?? [],
    });
    const routes = [...apiRoutes, ...webhooks.routes];
    const authenticator = new ApiAuthenticator({ apiToken: config.apiToken, store: operators, clock });
    mountApi(
      apiApp,
      {
        metrics,
        log,
        apiToken: config.apiToken,
        maxBodyBytes: config.apiMaxBodyBytes,
        allowedHosts: config.apiHosts,
        bindHost: config.apiHost,
        version: packageVersion(),
        isReady: () => ready,
        storeHealth,
        authenticate: (headers) => authenticator.authenticate(headers),
        audit: (entry) => operators.appendAudit({ ...entry, at: new Date(clock.now()), nodeId: config.nodeId }),
      },
      routes,
    );
    const api = await listen(uws, apiApp, config.apiHost, config.apiPort);
    listenSockets.push(api.socket);

    ready = true;
    log.info({ ocppPort: ocpp.port, ocppTlsPort: tls?.port, apiPort: api.port, store: store.kind, ocppVersions: protocols.subprotocols }, 'CSMS ready');

    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> =>
      (stopping ??= (async () => {
        ready = false;
        for (const socket of listenSockets) uws.us_listen_socket_close(socket);
        registry.closeAll(CLOSE_GOING_AWAY, 'CSMS shutting down');
        localListSync.stop();
        displayResync.stop();
        await tls?.close();
        clearInterval(reconcileTimer);
        await changeStream?.close();
        await router.close();
        await retention.stop();
        await reservationSweeper.stop();
        costUpdates.stopAll();
        reportDeadlines.stopAll();
        await webhooks?.stop();
        await attempts.close();
        await store.close();
        log.info('CSMS stopped');
      })());
    return { ocppPort: ocpp.port, ocppTlsPort: tls?.port, apiPort: api.port, config, stop };
  } catch (err) {
    for (const socket of listenSockets) uws.us_listen_socket_close(socket);
    await tls?.close(0);
    clearInterval(reconcileTimer);
    await changeStream?.close().catch(() => undefined);
    await router.close().catch(() => undefined);
    await retention.stop();
    await reservationSweeper.stop();
    costUpdates.stopAll();
    reportDeadlines.stopAll();
    await webhooks?.stop();
    await attempts.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw err;
  }
}
