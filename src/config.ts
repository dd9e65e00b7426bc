import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';

/** Runtime configuration: CONTRACT.md §2, plus the few keys README documents. */
export interface Config {
  ocppPort: number;
  ocppHost: string;
  ocppTlsPort: number | undefined;
  tlsCert: string[];
  tlsKey: string[];
  tlsClientCa: string | undefined;
  /** A00.FR.404: the CSO name a profile-3 client certificate's subject O must carry; unset = not checked. */
  tlsClientOrganization: string | undefined;
  trustedProxies: string[];
  caCert: string | undefined;
  caKey: string | undefined;
  /** Base64 key of the station-password verifiers (src/security/password-verifier.ts); else one in the data dir. */
  passwordVerifierKey: string | undefined;
  apiPort: number;
  apiHost: string;
  /** CSMS_API_HOSTS: Host names the API answers to besides its loopback names (DNS-rebinding guard). */
  apiHosts: string[];
  /** CSMS_API_MAX_BODY: largest API request body in bytes (larger → 413). */
  apiMaxBodyBytes: number;
  apiToken: string | undefined;
  dataDir: string;
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  nodeId: string;
  unknownStations: 'reject' | 'accept' | 'pending';
  heartbeatIntervalSeconds: number;
  bootRetryIntervalSeconds: number;
  callTimeoutMs: number;
  logLevel: string;
  /** Largest OCPP frame accepted; a station sending more is disconnected (1009). */
  maxPayloadBytes: number;
  /** Seconds of silence after which uWS pings, then closes a dead socket. */
  idleTimeoutSeconds: number;
  /** Id tokens of this group act as master pass (C16). */
  masterPassGroup: string | undefined;
  workers: number;
  /** Prefix of every Redis key and channel, so deployments (or test runs) can share one Redis. */
  redisPrefix: string;
  /** Talk Redis Cluster even with a single seed URL (several comma-separated seeds in REDIS_URL imply it). */
  redisCluster: boolean;
  /** Per-station budgets (README "Budgets and retention"): incoming frame bytes per second, sustained... */
  stationBytesPerSecond: number;
  /** ...and the burst a station may send at once before its CALLs are refused. */
  stationBurstBytes: number;
  /** CSMS calls queued per station (behind the one in flight); more are refused. */
  stationMaxQueuedCalls: number;
  /** NotifyReport parts kept per requestId (seqNo 0 … max-1); further parts are answered and dropped. */
  reportMaxParts: number;
  /** Report requestIds whose parts are kept per station: the newest ones; older ones are deleted. */
  reportMaxRequests: number;
  /** DRV-ADM-09: a monitoring report with no part for this long is marked Incomplete. */
  monitoringReportTimeoutMs: number;
  /** Days events and meter values without a transaction are kept; 0 keeps them forever. */
  retentionDays: number;
  /** The longest a store call may take (connect, query, idle in transaction) before it counts as failed. */
  dbTimeoutMs: number;
  /** CONTRACT §8.6: the CA that signs V2GCertificate CSRs (never the station CA); unset = one in the database. */
  v2gCaCert: string | undefined;
  v2gCaKey: string | undefined;
  /** CONTRACT §8.6: where Get15118EVCertificate is forwarded; unset = the built-in test provider. */
  contractCertProvider: string | undefined;
  contractCertTimeoutMs: number;
  /** CONTRACT §8.6: PEM bundle of the V2G and MO roots contract certificates must chain to. */
  v2gTrustRoots: string | undefined;
  /** Free bytes on the data dir's file system below which the embedded store refuses writes. */
  minFreeBytes: number;
  /** CSMS_WEBHOOK_RETRY_SCHEDULE: the delays (ms) before each retry of a webhook delivery (CONTRACT §8.7). */
  webhookRetryScheduleMs: number[];
  /** CSMS_WEBHOOK_TIMEOUT_MS: the most one webhook delivery attempt may take. */
  webhookTimeoutMs: number;
}

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `5s,5m,30m,2h` → [5000, 300000, 1800000, 7200000]; throws ConfigError on a part that is not `<n><ms|s|m|h|d>`. */
export function parseDurations(key: string, list: string): number[] {
  return split(list).map((part) => {
    const match = /^(\d+)(ms|s|m|h|d)$/.exec(part);
    if (match === null) throw new ConfigError(key, `"${part}" is not a duration like 100ms, 5s, 5m, 2h or 1d`);
    return Number(match[1]) * (DURATION_UNITS_MS[match[2] as string] as number);
  });
}

export class ConfigError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`invalid configuration: ${key}: ${message}`);
  }
}

type RawConfig = Record<string, string | number | undefined>;

const schemaPath = fileURLToPath(new URL('../../schemas/config.schema.json', import.meta.url));
const INTEGER_KEYS = new Set([
  'CSMS_OCPP_PORT',
  'CSMS_OCPP_TLS_PORT',
  'CSMS_API_PORT',
  'CSMS_HEARTBEAT_INTERVAL',
  'CSMS_BOOT_RETRY_INTERVAL',
  'CSMS_CALL_TIMEOUT_MS',
  'CSMS_MAX_PAYLOAD_BYTES',
  'CSMS_IDLE_TIMEOUT',
  'CSMS_WORKERS',
  'CSMS_API_MAX_BODY',
  'CSMS_STATION_BYTES_PER_SECOND',
  'CSMS_STATION_BURST_BYTES',
  'CSMS_STATION_MAX_QUEUED_CALLS',
  'CSMS_REPORT_MAX_PARTS',
  'CSMS_REPORT_MAX_REQUESTS',
  'CSMS_MONITORING_REPORT_TIMEOUT_SECONDS',
  'CSMS_RETENTION_DAYS',
  'CSMS_DB_TIMEOUT_MS',
  'CSMS_MIN_FREE_BYTES',
  'CSMS_CONTRACT_CERT_TIMEOUT_MS',
  'CSMS_WEBHOOK_TIMEOUT_MS',
]);

function loadSchema(): object {
  // The compiled file lives in dist/src; the schema stays at the repository root.
  for (const candidate of [schemaPath, fileURLToPath(new URL('../schemas/config.schema.json', import.meta.url))]) {
    try {
      return JSON.parse(readFileSync(candidate, 'utf8')) as object;
    } catch {
      /* try the next location */
    }
  }
  throw new Error('schemas/config.schema.json not found');
}

/** Environment strings become integers where the schema wants integers; a bad number stays a string and fails validation. */
function coerce(raw: RawConfig): RawConfig {
  const out: RawConfig = {};
  for (const [key, value] of Object.entries(raw)) {
    if (value === undefined || value === '') continue;
    if (INTEGER_KEYS.has(key) && typeof value === 'string' && /^-?\d+$/.test(value.trim())) {
      out[key] = Number(value.trim());
    } else {
      out[key] = value;
    }
  }
  return out;
}

function split(list: string | number | undefined): string[] {
  if (list === undefined) return [];
  return String(list)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/**
 * Reads the config file (if any) and the environment; the environment wins. Throws ConfigError naming the
 * first offending key.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, configFile?: string): Config {
  const known = Object.keys((loadSchema() as { properties: Record<string, unknown> }).properties);
  let fromFile: RawConfig = {};
  if (configFile !== undefined) {
    try {
      fromFile = JSON.parse(readFileSync(configFile, 'utf8')) as RawConfig;
    } catch (err) {
      throw new ConfigError('--config', `cannot read ${configFile}: ${(err as Error).message}`);
    }
  }
  const fromEnv: RawConfig = {};
  for (const key of known) fromEnv[key] = env[key];
  return resolveConfig({ ...coerce(fromFile), ...coerce(fromEnv) });
}

/** Validates already-merged raw keys (tests pass these directly) and fills defaults. */
export function resolveConfig(raw: RawConfig): Config {
  const ajv = new Ajv({ allErrors: false, strict: false });
  const validate = ajv.compile(loadSchema());
  const merged = coerce(raw);
  if (!validate(merged)) {
    const err = validate.errors?.[0];
    const key = err?.instancePath.replace(/^\//, '') || String(err?.params && 'additionalProperty' in err.params ? err.params.additionalProperty : 'config');
    throw new ConfigError(key, err?.message ?? 'invalid');
  }
  const num = (key: string, fallback: number): number => (typeof merged[key] === 'number' ? merged[key] : fallback);
  const str = (key: string): string | undefined => (merged[key] === undefined ? undefined : String(merged[key]));

  const config: Config = {
    ocppPort: num('CSMS_OCPP_PORT', 9000),
    ocppHost: str('CSMS_OCPP_HOST') ?? '0.0.0.0',
    ocppTlsPort: typeof merged.CSMS_OCPP_TLS_PORT === 'number' ? merged.CSMS_OCPP_TLS_PORT : undefined,
    tlsCert: split(merged.CSMS_TLS_CERT),
    tlsKey: split(merged.CSMS_TLS_KEY),
    tlsClientCa: str('CSMS_TLS_CLIENT_CA'),
    tlsClientOrganization: str('CSMS_TLS_CLIENT_ORGANIZATION'),
    trustedProxies: split(merged.CSMS_TRUSTED_PROXIES),
    caCert: str('CSMS_CA_CERT'),
    caKey: str('CSMS_CA_KEY'),
    passwordVerifierKey: str('CSMS_PASSWORD_VERIFIER_KEY'),
    apiPort: num('CSMS_API_PORT', 8080),
    apiHost: str('CSMS_API_HOST') ?? '127.0.0.1',
    apiHosts: split(merged.CSMS_API_HOSTS),
    apiMaxBodyBytes: num('CSMS_API_MAX_BODY', 1024 * 1024),
    apiToken: str('CSMS_API_TOKEN'),
    dataDir: str('CSMS_DATA_DIR') ?? './data',
    databaseUrl: str('DATABASE_URL'),
    redisUrl: str('REDIS_URL'),
    nodeId: str('CSMS_NODE_ID') ?? `${hostname()}-${process.pid}`,
    unknownStations: (str('CSMS_UNKNOWN_STATIONS') ?? 'reject') as Config['unknownStations'],
    heartbeatIntervalSeconds: num('CSMS_HEARTBEAT_INTERVAL', 300),
    bootRetryIntervalSeconds: num('CSMS_BOOT_RETRY_INTERVAL', 30),
    callTimeoutMs: num('CSMS_CALL_TIMEOUT_MS', 30_000),
    logLevel: str('CSMS_LOG_LEVEL') ?? 'info',
    maxPayloadBytes: num('CSMS_MAX_PAYLOAD_BYTES', 1024 * 1024),
    idleTimeoutSeconds: num('CSMS_IDLE_TIMEOUT', 120),
    masterPassGroup: str('CSMS_MASTER_PASS_GROUP'),
    workers: num('CSMS_WORKERS', 1),
    redisPrefix: str('CSMS_REDIS_PREFIX') ?? 'stroom:',
    redisCluster: ['1', 'true', 'yes'].includes(str('CSMS_REDIS_CLUSTER') ?? ''),
    stationBytesPerSecond: num('CSMS_STATION_BYTES_PER_SECOND', 256 * 1024),
    stationBurstBytes: num('CSMS_STATION_BURST_BYTES', 4 * 1024 * 1024),
    stationMaxQueuedCalls: num('CSMS_STATION_MAX_QUEUED_CALLS', 100),
    reportMaxParts: num('CSMS_REPORT_MAX_PARTS', 500),
    reportMaxRequests: num('CSMS_REPORT_MAX_REQUESTS', 10),
    monitoringReportTimeoutMs: num('CSMS_MONITORING_REPORT_TIMEOUT_SECONDS', 300) * 1000,
    retentionDays: num('CSMS_RETENTION_DAYS', 90),
    dbTimeoutMs: num('CSMS_DB_TIMEOUT_MS', 5000),
    minFreeBytes: num('CSMS_MIN_FREE_BYTES', 64 * 1024 * 1024),
    v2gCaCert: str('CSMS_V2G_CA_CERT'),
    v2gCaKey: str('CSMS_V2G_CA_KEY'),
    contractCertProvider: str('CSMS_CONTRACT_CERT_PROVIDER'),
    contractCertTimeoutMs: num('CSMS_CONTRACT_CERT_TIMEOUT_MS', 10_000),
    v2gTrustRoots: str('CSMS_V2G_TRUST_ROOTS'),
    webhookRetryScheduleMs: parseDurations('CSMS_WEBHOOK_RETRY_SCHEDULE', str('CSMS_WEBHOOK_RETRY_SCHEDULE') ?? '5s,5m,30m,2h,5h,10h,10h'),
    webhookTimeoutMs: num('CSMS_WEBHOOK_TIMEOUT_MS', 10_000),
  };

  if (config.tlsCert.length !== config.tlsKey.length) {
    throw new ConfigError('CSMS_TLS_KEY', 'CSMS_TLS_CERT and CSMS_TLS_KEY must list the same number of files');
  }
  if (config.ocppTlsPort !== undefined && config.workers > 1) {
    // Worker processes share the uWS ports with SO_REUSEPORT; Node 20's TLS server cannot (reusePort came in Node 22.12).
    throw new ConfigError(
      'CSMS_OCPP_TLS_PORT',
      'cannot be shared by CSMS_WORKERS > 1 processes; terminate TLS in front of the plain port instead (src/transport/haproxy.example.cfg)',
    );
  }
  if (config.ocppTlsPort !== undefined && config.tlsCert.length === 0) {
    throw new ConfigError('CSMS_TLS_CERT', 'required when CSMS_OCPP_TLS_PORT is set');
  }
  const loopback = config.apiHost === '127.0.0.1' || config.apiHost === '::1' || config.apiHost === 'localhost';
  if (!loopback && config.apiToken === undefined) {
    throw new ConfigError('CSMS_API_TOKEN', `required when CSMS_API_HOST (${config.apiHost}) is not a loopback address`);
  }
  return config;
}
