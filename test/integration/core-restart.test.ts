/**
 * A whole CSMS restart, run as `npm start` runs it (node dist/src/main.js): stop with SIGTERM (CONTRACT §1: close
 * station sockets with 1001, exit 0 within 10 s), start again on the same data dir, and the station carries on
 * without a new BootNotification (DRV-RPC-21 across a restart; OCPP-J §5.3).
 */
import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../bench/free-port.js';
import { freshDataDir, spawnCsms, type SpawnedCsms } from '../support/csms.js';
import { TestStation, randomPassword, uniqueIdentity, waitFor } from '../support/station.js';

describe('restart', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('keeps a booted station Accepted across a CSMS restart on the same data dir', async () => {
    const dataDir = await freshDataDir('stroom-restart-');
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const env = {
      CSMS_OCPP_PORT: await freePort(),
      CSMS_API_PORT: await freePort(),
      CSMS_DATA_DIR: dataDir,
      CSMS_LOG_LEVEL: 'warn',
    };
    const identity = uniqueIdentity('restart');
    const password = randomPassword();
    const stations: TestStation[] = [];
    cleanup.push(async () => {
      for (const s of stations) await s.close();
    });

    let csms: SpawnedCsms = await spawnCsms(env);
    cleanup.push(() => csms.kill());

    expect([200, 201]).toContain((await csms.api.putStation(identity, { securityProfile: 1, password, bootPolicy: 'Accepted' })).status);
    const before = await TestStation.connect(csms.ocppUrl, { identity, password });
    stations.push(before);
    await before.booted({ evses: [{ id: 1, connectors: [1] }] });
    await before.statusNotification(1, 1, 'Occupied');

    const stopped = await csms.stop();
    expect({ code: stopped.code, signal: stopped.signal }, csms.output().slice(-2000)).toEqual({ code: 0, signal: null });
    expect(stopped.ms, 'exit within 10 s of SIGTERM (CONTRACT §1)').toBeLessThan(10_000);
    const closed = await before.waitForClose();
    expect(closed.code, 'station sockets are closed with 1001 going away').toBe(1001);

    csms = await spawnCsms(env);
    const after = await TestStation.connect(csms.ocppUrl, { identity, password });
    stations.push(after);
    // No BootNotification: the station is still known to be Accepted.
    const hb = await after.heartbeat();
    expect(typeof hb.currentTime).toBe('string');
    expect(await after.statusNotification(1, 1, 'Available')).toEqual({});

    const view = await waitFor(
      async () => {
        const res = await csms.api.getStation(identity);
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-boolean-literal-compare -- res.body is parsed JSON from the API, typed as promised, not checked: this asks for the boolean itself, not any truthy value
        return res.status === 200 && res.body.connected === true ? res.body : undefined;
      },
      { what: 'station shown connected after the restart' },
    );
    expect(view.bootStatus).toBe('Accepted');
    expect(view.chargingStation).toMatchObject({ model: before.chargingStation.model, vendorName: before.chargingStation.vendorName });
    const connectors = (view.evses ?? []).flatMap((e) => e.connectors.map((c) => `${e.id}/${c.id}:${String(c.status)}`));
    expect(connectors).toEqual(['1/1:Available']);

    const res = await csms.api.command(identity, 'GetVariables', {
      getVariableData: [{ component: { name: 'OCPPCommCtrlr' }, variable: { name: 'OfflineThreshold' } }],
    });
    expect(res.status).toBe(200);

    const second = await csms.stop();
    expect({ code: second.code, signal: second.signal }, csms.output().slice(-2000)).toEqual({ code: 0, signal: null });
    expect(before.problems()).toEqual([]);
    expect(after.problems()).toEqual([]);
  }, 300_000);
});
