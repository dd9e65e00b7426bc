import { describe, expect, it } from 'vitest';
import { buildBlockTable } from '../../src/blocks/index.js';
import { diagnostics } from '../../src/blocks/diagnostics/diagnostics.js';
import { provisioning } from '../../src/blocks/provisioning/provisioning.js';
import { itemsPerMessage, planGetVariables, planSetVariables, splitPlan } from '../../src/blocks/provisioning/variable-plans.js';
import { checkNetworkProfileCommand, planSetNetworkProfile } from '../../src/blocks/security/network-profile.js';
import type { JsonObject } from '../../src/json.js';
import type { CustomerInformationRequest, GetVariablesRequest, SetNetworkProfileRequest, SetVariablesRequest } from '../../src/ocpp/v201/types.js';
import { CommandRefusal, type BlockModule, type CommandPlan, type PlanContext } from '../../src/station/types.js';
import type { DeviceVariable, SecurityProfile } from '../../src/store/store.js';

/** DeviceDataCtrlr.ItemsPerMessage[instance] as a station reports it (B06.FR.05, B05.FR.11). */
function itemsPerMessageVariable(instance: 'GetVariables' | 'SetVariables', value: string): DeviceVariable {
  return {
    component: { name: 'DeviceDataCtrlr' },
    variable: { name: 'ItemsPerMessage', instance },
    attributes: [{ type: 'Actual', value, mutability: 'ReadOnly' }],
  };
}

/** A PlanContext over a fixed device model; counts how often the planner read it. */
function planContext(deviceModel: readonly DeviceVariable[] = [], securityProfile: SecurityProfile = 1): PlanContext & { reads: number } {
  const ctx = {
    station: { id: 'CS1', securityProfile },
    reads: 0,
    deviceModel: async () => {
      ctx.reads += 1;
      return deviceModel;
    },
  };
  return ctx;
}

/** The plan's refusal, or a failed test when it plans instead. */
async function refusal(plan: () => CommandPlan | Promise<CommandPlan>): Promise<CommandRefusal> {
  try {
    await plan();
  } catch (err) {
    expect(err).toBeInstanceOf(CommandRefusal);
    return err as CommandRefusal;
  }
  throw new Error('expected a CommandRefusal');
}

/** GetVariableData for variable `name` of component `component`. */
function getItem(name: string, component = 'OCPPCommCtrlr'): JsonObject {
  return { component: { name: component }, variable: { name } };
}

function getVariables(...names: string[]): GetVariablesRequest {
  return { getVariableData: names.map((name) => getItem(name)) } as unknown as GetVariablesRequest;
}

/** What the station answers to one part: one Accepted result per item asked, in order. */
function stationAnswer(request: JsonObject): JsonObject {
  const items = request.getVariableData as JsonObject[];
  return { getVariableResult: items.map((item) => ({ attributeStatus: 'Accepted', ...item, attributeValue: `${(item.variable as JsonObject).name as string}-value` })) };
}

function variableNames(items: unknown): string[] {
  return (items as Array<{ variable: { name: string } }>).map((item) => item.variable.name);
}

describe('ItemsPerMessage as the station reported it', () => {
  it('reads DeviceDataCtrlr.ItemsPerMessage of the asked instance only', () => {
    const model = [itemsPerMessageVariable('GetVariables', '4'), itemsPerMessageVariable('SetVariables', '2')];
    expect(itemsPerMessage(model, 'GetVariables')).toBe(4);
    expect(itemsPerMessage(model, 'SetVariables')).toBe(2);
  });

  it('prefers the Actual attribute over the others', () => {
    const model: DeviceVariable[] = [
      {
        component: { name: 'DeviceDataCtrlr' },
        variable: { name: 'ItemsPerMessage', instance: 'GetVariables' },
        attributes: [
          { type: 'MaxSet', value: '50' },
          { type: 'Actual', value: '3' },
        ],
      },
    ];
    expect(itemsPerMessage(model, 'GetVariables')).toBe(3);
  });

  it('is unknown when not reported, or not a positive integer', () => {
    expect(itemsPerMessage([], 'GetVariables')).toBeUndefined();
    expect(
      itemsPerMessage(
        [{ component: { name: 'OtherCtrlr' }, variable: { name: 'ItemsPerMessage', instance: 'GetVariables' }, attributes: [{ type: 'Actual', value: '2' }] }],
        'GetVariables',
      ),
    ).toBeUndefined();
    for (const value of ['0', '-1', '2.5', 'many', '']) {
      expect(itemsPerMessage([itemsPerMessageVariable('GetVariables', value)], 'GetVariables'), value).toBeUndefined();
    }
  });
});

describe('GetVariables / SetVariables plans (B06.FR.05, B05.FR.11)', () => {
  it('B06.FR.05: splits GetVariables to ItemsPerMessage and merges the answers in order', async () => {
    const ctx = planContext([itemsPerMessageVariable('GetVariables', '2')]);
    const plan = await planGetVariables(getVariables('A', 'B', 'C', 'D', 'E'), ctx);

    expect(plan.requests.map((request) => variableNames(request.getVariableData))).toEqual([['A', 'B'], ['C', 'D'], ['E']]);
    const merged = plan.merge(plan.requests.map(stationAnswer));
    expect(variableNames(merged.getVariableResult)).toEqual(['A', 'B', 'C', 'D', 'E']);
    expect(ctx.reads).toBe(1);
  });

  it('sends one request when the station reported no limit', async () => {
    const payload = getVariables('A', 'B', 'C');
    const plan = await planGetVariables(payload, planContext());
    expect(plan.requests).toEqual([payload]);
  });

  it('sends one request when the limit is larger than the list (or equal to it)', async () => {
    const payload = getVariables('A', 'B', 'C');
    expect((await planGetVariables(payload, planContext([itemsPerMessageVariable('GetVariables', '10')]))).requests).toEqual([payload]);
    expect((await planGetVariables(payload, planContext([itemsPerMessageVariable('GetVariables', '3')]))).requests).toEqual([payload]);
  });

  it('B05.FR.11: splits SetVariables to ItemsPerMessage[SetVariables], not to the GetVariables limit', async () => {
    const ctx = planContext([itemsPerMessageVariable('GetVariables', '1'), itemsPerMessageVariable('SetVariables', '2')]);
    const payload = {
      setVariableData: ['A', 'B', 'C'].map((name) => ({ ...getItem(name), attributeValue: '1' })),
    } as unknown as SetVariablesRequest;
    const plan = await planSetVariables(payload, ctx);

    expect(plan.requests.map((request) => variableNames(request.setVariableData))).toEqual([['A', 'B'], ['C']]);
    const merged = plan.merge([
      {
        setVariableResult: [
          { attributeStatus: 'Accepted', ...getItem('A') },
          { attributeStatus: 'Rejected', ...getItem('B') },
        ],
      },
      { setVariableResult: [{ attributeStatus: 'RebootRequired', ...getItem('C') }] },
    ]);
    expect((merged.setVariableResult as Array<{ attributeStatus: string }>).map((r) => r.attributeStatus)).toEqual(['Accepted', 'Rejected', 'RebootRequired']);
  });

  it('keeps the other fields of the payload in every part', () => {
    const payload = { customData: { vendorId: 'Stroom' }, getVariableData: [getItem('A'), getItem('B')] };
    const plan = splitPlan(payload, 'getVariableData', 'getVariableResult', 1);
    expect(plan.requests).toEqual([
      { customData: { vendorId: 'Stroom' }, getVariableData: [getItem('A')] },
      { customData: { vendorId: 'Stroom' }, getVariableData: [getItem('B')] },
    ]);
  });

  it('merges the other fields from the first answer, and a part without results as none', () => {
    const plan = splitPlan({ getVariableData: [getItem('A'), getItem('B')] }, 'getVariableData', 'getVariableResult', 1);
    const merged = plan.merge([{ customData: { vendorId: 'first' }, getVariableResult: [getItem('A')] }, { customData: { vendorId: 'second' } }]);
    expect(merged).toEqual({ customData: { vendorId: 'first' }, getVariableResult: [getItem('A')] });
  });

  it('B05.FR.13: refuses an item repeated in one command with 400 and the indexes of both', async () => {
    const payload = { getVariableData: [getItem('A'), getItem('B'), getItem('A')] } as unknown as GetVariablesRequest;
    const refused = await refusal(() => planGetVariables(payload, planContext()));
    expect(refused).toMatchObject({ status: 400, code: 'invalid_payload', details: { first: 0, duplicate: 2 } });
    expect(refused.message).toContain('getVariableData[2] repeats getVariableData[0]');
  });

  it('B05.FR.13: counts a missing attributeType as Actual, and refuses the repeat even when the two would go in different parts', async () => {
    const payload = {
      setVariableData: [
        { ...getItem('A'), attributeValue: '1' },
        { ...getItem('A'), attributeType: 'Actual', attributeValue: '2' },
      ],
    } as unknown as SetVariablesRequest;
    const refused = await refusal(() => planSetVariables(payload, planContext([itemsPerMessageVariable('SetVariables', '1')])));
    expect(refused).toMatchObject({ status: 400, details: { first: 0, duplicate: 1 } });
  });

  it('does not count the same variable of another attributeType, component instance or EVSE as a repeat', async () => {
    const item = (extra: JsonObject): JsonObject => ({ component: { name: 'EVSE', ...extra }, variable: { name: 'Power' } });
    const payload = {
      getVariableData: [
        item({}),
        { ...item({}), attributeType: 'MaxSet' },
        item({ instance: 'second' }),
        item({ evse: { id: 1 } }),
        item({ evse: { id: 1, connectorId: 1 } }),
        item({ evse: { id: 2 } }),
        { component: { name: 'EVSE' }, variable: { name: 'Power', instance: 'L1' } },
      ],
    } as unknown as GetVariablesRequest;
    const plan = await planGetVariables(payload, planContext());
    expect(plan.requests).toHaveLength(1);
  });
});

describe('SetNetworkProfile plan (A05, DRV-A05-01)', () => {
  const networkProfile = (securityProfile: number): SetNetworkProfileRequest => ({
    configurationSlot: 1,
    connectionData: {
      ocppVersion: 'OCPP20',
      ocppTransport: 'JSON',
      ocppCsmsUrl: 'wss://csms.example.com/ocpp',
      messageTimeout: 30,
      securityProfile,
      ocppInterface: 'Wired0',
    },
  });

  it('DRV-A05-01 (A00.FR.005): refuses with 409 a profile lower than the registered one', async () => {
    const refused = await refusal(() => planSetNetworkProfile(networkProfile(1), planContext([], 2)));
    expect(refused).toMatchObject({ status: 409, code: 'security_profile_refused' });
    expect(refused.message).toContain('A00.FR.005');
    expect(checkNetworkProfileCommand({ id: 'CS1', securityProfile: 3 }, networkProfile(2))).toMatch(/registered for security profile 3/);
  });

  it('TC_A_19: sends the same or a higher profile as one request, the answer as is', () => {
    for (const [registered, target] of [
      [1, 1],
      [1, 2],
      [2, 3],
      [3, 3],
    ] as const) {
      const payload = networkProfile(target);
      expect(checkNetworkProfileCommand({ id: 'CS1', securityProfile: registered }, payload)).toBeUndefined();
      const plan = planSetNetworkProfile(payload, planContext([], registered));
      expect(plan.requests).toEqual([payload]);
      expect(plan.merge([{ status: 'Accepted' }])).toEqual({ status: 'Accepted' });
    }
  });

  it('refuses profiles OCPP 2.0.1 does not have', async () => {
    for (const target of [0, 4, 1.5]) {
      const refused = await refusal(() => planSetNetworkProfile(networkProfile(target), planContext([], 1)));
      expect(refused.code).toBe('security_profile_refused');
      expect(refused.message).toMatch(/does not exist/);
    }
  });
});

describe('CustomerInformation plan (N09, N10)', () => {
  const planner = diagnostics.plans?.CustomerInformation;
  const base = { requestId: 7, report: true, clear: false };
  const idToken = { idToken: 'RFID-1', type: 'ISO14443' };
  const customerIdentifier = 'customer-1';
  const customerCertificate = { hashAlgorithm: 'SHA256', issuerNameHash: 'a', issuerKeyHash: 'b', serialNumber: '01' };

  function plan(payload: object): CommandPlan | Promise<CommandPlan> {
    if (planner === undefined) throw new Error('the diagnostics block has no CustomerInformation plan');
    return planner(payload as CustomerInformationRequest, planContext());
  }

  it('N09.FR.04: sends a request naming exactly one customer reference as one request', async () => {
    for (const reference of [{ idToken }, { customerIdentifier }, { customerCertificate }]) {
      const payload = { ...base, ...reference };
      expect((await plan(payload)).requests).toEqual([payload]);
    }
  });

  it('N09.FR.04: refuses a request naming no customer reference with 400', async () => {
    const refused = await refusal(() => plan(base));
    expect(refused).toMatchObject({ status: 400, code: 'invalid_payload', details: { references: [] } });
  });

  it('N09.FR.04: refuses a request naming two customer references with 400, naming them', async () => {
    const refused = await refusal(() => plan({ ...base, idToken, customerIdentifier }));
    expect(refused).toMatchObject({ status: 400, code: 'invalid_payload', details: { references: ['idToken', 'customerIdentifier'] } });
  });
});

describe('block table', () => {
  const heartbeatBlock = (name: string): BlockModule => ({ name, handlers: { Heartbeat: () => ({ currentTime: new Date(0).toISOString() }) } });

  it('gathers every block entry by action', () => {
    const table = buildBlockTable([provisioning, diagnostics]);
    expect(table.plans.get('GetVariables')).toBe(planGetVariables);
    expect(table.plans.get('SetVariables')).toBe(planSetVariables);
    expect(table.plans.has('CustomerInformation')).toBe(true);
    expect(table.handlers.has('NotifyCustomerInformation')).toBe(true);
    expect(table.resultHooks.has('GetLog')).toBe(true);
  });

  it('refuses a station action claimed by two blocks, naming the action and the second block', () => {
    expect(() => buildBlockTable([heartbeatBlock('first'), heartbeatBlock('second')])).toThrow('Heartbeat handler is claimed twice (again by the second block)');
  });

  it('refuses a command plan or a result hook claimed by two blocks', () => {
    const planBlock: BlockModule = { name: 'mine', handlers: {}, plans: { GetVariables: planGetVariables } };
    expect(() => buildBlockTable([provisioning, planBlock])).toThrow('GetVariables command plan is claimed twice (again by the mine block)');
    const hookBlock: BlockModule = { name: 'logs', handlers: {}, resultHooks: { GetLog: () => undefined } };
    expect(() => buildBlockTable([diagnostics, hookBlock])).toThrow('GetLog result hook is claimed twice (again by the logs block)');
  });
});
