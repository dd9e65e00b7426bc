import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { callAllowedInBootState, stationMachine, stationMayCall, type BootStatus, type OutboundCall } from '../../machines/station.machine.js';

/** Drives the pure machine with a hand-held clock and records the side effects it asks for. */
function harness(bootStatus: BootStatus = 'Accepted') {
  let now = 1_000_000;
  const transmitted: string[] = [];
  const timedOut: string[] = [];
  const aborted: string[] = [];
  const refused: string[] = [];
  const inventoryRequests: number[] = [];
  const machine = stationMachine.provide({
    actions: {
      transmit: (_, { call }) => void transmitted.push(call.messageId),
      failTimedOut: (_, { calls }) => void timedOut.push(...calls.map((c) => c.messageId)),
      failAborted: (_, { calls }) => void aborted.push(...calls.map((c) => c.messageId)),
      refuse: (_, { call }) => void refused.push(call.messageId),
      requestInventory: () => void inventoryRequests.push(inventoryRequests.length + 1),
    },
    delays: { inventoryRetry: 10 },
  });
  const actor = createActor(machine, { input: { stationId: 'CS1', bootStatus, now: () => now } });
  actor.start();
  const call = (messageId: string, action = 'GetVariables', timeout = 30_000): OutboundCall => ({ messageId, action, payload: {}, deadline: now + timeout });
  return {
    actor,
    call,
    advance: (ms: number) => {
      now += ms;
    },
    transmitted,
    timedOut,
    aborted,
    refused,
    inventoryRequests,
  };
}

describe('station machine: boot lifecycle (B01–B03)', () => {
  it('restores the persisted boot status, so a reconnect without BootNotification stays Accepted (DRV-RPC-21)', () => {
    const { actor } = harness('Accepted');
    expect(actor.getSnapshot().value).toMatchObject({ boot: 'accepted' });
  });

  it('starts Unknown for a station that never booted, and follows the boot answers', () => {
    const { actor, inventoryRequests } = harness('Unknown');
    expect(actor.getSnapshot().value).toMatchObject({ boot: 'unknown' });
    actor.send({ type: 'BOOT_ANSWERED', status: 'Pending' });
    expect(actor.getSnapshot().context.bootStatus).toBe('Pending');
    // C-50.1: entering Pending asks for the inventory, once per connection
    expect(inventoryRequests).toEqual([1]);
    actor.send({ type: 'BOOT_ANSWERED', status: 'Pending' });
    expect(inventoryRequests).toEqual([1]);
    actor.send({ type: 'BOOT_ANSWERED', status: 'Accepted' });
    expect(actor.getSnapshot().value).toMatchObject({ boot: 'accepted' });
  });

  it('an inventory that has not come by Accepted is asked for again at once, then once more, and no more', async () => {
    const { actor, inventoryRequests } = harness('Unknown');
    actor.send({ type: 'BOOT_ANSWERED', status: 'Pending' });
    actor.send({ type: 'INVENTORY_REQUESTED', requestId: 11 });
    expect(inventoryRequests).toEqual([1]);
    actor.send({ type: 'BOOT_ANSWERED', status: 'Accepted' });
    expect(inventoryRequests).toEqual([1, 2]);
    actor.send({ type: 'INVENTORY_REQUESTED', requestId: 12 });
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(inventoryRequests).toEqual([1, 2, 3]);
    actor.send({ type: 'INVENTORY_REQUESTED', requestId: 13 });
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(inventoryRequests).toEqual([1, 2, 3]);
    expect(actor.getSnapshot().value).toMatchObject({ onboarding: 'gaveUp' });
  });

  it('stops asking once a part of any onboarding request arrives, and ignores other reports', async () => {
    const { actor, inventoryRequests } = harness('Unknown');
    actor.send({ type: 'BOOT_ANSWERED', status: 'Pending' });
    actor.send({ type: 'INVENTORY_REQUESTED', requestId: 21 });
    actor.send({ type: 'BOOT_ANSWERED', status: 'Accepted' });
    actor.send({ type: 'INVENTORY_REQUESTED', requestId: 22 });
    actor.send({ type: 'REPORT_ARRIVED', requestId: 99 });
    expect(actor.getSnapshot().value).toMatchObject({ onboarding: 'askedWhileAccepted' });
    actor.send({ type: 'REPORT_ARRIVED', requestId: 21 });
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(inventoryRequests).toEqual([1, 2]);
    expect(actor.getSnapshot().value).toMatchObject({ onboarding: 'received' });
  });

  it('a station Accepted at once is not asked for an inventory', () => {
    const { actor, inventoryRequests } = harness('Unknown');
    actor.send({ type: 'BOOT_ANSWERED', status: 'Accepted' });
    expect(inventoryRequests).toEqual([]);
  });

  it('B02.FR.02: lets through what the CSMS triggered while Pending, and forgets it once Accepted', () => {
    const { actor } = harness('Pending');
    expect(stationMayCall(actor.getSnapshot().context, 'StatusNotification')).toBe(false);
    actor.send({ type: 'TRIGGER_ACCEPTED', action: 'StatusNotification' });
    expect(stationMayCall(actor.getSnapshot().context, 'StatusNotification')).toBe(true);
    expect(stationMayCall(actor.getSnapshot().context, 'Heartbeat')).toBe(false);
    actor.send({ type: 'BOOT_ANSWERED', status: 'Accepted' });
    actor.send({ type: 'BOOT_ANSWERED', status: 'Pending' });
    expect(stationMayCall(actor.getSnapshot().context, 'StatusNotification')).toBe(false);
  });

  it('B03.FR.03: after Rejected queued calls are dropped and new ones refused', () => {
    const h = harness('Accepted');
    h.actor.send({ type: 'CALL_REQUESTED', call: h.call('a') });
    h.actor.send({ type: 'CALL_REQUESTED', call: h.call('b') });
    h.actor.send({ type: 'BOOT_ANSWERED', status: 'Rejected' });
    expect(h.aborted).toEqual(['b']);
    h.actor.send({ type: 'CALL_REQUESTED', call: h.call('c', 'TriggerMessage') });
    expect(h.refused).toEqual(['c']);
  });

  it('B02.FR.05: while Pending only configuration calls are allowed', () => {
    expect(callAllowedInBootState('Pending', 'GetBaseReport')).toBe(true);
    expect(callAllowedInBootState('Pending', 'RequestStartTransaction')).toBe(false);
    expect(callAllowedInBootState('Unknown', 'TriggerMessage')).toBe(true);
    expect(callAllowedInBootState('Unknown', 'Reset')).toBe(false);
  });
});

describe('station machine: outbound calls (Part 4 §4.1.1, DRV-RPC-15)', () => {
  it('keeps one call in flight and sends the next only after the answer', () => {
    const h = harness();
    h.actor.send({ type: 'CALL_REQUESTED', call: h.call('1') });
    h.actor.send({ type: 'CALL_REQUESTED', call: h.call('2') });
    h.actor.send({ type: 'CALL_REQUESTED', call: h.call('3') });
    expect(h.transmitted).toEqual(['1']);
    h.actor.send({ type: 'CALL_ANSWERED', messageId: '2' }); // not the one in flight: ignored
    expect(h.transmitted).toEqual(['1']);
    h.actor.send({ type: 'CALL_ANSWERED', messageId: '1' });
    expect(h.transmitted).toEqual(['1', '2']);
    h.actor.send({ type: 'CALL_ANSWERED', messageId: '2' });
    expect(h.transmitted).toEqual(['1', '2', '3']);
    expect(h.actor.getSnapshot().context.pendingCalls).toEqual([]);
  });

  it('fails a queued call whose deadline passed instead of sending it late', () => {
    const h = harness();
    h.actor.send({ type: 'CALL_REQUESTED', call: h.call('slow', 'GetVariables', 10_000) });
    h.actor.send({ type: 'CALL_REQUESTED', call: h.call('short', 'GetVariables', 100) });
    h.actor.send({ type: 'CALL_REQUESTED', call: h.call('later', 'GetVariables', 20_000) });
    h.advance(500);
    h.actor.send({ type: 'CALL_ANSWERED', messageId: 'slow' });
    expect(h.timedOut).toEqual(['short']);
    expect(h.transmitted).toEqual(['slow', 'later']);
  });

  it('drops a cancelled queued call', () => {
    const h = harness();
    h.actor.send({ type: 'CALL_REQUESTED', call: h.call('1') });
    h.actor.send({ type: 'CALL_REQUESTED', call: h.call('2') });
    h.actor.send({ type: 'CALL_CANCELLED', messageId: '2' });
    h.actor.send({ type: 'CALL_ANSWERED', messageId: '1' });
    expect(h.transmitted).toEqual(['1']);
  });

  it('aborts the in-flight and queued calls when the station disconnects', () => {
    const h = harness();
    h.actor.send({ type: 'CALL_REQUESTED', call: h.call('1') });
    h.actor.send({ type: 'CALL_REQUESTED', call: h.call('2') });
    h.actor.send({ type: 'DISCONNECTED' });
    expect(h.aborted).toEqual(['1', '2']);
    expect(h.actor.getSnapshot().value).toMatchObject({ outbound: 'closed' });
  });

  it('fails a queued call at its own deadline while another call is still in flight', async () => {
    const h = harness();
    h.actor.send({ type: 'CALL_REQUESTED', call: h.call('slow', 'GetVariables', 60_000) });
    // Queued behind 'slow' with an earlier deadline (a command routed from another node, say).
    h.actor.send({ type: 'CALL_REQUESTED', call: h.call('urgent', 'GetVariables', 20) });
    h.actor.send({ type: 'CALL_REQUESTED', call: h.call('patient', 'GetVariables', 60_000) });
    h.advance(25);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(h.timedOut).toEqual(['urgent']);
    expect(h.transmitted).toEqual(['slow']);
    h.actor.send({ type: 'CALL_ANSWERED', messageId: 'slow' });
    expect(h.transmitted).toEqual(['slow', 'patient']);
  });

  it('keeps what this session learnt about transactions when the store answer arrives later', () => {
    const h = harness();
    expect(h.actor.getSnapshot().context.openTransactions).toBeUndefined();
    h.actor.send({ type: 'TRANSACTION_SEEN', transactionId: 'new', evseId: 2 });
    h.actor.send({
      type: 'TRANSACTIONS_LOADED',
      transactions: [
        { transactionId: 'stored-1', evseId: 1 },
        { transactionId: 'stale-2', evseId: 2 },
      ],
    });
    // One transaction per EVSE: the one seen on EVSE 2 in this session replaces the stored one.
    expect(h.actor.getSnapshot().context.openTransactions).toEqual([
      { transactionId: 'stored-1', evseId: 1 },
      { transactionId: 'new', evseId: 2 },
    ]);
    h.actor.send({ type: 'TRANSACTION_SEEN', transactionId: 'stored-1', evseId: undefined });
    expect(h.actor.getSnapshot().context.openTransactions?.find((tx) => tx.transactionId === 'stored-1')?.evseId).toBe(1);
  });

  it('tracks open transactions', () => {
    const h = harness();
    h.actor.send({ type: 'TRANSACTION_SEEN', transactionId: 't1', evseId: undefined });
    h.actor.send({ type: 'TRANSACTION_SEEN', transactionId: 't1', evseId: undefined });
    h.actor.send({ type: 'TRANSACTION_SEEN', transactionId: 't2', evseId: undefined });
    h.actor.send({ type: 'TRANSACTION_ENDED', transactionId: 't1' });
    expect(h.actor.getSnapshot().context.openTransactions?.map((tx) => tx.transactionId)).toEqual(['t2']);
  });
});
