/**
 * DRV-RPC-15 / DRV-RPC-16 under a chain of operator commands: many commands fired at once at one station whose
 * answers are delayed. The station must never see two CSMS CALLs outstanding (each CALL arrives only after the
 * station's answer to the previous one went out), every command gets its own answer, and station CALLs sent while a
 * CSMS CALL is outstanding are answered at once.
 */
import { describe, expect, it } from 'vitest';
import { withCsms } from '../support/csms.js';
import { OFFLINE_THRESHOLD, firmwareFixture, gate, now, securityEvent, sendCommand, setVariablesAnswer } from '../support/device.js';
import { Reply, sleep, type Payload, type TestStation } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 10_000 });

interface ChainCommand {
  action: string;
  payload: Payload;
  answer: (p: Payload) => Payload;
}

const CHAIN: ChainCommand[] = [
  {
    action: 'GetVariables',
    payload: { getVariableData: [OFFLINE_THRESHOLD] },
    answer: () => ({ getVariableResult: [{ ...OFFLINE_THRESHOLD, attributeStatus: 'Accepted', attributeValue: '60' }] }),
  },
  { action: 'SetVariables', payload: { setVariableData: [{ ...OFFLINE_THRESHOLD, attributeValue: '90' }] }, answer: (p) => setVariablesAnswer(p, 'Accepted') },
  { action: 'TriggerMessage', payload: { requestedMessage: 'StatusNotification', evse: { id: 1, connectorId: 1 } }, answer: () => ({ status: 'Accepted' }) },
  { action: 'ClearCache', payload: {}, answer: () => ({ status: 'Rejected' }) },
  { action: 'ChangeAvailability', payload: { operationalStatus: 'Operative', evse: { id: 1 } }, answer: () => ({ status: 'Accepted' }) },
  { action: 'UnlockConnector', payload: { evseId: 1, connectorId: 1 }, answer: () => ({ status: 'UnlockFailed' }) },
  { action: 'Reset', payload: { type: 'OnIdle', evseId: 1 }, answer: () => ({ status: 'Rejected' }) },
  {
    action: 'GetLog',
    payload: { logType: 'DiagnosticsLog', requestId: 7001, log: { remoteLocation: 'https://logs.example.com/u' } },
    answer: () => ({ status: 'Accepted' }),
  },
  { action: 'UpdateFirmware', payload: { requestId: 7002, firmware: firmwareFixture() }, answer: () => ({ status: 'Rejected' }) },
  { action: 'DataTransfer', payload: { vendorId: 'com.stroom.test', messageId: 'chain' }, answer: () => ({ status: 'Accepted', data: 'ok' }) },
];

/** Seq of the frame in which the station answered CSMS CALL `messageId` (CALLRESULT or CALLERROR). */
function answerSeq(station: TestStation, messageId: string): number | undefined {
  for (const frame of station.sent) {
    const value = JSON.parse(frame.raw) as unknown[];
    if ((value[0] === 3 || value[0] === 4) && value[1] === messageId) return frame.seq;
  }
  return undefined;
}

/** Every CSMS CALL arrived after the station answered the one before it (or, for timeouts, never overlapping). */
function expectOneAtATime(station: TestStation): void {
  const calls = station.csmsCalls;
  for (let i = 1; i < calls.length; i += 1) {
    const previous = calls[i - 1]!;
    const answered = answerSeq(station, previous.messageId);
    expect(answered, `${previous.action} [${previous.messageId}] answered before the next CALL`).toBeDefined();
    expect(calls[i]!.seq, `${calls[i]!.action} arrived after the answer to ${previous.action}`).toBeGreaterThan(answered!);
  }
  expect(station.overlaps).toEqual([]);
}

async function fireAll(station: TestStation, chain: ChainCommand[]): Promise<void> {
  const results = await Promise.all(chain.map((c) => sendCommand(h.csms, station.identity, c.action, c.payload)));
  results.forEach((res, i) => {
    const c = chain[i]!;
    expect(res.status, `${c.action}: ${res.text.slice(0, 200)}`).toBe(200);
    expect(res.body.request).toMatchObject(c.payload);
    expect(res.body.response, `${c.action} got its own answer`).toEqual(c.answer(res.body.request));
  });
  expect(station.csmsCalls.map((c) => c.action)).toEqual(expect.arrayContaining(chain.map((c) => c.action)));
}

describe('a chain of commands to one station', () => {
  it('DRV-RPC-15: ten commands fired at once with slow answers go out strictly one at a time, each answered with its own result', async () => {
    const station = await h.csms.bootedStation({ prefix: 'RPC15-chain', connectOptions: { autoReport: false } });
    for (const c of CHAIN) {
      station.onCall(c.action, async (p) => {
        await sleep(20 + Math.floor(Math.random() * 40));
        return c.answer(p);
      });
    }
    await fireAll(station, CHAIN);
    expectOneAtATime(station);
  });

  it('DRV-RPC-15 + DRV-RPC-16: while each CSMS CALL of the chain is held, the station sends its own CALL and is answered at once', async () => {
    const station = await h.csms.bootedStation({ prefix: 'RPC16-chain', connectOptions: { autoReport: false } });
    const crossing: Array<[string, Payload]> = [
      ['Heartbeat', {}],
      ['StatusNotification', { timestamp: now(), connectorStatus: 'Available', evseId: 1, connectorId: 1 }],
      ['SecurityEventNotification', securityEvent('SettingSystemTime')],
      ['MeterValues', { evseId: 1, meterValue: [{ timestamp: now(), sampledValue: [{ value: 5 }] }] }],
      ['FirmwareStatusNotification', { status: 'Idle' }],
    ];
    const crossed: string[] = [];
    CHAIN.forEach((c, i) => {
      station.onCall(c.action, async (p) => {
        const [action, payload] = crossing[i % crossing.length]!;
        // If the CSMS waited for our answer before answering us, this would never resolve (deadlock).
        await station.call(action, payload, { timeoutMs: 3000 });
        crossed.push(action);
        return c.answer(p);
      });
    });
    await fireAll(station, CHAIN);
    expect(crossed).toHaveLength(CHAIN.length);
    expectOneAtATime(station);
  });

  it('DRV-RPC-15: a chain held at its first CALL sends nothing else until that CALL is answered, then drains in full', async () => {
    const station = await h.csms.bootedStation({ prefix: 'RPC15-held', connectOptions: { autoReport: false } });
    const held = gate();
    const [first, ...rest] = CHAIN;
    station.onCall(first!.action, async (p) => {
      await held.promise;
      return first!.answer(p);
    });
    for (const c of rest) station.onCall(c.action, (p) => c.answer(p));
    // Concurrent HTTP requests have no order; the chain is queued behind a first command known to be in flight.
    const firstAnswer = sendCommand(h.csms, station.identity, first!.action, first!.payload);
    await station.waitForCall(first!.action);
    const all = fireAll(station, rest).then(() => firstAnswer);
    // Absence can only be observed by waiting: give the CSMS time to (wrongly) send more.
    await sleep(300);
    const hb = await station.heartbeat(); // DRV-RPC-16: answered while the CSMS CALL is outstanding
    expect(typeof hb.currentTime).toBe('string');
    expect(station.csmsCalls.map((c) => c.action)).toEqual([first!.action]);
    held.open();
    const answer = await all;
    expect(answer.status).toBe(200);
    expect(station.csmsCalls.map((c) => c.action).sort()).toEqual(CHAIN.map((c) => c.action).sort());
    expectOneAtATime(station);
  });

  it('DRV-RPC-15: a CALLERROR in the middle of the chain fails only that command (502); the rest still go out one at a time', async () => {
    const station = await h.csms.bootedStation({ prefix: 'RPC15-err', connectOptions: { autoReport: false } });
    for (const c of CHAIN) {
      station.onCall(c.action, async (p) => {
        await sleep(10);
        return c.action === 'ClearCache' ? Reply.error('InternalError', 'cache on fire') : c.answer(p);
      });
    }
    const results = await Promise.all(CHAIN.map((c) => sendCommand(h.csms, station.identity, c.action, c.payload)));
    results.forEach((res, i) => {
      const c = CHAIN[i]!;
      if (c.action === 'ClearCache') {
        expect(res.status).toBe(502);
        expect(res.body.error?.code).toBe('InternalError');
      } else {
        expect(res.status, `${c.action}: ${res.text.slice(0, 200)}`).toBe(200);
        expect(res.body.response).toEqual(c.answer(res.body.request));
      }
    });
    expectOneAtATime(station);
  });

  it('DRV-RPC-15: chains to two stations run independently; each station still sees one CALL at a time', async () => {
    const [a, b] = await Promise.all([
      h.csms.bootedStation({ prefix: 'RPC15-a', connectOptions: { autoReport: false } }),
      h.csms.bootedStation({ prefix: 'RPC15-b', connectOptions: { autoReport: false } }),
    ]);
    const heldA = gate();
    for (const c of CHAIN) {
      a.onCall(c.action, async (p) => {
        await heldA.promise;
        return c.answer(p);
      });
      b.onCall(c.action, async (p) => {
        await sleep(5);
        return c.answer(p);
      });
    }
    const chainA = fireAll(a, CHAIN.slice(0, 3));
    // Station A is stuck on its first CALL; station B's chain must still complete.
    await fireAll(b, CHAIN);
    expect(a.csmsCalls).toHaveLength(1);
    heldA.open();
    await chainA;
    expectOneAtATime(a);
    expectOneAtATime(b);
  });
});
