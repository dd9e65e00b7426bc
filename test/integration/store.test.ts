import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { DataDirInUseError } from '../../src/store/data-dir-lock.js';
import { UnknownStationError } from '../../src/store/errors.js';
import { batchStatement, GroupCommitter, StoreClosedError } from '../../src/store/group-commit.js';
import { migrations } from '../../src/store/migrations.js';
import { openStore } from '../../src/store/open-store.js';
import type { SqlStore } from '../../src/store/sql-store.js';
import type { Queryable, SqlDatabase, Statement } from '../../src/store/sql.js';
import type { DeviceVariable, JsonObject } from '../../src/store/store.js';
import { REOPEN_TIMEOUT_MS, STORE_BACKENDS, type StoreLocation } from '../support/store-backends.js';
import { transactionEventWrite } from '../support/store-writes.js';

const backends = STORE_BACKENDS;

const chargingStation: JsonObject = { model: 'SingleSocketCharger', vendorName: 'VendorX', serialNumber: 'SN-1' };

function variable(
  componentName: string,
  variableName: string,
  attributes: DeviceVariable['attributes'],
  extra: { evseId?: number; instance?: string; characteristics?: JsonObject } = {},
): DeviceVariable {
  const component: JsonObject = { name: componentName };
  if (extra.evseId !== undefined) component.evse = { id: extra.evseId };
  if (extra.instance !== undefined) component.instance = extra.instance;
  const result: DeviceVariable = { component, variable: { name: variableName }, attributes };
  if (extra.characteristics !== undefined) result.characteristics = extra.characteristics;
  return result;
}

describe.each(backends)('SqlStore on $name', (backend) => {
  let location: StoreLocation;
  let store: SqlStore;
  const commitSizes: number[] = [];
  const extraLocations: StoreLocation[] = [];

  async function newLocation(): Promise<StoreLocation> {
    const created = await backend.newLocation();
    extraLocations.push(created);
    return created;
  }

  beforeAll(async () => {
    location = await backend.newLocation();
    store = await openStore({ ...location.options, onCommit: (batchSize) => commitSizes.push(batchSize) });
  });

  afterAll(async () => {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
    await store?.close();
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
    await location?.remove();
    for (const extra of extraLocations) await extra.remove();
  });

  beforeEach(() => {
    commitSizes.length = 0;
  });

  it('reports which backend it runs on', () => {
    expect(store.kind).toBe(backend.name);
  });

  describe('stations', () => {
    it('creates a station with the defaults: profile 1, bootPolicy Accepted, bootStatus Unknown', async () => {
      const { station, created } = await store.upsertStation('CS-defaults', {});
      expect(created).toBe(true);
      expect(station).toMatchObject({
        id: 'CS-defaults',
        securityProfile: 1,
        bootPolicy: 'Accepted',
        bootStatus: 'Unknown',
        passwordHash: undefined,
        chargingStation: undefined,
        lastSeen: undefined,
        firmwareStatus: undefined,
        logStatus: undefined,
      });
      expect(station.createdAt).toBeInstanceOf(Date);
      expect(station.updatedAt).toBeInstanceOf(Date);
      expect(await store.getStation('CS-defaults')).toEqual(station);
    });

    it('updates only what the patch names; null clears the password', async () => {
      await store.upsertStation('CS-patch', { securityProfile: 2, passwordHash: 'scrypt$hash-1' });
      const updated = await store.upsertStation('CS-patch', { bootPolicy: 'Pending' });
      expect(updated.created).toBe(false);
      expect(updated.station).toMatchObject({ securityProfile: 2, passwordHash: 'scrypt$hash-1', bootPolicy: 'Pending' });

      const cleared = await store.upsertStation('CS-patch', { passwordHash: null });
      expect(cleared.station.passwordHash).toBeUndefined();
      expect(cleared.station.bootPolicy).toBe('Pending');

      const raised = await store.upsertStation('CS-patch', { securityProfile: 3, passwordHash: 'scrypt$hash-2' });
      expect(raised.station).toMatchObject({ securityProfile: 3, passwordHash: 'scrypt$hash-2' });
    });

    it('keeps a password verifier as bytes beside its hash, only for that hash; a new password replaces or clears it', async () => {
      const verifier = Buffer.from('00ff'.repeat(16), 'hex');
      const { station } = await store.upsertStation('CS-verifier', { passwordHash: 'scrypt$v-1', passwordVerifier: verifier });
      expect(station.passwordVerifier?.equals(verifier)).toBe(true);
      expect((await store.getStation('CS-verifier'))?.passwordVerifier?.equals(verifier)).toBe(true);
      // Patches that leave the password alone leave the verifier alone.
      expect((await store.upsertStation('CS-verifier', { bootPolicy: 'Pending' })).station.passwordVerifier?.equals(verifier)).toBe(true);
      await store.upsertStation('CS-verifier', { passwordHash: 'scrypt$v-2' });
      expect((await store.getStation('CS-verifier'))?.passwordVerifier).toBeUndefined();
      // A verifier recorded for a hash that is no longer the station's is not kept.
      await store.recordPasswordVerifier('CS-verifier', 'scrypt$v-1', verifier);
      expect((await store.getStation('CS-verifier'))?.passwordVerifier).toBeUndefined();
      const next = Buffer.alloc(32, 7);
      await store.recordPasswordVerifier('CS-verifier', 'scrypt$v-2', next);
      expect((await store.getStation('CS-verifier'))?.passwordVerifier?.equals(next)).toBe(true);
    });

    it('lists stations in id order', async () => {
      await store.upsertStation('CS-list-b', {});
      await store.upsertStation('CS-list-a', {});
      const ids = (await store.listStations()).map((station) => station.id).filter((id) => id.startsWith('CS-list-'));
      expect(ids).toEqual(['CS-list-a', 'CS-list-b']);
    });

    it('deletes a station with everything recorded for it', async () => {
      await store.upsertStation('CS-delete', {});
      await store.recordConnectorStatus('CS-delete', { evseId: 1, connectorId: 1, status: 'Available', updatedAt: new Date() });
      await store.recordEvent('CS-delete', 'NotifyEvent', { seqNo: 0 }, new Date());
      expect(await store.deleteStation('CS-delete')).toBe(true);
      expect(await store.getStation('CS-delete')).toBeUndefined();
      expect(await store.deleteStation('CS-delete')).toBe(false);

      await store.upsertStation('CS-delete', {});
      expect(await store.getConnectors('CS-delete')).toEqual([]);
      expect(await store.listEvents('CS-delete', 10)).toEqual([]);
    });

    it('answers undefined for an unknown station', async () => {
      expect(await store.getStation('CS-never-registered')).toBeUndefined();
    });
  });

  describe('records of station traffic', () => {
    it('records a boot: status, chargingStation, reason, and the station as seen', async () => {
      await store.upsertStation('CS-boot', { bootPolicy: 'Pending' });
      const at = new Date('2026-01-02T03:04:05.678Z');
      await store.recordBoot('CS-boot', { bootStatus: 'Pending', chargingStation, reason: 'PowerUp', at });
      const station = await store.getStation('CS-boot');
      expect(station).toMatchObject({ bootStatus: 'Pending', chargingStation, lastBootReason: 'PowerUp', lastSeen: at });

      await store.recordBoot('CS-boot', {
        bootStatus: 'Accepted',
        chargingStation: { ...chargingStation, firmwareVersion: '1.2' },
        reason: 'RemoteReset',
        at: new Date(at.getTime() + 1000),
      });
      expect(await store.getStation('CS-boot')).toMatchObject({
        bootStatus: 'Accepted',
        chargingStation: { firmwareVersion: '1.2' },
        lastBootReason: 'RemoteReset',
      });
    });

    it('upserts connector statuses per EVSE and connector', async () => {
      await store.upsertStation('CS-connectors', {});
      const t0 = new Date('2026-01-01T00:00:00.000Z');
      const t1 = new Date('2026-01-01T00:01:00.000Z');
      await Promise.all([
        store.recordConnectorStatus('CS-connectors', { evseId: 2, connectorId: 1, status: 'Available', updatedAt: t0 }),
        store.recordConnectorStatus('CS-connectors', { evseId: 1, connectorId: 1, status: 'Available', updatedAt: t0 }),
      ]);
      await store.recordConnectorStatus('CS-connectors', { evseId: 1, connectorId: 1, status: 'Occupied', updatedAt: t1 });
      expect(await store.getConnectors('CS-connectors')).toEqual([
        { evseId: 1, connectorId: 1, status: 'Occupied', updatedAt: t1 },
        { evseId: 2, connectorId: 1, status: 'Available', updatedAt: t0 },
      ]);
    });

    it('keeps the last of several statuses of one connector sent in the same batch', async () => {
      await store.upsertStation('CS-same-connector', {});
      const statuses = ['Available', 'Occupied', 'Reserved', 'Unavailable', 'Faulted'];
      await Promise.all(
        statuses.map((status, i) => store.recordConnectorStatus('CS-same-connector', { evseId: 1, connectorId: 1, status, updatedAt: new Date(i * 1000) })),
      );
      expect(await store.getConnectors('CS-same-connector')).toEqual([{ evseId: 1, connectorId: 1, status: 'Faulted', updatedAt: new Date(4000) }]);
    });

    it('returns report parts in seqNo order, whatever order they arrived in', async () => {
      await store.upsertStation('CS-report', {});
      const part = (seqNo: number, tbc: boolean) => ({
        requestId: 7,
        seqNo,
        tbc,
        generatedAt: '2026-01-01T00:00:00Z',
        reportData: [{ component: { name: 'C' }, variable: { name: `V${seqNo}` }, variableAttribute: [{ value: String(seqNo) }] }],
      });
      await Promise.all([store.recordReportPart('CS-report', part(2, false)), store.recordReportPart('CS-report', part(0, true))]);
      await store.recordReportPart('CS-report', part(1, true));
      await store.recordReportPart('CS-report', { ...part(5, false), requestId: 8 });

      const parts = await store.getReportParts('CS-report', 7);
      expect(parts.map((p) => p.seqNo)).toEqual([0, 1, 2]);
      expect(parts.map((p) => p.tbc)).toEqual([true, true, false]);
      expect(parts[1]).toEqual(part(1, true));
      expect(await store.getReportParts('CS-report', 8)).toHaveLength(1);
      expect(await store.getReportParts('CS-report', 9)).toEqual([]);
    });

    it('merges device variables per attribute type and keeps what a later write does not carry', async () => {
      await store.upsertStation('CS-vars', {});
      await store.recordVariables('CS-vars', [
        variable(
          'EVSE',
          'Power',
          [
            { type: 'Actual', value: '0', mutability: 'ReadOnly', persistent: false, constant: false },
            { type: 'MaxSet', value: '22000', mutability: 'ReadWrite' },
          ],
          { evseId: 1, characteristics: { dataType: 'decimal', unit: 'W', supportsMonitoring: true } },
        ),
        variable('OCPPCommCtrlr', 'HeartbeatInterval', [{ type: 'Actual', value: '300' }]),
      ]);
      await store.recordVariables('CS-vars', [
        variable(
          'EVSE',
          'Power',
          [
            { type: 'Actual', value: '11000' },
            { type: 'Target', value: '7000' },
          ],
          { evseId: 1 },
        ),
      ]);

      const variables = await store.getVariables('CS-vars');
      const power = variables.find((v) => v.variable.name === 'Power');
      expect(power).toEqual({
        component: { name: 'EVSE', evse: { id: 1 } },
        variable: { name: 'Power' },
        attributes: [
          { type: 'Actual', value: '11000', mutability: 'ReadOnly', persistent: false, constant: false },
          { type: 'MaxSet', value: '22000', mutability: 'ReadWrite' },
          { type: 'Target', value: '7000' },
        ],
        characteristics: { dataType: 'decimal', unit: 'W', supportsMonitoring: true },
      });
      const heartbeat = variables.find((v) => v.variable.name === 'HeartbeatInterval');
      expect(heartbeat).toEqual({
        component: { name: 'OCPPCommCtrlr' },
        variable: { name: 'HeartbeatInterval' },
        attributes: [{ type: 'Actual', value: '300' }],
      });
    });

    it('merges the same way when the writes share one batch', async () => {
      await store.upsertStation('CS-vars-batch', {});
      await Promise.all([
        store.recordVariables('CS-vars-batch', [variable('Connector', 'Available', [{ type: 'Actual', value: 'true', mutability: 'ReadOnly' }])]),
        store.recordVariables('CS-vars-batch', [variable('Connector', 'Available', [{ type: 'Actual', value: 'false' }])]),
        store.recordVariables('CS-vars-batch', [variable('Connector', 'Available', [{ type: 'Target', value: 'true' }])]),
      ]);
      expect(await store.getVariables('CS-vars-batch')).toEqual([
        {
          component: { name: 'Connector' },
          variable: { name: 'Available' },
          attributes: [
            { type: 'Actual', value: 'false', mutability: 'ReadOnly' },
            { type: 'Target', value: 'true' },
          ],
        },
      ]);
    });

    it('keeps variables apart by component instance, EVSE and variable name, even with separator characters', async () => {
      await store.upsertStation('CS-vars-keys', {});
      await store.recordVariables('CS-vars-keys', [
        variable('Tx|Ctrlr', 'A', [{ type: 'Actual', value: '1' }]),
        variable('Tx', 'Ctrlr|A', [{ type: 'Actual', value: '2' }]),
        variable('Tx|Ctrlr', 'A', [{ type: 'Actual', value: '3' }], { instance: 'x' }),
        variable('Tx|Ctrlr', 'A', [{ type: 'Actual', value: '4' }], { evseId: 1 }),
        variable('Tx|Ctrlr', 'A', [{ type: 'Actual', value: '5' }], { evseId: 2 }),
      ]);
      const values = (await store.getVariables('CS-vars-keys')).map((v) => v.attributes[0]?.value).sort();
      expect(values).toEqual(['1', '2', '3', '4', '5']);
    });

    it('lists events newest first, up to the limit', async () => {
      await store.upsertStation('CS-events', {});
      await store.recordEvent('CS-events', 'NotifyEvent', { seqNo: 0 }, new Date('2026-01-01T00:00:00Z'));
      await store.recordEvent('CS-events', 'SecurityEventNotification', { type: 'StartupOfTheDevice' }, new Date('2026-01-01T00:00:01Z'));
      await Promise.all([
        store.recordEvent('CS-events', 'FirmwareStatusNotification', { status: 'Downloading' }, new Date('2026-01-01T00:00:02Z')),
        store.recordEvent('CS-events', 'LogStatusNotification', { status: 'Uploading' }, new Date('2026-01-01T00:00:03Z')),
      ]);
      const events = await store.listEvents('CS-events', 3);
      expect(events.map((event) => event.kind)).toEqual(['LogStatusNotification', 'FirmwareStatusNotification', 'SecurityEventNotification']);
      expect(events[2]).toMatchObject({ payload: { type: 'StartupOfTheDevice' }, receivedAt: new Date('2026-01-01T00:00:01Z') });
      expect(typeof events[0]?.id).toBe('number');
      expect(events[0]!.id).toBeGreaterThan(events[1]!.id);
      expect(await store.listEvents('CS-events', 10)).toHaveLength(4);
    });

    it('stores a resent NotifyEvent or SecurityEventNotification once; status notifications are kept every time', async () => {
      await store.upsertStation('CS-event-resend', {});
      const notify: JsonObject = { generatedAt: '2026-01-01T00:00:00.000Z', seqNo: 0, eventData: [{ eventId: 1, actualValue: 'x' }] };
      const security: JsonObject = { type: 'StartupOfTheDevice', timestamp: '2026-01-01T00:00:00.000Z' };
      const firmware: JsonObject = { status: 'Downloading', requestId: 7 };
      const received = (second: number): Date => new Date(Date.UTC(2026, 0, 1, 0, 0, second));
      await Promise.all([
        store.recordEvent('CS-event-resend', 'NotifyEvent', notify, received(1)),
        store.recordEvent('CS-event-resend', 'NotifyEvent', { ...notify }, received(2)),
        store.recordEvent('CS-event-resend', 'SecurityEventNotification', security, received(3)),
      ]);
      const rewrittenBefore = store.commitStats.rewrittenBatches;
      await store.recordEvent('CS-event-resend', 'SecurityEventNotification', { ...security }, received(4));
      await store.recordEvent('CS-event-resend', 'NotifyEvent', { ...notify }, received(5));
      expect(store.commitStats.rewrittenBatches).toBe(rewrittenBefore);
      // Another seqNo of the same report is another message.
      await store.recordEvent('CS-event-resend', 'NotifyEvent', { ...notify, seqNo: 1 }, received(6));
      await store.recordEvent('CS-event-resend', 'FirmwareStatusNotification', firmware, received(7));
      await store.recordEvent('CS-event-resend', 'FirmwareStatusNotification', firmware, received(8));

      const events = await store.listEvents('CS-event-resend', 20);
      expect(events.map((event) => [event.kind, event.receivedAt.getUTCSeconds()])).toEqual([
        ['FirmwareStatusNotification', 8],
        ['FirmwareStatusNotification', 7],
        ['NotifyEvent', 6],
        ['SecurityEventNotification', 3],
        ['NotifyEvent', 1],
      ]);
    });

    it('records firmware and log status on the station', async () => {
      await store.upsertStation('CS-status', {});
      await store.recordFirmwareStatus('CS-status', { status: 'Installed', requestId: 3 });
      await store.recordLogStatus('CS-status', { status: 'Uploaded', requestId: 4 });
      expect(await store.getStation('CS-status')).toMatchObject({
        firmwareStatus: { status: 'Installed', requestId: 3 },
        logStatus: { status: 'Uploaded', requestId: 4 },
      });
    });

    it('returns customer information parts in seqNo order', async () => {
      await store.upsertStation('CS-customer', {});
      await Promise.all([
        store.recordCustomerInformation('CS-customer', { requestId: 1, seqNo: 1, tbc: false, generatedAt: '2026-01-01T00:00:00Z', data: 'world' }),
        store.recordCustomerInformation('CS-customer', { requestId: 1, seqNo: 0, tbc: true, generatedAt: '2026-01-01T00:00:00Z', data: 'hello ' }),
      ]);
      const parts = await store.getCustomerInformation('CS-customer', 1);
      expect(parts.map((part) => part.data).join('')).toBe('hello world');
      expect(parts[0]).toEqual({ requestId: 1, seqNo: 0, tbc: true, generatedAt: '2026-01-01T00:00:00Z', data: 'hello ' });
      expect(await store.getCustomerInformation('CS-customer', 2)).toEqual([]);
    });

    it('shows a touched lastSeen at once, before it is written', async () => {
      await store.upsertStation('CS-seen', {});
      const at = new Date('2026-03-01T12:00:00.000Z');
      store.touchLastSeen('CS-seen', at);
      expect((await store.getStation('CS-seen'))?.lastSeen).toEqual(at);
      // An older touch never moves lastSeen back.
      store.touchLastSeen('CS-seen', new Date('2026-02-01T00:00:00.000Z'));
      expect((await store.getStation('CS-seen'))?.lastSeen).toEqual(at);
    });
  });

  describe('group commit', () => {
    it('commits 500 concurrent writes in far fewer than 500 transactions, every row included', async () => {
      await store.upsertStation('CS-burst', {});
      const updatedAt = new Date('2026-01-01T00:00:00Z');
      await Promise.all(
        Array.from({ length: 500 }, (_, i) => store.recordConnectorStatus('CS-burst', { evseId: i + 1, connectorId: 1, status: 'Available', updatedAt })),
      );
      expect(commitSizes.reduce((sum, size) => sum + size, 0)).toBe(500);
      expect(commitSizes.length).toBeLessThan(50);
      const connectors = await store.getConnectors('CS-burst');
      expect(connectors).toHaveLength(500);
      expect(connectors.map((c) => c.evseId)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    });

    it('batches writes that arrive while a commit is in flight', async () => {
      await store.upsertStation('CS-waves', {});
      const writes: Promise<void>[] = [];
      // Three waves, each issued while the previous one is still committing.
      for (let wave = 0; wave < 3; wave++) {
        for (let i = 0; i < 100; i++) {
          writes.push(store.recordEvent('CS-waves', 'NotifyEvent', { wave, i }, new Date()));
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
      await Promise.all(writes);
      expect(commitSizes.reduce((sum, size) => sum + size, 0)).toBe(300);
      expect(commitSizes.length).toBeLessThan(30);
      const events = await store.listEvents('CS-waves', 1000);
      expect(events).toHaveLength(300);
      // Within a batch ids follow the order of the calls. Batches may commit side by side (PostgreSQL pool),
      // which is safe because one station never has two writes in flight: it waits for each answer.
      for (let wave = 0; wave < 3; wave++) {
        const order = events.filter((e) => (e.payload as { wave: number }).wave === wave).map((e) => (e.payload as { i: number }).i);
        expect(order).toEqual([...Array(100).keys()].reverse());
      }
    });

    it('rejects only the write that failed; the others in its batch commit', async () => {
      await store.upsertStation('CS-good', {});
      const updatedAt = new Date('2026-01-01T00:00:00Z');
      const results = await Promise.allSettled([
        store.recordConnectorStatus('CS-good', { evseId: 1, connectorId: 1, status: 'Available', updatedAt }),
        store.recordConnectorStatus('CS-missing', { evseId: 1, connectorId: 1, status: 'Available', updatedAt }),
        store.recordEvent('CS-good', 'NotifyEvent', { seqNo: 1 }, updatedAt),
        store.recordFirmwareStatus('CS-missing', { status: 'Installed' }),
        store.recordBoot('CS-missing', { bootStatus: 'Accepted', chargingStation, reason: 'PowerUp', at: updatedAt }),
        store.recordBoot('CS-good', { bootStatus: 'Accepted', chargingStation, reason: 'PowerUp', at: updatedAt }),
        store.recordConnectorStatus('CS-good', { evseId: 2, connectorId: 1, status: 'Occupied', updatedAt }),
      ]);
      expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected', 'rejected', 'fulfilled', 'fulfilled']);
      for (const index of [1, 3, 4]) {
        const result = results[index];
        expect(result?.status === 'rejected' && result.reason).toBeInstanceOf(UnknownStationError);
        expect(result?.status === 'rejected' && (result.reason as UnknownStationError).stationId).toBe('CS-missing');
      }
      expect((await store.getConnectors('CS-good')).map((c) => c.status)).toEqual(['Available', 'Occupied']);
      expect(await store.listEvents('CS-good', 10)).toHaveLength(1);
      expect((await store.getStation('CS-good'))?.bootStatus).toBe('Accepted');
      expect(await store.getStation('CS-missing')).toBeUndefined();
    });
  });

  describe('strings the database would refuse (U+0000, lone surrogates)', () => {
    const NUL = String.fromCharCode(0);
    const LONE = String.fromCharCode(0xd800);
    const REPLACED = String.fromCharCode(0xfffd);

    it('stores a schema-valid U+0000 in any record as U+FFFD, in strings and keys, and its batch-mates commit with it', async () => {
      await store.upsertStation('CS-nul', {});
      const at = new Date('2026-01-01T00:00:00Z');
      const poisoned: JsonObject = { customData: { vendorId: `v${NUL}`, [`k${NUL}`]: `a${NUL}b${LONE}` } };
      const before = store.commitStats;
      const results = await Promise.allSettled([
        store.recordConnectorStatus('CS-nul', { evseId: 1, connectorId: 1, status: 'Available', updatedAt: at }),
        store.recordEvent('CS-nul', 'SecurityEventNotification', { type: 'X', timestamp: at.toISOString(), techInfo: `t${NUL}`, ...poisoned }, at),
        store.recordBoot('CS-nul', { bootStatus: 'Accepted', chargingStation: { ...chargingStation, ...poisoned }, reason: `PowerUp${NUL}`, at }),
        store.recordTransactionEvent({
          stationId: 'CS-nul',
          transactionId: `tx${NUL}1`,
          seqNo: 0,
          eventType: 'Started',
          timestamp: at,
          triggerReason: 'Authorized',
          offline: false,
          payload: { eventType: 'Started', ...poisoned, idToken: { idToken: 'A', type: 'Local', additionalInfo: [{ additionalIdToken: `x${NUL}`, type: 'y' }] } },
          response: {},
          evseId: 1,
          connectorId: 1,
          idToken: { idToken: `A${NUL}`, type: 'Local' },
          chargingState: undefined,
          stoppedReason: undefined,
          remoteStartId: undefined,
          firstRegister: undefined,
          lastRegister: undefined,
        }),
        store.recordMeterValues({ stationId: 'CS-nul', evseId: 1, transactionId: undefined, source: 'MeterValues', meterValue: [poisoned], receivedAt: at }),
        store.recordCustomerInformation('CS-nul', { requestId: 1, seqNo: 0, tbc: false, generatedAt: at.toISOString(), data: `hello${NUL}world` }),
        store.recordReportPart('CS-nul', { requestId: 2, seqNo: 0, tbc: false, generatedAt: at.toISOString(), reportData: [poisoned] }),
        store.recordVariables('CS-nul', [variable(`Comp${NUL}`, 'Var', [{ type: 'Actual', value: `v${NUL}` }])]),
        store.recordConnectorStatus('CS-nul', { evseId: 2, connectorId: 1, status: 'Occupied', updatedAt: at }),
      ]);
      expect(results.map((result) => (result.status === 'rejected' ? String(result.reason) : 'ok'))).toEqual(Array(9).fill('ok'));
      expect(store.commitStats.failedBatches).toBe(before.failedBatches);

      const cleaned = { customData: { vendorId: `v${REPLACED}`, [`k${REPLACED}`]: `a${REPLACED}b${REPLACED}` } };
      expect((await store.getConnectors('CS-nul')).map((c) => c.status)).toEqual(['Available', 'Occupied']);
      expect((await store.listEvents('CS-nul', 5))[0]?.payload).toMatchObject({ techInfo: `t${REPLACED}`, ...cleaned });
      expect(await store.getStation('CS-nul')).toMatchObject({ lastBootReason: `PowerUp${REPLACED}`, chargingStation: cleaned });
      const tx = await store.getTransaction('CS-nul', `tx${NUL}1`);
      expect(tx).toMatchObject({ transactionId: `tx${REPLACED}1`, idToken: { idToken: `A${REPLACED}` } });
      expect((await store.getTransactionEvents('CS-nul', `tx${REPLACED}1`))[0]?.payload).toMatchObject({
        ...cleaned,
        idToken: { additionalInfo: [{ additionalIdToken: `x${REPLACED}` }] },
      });
      expect((await store.getCustomerInformation('CS-nul', 1))[0]?.data).toBe(`hello${REPLACED}world`);
      expect((await store.getReportParts('CS-nul', 2))[0]?.reportData).toEqual([cleaned]);
      expect((await store.getVariables('CS-nul'))[0]).toMatchObject({ component: { name: `Comp${REPLACED}` }, attributes: [{ value: `v${REPLACED}` }] });
    });

    it('a write the database still refuses fails alone; the writes batched with it commit', async () => {
      await store.upsertStation('CS-refused', {});
      const at = new Date('2026-01-01T00:00:00Z');
      const event = (seqNo: number) =>
        transactionEventWrite({
          stationId: 'CS-refused',
          transactionId: 'tx-r',
          seqNo,
          eventType: 'Updated',
          timestamp: at,
          triggerReason: 'MeterValuePeriodic',
          payload: { seqNo },
        });
      const results = await Promise.allSettled([
        store.recordTransactionEvent(event(1)),
        // Beyond the integer column: refused by the database whatever the batch.
        store.recordTransactionEvent(event(2 ** 31)),
        store.recordEvent('CS-refused', 'NotifyEvent', { generatedAt: at.toISOString(), seqNo: 0, eventData: [] }, at),
        store.recordTransactionEvent(event(2)),
      ]);
      expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
      expect((await store.getTransactionEvents('CS-refused', 'tx-r')).map((e) => e.seqNo)).toEqual([1, 2]);
      expect(await store.listEvents('CS-refused', 5)).toHaveLength(1);
    });
  });

  describe('lifecycle', () => {
    it(
      'keeps everything across close and reopen, including writes still pending at close',
      async () => {
        const place = await newLocation();
        const first = await openStore(place.options);
        await first.upsertStation('CS-durable', { securityProfile: 2, passwordHash: 'scrypt$x' });
        const seenAt = new Date('2026-04-01T00:00:00.000Z');
        first.touchLastSeen('CS-durable', seenAt);
        // Not awaited: close() must flush them.
        const pending = [
          first.recordConnectorStatus('CS-durable', { evseId: 1, connectorId: 1, status: 'Occupied', updatedAt: seenAt }),
          first.recordVariables('CS-durable', [variable('SecurityCtrlr', 'OrganizationName', [{ type: 'Actual', value: 'Stroom' }])]),
          first.recordEvent('CS-durable', 'SecurityEventNotification', { type: 'ResetOrReboot' }, seenAt),
        ];
        await first.close();
        await Promise.all(pending);
        await expect(first.recordConnectorStatus('CS-durable', { evseId: 1, connectorId: 1, status: 'Available', updatedAt: seenAt })).rejects.toBeInstanceOf(
          StoreClosedError,
        );

        const second = await openStore(place.options);
        try {
          expect(await second.getStation('CS-durable')).toMatchObject({ securityProfile: 2, passwordHash: 'scrypt$x', lastSeen: seenAt });
          expect(await second.getConnectors('CS-durable')).toEqual([{ evseId: 1, connectorId: 1, status: 'Occupied', updatedAt: seenAt }]);
          expect(await second.getVariables('CS-durable')).toHaveLength(1);
          expect(await second.listEvents('CS-durable', 10)).toHaveLength(1);
        } finally {
          await second.close();
        }
      },
      REOPEN_TIMEOUT_MS,
    );

    it(
      'applies migrations once: opening an existing database again changes nothing',
      async () => {
        const place = await newLocation();
        const first = await openStore(place.options);
        await first.upsertStation('CS-migrated', {});
        await first.close();
        const second = await openStore(place.options);
        try {
          const applied = await second.transaction((q) => q.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version'));
          expect(applied.map((row) => row.version)).toEqual(migrations.map((migration) => migration.version));
          expect(await second.getStation('CS-migrated')).toBeDefined();
        } finally {
          await second.close();
        }
      },
      REOPEN_TIMEOUT_MS,
    );

    if (backend.name === 'postgres') {
      it(
        'lets several processes open one fresh database at once (migrations take an advisory lock)',
        async () => {
          const place = await newLocation();
          const stores = await Promise.all([openStore(place.options), openStore(place.options), openStore(place.options)]);
          try {
            const applied = await stores[0].transaction((q) => q.query<{ version: number }>('SELECT version FROM schema_migrations'));
            expect(applied).toHaveLength(migrations.length);
          } finally {
            await Promise.all(stores.map((opened) => opened.close()));
          }
        },
        REOPEN_TIMEOUT_MS,
      );
    }

    if (backend.name === 'embedded') {
      it(
        'refuses a second store on the same data directory with one clear error',
        async () => {
          const place = await newLocation();
          const first = await openStore(place.options);
          try {
            const second = openStore(place.options);
            await expect(second).rejects.toBeInstanceOf(DataDirInUseError);
            await expect(second).rejects.toThrow(`data directory ${place.options.dataDir} is in use by process ${process.pid}`);
          } finally {
            await first.close();
          }
        },
        REOPEN_TIMEOUT_MS,
      );

      it(
        'takes over the lock a dead process left behind',
        async () => {
          const place = await newLocation();
          // No process can have this pid (Linux caps pids at 2^22).
          await writeFile(join(place.options.dataDir, 'pglite.lock'), '999999999\n');
          const opened = await openStore(place.options);
          await opened.close();
        },
        REOPEN_TIMEOUT_MS,
      );

      it(
        'takes over a lock with its own pid that it does not hold (a restarted container reuses pids)',
        async () => {
          const place = await newLocation();
          await writeFile(join(place.options.dataDir, 'pglite.lock'), `${process.pid}\n`);
          const opened = await openStore(place.options);
          await opened.close();
        },
        REOPEN_TIMEOUT_MS,
      );
    }
  });
});

/** Records what each transaction wrote; no SQL runs. For the committer's own rules, apart from any backend. */
class RecordingDatabase implements SqlDatabase {
  readonly kind = 'embedded';
  readonly committed: string[][] = [];
  current: string[] | undefined;
  async query<T extends object>(): Promise<T[]> {
    return [];
  }
  async exec(): Promise<void> {}
  async transaction<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    this.current = [];
    const value = await fn(this);
    this.committed.push(this.current);
    this.current = undefined;
    return value;
  }
  /** Each statement's text stands for its rows; a text with "poison" fails the whole batch. */
  readonly batches: string[][] = [];
  async batch(statements: readonly Statement[]): Promise<object[][]> {
    const texts = statements.map((statement) => statement.text);
    if (texts.some((text) => text.includes('poison'))) throw new Error('poisoned statement');
    this.batches.push(texts);
    this.committed.push(texts.flatMap((text) => text.split(',')));
    return statements.map((statement) => [{ rows: statement.params.length }]);
  }
  async close(): Promise<void> {}
}

describe('GroupCommitter', () => {
  function setup(options: ConstructorParameters<typeof GroupCommitter>[1] = {}) {
    const db = new RecordingDatabase();
    const committer = new GroupCommitter(db, options);
    const writer = committer.writer<string>({
      name: 'test rows',
      key: (row) => row.split('=')[0] ?? row,
      fold: (earlier, later) => (later.endsWith('=keep-earlier') ? earlier : later),
      write: async (_q, rows) => {
        if (rows.includes('poison')) throw new Error('poisoned batch');
        db.current?.push(...rows);
        const errors = new Map<number, Error>();
        rows.forEach((row, index) => {
          if (row.startsWith('refused')) errors.set(index, new Error(`refused ${row}`));
        });
        return errors;
      },
    });
    return { db, committer, writer };
  }

  it('caps a batch at maxBatchWrites and commits the rest in the next ones', async () => {
    const sizes: number[] = [];
    const { db, committer, writer } = setup({ maxBatchWrites: 10, onCommit: (size) => sizes.push(size) });
    await Promise.all(Array.from({ length: 35 }, (_, i) => writer.write(`row${i}`)));
    expect(sizes.every((size) => size <= 10)).toBe(true);
    expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(35);
    expect(db.committed.flat()).toHaveLength(35);
    await committer.close();
  });

  it('folds rows with the same key inside one batch, in call order', async () => {
    const { db, committer, writer } = setup();
    await Promise.all([writer.write('a=1'), writer.write('b=1'), writer.write('a=2'), writer.write('b=keep-earlier')]);
    expect(db.committed).toEqual([['a=2', 'b=1']]);
    await committer.close();
  });

  it('retries a failed batch one write at a time, so only the bad write fails', async () => {
    const batchErrors: unknown[] = [];
    const { db, committer, writer } = setup({ onBatchError: (error) => batchErrors.push(error) });
    const results = await Promise.allSettled([writer.write('x=1'), writer.write('poison'), writer.write('y=1')]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(batchErrors).toHaveLength(1);
    expect(db.committed).toEqual([['x=1'], ['y=1']]);
    await committer.close();
  });

  it('rejects the rows a writer reports as refused and commits the others', async () => {
    const { db, committer, writer } = setup();
    const results = await Promise.allSettled([writer.write('ok=1'), writer.write('refused=1'), writer.write('ok2=1')]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(db.committed).toHaveLength(1);
    await committer.close();
  });

  it('writes offered rows once per lazyFlushMs, folded by key, not with every batch', async () => {
    const { db, committer, writer } = setup({ lazyFlushMs: 50 });
    writer.offer('seen=1');
    writer.offer('seen=2');
    await writer.write('other=1');
    expect(db.committed).toEqual([['other=1']]);
    await vi.waitFor(() => expect(db.committed).toEqual([['other=1'], ['seen=2']]));
    writer.offer('seen=3');
    await vi.waitFor(() => expect(db.committed).toEqual([['other=1'], ['seen=2'], ['seen=3']]));
    await committer.close();
  });

  describe('writers with a one-statement form', () => {
    function setupWithStatements(options: ConstructorParameters<typeof GroupCommitter>[1] = {}) {
      const db = new RecordingDatabase();
      const committer = new GroupCommitter(db, options);
      const careful: string[][] = [];
      const statementWriter = (name: string) =>
        committer.writer<string>({
          name,
          statement: (rows) =>
            batchStatement<{ rows: number }>(rows.join(','), [], () => {
              const errors = new Map<number, Error>();
              rows.forEach((row, index) => {
                if (row.startsWith('refused')) errors.set(index, new Error(`refused ${row}`));
              });
              return errors;
            }),
          write: async (_q, rows) => {
            careful.push(rows.filter((row) => row !== 'poison'));
            db.current?.push(...rows.filter((row) => row !== 'poison'));
          },
        });
      return { db, committer, careful, first: statementWriter('first'), second: statementWriter('second') };
    }

    it('sends one statement per writer in a single batch call when every writer has one', async () => {
      const { db, committer, careful, first, second } = setupWithStatements();
      await Promise.all([first.write('a'), second.write('b'), first.write('c')]);
      expect(db.batches).toEqual([['a,c', 'b']]);
      expect(careful).toEqual([]);
      expect(committer.stats.rewrittenBatches).toBe(0);
      await committer.close();
    });

    it('maps refusals read from the statement result back to the callers', async () => {
      const { committer, first } = setupWithStatements();
      const results = await Promise.allSettled([first.write('ok'), first.write('refused-1'), first.write('ok-2')]);
      expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      await committer.close();
    });

    it('writes the batch again the careful way when the one-statement attempt fails', async () => {
      const { db, committer, careful, first, second } = setupWithStatements();
      await Promise.all([first.write('poison'), second.write('b')]);
      expect(db.batches).toEqual([]);
      expect(careful).toEqual([[], ['b']]);
      expect(db.committed).toEqual([['b']]);
      expect(committer.stats.rewrittenBatches).toBe(1);
      await committer.close();
    });

    it('takes the careful way at once when a writer of the batch has no statement form', async () => {
      const { db, committer, first } = setupWithStatements();
      const plain = committer.writer<string>({ name: 'plain', write: async (_q, rows) => void db.current?.push(...rows) });
      await Promise.all([first.write('a'), plain.write('p')]);
      expect(db.batches).toEqual([]);
      expect(db.committed.flat().sort()).toEqual(['a', 'p']);
      await committer.close();
    });
  });

  it('flushes pending and offered rows at close, then refuses writes', async () => {
    const { db, committer, writer } = setup({ lazyFlushMs: 60_000 });
    const pending = writer.write('last=1');
    writer.offer('seen=1');
    await committer.close();
    await pending;
    expect(db.committed.flat().sort()).toEqual(['last=1', 'seen=1']);
    await expect(writer.write('late=1')).rejects.toBeInstanceOf(StoreClosedError);
  });
});
