/**
 * OCPP-J RPC framing (Part 4 §4) as seen from a station: DRV-RPC-05..18, 21, 22, plus DataTransfer with an unknown
 * vendor. Frame well-formedness (DRV-RPC-22) is also checked on every frame of every test by the test station.
 */
import { describe, expect, it } from 'vitest';
import { withCsms } from '../support/csms.js';
import { OcppCallError, RPC_ERROR_CODES, Reply, sleep, waitFor, type Payload, type ReceivedFrame, type TestStation } from '../support/station.js';

const CALL_TIMEOUT_MS = 2000;
const h = withCsms({ CSMS_CALL_TIMEOUT_MS: CALL_TIMEOUT_MS });

type CallError = Extract<ReceivedFrame['frame'], { type: 4 }>;

/** The CALLERROR the CSMS answers to a raw frame. */
async function errorFor(station: TestStation, raw: string): Promise<CallError> {
  station.sendRaw(raw);
  const received = await station.nextFrame();
  if (received.frame.type !== 4) throw new Error(`expected a CALLERROR, got ${received.raw}`);
  return received.frame;
}

/** Rejects with the OcppCallError of a station CALL, failing if it was answered with a CALLRESULT. */
async function callError(promise: Promise<unknown>): Promise<OcppCallError> {
  try {
    const result = await promise;
    throw new Error(`expected a CALLERROR, got CALLRESULT ${JSON.stringify(result)}`);
  } catch (err) {
    if (err instanceof OcppCallError) return err;
    throw err;
  }
}

const getOfflineThreshold = {
  getVariableData: [{ component: { name: 'OCPPCommCtrlr' }, variable: { name: 'OfflineThreshold' } }],
};

/** A CSMS-side round trip; everything the CSMS had to say in reaction to earlier frames has been sent by then. */
async function barrier(station: TestStation): Promise<void> {
  await station.heartbeat();
}

describe('station CALLs the CSMS cannot process', () => {
  it('DRV-RPC-05: answers an unknown action with NotImplemented and the same messageId, and keeps the socket', async () => {
    const station = await h.csms.bootedStation({ prefix: 'RPC05' });
    const err = await callError(station.call('FooBar', {}, { messageId: 'rpc05-unknown-action' }));
    expect(err.code).toBe('NotImplemented');
    expect(err.messageId).toBe('rpc05-unknown-action');
    expect(station.isOpen).toBe(true);
    await barrier(station);
  });

  it('DRV-RPC-06: answers a CSMS-to-station action sent by the station with NotSupported or NotImplemented', async () => {
    const station = await h.csms.bootedStation({ prefix: 'RPC06' });
    const err = await callError(station.call('Reset', { type: 'Immediate' }));
    expect(['NotSupported', 'NotImplemented']).toContain(err.code);
    await barrier(station);
  });

  it('DRV-RPC-07: answers unreadable frames with a CALLERROR of messageId "-1" that does not echo the garbage', async () => {
    const station = await h.csms.bootedStation({ prefix: 'RPC07' });
    for (const garbage of ['this is {not json', '{"messageTypeId":2}', '[2]', '[2,"only-two"']) {
      const err = await errorFor(station, garbage);
      expect(err.messageId, `answer to ${garbage}`).toBe('-1');
      expect(['RpcFrameworkError', 'FormatViolation', 'ProtocolError'], `answer to ${garbage}`).toContain(err.code);
      if (garbage.length > 4) expect(err.description).not.toContain(garbage);
    }
    expect(station.isOpen).toBe(true);
    await barrier(station);
  });

  it('DRV-RPC-08: answers an unknown MessageTypeId with MessageTypeNotSupported', async () => {
    const station = await h.csms.bootedStation({ prefix: 'RPC08' });
    const err = await errorFor(station, JSON.stringify([5, 'rpc08-type-five', 'Heartbeat', {}]));
    expect(err.code).toBe('MessageTypeNotSupported');
    expect(err.messageId).toBe('rpc08-type-five');
    await barrier(station);
  });

  it('DRV-RPC-09: rejects a BootNotification without chargingStation (occurrence violation), then accepts a valid one', async () => {
    const station = await h.csms.newStation({ prefix: 'RPC09' });
    const err = await callError(station.call('BootNotification', { reason: 'PowerUp' }));
    expect(['OccurrenceConstraintViolation', 'FormatViolation', 'ProtocolError']).toContain(err.code);
    await station.booted();
  });

  it('DRV-RPC-10: rejects a StatusNotification whose connectorId is a string with TypeConstraintViolation', async () => {
    const station = await h.csms.bootedStation({ prefix: 'RPC10' });
    const err = await callError(station.call('StatusNotification', { timestamp: new Date().toISOString(), connectorStatus: 'Available', evseId: 1, connectorId: '1' }));
    expect(err.code).toBe('TypeConstraintViolation');
  });

  it('DRV-RPC-11: rejects a StatusNotification with an unknown connectorStatus value', async () => {
    const station = await h.csms.bootedStation({ prefix: 'RPC11' });
    const err = await callError(station.call('StatusNotification', { timestamp: new Date().toISOString(), connectorStatus: 'Foo', evseId: 1, connectorId: 1 }));
    expect(['PropertyConstraintViolation', 'FormatViolation']).toContain(err.code);
    const view = await h.csms.api.getStation(station.identity);
    expect(JSON.stringify(view.body)).not.toContain('"Foo"');
  });

  it('DRV-RPC-12: rejects an unknown top-level property (additionalProperties:false) but accepts customData', async () => {
    const station = await h.csms.bootedStation({ prefix: 'RPC12' });
    const err = await callError(station.call('Heartbeat', { somethingElse: true }));
    expect(['FormatViolation', 'OccurrenceConstraintViolation', 'PropertyConstraintViolation']).toContain(err.code);
    const ok = await station.call('Heartbeat', { customData: { vendorId: 'org.example', anything: 1 } });
    expect(typeof ok.currentTime).toBe('string');
  });

  it('DRV-RPC-13: rejects a CALL whose messageId is longer than 36 characters', async () => {
    const station = await h.csms.bootedStation({ prefix: 'RPC13' });
    const longId = 'm'.repeat(37);
    const err = await errorFor(station, JSON.stringify([2, longId, 'Heartbeat', {}]));
    expect(['RpcFrameworkError', 'FormatViolation', 'ProtocolError']).toContain(err.code);
    expect([longId, '-1']).toContain(err.messageId);
    await barrier(station);
  });
});

describe('CSMS-initiated CALLs', () => {
  it('DRV-RPC-14: uses messageIds of at most 36 characters that are never reused, across reconnects', async () => {
    const creds = await h.csms.register({ prefix: 'RPC14' });
    const ids: string[] = [];
    for (let round = 0; round < 2; round += 1) {
      const station = await h.csms.connect(creds);
      if (round === 0) await station.booted();
      for (let i = 0; i < 3; i += 1) {
        const res = await h.csms.api.command(creds.identity, 'GetVariables', getOfflineThreshold);
        expect(res.status).toBe(200);
      }
      ids.push(...station.csmsCalls.map((c) => c.messageId));
      await station.close();
    }
    expect(ids.length).toBeGreaterThanOrEqual(6);
    for (const id of ids) expect(id.length).toBeLessThanOrEqual(36);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('DRV-RPC-15: sends the second CALL only after the station answered the first', async () => {
    const station = await h.csms.bootedStation({ prefix: 'RPC15' });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    station.onCall('GetVariables', async (payload) => {
      await gate;
      return station.defaultAnswer('GetVariables', payload);
    });
    const first = h.csms.api.command(station.identity, 'GetVariables', getOfflineThreshold);
    const firstCall = await station.waitForCall('GetVariables');
    const second = h.csms.api.command(station.identity, 'TriggerMessage', { requestedMessage: 'Heartbeat' });
    // Absence can only be observed by waiting; the CSMS has had ample time to (wrongly) send the second CALL.
    await sleep(300);
    expect(station.callsOf('TriggerMessage')).toHaveLength(0);
    release();
    const [r1, r2] = await Promise.all([first, second]);
    expect(r1.status).toBe(200);
    expect(r2.status).toBe(200);
    const secondCall = station.callsOf('TriggerMessage')[0];
    expect(secondCall).toBeDefined();
    expect(firstCall.answeredSeq).toBeDefined();
    expect(secondCall!.seq).toBeGreaterThan(firstCall.answeredSeq!);
    expect(station.overlaps).toEqual([]);
  });

  it('DRV-RPC-16: answers a station CALL while its own CALL to that station is outstanding (crossing CALLs)', async () => {
    const station = await h.csms.bootedStation({ prefix: 'RPC16' });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    station.onCall('GetVariables', async (payload) => {
      await gate;
      return station.defaultAnswer('GetVariables', payload);
    });
    const command = h.csms.api.command(station.identity, 'GetVariables', getOfflineThreshold);
    await station.waitForCall('GetVariables');
    const hb = await station.heartbeat();
    expect(typeof hb.currentTime).toBe('string');
    expect(await station.statusNotification(1, 1, 'Available')).toEqual({});
    release();
    expect((await command).status).toBe(200);
  });

  it('DRV-RPC-17: surfaces a station CALLERROR to the operator and does not retry', async () => {
    const station = await h.csms.bootedStation({ prefix: 'RPC17' });
    station.onCall('Reset', () => Reply.error('NotSupported', 'no resets today'));
    const res = await h.csms.api.command(station.identity, 'Reset', { type: 'Immediate' });
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('NotSupported');
    station.onCall('ClearCache', () => Reply.error('InternalError'));
    const res2 = await h.csms.api.command(station.identity, 'ClearCache', {});
    expect(res2.status).toBe(502);
    expect(res2.body.error.code).toBe('InternalError');
    await barrier(station);
    await sleep(200);
    expect(station.callsOf('Reset')).toHaveLength(1);
    expect(station.callsOf('ClearCache')).toHaveLength(1);
  });

  it('DRV-RPC-18: ignores an answer that comes after its timeout, and one with an unknown messageId', async () => {
    const station = await h.csms.bootedStation({ prefix: 'RPC18' });
    let answerLate!: () => void;
    const late = new Promise<void>((resolve) => (answerLate = resolve));
    station.onCall('GetVariables', async (payload) => {
      await late;
      return station.defaultAnswer('GetVariables', payload);
    });
    const res = await h.csms.api.command(station.identity, 'GetVariables', getOfflineThreshold);
    expect(res.status).toBe(504);
    answerLate(); // now the CALLRESULT arrives after the CSMS gave up
    await waitFor(() => station.callsOf('GetVariables')[0]?.answeredSeq !== undefined);

    station.sendFrame([3, 'rpc18-nobody-asked-for-this', { status: 'Accepted' }]);
    station.sendFrame([4, 'rpc18-nor-this', 'InternalError', '', {}]);
    await barrier(station);
    expect(station.isOpen).toBe(true);
    expect(station.pendingFrames()).toEqual([]); // nothing was sent back for the stray answers

    station.resetHandler('GetVariables');
    const again = await h.csms.api.command(station.identity, 'GetVariables', getOfflineThreshold);
    expect(again.status).toBe(200);
  });
});

describe('connection continuity', () => {
  it('DRV-RPC-21: keeps a station Accepted across a reconnect without a new BootNotification', async () => {
    const creds = await h.csms.register({ prefix: 'RPC21' });
    const first = await h.csms.connect(creds);
    await first.booted();
    await first.close();

    const second = await h.csms.connect(creds);
    expect(typeof (await second.heartbeat()).currentTime).toBe('string');
    expect(await second.statusNotification(1, 1, 'Occupied')).toEqual({});
    second.terminate(); // cable cut: no close handshake
    await second.waitForClose();

    const third = await h.csms.connect(creds);
    expect(typeof (await third.heartbeat()).currentTime).toBe('string');
    expect(await third.notifyConnectorEvent(1, 1, 'Available')).toEqual({});
  });
});

describe('frame hygiene', () => {
  it('DRV-RPC-22: every CSMS frame is well-formed, including CALLERRORs provoked by odd input', async () => {
    const station = await h.csms.bootedStation({ prefix: 'RPC22' });
    // A very long action name tempts an implementation to echo it into an over-long description.
    await callError(station.call('X'.repeat(1000), {}));
    await callError(station.call('Heartbeat', { ['y'.repeat(400)]: 'z'.repeat(400) }));
    await errorFor(station, `{${'"'.repeat(600)}`);
    await barrier(station);
    const errors = station.received.filter((r) => r.frame.type === 4);
    expect(errors.length).toBeGreaterThanOrEqual(3);
    for (const e of errors) {
      const arr = JSON.parse(e.raw) as unknown[];
      expect(arr).toHaveLength(5);
      expect(RPC_ERROR_CODES).toContain(arr[2]);
      expect(typeof arr[3]).toBe('string');
      expect((arr[3] as string).length).toBeLessThanOrEqual(255);
      expect(arr[4]).toBeTypeOf('object');
      expect(arr[4]).not.toBeNull();
      expect(Array.isArray(arr[4])).toBe(false);
    }
    expect(station.violations).toEqual([]);
  });

  it('answers DataTransfer for a vendor it does not know with UnknownVendorId', async () => {
    const station = await h.csms.bootedStation({ prefix: 'P-unknown-vendor' });
    const answer: Payload = await station.dataTransfer('com.example.nobody', 'hello', { a: 1 });
    expect(answer.status).toBe('UnknownVendorId');
  });
});
