import { beforeAll, describe, expect, it } from 'vitest';
import { buildBlockTable, createBlocks } from '../../src/blocks/index.js';
import type { CommandOutcome, CommandRouter, StationLocation } from '../../src/cluster/command-router.js';
import { CommandService, type CommandReport } from '../../src/commands/service.js';
import type { JsonObject } from '../../src/json.js';
import { ocpp201 } from '../../src/ocpp/v201/index.js';
import { CertificateAuthority, generateCaPem } from '../../src/security/ca.js';
import { CommandRefusal, type BlockTable } from '../../src/station/types.js';
import type { MonitoringStore } from '../../src/store/monitoring-sql.js';
import type { DeviceVariable, SecurityProfile, StationRecord } from '../../src/store/store.js';

const CALL_TIMEOUT_MS = 30_000;
const START = Date.UTC(2025, 0, 1);

const protocol = ocpp201();
let blocks: BlockTable;

beforeAll(async () => {
  // The security block (SetNetworkProfile's plan) is built with a CA; a throw-away one will do.
  const generated = await generateCaPem();
  const ca = await CertificateAuthority.fromPem(generated.certificatePem, generated.keyPem, 'a throw-away CA');
  // The transactions block records remote-start grants before a RequestStartTransaction leaves; kept here.
  const grants = {
    grantRemoteStart: async () => undefined,
    bindRemoteStartGrant: async () => undefined,
    revokeRemoteStartGrant: async () => undefined,
  };
  // Command plans never touch the monitoring block's store (only its handlers and result hooks do): any use fails the test.
  const monitoring = new Proxy({} as MonitoringStore, {
    get: (_target, name) => {
      throw new Error(`a command plan used the monitoring store (${String(name)})`);
    },
  });
  blocks = buildBlockTable(createBlocks({ ca, store: grants, clock: { now: () => START }, monitoring }));
});

interface SentCall {
  stationId: string;
  action: string;
  payload: JsonObject;
  deadline: number;
}

/** A CommandRouter that records what it was asked to send and answers from a script. */
class ScriptedRouter implements CommandRouter {
  readonly sent: SentCall[] = [];

  constructor(private readonly answer: (call: SentCall, index: number) => CommandOutcome) {}

  async locate(): Promise<StationLocation> {
    return { connected: true, nodeId: 'test-node' };
  }

  async send(stationId: string, action: string, payload: JsonObject, deadline: number): Promise<CommandOutcome> {
    const call = { stationId, action, payload, deadline };
    this.sent.push(call);
    return this.answer(call, this.sent.length - 1);
  }

  async disconnect(): Promise<void> {}

  async close(): Promise<void> {}
}

function stationRecord(id: string, securityProfile: SecurityProfile): StationRecord {
  return {
    id,
    securityProfile,
    passwordHash: undefined,
    passwordVerifier: undefined,
    bootPolicy: 'Accepted',
    bootStatus: 'Accepted',
    chargingStation: undefined,
    lastBootReason: undefined,
    lastSeen: undefined,
    firmwareStatus: undefined,
    logStatus: undefined,
    certificates: undefined,
    pendingSecurityProfile: undefined,
    certificateSigning: undefined,
    availability: undefined,
    ocppVersionPin: 'auto',
    ocppVersion: undefined,
    createdAt: new Date(START),
    updatedAt: new Date(START),
  };
}

function itemsPerMessage(instance: 'GetVariables' | 'SetVariables', value: number): DeviceVariable {
  return { component: { name: 'DeviceDataCtrlr' }, variable: { name: 'ItemsPerMessage', instance }, attributes: [{ type: 'Actual', value: String(value) }] };
}

/** An answer echoing every item asked for, in order. */
function echoVariables(call: SentCall): CommandOutcome {
  const items = (call.payload.getVariableData ?? []) as JsonObject[];
  return { kind: 'result', response: { getVariableResult: items.map((item) => ({ attributeStatus: 'Accepted', ...item, attributeValue: '1' })) } };
}

interface Harness {
  service: CommandService;
  router: ScriptedRouter;
  /** How often the device model was read. */
  deviceModelReads(): number;
  advance(ms: number): void;
  now(): number;
}

/** One known station, CS1, registered at `securityProfile`, with a fixed device model. */
function harness(
  options: { answer?: (call: SentCall, index: number) => CommandOutcome; deviceModel?: DeviceVariable[]; securityProfile?: SecurityProfile } = {},
): Harness {
  let now = START;
  let reads = 0;
  const stations = new Map([['CS1', stationRecord('CS1', options.securityProfile ?? 1)]]);
  const router = new ScriptedRouter(options.answer ?? (() => ({ kind: 'result', response: { status: 'Accepted' } })));
  const store = {
    getStation: async (id: string) => stations.get(id),
    getVariables: async () => {
      reads += 1;
      return options.deviceModel ?? [];
    },
  };
  const service = new CommandService({ store, router, versions: [{ protocol, blocks }], clock: { now: () => now }, callTimeoutMs: CALL_TIMEOUT_MS });
  return {
    service,
    router,
    deviceModelReads: () => reads,
    advance: (ms) => {
      now += ms;
    },
    now: () => now,
  };
}

/** The refusal `run` throws, or a failed test when it sends instead. */
async function refusal(run: Promise<CommandReport>): Promise<CommandRefusal> {
  try {
    await run;
  } catch (err) {
    expect(err).toBeInstanceOf(CommandRefusal);
    return err as CommandRefusal;
  }
  throw new Error('expected a CommandRefusal');
}

const reset = { type: 'Immediate' };
const getVariableData = (...names: string[]): JsonObject[] => names.map((name) => ({ component: { name: 'OCPPCommCtrlr' }, variable: { name } }));

describe('CommandService: what is refused before anything is sent', () => {
  it('answers 400 to an action that is not CSMS-initiated, listing the actions it takes', async () => {
    const h = harness();
    for (const action of ['Rebooot', 'Heartbeat', 'BootNotification']) {
      const refused = await refusal(h.service.run('CS1', action, reset));
      expect(refused).toMatchObject({ status: 400, code: 'unknown_action', details: { actions: protocol.csmsActions } });
      expect(refused.message).toContain(action);
    }
    expect(h.service.actions).toContain('GetVariables');
    expect(h.router.sent).toEqual([]);
  });

  it('answers 400 to a body that is not a JSON object', async () => {
    const h = harness();
    for (const body of [null, undefined, [], ['Immediate'], 'Immediate', 42, true]) {
      const refused = await refusal(h.service.run('CS1', 'Reset', body));
      expect(refused, JSON.stringify(body)).toMatchObject({ status: 400, code: 'invalid_body' });
    }
    expect(h.router.sent).toEqual([]);
  });

  it('answers 400 listing every violation of the official schema', async () => {
    const h = harness();
    const refused = await refusal(h.service.run('CS1', 'GetVariables', { getVariableData: [{ component: {}, variable: { name: 'X' } }], colour: 'red' }));
    expect(refused).toMatchObject({ status: 400, code: 'invalid_payload' });
    expect(refused.details).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: '/', keyword: 'additionalProperties', message: 'unknown property "colour"' }),
        expect.objectContaining({ path: '/getVariableData/0/component', keyword: 'required' }),
      ]),
    );
    expect(h.router.sent).toEqual([]);
  });

  it('answers 404 for a station it does not know, and sends nothing', async () => {
    const h = harness();
    const refused = await refusal(h.service.run('CS-unknown', 'Reset', reset));
    expect(refused).toMatchObject({ status: 404, code: 'station_not_found' });
    expect(h.router.sent).toEqual([]);
  });

  it('DRV-A05-01: answers 409 to a SetNetworkProfile that would lower the security profile, and sends nothing', async () => {
    const h = harness({ securityProfile: 2 });
    const payload = {
      configurationSlot: 1,
      connectionData: {
        ocppVersion: 'OCPP20',
        ocppTransport: 'JSON',
        ocppCsmsUrl: 'ws://csms.example.com/ocpp',
        messageTimeout: 30,
        securityProfile: 1,
        ocppInterface: 'Wired0',
      },
    };
    const refused = await refusal(h.service.run('CS1', 'SetNetworkProfile', payload));
    expect(refused).toMatchObject({ status: 409, code: 'security_profile_refused' });
    expect(h.router.sent).toEqual([]);

    // The same profile goes out.
    const report = await h.service.run('CS1', 'SetNetworkProfile', { ...payload, connectionData: { ...payload.connectionData, securityProfile: 2 } });
    expect(report.outcome).toEqual({ kind: 'result', response: { status: 'Accepted' } });
    expect(h.router.sent).toHaveLength(1);
  });

  it('N09.FR.04: answers 400 to a CustomerInformation without a customer reference, and sends nothing', async () => {
    const h = harness();
    const refused = await refusal(h.service.run('CS1', 'CustomerInformation', { requestId: 1, report: true, clear: false }));
    expect(refused).toMatchObject({ status: 400, code: 'invalid_payload' });
    expect(h.router.sent).toEqual([]);
  });
});

describe('CommandService: ids the operator may leave out (CONTRACT §4)', () => {
  it('assigns requestId when it is left out, and sends and reports the request with it', async () => {
    const h = harness();
    const body = { reportBase: 'FullInventory' };
    const report = await h.service.run('CS1', 'GetBaseReport', body);
    const requestId = report.request.requestId;
    expect(Number.isInteger(requestId)).toBe(true);
    expect(requestId).toBeGreaterThan(0);
    expect(h.router.sent[0]?.payload).toEqual({ reportBase: 'FullInventory', requestId });
    // The operator's body is not changed.
    expect(body).toEqual({ reportBase: 'FullInventory' });
  });

  it('keeps the requestId it was given', async () => {
    const h = harness();
    const report = await h.service.run('CS1', 'GetBaseReport', { requestId: 42, reportBase: 'FullInventory' });
    expect(report.request).toEqual({ requestId: 42, reportBase: 'FullInventory' });
    expect(h.router.sent[0]?.payload).toEqual({ requestId: 42, reportBase: 'FullInventory' });
  });

  it('assigns remoteStartId to a RequestStartTransaction when it is left out, and keeps a given one', async () => {
    const h = harness();
    const idToken = { idToken: 'RFID-1', type: 'ISO14443' };
    const assigned = await h.service.run('CS1', 'RequestStartTransaction', { idToken });
    expect(Number.isInteger(assigned.request.remoteStartId)).toBe(true);
    const given = await h.service.run('CS1', 'RequestStartTransaction', { idToken, remoteStartId: 9 });
    expect(given.request).toEqual({ idToken, remoteStartId: 9 });
    expect(h.router.sent.map((call) => call.payload.remoteStartId)).toEqual([assigned.request.remoteStartId, 9]);
  });

  it('adds no id to an action whose schema has none', async () => {
    const h = harness();
    const report = await h.service.run('CS1', 'Reset', reset);
    expect(report.request).toEqual(reset);
    expect(h.router.sent[0]?.payload).toEqual(reset);
  });
});

describe('CommandService: delivery', () => {
  it('sends one request with the deadline clock + callTimeoutMs, and reports the outcome as is', async () => {
    const h = harness({ answer: () => ({ kind: 'callError', code: 'NotSupported', description: 'no', details: {} }) });
    const report = await h.service.run('CS1', 'Reset', reset);
    expect(h.router.sent).toEqual([{ stationId: 'CS1', action: 'Reset', payload: reset, deadline: START + CALL_TIMEOUT_MS }]);
    expect(report).toEqual({ request: reset, outcome: { kind: 'callError', code: 'NotSupported', description: 'no', details: {} }, parts: 1 });
  });

  it('reads the device model only for a command whose plan asks for it', async () => {
    const h = harness();
    await h.service.run('CS1', 'Reset', reset);
    expect(h.deviceModelReads()).toBe(0);
    await h.service.run('CS1', 'GetVariables', { getVariableData: getVariableData('A') });
    expect(h.deviceModelReads()).toBe(1);
  });

  it('B06.FR.05: sends a split GetVariables part by part, in order, all with the same deadline, and merges the answers', async () => {
    const h = harness({
      deviceModel: [itemsPerMessage('GetVariables', 2)],
      answer: (call) => {
        h.advance(1_000); // each part takes a second: the deadline does not move with it
        return echoVariables(call);
      },
    });
    const report = await h.service.run('CS1', 'GetVariables', { getVariableData: getVariableData('A', 'B', 'C', 'D', 'E') });

    expect(h.router.sent.map((call) => (call.payload.getVariableData as JsonObject[]).map((item) => (item.variable as JsonObject).name))).toEqual([
      ['A', 'B'],
      ['C', 'D'],
      ['E'],
    ]);
    expect(h.router.sent.map((call) => call.deadline)).toEqual([START + CALL_TIMEOUT_MS, START + CALL_TIMEOUT_MS, START + CALL_TIMEOUT_MS]);
    expect(h.now()).toBe(START + 3_000);
    expect(report.parts).toBe(3);
    expect(report.request).toEqual({ getVariableData: getVariableData('A', 'B', 'C', 'D', 'E') });
    expect(report.outcome.kind).toBe('result');
    const results = (report.outcome as { response: JsonObject }).response.getVariableResult as JsonObject[];
    expect(results.map((result) => (result.variable as JsonObject).name)).toEqual(['A', 'B', 'C', 'D', 'E']);
  });

  it('B05.FR.11: stops a split SetVariables at the first part that fails, and returns that part’s outcome', async () => {
    const h = harness({
      deviceModel: [itemsPerMessage('SetVariables', 1)],
      answer: (_, index) => (index === 1 ? { kind: 'timeout' } : { kind: 'result', response: { setVariableResult: [] } }),
    });
    const setVariableData = getVariableData('A', 'B', 'C').map((item) => ({ ...item, attributeValue: '1' }));
    const report = await h.service.run('CS1', 'SetVariables', { setVariableData });

    expect(h.router.sent).toHaveLength(2);
    expect(report.outcome).toEqual({ kind: 'timeout' });
  });

  it('B05.FR.13: refuses a SetVariables that repeats an item with 400, and sends no part', async () => {
    const h = harness({ deviceModel: [itemsPerMessage('SetVariables', 1)] });
    const item = { ...getVariableData('A')[0], attributeValue: '1' };
    const refused = await refusal(h.service.run('CS1', 'SetVariables', { setVariableData: [item, { ...item, attributeValue: '2' }] }));
    expect(refused).toMatchObject({ status: 400, details: { first: 0, duplicate: 1 } });
    expect(h.router.sent).toEqual([]);
  });
});
