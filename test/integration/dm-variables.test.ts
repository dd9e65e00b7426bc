/**
 * Device model: reading and writing variables, reports, and the station password.
 * TC_B_06, TC_B_07, TC_B_09, TC_B_10, TC_B_12, TC_B_13, DRV-B05-01, DRV-B06-01 (ItemsPerMessage splitting and
 * duplicate refusal), TC_A_09, TC_A_10, DRV-A01-01 (BasicAuthPassword change).
 */
import { describe, expect, it } from 'vitest';
import { withCsms } from '../support/csms.js';
import {
  AUTHORIZE_REMOTE_START,
  AUTH_ENABLED,
  BASIC_AUTH_PASSWORD,
  HEARTBEAT_INTERVAL,
  OFFLINE_THRESHOLD,
  attributeValue,
  chunk,
  deviceVariables,
  expectApiError,
  itemsPerMessage,
  named,
  reportEntry,
  roundTrip,
  sendCommand,
  setVariablesAnswer,
  settle,
  syntheticReport,
  type ItemRef,
  type VariableRef,
} from '../support/device.js';
import { ConnectRefusedError, Reply, randomPassword, sleep, waitFor, type Payload, type TestStation } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 5000 });

const ref = (item: ItemRef): VariableRef => ({
  component: item.component.name,
  variable: item.variable.name,
  ...(item.component.instance !== undefined ? { componentInstance: item.component.instance } : {}),
  ...(item.variable.instance !== undefined ? { variableInstance: item.variable.instance } : {}),
  ...(item.component.evse !== undefined ? { evse: item.component.evse } : {}),
});

async function valueShown(station: TestStation, item: ItemRef, type = 'Actual'): Promise<string | undefined> {
  return attributeValue(await deviceVariables(h.csms.api, station.identity), ref(item), type);
}

describe('GetVariables', () => {
  it.each(
    named(
      [undefined, 'Actual', 'Target', 'MinSet', 'MaxSet'] as const,
      (t) => `TC_B_06: reads OCPPCommCtrlr.OfflineThreshold (attributeType ${t ?? 'omitted'}) and shows the value in GET variables`,
    ),
  )('%s', async (_, attributeType) => {
    const station = await h.csms.bootedStation({ prefix: 'B06' });
    const item: ItemRef = attributeType === undefined ? OFFLINE_THRESHOLD : { ...OFFLINE_THRESHOLD, attributeType };
    station.setVariable({ ...OFFLINE_THRESHOLD, attributeType, value: '77' });
    const { response } = await roundTrip(h.csms, station, 'GetVariables', { getVariableData: [item] });
    expect(response).toEqual({ getVariableResult: [{ ...item, attributeStatus: 'Accepted', attributeValue: '77' }] });
    expect(await valueShown(station, OFFLINE_THRESHOLD, attributeType ?? 'Actual')).toBe('77');
  });

  it('TC_B_07: reads OfflineThreshold and AuthorizeRemoteStart in one request and shows both values', async () => {
    const station = await h.csms.bootedStation({ prefix: 'B07' });
    station.setVariable({ ...OFFLINE_THRESHOLD, value: '61' });
    station.setVariable({ ...AUTHORIZE_REMOTE_START, value: 'true' });
    const { call, response } = await roundTrip(h.csms, station, 'GetVariables', { getVariableData: [OFFLINE_THRESHOLD, AUTHORIZE_REMOTE_START] });
    expect(call.payload.getVariableData).toHaveLength(2);
    expect(response.getVariableResult).toEqual([
      { ...OFFLINE_THRESHOLD, attributeStatus: 'Accepted', attributeValue: '61' },
      { ...AUTHORIZE_REMOTE_START, attributeStatus: 'Accepted', attributeValue: 'true' },
    ]);
    expect(await valueShown(station, OFFLINE_THRESHOLD)).toBe('61');
    expect(await valueShown(station, AUTHORIZE_REMOTE_START)).toBe('true');
  });

  it('TC_B_06 (non-Accepted results): unknown component/variable results reach the operator and invent no value', async () => {
    const station = await h.csms.bootedStation({ prefix: 'B06-unk' });
    const unknown: ItemRef = { component: { name: 'NoSuchCtrlr' }, variable: { name: 'Nothing' } };
    const { response } = await roundTrip(h.csms, station, 'GetVariables', { getVariableData: [unknown] });
    expect(response).toEqual({ getVariableResult: [{ ...unknown, attributeStatus: 'UnknownVariable' }] });
    expect(await valueShown(station, unknown)).toBeUndefined();
  });
});

describe('SetVariables', () => {
  it.each(named([undefined, 'Actual'] as const, (t) => `TC_B_09: sets OfflineThreshold = "123" (attributeType ${t ?? 'omitted'}) and records the new value`))(
    '%s',
    async (_, attributeType) => {
      const station = await h.csms.bootedStation({ prefix: 'B09' });
      const item = { ...OFFLINE_THRESHOLD, ...(attributeType !== undefined ? { attributeType } : {}), attributeValue: '123' };
      const { call, response } = await roundTrip(h.csms, station, 'SetVariables', { setVariableData: [item] });
      expect(call.payload).toEqual({ setVariableData: [item] });
      expect(response).toEqual(setVariablesAnswer({ setVariableData: [item] }, 'Accepted'));
      expect(await valueShown(station, OFFLINE_THRESHOLD)).toBe('123');
    },
  );

  it('TC_B_10: sets OfflineThreshold and AuthorizeRemoteStart in one request and records both', async () => {
    const station = await h.csms.bootedStation({ prefix: 'B10' });
    const data = [
      { ...OFFLINE_THRESHOLD, attributeValue: '123' },
      { ...AUTHORIZE_REMOTE_START, attributeValue: 'false' },
    ];
    const { call } = await roundTrip(h.csms, station, 'SetVariables', { setVariableData: data });
    expect(call.payload.setVariableData).toHaveLength(2);
    expect(await valueShown(station, OFFLINE_THRESHOLD)).toBe('123');
    expect(await valueShown(station, AUTHORIZE_REMOTE_START)).toBe('false');
  });

  it.each(['Rejected', 'UnknownComponent', 'UnknownVariable', 'NotSupportedAttributeType'])(
    'TC_B_09 (refused): a value the station answers %s is not recorded as the new value',
    async (status) => {
      const station = await h.csms.bootedStation({ prefix: `B09-${status}`.slice(0, 20) });
      await roundTrip(h.csms, station, 'GetVariables', { getVariableData: [OFFLINE_THRESHOLD] }); // value 60 known
      station.onCall('SetVariables', (p) => setVariablesAnswer(p, status));
      const payload = { setVariableData: [{ ...OFFLINE_THRESHOLD, attributeValue: '999' }] };
      const { response } = await roundTrip(h.csms, station, 'SetVariables', payload);
      expect(response).toEqual(setVariablesAnswer(payload, status));
      expect(await valueShown(station, OFFLINE_THRESHOLD)).toBe('60');
    },
  );
});

describe('ItemsPerMessage and duplicates (DRV-B06-01, DRV-B05-01)', () => {
  /** Makes the CSMS learn DeviceDataCtrlr.ItemsPerMessage[instance] = 2, through a report or through a read. */
  async function teachLimit(station: TestStation, instance: 'GetVariables' | 'SetVariables', via: 'NotifyReport' | 'GetVariables'): Promise<void> {
    const limit = itemsPerMessage(instance);
    station.setVariable({ ...limit, value: '2', mutability: 'ReadOnly' });
    if (via === 'GetVariables') {
      await roundTrip(h.csms, station, 'GetVariables', { getVariableData: [limit] });
    } else {
      const { request } = await roundTrip(h.csms, station, 'GetBaseReport', { reportBase: 'FullInventory' });
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-boolean-literal-compare -- res.body is parsed JSON from the API, typed as promised, not checked: this asks for the boolean itself, not any truthy value
      await waitFor(async () => (await h.csms.api.getReport(station.identity, request.requestId as number)).body.complete === true, {
        what: 'the inventory report to be complete',
      });
    }
    expect(await valueShown(station, limit)).toBe('2');
  }

  /** Holds each answer briefly so that a second CALL sent too early would be seen overlapping. */
  function slowAnswers(station: TestStation, action: string): void {
    station.onCall(action, async (payload) => {
      await sleep(60);
      return station.defaultAnswer(action, payload);
    });
  }

  const THREE_READS: ItemRef[] = [OFFLINE_THRESHOLD, HEARTBEAT_INTERVAL, AUTHORIZE_REMOTE_START];

  it.each(['NotifyReport', 'GetVariables'] as const)(
    'DRV-B06-01: with ItemsPerMessageGetVariables = 2 (learned via %s), 3 reads go out as 2 + 1, one at a time, merged into one answer',
    async (via) => {
      const station = await h.csms.bootedStation({ prefix: `B06-01-${via}`.slice(0, 20) });
      await teachLimit(station, 'GetVariables', via);
      slowAnswers(station, 'GetVariables');
      const mark = station.mark();
      const res = await sendCommand(h.csms, station.identity, 'GetVariables', { getVariableData: THREE_READS });
      expect(res.status, res.text).toBe(200);
      expect(res.body.parts).toBe(2);
      expect(res.body.request).toEqual({ getVariableData: THREE_READS });
      const calls = station.callsOf('GetVariables').filter((c) => c.seq > mark);
      expect(calls.map((c) => (c.payload.getVariableData as unknown[]).length)).toEqual([2, 1]);
      expect(calls.flatMap((c) => c.payload.getVariableData as unknown[])).toEqual(THREE_READS);
      expect(calls[1]!.seq).toBeGreaterThan(calls[0]!.answeredSeq!);
      expect(station.overlaps).toEqual([]);
      const results = res.body.response.getVariableResult as Array<ItemRef & { attributeValue: string }>;
      expect(results.map((r) => [r.component.name, r.variable.name, r.attributeValue])).toEqual([
        ['OCPPCommCtrlr', 'OfflineThreshold', '60'],
        ['OCPPCommCtrlr', 'HeartbeatInterval', '300'],
        ['AuthCtrlr', 'AuthorizeRemoteStart', 'false'],
      ]);
    },
  );

  it.each(['NotifyReport', 'GetVariables'] as const)(
    'DRV-B05-01: with ItemsPerMessageSetVariables = 2 (learned via %s), 3 writes go out as 2 + 1, one at a time, merged and all recorded',
    async (via) => {
      const station = await h.csms.bootedStation({ prefix: `B05-01-${via}`.slice(0, 20) });
      await teachLimit(station, 'SetVariables', via);
      slowAnswers(station, 'SetVariables');
      const data = [
        { ...OFFLINE_THRESHOLD, attributeValue: '121' },
        { ...HEARTBEAT_INTERVAL, attributeValue: '122' },
        { ...AUTH_ENABLED, attributeValue: 'false' },
      ];
      const mark = station.mark();
      const res = await sendCommand(h.csms, station.identity, 'SetVariables', { setVariableData: data });
      expect(res.status, res.text).toBe(200);
      expect(res.body.parts).toBe(2);
      const calls = station.callsOf('SetVariables').filter((c) => c.seq > mark);
      expect(calls.map((c) => (c.payload.setVariableData as unknown[]).length)).toEqual([2, 1]);
      expect(calls.flatMap((c) => c.payload.setVariableData as unknown[])).toEqual(data);
      expect(calls[1]!.seq).toBeGreaterThan(calls[0]!.answeredSeq!);
      expect(station.overlaps).toEqual([]);
      expect(res.body.response).toEqual(setVariablesAnswer({ setVariableData: data }, 'Accepted'));
      expect(await valueShown(station, OFFLINE_THRESHOLD)).toBe('121');
      expect(await valueShown(station, HEARTBEAT_INTERVAL)).toBe('122');
      expect(await valueShown(station, AUTH_ENABLED)).toBe('false');
    },
  );

  it('DRV-B06-01: without a known limit, 3 reads go out as one request', async () => {
    const station = await h.csms.bootedStation({ prefix: 'B06-01-nolimit' });
    const res = await sendCommand(h.csms, station.identity, 'GetVariables', { getVariableData: THREE_READS });
    expect(res.status).toBe(200);
    expect(res.body.parts ?? 1).toBe(1);
    expect(station.callsOf('GetVariables')).toHaveLength(1);
  });

  it('DRV-B06-01: a split read whose second part fails with a CALLERROR is reported as 502', async () => {
    const station = await h.csms.bootedStation({ prefix: 'B06-01-err' });
    await teachLimit(station, 'GetVariables', 'GetVariables');
    let n = 0;
    station.onCall('GetVariables', (p) => (++n === 2 ? Reply.error('InternalError', 'second part broke') : station.defaultAnswer('GetVariables', p)));
    const res = await sendCommand(h.csms, station.identity, 'GetVariables', { getVariableData: THREE_READS });
    expectApiError(res, 502, 'InternalError');
  });

  const DUPLICATES = [
    {
      action: 'GetVariables',
      body: { getVariableData: [OFFLINE_THRESHOLD, AUTHORIZE_REMOTE_START, { ...OFFLINE_THRESHOLD, attributeType: 'Actual' as const }] },
    },
    {
      action: 'SetVariables',
      body: {
        setVariableData: [
          { ...OFFLINE_THRESHOLD, attributeValue: '1' },
          { ...OFFLINE_THRESHOLD, attributeValue: '2' },
        ],
      },
    },
  ];
  it.each(named(DUPLICATES, (c) => `DRV-B05-01: ${c.action} with the same (component, variable, attributeType) twice is refused with 400 and nothing is sent`))(
    '%s',
    async (_, c) => {
      const station = await h.csms.bootedStation({ prefix: `dup-${c.action}`.slice(0, 20) });
      const res = await sendCommand(h.csms, station.identity, c.action, c.body);
      expectApiError(res, 400);
      await settle(station, 50);
      expect(station.callsOf(c.action)).toEqual([]);
    },
  );

  it('DRV-B05-01: the same variable with different attributeTypes, or on different EVSEs, is not a duplicate', async () => {
    const station = await h.csms.bootedStation({ prefix: 'dup-ok' });
    const data = [
      { ...OFFLINE_THRESHOLD, attributeType: 'Actual', attributeValue: '100' },
      { ...OFFLINE_THRESHOLD, attributeType: 'Target', attributeValue: '101' },
      { component: { name: 'EVSE', evse: { id: 1 } }, variable: { name: 'Power' }, attributeValue: '11000' },
      { component: { name: 'EVSE', evse: { id: 2 } }, variable: { name: 'Power' }, attributeValue: '22000' },
    ];
    await roundTrip(h.csms, station, 'SetVariables', { setVariableData: data });
  });
});

describe('reports', () => {
  const BASE_REPORTS = [
    { id: 'TC_B_12', reportBase: 'ConfigurationInventory' },
    { id: 'TC_B_13', reportBase: 'FullInventory' },
    { id: 'GetBaseReport SummaryInventory', reportBase: 'SummaryInventory' },
  ];
  it.each(named(BASE_REPORTS, (c) => `${c.id}: GetBaseReport(${c.reportBase}) with a 3-part NotifyReport is answered part by part, assembled and merged into variables`))(
    '%s',
    async (_, c) => {
      const station = await h.csms.bootedStation({ prefix: 'B12', connectOptions: { autoReport: false } });
      const entries = [...syntheticReport(5), reportEntry(OFFLINE_THRESHOLD.component, OFFLINE_THRESHOLD.variable, '88')];
      const parts = chunk(entries, 2);
      let release!: () => void;
      const partsSent = new Promise<void>((resolve) => (release = resolve));
      const answers: Payload[] = [];
      station.onCall('GetBaseReport', (p) =>
        Reply.then({ status: 'Accepted' }, async () => {
          for (let i = 0; i < parts.length; i += 1) {
            answers.push(await station.notifyReportPart(p.requestId as number, i, parts[i]!, i < parts.length - 1));
            if (i === 0) {
              const partial = await h.csms.api.getReport(station.identity, p.requestId as number);
              expect(partial.status).toBe(200);
              expect(partial.body.complete).toBe(false);
            }
          }
          release();
        }),
      );
      const { call, request } = await roundTrip(h.csms, station, 'GetBaseReport', { reportBase: c.reportBase }, { status: 'Accepted' });
      expect(call.payload.reportBase).toBe(c.reportBase);
      expect(request.requestId as number).toBeGreaterThanOrEqual(0);
      await partsSent;
      expect(answers).toEqual([{}, {}, {}]);
      const report = await h.csms.api.getReport(station.identity, request.requestId as number);
      expect(report.status).toBe(200);
      expect(report.body).toMatchObject({ requestId: request.requestId, complete: true, reportData: entries });
      const vars = await deviceVariables(h.csms.api, station.identity);
      expect(attributeValue(vars, ref(OFFLINE_THRESHOLD))).toBe('88');
      expect(attributeValue(vars, { component: 'StroomTestCtrlr', componentInstance: 'i4', variable: 'Var4' })).toBe('28');
    },
  );

  it('TC_B_12 (robustness): parts arriving out of seqNo order are assembled in seqNo order, complete only when none is missing', async () => {
    const station = await h.csms.bootedStation({ prefix: 'B12-order', connectOptions: { autoReport: false } });
    station.onCall('GetBaseReport', () => ({ status: 'Accepted' }));
    const { request } = await roundTrip(h.csms, station, 'GetBaseReport', { reportBase: 'ConfigurationInventory' });
    const requestId = request.requestId as number;
    const parts = chunk(syntheticReport(3, 'Ord'), 1);
    await station.notifyReportPart(requestId, 0, parts[0]!, true);
    await station.notifyReportPart(requestId, 2, parts[2]!, false);
    expect((await h.csms.api.getReport(station.identity, requestId)).body.complete).toBe(false);
    await station.notifyReportPart(requestId, 1, parts[1]!, true);
    const report = await h.csms.api.getReport(station.identity, requestId);
    expect(report.body).toMatchObject({ complete: true, reportData: parts.flat() });
  });

  it('two reports of one station are kept apart by requestId', async () => {
    const station = await h.csms.bootedStation({ prefix: 'B12-two', connectOptions: { autoReport: false } });
    station.onCall('GetBaseReport', () => ({ status: 'Accepted' }));
    const a = (await roundTrip(h.csms, station, 'GetBaseReport', { reportBase: 'ConfigurationInventory' })).request.requestId as number;
    const b = (await roundTrip(h.csms, station, 'GetBaseReport', { reportBase: 'FullInventory' })).request.requestId as number;
    const [ra, rb] = [syntheticReport(2, 'A'), syntheticReport(3, 'B')];
    await station.notifyReportPart(b, 0, rb, false);
    await station.notifyReportPart(a, 0, ra, false);
    expect((await h.csms.api.getReport(station.identity, a)).body.reportData).toEqual(ra);
    expect((await h.csms.api.getReport(station.identity, b)).body.reportData).toEqual(rb);
  });

  it('GetReport with criteria and component variables reaches the station intact, and its NotifyReport is assembled', async () => {
    const station = await h.csms.bootedStation({ prefix: 'getreport' });
    const payload = {
      componentCriteria: ['Available', 'Enabled'],
      componentVariable: [{ component: { name: 'OCPPCommCtrlr' }, variable: { name: 'OfflineThreshold' } }, { component: { name: 'AuthCtrlr' } }],
    };
    const { request } = await roundTrip(h.csms, station, 'GetReport', payload, { status: 'Accepted' });
    const report = await waitFor(
      async () => {
        const r = await h.csms.api.getReport(station.identity, request.requestId as number);
        return r.status === 200 && r.body.complete ? r.body : undefined;
      },
      { what: 'GetReport NotifyReport assembled' },
    );
    expect(report.reportData.length).toBeGreaterThan(0);
  });

  it.each(['Rejected', 'NotSupported', 'EmptyResultSet'])('GetBaseReport answered %s reaches the operator and no report appears', async (status) => {
    const station = await h.csms.bootedStation({ prefix: `B12-${status}`.slice(0, 20) });
    station.onCall('GetBaseReport', () => ({ status }));
    const { request } = await roundTrip(h.csms, station, 'GetBaseReport', { reportBase: 'ConfigurationInventory' }, { status });
    await settle(station, 50);
    expect((await h.csms.api.getReport(station.identity, request.requestId as number)).status).toBe(404);
  });
});

describe('BasicAuthPassword (A01)', () => {
  async function setPassword(station: TestStation, newPassword: string, status: 'Accepted' | 'Rejected'): Promise<void> {
    station.onCall('SetVariables', (p) => setVariablesAnswer(p, status));
    const item = { ...BASIC_AUTH_PASSWORD, attributeValue: newPassword };
    const { call, response } = await roundTrip(h.csms, station, 'SetVariables', { setVariableData: [item] });
    expect(call.payload).toEqual({ setVariableData: [item] });
    expect(response).toEqual(setVariablesAnswer({ setVariableData: [item] }, status));
  }

  async function expectRefused(identity: string, password: string): Promise<void> {
    const err = await h.csms.connect({ identity, password }).then(
      (s) => new Error(`connected with ${password === '' ? 'no' : 'a stale'} password: ${s.identity}`),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConnectRefusedError);
    expect((err as ConnectRefusedError).status).toBe(401);
  }

  it('TC_A_09 + DRV-A01-01: after an Accepted change only the new password opens a connection, and the password is never shown', async () => {
    const creds = await h.csms.register({ prefix: 'A09' });
    const station = await h.csms.connect(creds);
    await station.booted();
    const newPassword = `${randomPassword(20)}-A09-new`;
    await setPassword(station, newPassword, 'Accepted');

    await station.close();
    const again = await h.csms.connect({ identity: creds.identity, password: newPassword });
    await again.booted();
    await again.close();
    await expectRefused(creds.identity, creds.password);

    const vars = await h.csms.api.getVariables(creds.identity);
    expect(vars.text).not.toContain(newPassword);
    const view = await h.csms.api.getStation(creds.identity);
    expect(view.text).not.toContain(newPassword);
  });

  it('TC_A_10: after a Rejected change the old password still opens a connection (and the refused one does not)', async () => {
    const creds = await h.csms.register({ prefix: 'A10' });
    const station = await h.csms.connect(creds);
    await station.booted();
    const refused = `${randomPassword(20)}-A10-new`;
    await setPassword(station, refused, 'Rejected');

    await station.close();
    const again = await h.csms.connect(creds);
    const boot = await again.boot();
    expect(boot.status).toBe('Accepted');
    await again.reportConnectors();
    await again.close();
    await expectRefused(creds.identity, refused);
    expect((await h.csms.api.getVariables(creds.identity)).text).not.toContain(refused);
  });

  it('TC_A_09 (mixed request): a password change together with another variable applies both, and only the other one is shown', async () => {
    const creds = await h.csms.register({ prefix: 'A09-mix' });
    const station = await h.csms.connect(creds);
    await station.booted();
    const newPassword = `${randomPassword(20)}-A09-mix`;
    const data = [
      { ...OFFLINE_THRESHOLD, attributeValue: '222' },
      { ...BASIC_AUTH_PASSWORD, attributeValue: newPassword },
    ];
    await roundTrip(h.csms, station, 'SetVariables', { setVariableData: data });
    expect(await valueShown(station, OFFLINE_THRESHOLD)).toBe('222');
    expect((await h.csms.api.getVariables(creds.identity)).text).not.toContain(newPassword);
    await station.close();
    const again = await h.csms.connect({ identity: creds.identity, password: newPassword });
    await again.boot();
    await again.close();
  });

  it.each(['GetVariables', 'NotifyReport'] as const)(
    'TC_A_09 (read-back): a station that discloses BasicAuthPassword through %s does not make it visible in GET variables',
    async (channel) => {
      const station = await h.csms.bootedStation({ prefix: `A09-leak-${channel}`.slice(0, 20), connectOptions: { autoReport: false } });
      const secret = `${randomPassword(20)}-leak`;
      if (channel === 'GetVariables') {
        station.setVariable({ ...BASIC_AUTH_PASSWORD, value: secret, mutability: 'WriteOnly' });
        await roundTrip(h.csms, station, 'GetVariables', { getVariableData: [BASIC_AUTH_PASSWORD] });
      } else {
        station.onCall('GetBaseReport', () => ({ status: 'Accepted' }));
        const { request } = await roundTrip(h.csms, station, 'GetBaseReport', { reportBase: 'FullInventory' });
        const entry = reportEntry(BASIC_AUTH_PASSWORD.component, BASIC_AUTH_PASSWORD.variable, secret, { mutability: 'WriteOnly' });
        expect(await station.notifyReportPart(request.requestId as number, 0, [entry], false)).toEqual({});
      }
      expect((await h.csms.api.getVariables(station.identity)).text).not.toContain(secret);
    },
  );
});
