/**
 * Helpers for the device-management / remote-operation tests (dm-*.test.ts): the operator's side of a command
 * round trip, the data endpoints that show what stations reported, canned station answers and report builders,
 * minimal transactions (RS-EnergyTransferStarted and the ways out of it), and certificate fixtures generated at
 * test time (no committed key material).
 */
import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, sign, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { ApiClient, ApiResponse, StationView } from './api.js';
import type { StationCredentials, TestCsms } from './csms.js';
import { sleep, waitFor, type CsmsCall, type Payload, type TestStation } from './station.js';

// ---------------------------------------------------------------------------------------------------------------
// Operator side: commands and what they answer
// ---------------------------------------------------------------------------------------------------------------

export interface CommandBody {
  request: Payload;
  response: Payload;
  parts?: number;
  error?: { code: string; message?: string; details?: unknown };
}

/**
 * Sends `payload` as the operator and checks the contract of a successful round trip: HTTP 200, `request` is the
 * payload as sent (plus any assigned requestId / remoteStartId), the station received exactly that as one new CALL
 * of `action`, and `response` is what the station answered (when `expectedResponse` is given).
 */
export async function roundTrip(
  csms: TestCsms,
  station: TestStation,
  action: string,
  payload: Payload,
  expectedResponse?: Payload,
): Promise<{ request: Payload; response: Payload; call: CsmsCall; body: CommandBody }> {
  const mark = station.mark();
  const res = await csms.api.command(station.identity, action, payload);
  expect(res.status, `${action}: HTTP status (body ${res.text.slice(0, 300)})`).toBe(200);
  const body = res.body as unknown as CommandBody;
  expect(body.request, `${action}: the request echoed to the operator`).toMatchObject(payload);
  const calls = station.csmsCalls.filter((c) => c.action === action && c.seq > mark);
  expect(calls, `${action}: CALLs the station received for one command`).toHaveLength(1);
  const call = calls[0] as CsmsCall;
  expect(call.payload, `${action}: what the station received`).toEqual(body.request);
  if (expectedResponse !== undefined) expect(body.response, `${action}: the station answer returned to the operator`).toEqual(expectedResponse);
  return { request: body.request, response: body.response, call, body };
}

/** Any command; resolves with the raw API answer (for the non-200 outcomes). */
export function sendCommand(csms: TestCsms, identity: string, action: string, payload: unknown): Promise<ApiResponse<CommandBody>> {
  return csms.api.command(identity, action, payload);
}

/** The error body shape of CONTRACT §4. */
export function expectApiError(res: ApiResponse, status: number, code?: string): void {
  expect(res.status, `HTTP status (body ${res.text.slice(0, 300)})`).toBe(status);
  const body = res.body as { error?: { code?: unknown; message?: unknown } };
  expect(typeof body.error?.code, 'error.code').toBe('string');
  if (code !== undefined) expect(body.error?.code).toBe(code);
}

// ---------------------------------------------------------------------------------------------------------------
// Data endpoints
// ---------------------------------------------------------------------------------------------------------------

const stationPath = (id: string): string => `/api/v1/stations/${encodeURIComponent(id)}`;

export interface VariableView {
  component: { name: string; instance?: string; evse?: { id: number; connectorId?: number } };
  variable: { name: string; instance?: string };
  attributes: Array<{ type: string; value: string }>;
}

export interface EventItem {
  id?: unknown;
  kind: string;
  payload: Payload;
  receivedAt: string;
}

export async function stationView(api: ApiClient, identity: string): Promise<StationView> {
  const res = await api.getStation(identity);
  expect(res.status, `GET station ${identity}`).toBe(200);
  return res.body;
}

export async function deviceVariables(api: ApiClient, identity: string): Promise<VariableView[]> {
  const res = await api.getVariables(identity);
  expect(res.status, `GET variables of ${identity}: ${res.text.slice(0, 200)}`).toBe(200);
  expect(Array.isArray(res.body), `GET variables answers an array: ${res.text.slice(0, 200)}`).toBe(true);
  return res.body as VariableView[];
}

export interface VariableRef {
  component: string;
  variable: string;
  componentInstance?: string;
  variableInstance?: string;
  evse?: { id: number; connectorId?: number };
}

export function findVariable(list: readonly VariableView[], ref: VariableRef): VariableView | undefined {
  return list.find(
    (v) =>
      v.component.name === ref.component &&
      (v.component.instance ?? undefined) === ref.componentInstance &&
      (v.component.evse?.id ?? undefined) === ref.evse?.id &&
      (v.component.evse?.connectorId ?? undefined) === ref.evse?.connectorId &&
      v.variable.name === ref.variable &&
      (v.variable.instance ?? undefined) === ref.variableInstance,
  );
}

/** The value of one attribute (default Actual) of a variable in GET …/variables, or undefined. */
export function attributeValue(list: readonly VariableView[], ref: VariableRef, type = 'Actual'): string | undefined {
  return findVariable(list, ref)?.attributes.find((a) => a.type === type)?.value;
}

export async function stationEvents(api: ApiClient, identity: string): Promise<EventItem[]> {
  const res = await api.request<{ items: EventItem[] }>('GET', `${stationPath(identity)}/events`);
  expect(res.status, `GET events of ${identity}: ${res.text.slice(0, 200)}`).toBe(200);
  expect(Array.isArray(res.body.items), 'events answer {items:[…]}').toBe(true);
  return res.body.items;
}

/** Events of one kind, newest first (as the API lists them). */
export async function eventsOf(api: ApiClient, identity: string, kind: string): Promise<EventItem[]> {
  return (await stationEvents(api, identity)).filter((e) => e.kind === kind);
}

export interface CustomerInformationView {
  requestId: number;
  complete: boolean;
  data: string;
}

export function customerInformation(api: ApiClient, identity: string, requestId: number): Promise<ApiResponse<CustomerInformationView>> {
  return api.request('GET', `${stationPath(identity)}/customer-information/${requestId}`);
}

export interface TransactionView {
  transactionId: string;
  active: boolean;
  stoppedReason?: string | null;
  [key: string]: unknown;
}

export async function transactionView(api: ApiClient, identity: string, transactionId: string): Promise<TransactionView> {
  const res = await api.request<TransactionView>('GET', `${stationPath(identity)}/transactions/${encodeURIComponent(transactionId)}`);
  expect(res.status, `GET transaction ${transactionId}: ${res.text.slice(0, 200)}`).toBe(200);
  return res.body;
}

/** `"<evse>/<connector>:<status>"` for every connector the station view shows. */
export function connectorStatuses(view: StationView): string[] {
  return (view.evses ?? []).flatMap((e) => e.connectors.map((c) => `${e.id}/${c.id}:${String(c.status)}`));
}

/** Waits until GET station shows `expected` (e.g. ['1/1:Unavailable']) among its connector statuses. */
export async function waitForConnectors(api: ApiClient, identity: string, expected: string[]): Promise<string[]> {
  return waitFor(
    async () => {
      const statuses = connectorStatuses(await stationView(api, identity));
      return expected.every((s) => statuses.includes(s)) ? statuses : undefined;
    },
    { what: `connectors ${expected.join(', ')} of ${identity}` },
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Stations with their credentials (for reconnects after Reset / password changes)
// ---------------------------------------------------------------------------------------------------------------

export interface EvseSpec {
  id: number;
  connectors: number[];
}

export const TWO_EVSES: EvseSpec[] = [
  { id: 1, connectors: [1] },
  { id: 2, connectors: [1] },
];

/** Registers, connects and runs RS-Booted; returns the station and its credentials. */
export async function bootedWithCreds(
  csms: TestCsms,
  prefix: string,
  opts: { evses?: EvseSpec[]; via?: 'StatusNotification' | 'NotifyEvent'; autoReport?: boolean } = {},
): Promise<{ station: TestStation; creds: StationCredentials }> {
  const creds = await csms.register({ prefix: prefix.replace(/[^A-Za-z0-9_-]+/g, '-').slice(0, 20) });
  const station = await csms.connect({ ...creds, autoReport: opts.autoReport ?? true });
  await station.boot();
  await station.reportConnectors(opts.evses, opts.via);
  return { station, creds };
}

/** The station goes away (reboot) and comes back: a new connection, BootNotification(reason) Accepted, connectors reported. */
export async function rebootStation(
  csms: TestCsms,
  station: TestStation,
  creds: StationCredentials,
  reason: string,
  connectors: Array<{ evseId: number; connectorId: number; status: string }> = [{ evseId: 1, connectorId: 1, status: 'Available' }],
): Promise<{ station: TestStation; boot: Payload }> {
  await station.close();
  const next = await csms.connect(creds);
  const boot = await next.boot({ reason, expect: null });
  for (const c of connectors) expect(await next.statusNotification(c.evseId, c.connectorId, c.status)).toEqual({});
  return { station: next, boot };
}

// ---------------------------------------------------------------------------------------------------------------
// Canned answers and builders
// ---------------------------------------------------------------------------------------------------------------

/** A handler that holds its answer until `open()` is called. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

export interface ItemRef {
  component: { name: string; instance?: string; evse?: { id: number; connectorId?: number } };
  variable: { name: string; instance?: string };
  attributeType?: AttributeType;
}

export type AttributeType = 'Actual' | 'Target' | 'MinSet' | 'MaxSet';

export const OFFLINE_THRESHOLD: ItemRef = { component: { name: 'OCPPCommCtrlr' }, variable: { name: 'OfflineThreshold' } };
export const AUTHORIZE_REMOTE_START: ItemRef = { component: { name: 'AuthCtrlr' }, variable: { name: 'AuthorizeRemoteStart' } };
export const HEARTBEAT_INTERVAL: ItemRef = { component: { name: 'OCPPCommCtrlr' }, variable: { name: 'HeartbeatInterval' } };
export const AUTH_ENABLED: ItemRef = { component: { name: 'AuthCtrlr' }, variable: { name: 'Enabled' } };
export const BASIC_AUTH_PASSWORD: ItemRef = { component: { name: 'SecurityCtrlr' }, variable: { name: 'BasicAuthPassword' } };

export const itemsPerMessage = (instance: 'GetVariables' | 'SetVariables'): ItemRef => ({
  component: { name: 'DeviceDataCtrlr' },
  variable: { name: 'ItemsPerMessage', instance },
});

/** SetVariables answer with the same status for every item of the request. */
export function setVariablesAnswer(payload: Payload, attributeStatus: string): Payload {
  const data = payload.setVariableData as Array<ItemRef & { attributeValue: string }>;
  return {
    setVariableResult: data.map((d) => ({
      ...(d.attributeType !== undefined ? { attributeType: d.attributeType } : {}),
      attributeStatus,
      component: d.component,
      variable: d.variable,
    })),
  };
}

/** One NotifyReport reportData entry. */
export function reportEntry(
  component: ItemRef['component'],
  variable: ItemRef['variable'],
  value: string,
  opts: { type?: string; mutability?: string; dataType?: string } = {},
): Payload {
  const entry: Payload = {
    component,
    variable,
    variableAttribute: [{ type: opts.type ?? 'Actual', value, mutability: opts.mutability ?? 'ReadWrite' }],
  };
  if (opts.dataType !== undefined) entry.variableCharacteristics = { dataType: opts.dataType, supportsMonitoring: false };
  return entry;
}

/** A device model of `n` distinct variables (Vendor component instances), for multi-part reports. */
export function syntheticReport(n: number, prefix = 'Var'): Payload[] {
  return Array.from({ length: n }, (_, i) =>
    reportEntry({ name: 'StroomTestCtrlr', instance: `i${i}` }, { name: `${prefix}${i}` }, String(i * 7), { dataType: 'integer' }),
  );
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export const now = (): string => new Date().toISOString();

export function securityEvent(type: string, techInfo?: string): Payload {
  return techInfo === undefined ? { type, timestamp: now() } : { type, timestamp: now(), techInfo };
}

// ---------------------------------------------------------------------------------------------------------------
// Transactions (minimal: enough to put a station into RS-EnergyTransferStarted and take it out again)
// ---------------------------------------------------------------------------------------------------------------

export interface RunningTx {
  transactionId: string;
  evseId: number;
  connectorId: number;
  idToken: { idToken: string; type: string };
  /** Next seqNo to send. */
  seqNo: number;
}

let txCounter = 0;

/** Registers an Accepted ISO14443 token through the API. */
export async function registerToken(api: ApiClient, idToken: string, type = 'ISO14443'): Promise<void> {
  const res = await api.request('PUT', `/api/v1/id-tokens/${type}/${encodeURIComponent(idToken)}`, { status: 'Accepted' });
  expect([200, 201], `PUT id-token ${idToken}: ${res.text.slice(0, 200)}`).toContain(res.status);
}

/**
 * RS-EnergyTransferStarted on one connector: Occupied, TE Started (CablePluggedIn), Authorize, TE Updated
 * (Authorized), TE Updated (ChargingStateChanged → Charging).
 */
export async function energyTransferStarted(csms: TestCsms, station: TestStation, opts: { evseId?: number; connectorId?: number } = {}): Promise<RunningTx> {
  txCounter += 1;
  const tx: RunningTx = {
    transactionId: `dm-tx-${txCounter}-${Math.random().toString(16).slice(2, 8)}`,
    evseId: opts.evseId ?? 1,
    connectorId: opts.connectorId ?? 1,
    idToken: { idToken: `DM${String(txCounter).padStart(4, '0')}${Math.random().toString(16).slice(2, 8).toUpperCase()}`, type: 'ISO14443' },
    seqNo: 0,
  };
  await registerToken(csms.api, tx.idToken.idToken);
  expect(await station.statusNotification(tx.evseId, tx.connectorId, 'Occupied')).toEqual({});
  await txEvent(station, tx, 'Started', 'CablePluggedIn', { chargingState: 'EVConnected' }, { evse: { id: tx.evseId, connectorId: tx.connectorId } });
  const auth = await station.call<{ idTokenInfo: { status: string } }>('Authorize', { idToken: tx.idToken });
  expect(auth.idTokenInfo.status).toBe('Accepted');
  const authorized = await txEvent(station, tx, 'Updated', 'Authorized', {}, { idToken: tx.idToken });
  expect(authorized.idTokenInfo).toMatchObject({ status: 'Accepted' });
  await txEvent(station, tx, 'Updated', 'ChargingStateChanged', { chargingState: 'Charging' });
  return tx;
}

/** One TransactionEvent of `tx` with the next seqNo. */
export async function txEvent(
  station: TestStation,
  tx: RunningTx,
  eventType: 'Started' | 'Updated' | 'Ended',
  triggerReason: string,
  transactionInfo: Payload = {},
  extra: Payload = {},
): Promise<Payload & { idTokenInfo?: Payload }> {
  const seqNo = tx.seqNo;
  tx.seqNo += 1;
  return station.transactionEvent({
    eventType,
    triggerReason,
    seqNo,
    transactionInfo: { transactionId: tx.transactionId, ...transactionInfo },
    ...extra,
  });
}

/** RS-StopAuthorized → RS-EVConnectedPostSession → RS-EVDisconnected: the driver stops and unplugs. */
export async function stopAndUnplug(
  station: TestStation,
  tx: RunningTx,
  afterUnplugStatus = 'Available',
  via: 'StatusNotification' | 'NotifyEvent' = 'StatusNotification',
): Promise<void> {
  const stop = await txEvent(station, tx, 'Updated', 'StopAuthorized', { chargingState: 'EVConnected' }, { idToken: tx.idToken });
  expect(stop.idTokenInfo).toMatchObject({ status: 'Accepted' });
  const answer =
    via === 'StatusNotification'
      ? await station.statusNotification(tx.evseId, tx.connectorId, afterUnplugStatus)
      : await station.notifyConnectorEvent(tx.evseId, tx.connectorId, afterUnplugStatus);
  expect(answer).toEqual({});
  await txEvent(station, tx, 'Ended', 'EVCommunicationLost', { chargingState: 'Idle', stoppedReason: 'EVDisconnected' });
}

/** The station ends the transaction itself because of an immediate reset (TC_B_22 / TC_B_27): no idToken. */
export async function endByImmediateReset(station: TestStation, tx: RunningTx): Promise<void> {
  await txEvent(station, tx, 'Ended', 'ResetCommand', { chargingState: 'EVConnected', stoppedReason: 'ImmediateReset' });
}

export async function expectTransactionEnded(api: ApiClient, identity: string, tx: RunningTx, stoppedReason: string): Promise<void> {
  const view = await transactionView(api, identity, tx.transactionId);
  expect(view.active, `transaction ${tx.transactionId} active`).toBe(false);
  expect(view.stoppedReason).toBe(stoppedReason);
}

// ---------------------------------------------------------------------------------------------------------------
// Certificates (generated at test time with openssl; hash data computed as M04 / RFC 6960 CertID)
// ---------------------------------------------------------------------------------------------------------------

export type HashAlgorithm = 'SHA256' | 'SHA384' | 'SHA512';

export interface TestCertificate {
  pem: string;
  keyPem: string;
  x509: X509Certificate;
  /** certificateHashData of this (self-signed) certificate with the given algorithm. */
  hashData(alg: HashAlgorithm): { hashAlgorithm: HashAlgorithm; issuerNameHash: string; issuerKeyHash: string; serialNumber: string };
}

interface Tlv {
  tag: number;
  offset: number;
  contentStart: number;
  end: number;
}

function readTlv(der: Buffer, offset: number): Tlv {
  const tag = der[offset] as number;
  let length = der[offset + 1] as number;
  let p = offset + 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    length = 0;
    for (let i = 0; i < n; i += 1) length = length * 256 + (der[p++] as number);
  }
  return { tag, offset, contentStart: p, end: p + length };
}

function childrenOf(der: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let p = parent.contentStart; p < parent.end;) {
    const child = readTlv(der, p);
    out.push(child);
    p = child.end;
  }
  return out;
}

const certificateCache = new Map<string, TestCertificate>();

/** A fresh self-signed EC P-256 certificate (cached per subject within a test file). */
export function testCertificate(commonName = 'Stroom Test Root'): TestCertificate {
  const cached = certificateCache.get(commonName);
  if (cached !== undefined) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'stroom-cert-'));
  try {
    const keyPath = join(dir, 'key.pem');
    const certPath = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        keyPath,
        '-out',
        certPath,
        '-days',
        '2',
        '-subj',
        `/CN=${commonName}/O=Stroom Test`,
      ],
      { stdio: 'pipe' },
    );
    const pem = readFileSync(certPath, 'utf8');
    const keyPem = readFileSync(keyPath, 'utf8');
    const x509 = new X509Certificate(pem);
    const der = x509.raw;
    const tbs = childrenOf(der, readTlv(der, 0))[0] as Tlv;
    const fields = childrenOf(der, tbs);
    const rest = fields[0]?.tag === 0xa0 ? fields.slice(1) : fields;
    const serial = rest[0] as Tlv;
    const issuer = rest[2] as Tlv;
    const issuerDer = der.subarray(issuer.offset, issuer.end);
    const spki = x509.publicKey.export({ type: 'spki', format: 'der' });
    const bitString = childrenOf(spki, readTlv(spki, 0))[1] as Tlv;
    const issuerKey = spki.subarray(bitString.contentStart + 1, bitString.end); // skip the unused-bits byte
    const serialHex = der
      .subarray(serial.contentStart, serial.end)
      .toString('hex')
      .replace(/^(00)+(?=.)/, '')
      .replace(/^0(?=.)/, '');
    const algs: Record<HashAlgorithm, string> = { SHA256: 'sha256', SHA384: 'sha384', SHA512: 'sha512' };
    const cert: TestCertificate = {
      pem,
      keyPem,
      x509,
      hashData: (alg) => ({
        hashAlgorithm: alg,
        issuerNameHash: createHash(algs[alg]).update(issuerDer).digest('hex'),
        issuerKeyHash: createHash(algs[alg]).update(issuerKey).digest('hex'),
        serialNumber: serialHex,
      }),
    };
    certificateCache.set(commonName, cert);
    return cert;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A firmware image description with a real signing certificate and a real signature over some bytes. */
export function firmwareFixture(opts: { retrieveDateTime?: string; installDateTime?: string; location?: string } = {}): Payload {
  const signer = testCertificate('Stroom Test Firmware Signer');
  const signature = sign('sha256', Buffer.from('stroom firmware image v2.0.0'), createPrivateKey(signer.keyPem)).toString('base64');
  const firmware: Payload = {
    location: opts.location ?? 'https://firmware.example.com/stroom/v2.0.0.bin',
    retrieveDateTime: opts.retrieveDateTime ?? now(),
    signingCertificate: signer.pem,
    signature,
  };
  if (opts.installDateTime !== undefined) firmware.installDateTime = opts.installDateTime;
  return firmware;
}

/** A static, obviously fake PEM for places where the CSMS only forwards what it is given. */
export const FAKE_PEM = [
  '-----BEGIN CERTIFICATE-----',
  'MIIBszCCAVmgAwIBAgIUU3Ryb29tRmFrZUNlcnRpZmljYXRlMAoGCCqGSM49BAMC',
  'MBkxFzAVBgNVBAMMDlN0cm9vbSBGYWtlIENBMB4XDTI1MDEwMTAwMDAwMFoXDTM1',
  '-----END CERTIFICATE-----',
  '',
].join('\n');

/** Waits a little for something that must NOT happen (absence can only be observed by waiting). */
export async function settle(station: TestStation, ms = 200): Promise<void> {
  await station.heartbeat();
  await sleep(ms);
}

/**
 * Cases for `it.each(...)('%s', (name, c) => …)` with a readable title per case (vitest quotes strings that are
 * interpolated with `$field`, which makes case ids hard to read in reports).
 */
export function named<T>(cases: readonly T[], title: (c: T) => string): Array<[string, T]> {
  return cases.map((c) => [title(c), c]);
}
