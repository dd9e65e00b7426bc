/**
 * Ending transactions: TC_E_07, TC_E_08, TC_E_14, TC_E_15, TC_E_16, TC_E_17, TC_E_19, TC_E_20, TC_E_22, TC_E_26,
 * TC_E_39, TC_E_53, and DRV-E-04 (an Ended event for every stoppedReason).
 */
import { describe, expect, it } from 'vitest';
import { withCsms } from '../support/csms.js';
import {
  ChargingSession,
  expectRecordedEvents,
  getTransaction,
  iso,
  listTransactions,
  newIdToken,
  registerIdToken,
  type IdToken,
  type SentEvent,
} from '../support/charging.js';
import { ocppSchema, sleep } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 3000 });

/** `Transaction Duration` and `EV connection timeout`: tiny, the CSMS does not time anything here. */
const TRANSACTION_DURATION_MS = 20;
const EV_CONNECTION_TIMEOUT_MS = 30;

type Precondition = 'Authorized' | 'EnergyTransferStarted' | 'EnergyTransferSuspended' | 'StopAuthorized' | 'EVConnectedPostSession';

/** Brings a fresh station's transaction to `pre` with a registered, Accepted ISO14443 token. */
async function transactionAt(pre: Precondition, prefix: string): Promise<{ tx: ChargingSession; token: IdToken }> {
  const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
  const station = await h.csms.bootedStation({ prefix });
  const tx = new ChargingSession(station, { transactionDurationMs: TRANSACTION_DURATION_MS });
  await tx.authorized(token);
  if (pre === 'Authorized') return { tx, token };
  await tx.energyTransferStarted();
  if (pre === 'EnergyTransferSuspended') await tx.energyTransferSuspended();
  if (pre === 'StopAuthorized' || pre === 'EVConnectedPostSession') await tx.stopAuthorized();
  if (pre === 'EVConnectedPostSession') await tx.evConnectedPostSession();
  return { tx, token };
}

/** The transaction is closed with `stoppedReason` at the Ended event's time, everything recorded once. */
async function expectClosed(tx: ChargingSession, ended: SentEvent, stoppedReason: string, chargingState: string | null): Promise<void> {
  const api = h.csms.api;
  const v = await getTransaction(api, tx.station.identity, tx.transactionId);
  expect(v).toMatchObject({ active: false, stoppedReason, chargingState, endedAt: iso(ended.request.timestamp as string) });
  expect(v.startedAt).toBe(iso(tx.sent[0]?.request.timestamp as string));
  expectRecordedEvents(v, tx);
  const closed = await listTransactions(api, tx.station.identity, { active: false });
  expect(closed.body.items.map((t) => t.transactionId)).toContain(tx.transactionId);
  const open = await listTransactions(api, tx.station.identity, { active: true });
  expect(open.body.items.map((t) => t.transactionId)).not.toContain(tx.transactionId);
}

interface StopCase {
  id: string;
  what: string;
  pre: Precondition;
  stop: (tx: ChargingSession, token: IdToken) => Promise<SentEvent>;
  stoppedReason: string;
  /** What GET shows: the chargingState of the highest seqNo that carried one (null: none ever did). */
  chargingState: string | null;
}

const stopCases: StopCase[] = [
  {
    id: 'TC_E_07',
    what: 'local stop while charging (PowerPathClosed)',
    pre: 'EnergyTransferStarted',
    stop: (tx, token) => tx.event('Ended', 'StopAuthorized', { stoppedReason: 'Local', idToken: token, chargingState: 'EVConnected' }),
    stoppedReason: 'Local',
    chargingState: 'EVConnected',
  },
  {
    id: 'TC_E_15',
    what: 'StopAuthorized locally, Ended at once',
    pre: 'EnergyTransferStarted',
    stop: (tx, token) => tx.event('Ended', 'StopAuthorized', { stoppedReason: 'Local', idToken: token }),
    stoppedReason: 'Local',
    // No chargingState in the Ended event: the last one reported stays.
    chargingState: 'Charging',
  },
  {
    id: 'TC_E_08',
    what: 'energy transfer stopped after StopAuthorized',
    pre: 'StopAuthorized',
    stop: (tx) => tx.event('Ended', 'ChargingStateChanged', { chargingState: 'EVConnected', stoppedReason: 'Local' }),
    stoppedReason: 'Local',
    chargingState: 'EVConnected',
  },
  {
    id: 'TC_E_14',
    what: 'EV disconnected on the station side after the session',
    pre: 'EVConnectedPostSession',
    stop: (tx) => tx.evDisconnected(),
    stoppedReason: 'EVDisconnected',
    chargingState: 'Idle',
  },
  {
    id: 'TC_E_20',
    what: 'EV disconnected on the EV side while suspended',
    pre: 'EnergyTransferSuspended',
    stop: (tx) => tx.evDisconnected(),
    stoppedReason: 'EVDisconnected',
    chargingState: 'Idle',
  },
  {
    id: 'TC_E_17',
    what: 'deauthorized by an EV-side disconnect while suspended',
    pre: 'EnergyTransferSuspended',
    stop: (tx) => tx.event('Ended', 'EVCommunicationLost', { chargingState: 'Idle', stoppedReason: 'EVDisconnected' }),
    stoppedReason: 'EVDisconnected',
    chargingState: 'Idle',
  },
  {
    id: 'TC_E_22',
    what: 'energy transfer stopped by the EV (SuspendedEV)',
    pre: 'EnergyTransferStarted',
    stop: (tx) => tx.event('Ended', 'ChargingStateChanged', { chargingState: 'SuspendedEV', stoppedReason: 'StoppedByEV' }),
    stoppedReason: 'StoppedByEV',
    chargingState: 'SuspendedEV',
  },
  {
    id: 'TC_E_39',
    what: 'the EV never connected within the EV connection timeout',
    pre: 'Authorized',
    stop: async (tx) => {
      await sleep(EV_CONNECTION_TIMEOUT_MS);
      return tx.event('Ended', 'EVConnectTimeout', { stoppedReason: 'Timeout' });
    },
    stoppedReason: 'Timeout',
    chargingState: null,
  },
];

describe('Stop options (TxStopPoint)', () => {
  it.each(stopCases.map((c) => [c.id, c.what, c] as const))('%s: %s — Ended is answered and the transaction closed', async (id, _what, c) => {
    const { tx, token } = await transactionAt(c.pre, id);
    const ended = await c.stop(tx, token);
    expect(ended.request.eventType).toBe('Ended');
    if (ended.request.idToken !== undefined) expect(ended.response.idTokenInfo?.status).toBe('Accepted');
    else expect(ended.response).toEqual({});
    await expectClosed(tx, ended, c.stoppedReason, c.chargingState);
    if (c.id === 'TC_E_39') {
      const v = await getTransaction(h.csms.api, tx.station.identity, tx.transactionId);
      expect(v.energyWh, 'no energy was ever measured').toBeNull();
    }
  });

  it('TC_E_19: Ended on EV departure after an unplug that was only an Updated event', async () => {
    const { tx } = await transactionAt('EVConnectedPostSession', 'E19');
    // TxStopPoint ParkingBayOccupancy: the unplug does not end the transaction.
    const unplugged = await tx.evDisconnected({ eventType: 'Updated' });
    expect(unplugged.response).toEqual({});
    expect((await getTransaction(h.csms.api, tx.station.identity, tx.transactionId)).active).toBe(true);
    const ended = await tx.event('Ended', 'EVDeparted', { stoppedReason: 'Local' });
    expect(ended.response).toEqual({});
    await expectClosed(tx, ended, 'Local', 'Idle');
  });

  it.each([
    ['an unregistered token', 'unregistered', 'Unknown'],
    ['a token registered as Invalid', 'Invalid', 'Invalid'],
  ] as const)('TC_E_16: a transaction Started with %s is answered %s, and its Deauthorized end is answered', async (_what, registration, expected) => {
    const token = newIdToken('ISO14443');
    if (registration === 'Invalid') await registerIdToken(h.csms.api, token, { status: 'Invalid' });
    const station = await h.csms.bootedStation({ prefix: 'E16' });
    const tx = new ChargingSession(station);
    const started = await tx.authorized(token, { viaCache: true, expect: null });
    expect(started.request.eventType).toBe('Started');
    expect(['Invalid', 'Unknown']).toContain(started.response.idTokenInfo?.status);
    expect(started.response.idTokenInfo?.status).toBe(expected);
    const ended = await tx.event('Ended', 'Deauthorized', { stoppedReason: 'DeAuthorized' });
    expect(ended.response).toEqual({});
    const v = await getTransaction(h.csms.api, station.identity, tx.transactionId);
    expect(v).toMatchObject({ active: false, stoppedReason: 'DeAuthorized', idToken: token });
    expectRecordedEvents(v, tx);
  });
});

describe('Suspension and sequence numbers', () => {
  it('TC_E_26: the transaction stays open across an EV-side unplug and replug', async () => {
    const { tx } = await transactionAt('EnergyTransferSuspended', 'E26');
    const lost = await tx.event('Updated', 'EVCommunicationLost', { chargingState: 'Idle' });
    expect(lost.response).toEqual({});
    await tx.reportConnector('Available');
    let v = await getTransaction(h.csms.api, tx.station.identity, tx.transactionId);
    expect(v).toMatchObject({ active: true, chargingState: 'Idle', endedAt: null });
    await tx.reportConnector('Occupied');
    expect((await tx.event('Updated', 'CablePluggedIn', { chargingState: 'EVConnected' })).response).toEqual({});
    expect((await tx.event('Updated', 'ChargingStateChanged', { chargingState: 'Charging' })).response).toEqual({});
    v = await getTransaction(h.csms.api, tx.station.identity, tx.transactionId);
    expect(v).toMatchObject({ active: true, chargingState: 'Charging', endedAt: null, stoppedReason: null });
    expectRecordedEvents(v, tx);
  });

  it('TC_E_53: every transaction starts again at seqNo 0, and both are kept apart', async () => {
    const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
    const station = await h.csms.bootedStation({ prefix: 'E53' });
    const sessions: ChargingSession[] = [];
    for (let round = 0; round < 2; round += 1) {
      const tx = new ChargingSession(station, { transactionDurationMs: TRANSACTION_DURATION_MS });
      const started = await tx.authorized(token);
      expect(started.request.seqNo).toBe(0);
      expect(started.response.idTokenInfo?.status).toBe('Accepted');
      await tx.energyTransferStarted();
      await tx.stopAuthorized();
      await tx.evConnectedPostSession();
      await tx.evDisconnected();
      sessions.push(tx);
    }
    for (const tx of sessions) {
      const v = await getTransaction(h.csms.api, station.identity, tx.transactionId);
      expect(v).toMatchObject({ active: false, stoppedReason: 'EVDisconnected' });
      expectRecordedEvents(v, tx);
    }
    const all = await listTransactions(h.csms.api, station.identity);
    expect(all.body.items.map((t) => t.transactionId).sort()).toEqual(sessions.map((s) => s.transactionId).sort());
  });
});

const stoppedReasons = (ocppSchema('TransactionEventRequest') as { definitions: { ReasonEnumType: { enum: string[] } } }).definitions.ReasonEnumType.enum;

describe('DRV-E-04: every stoppedReason', () => {
  it('knows the 19 reasons of OCPP 2.0.1', () => {
    expect(stoppedReasons).toHaveLength(19);
  });

  it.each(stoppedReasons)('DRV-E-04: an Ended event with stoppedReason %s is answered and recorded', async (reason) => {
    const station = await h.csms.bootedStation({ prefix: `E04r-${reason}`.slice(0, 20) });
    const tx = new ChargingSession(station);
    await tx.evConnectedPreSession();
    await tx.event('Updated', 'ChargingStateChanged', { chargingState: 'Charging' });
    const ended = await tx.event('Ended', reason === 'Remote' ? 'RemoteStop' : 'AbnormalCondition', { stoppedReason: reason, chargingState: 'Idle' });
    expect(ended.response).toEqual({});
    await expectClosed(tx, ended, reason, 'Idle');
  });
});
