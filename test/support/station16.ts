/**
 * A scripted OCPP 1.6J charge point (with the Security Extension) for black-box tests, built on ocpp-rpc's client in
 * strict mode: everything it sends and everything the CSMS sends it is validated against ocpp-rpc's own copy of the
 * official 1.6 schemas, so a frame of ours that is wrong fails where it is sent and a frame of the CSMS that is wrong
 * ends up in `problems()`.
 *
 * It answers every Central-System-initiated 1.6 action with a plausible, schema-valid response (a test may replace
 * any answer with `handle`) and records what it was asked (`received`).
 */
import { createRequire } from 'node:module';
import type { IncomingMessage } from 'node:http';
import type {
  AuthorizeResponse,
  BootNotificationRequest,
  BootNotificationResponse,
  HeartbeatResponse,
  MeterValuesRequest,
  StartTransactionResponse,
  StatusNotificationRequest,
  StopTransactionRequest,
  StopTransactionResponse,
} from '../../src/ocpp/v16/types.js';

// ------------------------------------------------------------------------------ ocpp-rpc, the parts used here

interface RpcCallContext {
  method: string;
  params: Record<string, unknown>;
  messageId: string;
}

interface RpcClient {
  readonly protocol: string | undefined;
  connect(): Promise<{ response: IncomingMessage }>;
  call(method: string, params: unknown, options?: { callTimeoutMs?: number }): Promise<unknown>;
  handle(method: string, handler: (ctx: RpcCallContext) => unknown): void;
  close(options?: { code?: number; reason?: string; force?: boolean }): Promise<unknown>;
  on(event: 'strictValidationFailure', listener: (failure: { error: Error; messageId?: string; method?: string; params?: unknown }) => void): void;
  on(event: 'badMessage', listener: (bad: { error: Error; payload?: unknown }) => void): void;
  on(event: 'close', listener: (info: { code: number; reason: string }) => void): void;
}

interface RpcClientOptions {
  identity: string;
  endpoint: string;
  protocols: string[];
  strictMode: boolean | string[];
  password?: string;
  reconnect: boolean;
  callTimeoutMs: number;
  wsOpts?: Record<string, unknown>;
}

interface OcppRpcModule {
  RPCClient: new (options: RpcClientOptions) => RpcClient;
}

const ocppRpc = createRequire(import.meta.url)('ocpp-rpc') as OcppRpcModule;

/** An OCPP error the CSMS answered (ocpp-rpc's RPCError): `rpcErrorCode` as the CSMS spelt it. */
export interface RpcError extends Error {
  rpcErrorCode: string;
  details?: unknown;
}

export function isRpcError(err: unknown): err is RpcError {
  return err instanceof Error && typeof (err as Partial<RpcError>).rpcErrorCode === 'string';
}

/** ocpp-rpc's refused upgrade: the HTTP status is in `code`. */
export function upgradeStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

// ------------------------------------------------------------------------------ the station

export interface Station16Options {
  /** `ws://host:port/ocpp` (or wss://). */
  url: string;
  identity: string;
  /** Basic auth (profiles 1 and 2); none for profile 3. */
  password?: string;
  /** Subprotocols offered, in order; default `['ocpp1.6']`. */
  protocols?: string[];
  /** TLS options for wss:// (ca, cert, key). */
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; servername?: string };
  callTimeoutMs?: number;
}

export interface ReceivedCall {
  action: string;
  params: Record<string, unknown>;
}

type Answer = (params: Record<string, unknown>) => unknown;

/** What a well-behaved charge point answers to each Central-System-initiated action, unless a test says otherwise. */
const DEFAULT_ANSWERS: Readonly<Record<string, Answer>> = {
  CancelReservation: () => ({ status: 'Accepted' }),
  CertificateSigned: () => ({ status: 'Accepted' }),
  ChangeAvailability: () => ({ status: 'Accepted' }),
  ChangeConfiguration: () => ({ status: 'Accepted' }),
  ClearCache: () => ({ status: 'Accepted' }),
  ClearChargingProfile: () => ({ status: 'Accepted' }),
  DataTransfer: () => ({ status: 'Accepted', data: 'ok' }),
  DeleteCertificate: () => ({ status: 'Accepted' }),
  ExtendedTriggerMessage: () => ({ status: 'Accepted' }),
  GetCompositeSchedule: (params) => ({
    status: 'Accepted',
    connectorId: params.connectorId,
    scheduleStart: new Date().toISOString(),
    chargingSchedule: { chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 16 }] },
  }),
  GetConfiguration: () => ({
    configurationKey: [
      { key: 'HeartbeatInterval', readonly: false, value: '300' },
      { key: 'NumberOfConnectors', readonly: true, value: '2' },
      { key: 'AuthorizationKey', readonly: false, value: 'never-shown-anywhere' },
    ],
    unknownKey: [],
  }),
  GetDiagnostics: () => ({ fileName: 'diagnostics.zip' }),
  GetInstalledCertificateIds: () => ({ status: 'NotFound' }),
  GetLocalListVersion: () => ({ listVersion: 0 }),
  GetLog: () => ({ status: 'Accepted', filename: 'security.log' }),
  InstallCertificate: () => ({ status: 'Accepted' }),
  RemoteStartTransaction: () => ({ status: 'Accepted' }),
  RemoteStopTransaction: () => ({ status: 'Accepted' }),
  ReserveNow: () => ({ status: 'Accepted' }),
  Reset: () => ({ status: 'Accepted' }),
  SendLocalList: () => ({ status: 'Accepted' }),
  SetChargingProfile: () => ({ status: 'Accepted' }),
  SignedUpdateFirmware: () => ({ status: 'Accepted' }),
  TriggerMessage: () => ({ status: 'Accepted' }),
  UnlockConnector: () => ({ status: 'Unlocked' }),
  UpdateFirmware: () => ({}),
};

export const DEFAULT_BOOT: BootNotificationRequest = {
  chargePointVendor: 'Stroom Test',
  chargePointModel: 'TS-16',
  firmwareVersion: '1.6.0-test',
};

export class Station16 {
  readonly received: ReceivedCall[] = [];
  private readonly answers = new Map<string, Answer>(Object.entries(DEFAULT_ANSWERS));
  private readonly seen: string[] = [];
  closed: { code: number; reason: string } | undefined;

  private constructor(
    readonly identity: string,
    private readonly client: RpcClient,
  ) {
    client.on('strictValidationFailure', (failure) => this.seen.push(`strict validation failed (${failure.method ?? '?'}): ${failure.error.message}`));
    client.on('badMessage', (bad) => this.seen.push(`bad message from the CSMS: ${bad.error.message}`));
    client.on('close', (info) => (this.closed = info));
    for (const action of Object.keys(DEFAULT_ANSWERS)) {
      client.handle(action, ({ params }) => {
        this.received.push({ action, params });
        const answer = this.answers.get(action);
        if (answer === undefined) throw new Error(`no answer for ${action}`);
        return answer(params);
      });
    }
  }

  /** Connects (the upgrade is refused → rejects with ocpp-rpc's error; `upgradeStatus` reads its HTTP status). */
  static async connect(options: Station16Options): Promise<Station16> {
    const protocols = options.protocols ?? ['ocpp1.6'];
    const client = new ocppRpc.RPCClient({
      identity: options.identity,
      endpoint: options.url,
      protocols,
      // Strict on the 1.6 frames; a 2.0.1 connection (negotiation tests) is only looked at, never spoken.
      strictMode: ['ocpp1.6'],
      ...(options.password !== undefined ? { password: options.password } : {}),
      reconnect: false,
      callTimeoutMs: options.callTimeoutMs ?? 10_000,
      ...(options.tls !== undefined ? { wsOpts: { ...options.tls } } : {}),
    });
    const station = new Station16(options.identity, client);
    await client.connect();
    return station;
  }

  /** The subprotocol the CSMS chose. */
  get protocol(): string | undefined {
    return this.client.protocol;
  }

  get isOpen(): boolean {
    return this.closed === undefined;
  }

  /** Replaces the answer to a Central-System-initiated action. */
  handle(action: string, answer: Answer): void {
    this.answers.set(action, answer);
  }

  call<T = Record<string, unknown>>(action: string, payload: object): Promise<T> {
    return this.client.call(action, payload) as Promise<T>;
  }

  /** What went wrong in the CSMS's frames so far. */
  problems(): string[] {
    return [...this.seen];
  }

  async close(): Promise<void> {
    if (this.closed !== undefined) return;
    await this.client.close({ code: 1000, reason: 'test done' }).catch(() => undefined);
  }

  /** Waits until the CSMS sent `action` (the `n`-th time, counting from 1), and returns its params. */
  async waitForCall(action: string, n = 1, timeoutMs = 5000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const calls = this.received.filter((c) => c.action === action);
      const call = calls[n - 1];
      if (call !== undefined) return call.params;
      if (Date.now() > deadline)
        throw new Error(`${this.identity}: no ${action} #${n} from the CSMS within ${timeoutMs} ms (got: ${this.received.map((c) => c.action).join(', ')})`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  // ---------------------------------------------------------------- station messages

  boot(request: Partial<BootNotificationRequest> = {}): Promise<BootNotificationResponse> {
    return this.call<BootNotificationResponse>('BootNotification', { ...DEFAULT_BOOT, ...request });
  }

  /** Boots, expects Accepted, and reports the station and its connectors Available. */
  async booted(connectors = 2): Promise<void> {
    const answer = await this.boot();
    if (answer.status !== 'Accepted') throw new Error(`${this.identity}: boot answered ${answer.status}`);
    for (let connectorId = 0; connectorId <= connectors; connectorId += 1) await this.status(connectorId, 'Available');
  }

  heartbeat(): Promise<HeartbeatResponse> {
    return this.call<HeartbeatResponse>('Heartbeat', {});
  }

  status(connectorId: number, status: StatusNotificationRequest['status'], extra: Partial<StatusNotificationRequest> = {}): Promise<unknown> {
    return this.call('StatusNotification', { connectorId, errorCode: 'NoError', status, timestamp: new Date().toISOString(), ...extra });
  }

  authorize(idTag: string): Promise<AuthorizeResponse> {
    return this.call<AuthorizeResponse>('Authorize', { idTag });
  }

  start(connectorId: number, idTag: string, meterStart: number, timestamp: Date = new Date()): Promise<StartTransactionResponse> {
    return this.call<StartTransactionResponse>('StartTransaction', { connectorId, idTag, meterStart, timestamp: timestamp.toISOString() });
  }

  stop(transactionId: number, meterStop: number, extra: Partial<StopTransactionRequest> = {}, timestamp: Date = new Date()): Promise<StopTransactionResponse> {
    return this.call<StopTransactionResponse>('StopTransaction', { transactionId, meterStop, timestamp: timestamp.toISOString(), ...extra });
  }

  meterValues(request: MeterValuesRequest): Promise<unknown> {
    return this.call('MeterValues', request);
  }
}

/** One Energy.Active.Import.Register sample in Wh, as 1.6 writes it (a string value). */
export function registerSample(
  wh: number,
  at: Date,
  context: 'Sample.Periodic' | 'Transaction.Begin' | 'Transaction.End' = 'Sample.Periodic',
): MeterValuesRequest['meterValue'][number] {
  return { timestamp: at.toISOString(), sampledValue: [{ value: String(wh), context, measurand: 'Energy.Active.Import.Register', unit: 'Wh' }] };
}
