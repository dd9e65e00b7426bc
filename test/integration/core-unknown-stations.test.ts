/**
 * CSMS_UNKNOWN_STATIONS (CONTRACT §2/§3): what happens to an identity nobody registered. DRV-RPC-03 for `reject`.
 */
import { describe, expect, it } from 'vitest';
import { withCsms } from '../support/csms.js';
import { ConnectRefusedError, randomPassword, uniqueIdentity, waitFor } from '../support/station.js';

describe('CSMS_UNKNOWN_STATIONS=reject', () => {
  const h = withCsms({ CSMS_UNKNOWN_STATIONS: 'reject' });

  it('DRV-RPC-03: refuses the upgrade of an unknown identity with HTTP 404 and registers nothing', async () => {
    const identity = uniqueIdentity('unknown-reject');
    const err = await h.csms.connect({ identity, password: randomPassword() }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConnectRefusedError);
    expect((err as ConnectRefusedError).status).toBe(404);
    expect((await h.csms.api.getStation(identity)).status).toBe(404);
  });
});

describe('CSMS_UNKNOWN_STATIONS=accept', () => {
  const h = withCsms({ CSMS_UNKNOWN_STATIONS: 'accept' });

  it('registers an unknown identity on connect and accepts its boot', async () => {
    const identity = uniqueIdentity('unknown-accept');
    const station = await h.csms.connect({ identity, password: randomPassword() });
    await station.booted();
    const view = await waitFor(
      async () => {
        const res = await h.csms.api.getStation(identity);
        return res.status === 200 && res.body.bootStatus === 'Accepted' ? res.body : undefined;
      },
      { what: 'auto-registered station shown Accepted' },
    );
    expect(view.connected).toBe(true);
    expect(typeof (await station.heartbeat()).currentTime).toBe('string');
  });

  it('takes the password only from the connection that creates the registration, and refuses a different one afterwards', async () => {
    const identity = uniqueIdentity('unknown-tofu');
    const password = randomPassword();
    const first = await h.csms.connect({ identity, password });
    await first.booted();
    await first.close();
    const wrong = await h.csms.connect({ identity, password: randomPassword() }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((wrong as ConnectRefusedError).status).toBe(401);
    const again = await h.csms.connect({ identity, password });
    expect(typeof (await again.heartbeat()).currentTime).toBe('string');
  });

  // CONTRACT §3.2 (issue 13 item 4): before, a station could register without credentials and keep connecting
  // without them, and the first password anyone presented later became its password.
  it('refuses (401, nothing registered) a new station without a password or with one outside 16-64 characters', async () => {
    for (const password of [undefined, 'x'.repeat(15), 'x'.repeat(65)]) {
      const identity = uniqueIdentity('unknown-nopass');
      const err = await h.csms.connect({ identity, ...(password !== undefined ? { password } : {}) }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConnectRefusedError);
      expect((err as ConnectRefusedError).status).toBe(401);
      expect((err as ConnectRefusedError).body).toMatch(password === undefined ? /Basic authentication is required/ : /16-64 characters/);
      expect((await h.csms.api.getStation(identity)).status).toBe(404);
    }
  });

  it('a registered station without a password is refused until an operator sets one; a caller cannot set it', async () => {
    const identity = uniqueIdentity('unknown-nopass');
    expect((await h.csms.api.putStation(identity, { securityProfile: 1, bootPolicy: 'Accepted' })).status).toBe(201);
    const attacker = await h.csms.connect({ identity, password: randomPassword() }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((attacker as ConnectRefusedError).status).toBe(401);
    expect((attacker as ConnectRefusedError).body).toMatch(/operator must set one/);
    const password = randomPassword();
    expect((await h.csms.api.patchStation(identity, { password })).status).toBe(200);
    const station = await h.csms.connect({ identity, password });
    await station.booted();
  });
});

describe('CSMS_UNKNOWN_STATIONS=pending', () => {
  const h = withCsms({ CSMS_UNKNOWN_STATIONS: 'pending' });

  it('registers an unknown identity on connect, answers Pending, and Accepted once the operator accepts', async () => {
    const identity = uniqueIdentity('unknown-pending');
    const station = await h.csms.connect({ identity, password: randomPassword() });
    const boot = await station.boot({ expect: 'Pending' });
    expect(boot.interval).toBeGreaterThan(0);
    const view = await h.csms.api.getStation(identity);
    expect(view.status).toBe(200);
    expect(view.body.bootStatus).toBe('Pending');
    expect((await h.csms.api.patchStation(identity, { bootPolicy: 'Accepted' })).status).toBe(200);
    await station.booted();
  });
});
