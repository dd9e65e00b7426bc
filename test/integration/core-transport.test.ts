/**
 * Connection set-up and transport: Basic Auth (TC_A_01..03, DRV-A00-02), subprotocol negotiation (TC_B_58,
 * DRV-RPC-01/02), identities (DRV-RPC-03/04), permessage-deflate (DRV-RPC-19), ping (DRV-RPC-20), replacement of
 * an older connection, and isolation of a misbehaving station.
 */
import { describe, expect, it } from 'vitest';
import { withCsms } from '../support/csms.js';
import { ConnectRefusedError, TestStation, randomPassword, uniqueIdentity, waitFor, type Payload } from '../support/station.js';

const MAX_PAYLOAD = 65_536;
const h = withCsms({ CSMS_MAX_PAYLOAD_BYTES: MAX_PAYLOAD });

async function refusal(attempt: Promise<TestStation>): Promise<ConnectRefusedError> {
  try {
    const station = await attempt;
    await station.close();
  } catch (err) {
    expect(err).toBeInstanceOf(ConnectRefusedError);
    return err as ConnectRefusedError;
  }
  throw new Error('the CSMS upgraded a connection it should have refused');
}

describe('Basic Authentication (security profile 1)', () => {
  it('TC_A_01: upgrades a station presenting its identity and password, and accepts its boot', async () => {
    const creds = await h.csms.register({ prefix: 'A01' });
    const station = await h.csms.connect(creds);
    expect(station.isOpen).toBe(true);
    const boot = await station.boot();
    expect(boot.status).toBe('Accepted');
    const answers = await station.reportConnectors();
    expect(answers).toEqual([{}]);
  });

  it('TC_A_02: refuses the upgrade when the Basic Auth username is not the station identity', async () => {
    const creds = await h.csms.register({ prefix: 'A02' });
    const err = await refusal(h.csms.connect({ ...creds, username: `${creds.identity}Invalid` }));
    expect(err.status).toBe(401);
  });

  it('TC_A_03: refuses the upgrade when the password is wrong', async () => {
    const creds = await h.csms.register({ prefix: 'A03' });
    const err = await refusal(h.csms.connect({ identity: creds.identity, password: randomPassword(32) }));
    expect(err.status).toBe(401);
  });

  it('DRV-A00-02: refuses the upgrade when no Authorization header is sent', async () => {
    const creds = await h.csms.register({ prefix: 'A00-02' });
    const err = await refusal(h.csms.connect({ identity: creds.identity }));
    expect(err.status).toBe(401);
  });

  it('DRV-A00-02: refuses an Authorization header that is not Basic', async () => {
    const creds = await h.csms.register({ prefix: 'A00-02b' });
    const err = await refusal(h.csms.connect({ identity: creds.identity, headers: { Authorization: `Bearer ${creds.password}` } }));
    expect(err.status).toBe(401);
  });
});

describe('WebSocket subprotocol', () => {
  it('TC_B_58: refuses a station offering only an unsupported version, then upgrades when ocpp2.0.1 is among the offers', async () => {
    const creds = await h.csms.register({ prefix: 'B58' });
    const err = await refusal(h.csms.connect({ ...creds, protocols: ['ocpp0.1'] }));
    // CONTRACT §3: no supported subprotocol → the upgrade is refused (no 101).
    expect(err.status).toBeGreaterThanOrEqual(400);

    const station = await h.csms.connect({ ...creds, protocols: ['ocpp0.1', 'ocpp2.0.1'] });
    expect(station.upgradeHeaders['sec-websocket-protocol']).toBe('ocpp2.0.1');
    expect(station.ws.protocol).toBe('ocpp2.0.1');
    await station.booted();
  });

  it('DRV-RPC-01: selects exactly one offered subprotocol, ocpp2.0.1, when offered alongside ocpp1.6', async () => {
    const creds = await h.csms.register({ prefix: 'RPC01' });
    const station = await h.csms.connect({ ...creds, protocols: ['ocpp2.0.1', 'ocpp1.6'] });
    expect(station.upgradeHeaders['sec-websocket-protocol']).toBe('ocpp2.0.1');
    const reversed = await h.csms.connect({ ...creds, protocols: ['ocpp1.6', 'ocpp2.0.1'] });
    expect(reversed.upgradeHeaders['sec-websocket-protocol']).toBe('ocpp2.0.1');
  });

  it('DRV-RPC-02: does not run an OCPP session when no subprotocol is offered', async () => {
    const creds = await h.csms.register({ prefix: 'RPC02' });
    const err = await refusal(h.csms.connect({ ...creds, protocols: [] }));
    expect(err.status).toBeGreaterThanOrEqual(400);
  });
});

describe('station identity in the URL', () => {
  it('DRV-RPC-03: answers 404 to an identity it does not know (CSMS_UNKNOWN_STATIONS=reject)', async () => {
    const identity = uniqueIdentity('RPC03-unknown');
    const err = await refusal(h.csms.connect({ identity, password: randomPassword() }));
    expect(err.status).toBe(404);
  });

  it('DRV-RPC-04: accepts a 48-character identity with the allowed special characters, percent-encoded in the URL', async () => {
    const suffix = `*-_=+|@.${Date.now().toString(36)}`;
    const identity = `RPC04${suffix}`.padEnd(48, 'x');
    expect(identity).toHaveLength(48);
    const creds = await h.csms.register({ identity });
    const station = await h.csms.connect(creds);
    await station.booted();
    const view = await waitFor(
      async () => {
        const res = await h.csms.api.getStation(identity);
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-boolean-literal-compare -- res.body is parsed JSON from the API, typed as promised, not checked: this asks for the boolean itself, not any truthy value
        return res.status === 200 && res.body.connected === true && res.body.bootStatus === 'Accepted' ? res.body : undefined;
      },
      { what: 'station shown connected and Accepted' },
    );
    expect(view.id).toBe(identity);
  });

  it('DRV-RPC-04: never upgrades an identity containing ":" (it cannot be a Basic Auth username)', async () => {
    const identity = `RPC04:${Date.now().toString(36)}`;
    const password = randomPassword();
    await h.csms.api.putStation(identity, { securityProfile: 1, password, bootPolicy: 'Accepted' }); // may well be refused
    const err = await refusal(h.csms.connect({ identity, password }));
    expect(err.status).toBeGreaterThanOrEqual(400);
  });

  it('DRV-RPC-04: refuses an identity longer than 48 characters', async () => {
    const identity = 'RPC04-long-'.padEnd(49, 'y');
    const password = randomPassword();
    await h.csms.api.putStation(identity, { securityProfile: 1, password, bootPolicy: 'Accepted' }); // may well be refused
    const err = await refusal(h.csms.connect({ identity, password }));
    expect(err.status).toBeGreaterThanOrEqual(400);
  });
});

describe('WebSocket transport', () => {
  it('DRV-RPC-19: negotiates permessage-deflate when offered and exchanges compressed frames', async () => {
    const creds = await h.csms.register({ prefix: 'RPC19' });
    const station = await h.csms.connect({ ...creds, perMessageDeflate: true });
    expect(station.ws.extensions).toContain('permessage-deflate');
    expect(String(station.upgradeHeaders['sec-websocket-extensions'])).toContain('permessage-deflate');
    await station.booted();
    // Large enough to be compressed by the client (ws compresses frames over 1 KiB).
    const answer = await station.dataTransfer('org.example.unknown-vendor', 'blob', 'x'.repeat(20_000));
    expect(answer.status).toBe('UnknownVendorId');
    const hb = await station.heartbeat();
    expect(typeof hb.currentTime).toBe('string');
  });

  it('DRV-RPC-20: answers a WebSocket ping with a pong carrying the same data', async () => {
    const station = await h.csms.bootedStation({ prefix: 'RPC20' });
    expect(await station.ping('are-you-there')).toBe('are-you-there');
    expect(station.isOpen).toBe(true);
    await station.heartbeat();
  });

  it('replaces an older connection when the same identity connects again', async () => {
    const creds = await h.csms.register({ prefix: 'replace' });
    const older = await h.csms.connect(creds);
    await older.booted();
    const newer = await h.csms.connect(creds);
    const closed = await older.waitForClose(5000);
    expect(closed.code).not.toBe(1006);
    // The station stays Accepted: the new socket needs no BootNotification.
    const hb = await newer.heartbeat();
    expect(typeof hb.currentTime).toBe('string');
    expect(await newer.statusNotification(1, 1, 'Available')).toEqual({});
    const view = await waitFor(async () => {
      const res = await h.csms.api.getStation(creds.identity);
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-boolean-literal-compare -- res.body is parsed JSON from the API, typed as promised, not checked: this asks for the boolean itself, not any truthy value
      return res.body.connected === true ? res.body : undefined;
    });
    expect(view.bootStatus).toBe('Accepted');
    // The newer socket is not closed by the older one's disappearance.
    expect(newer.isOpen).toBe(true);
  });

  it("one station's garbage and oversized frames do not disturb another station", async () => {
    const good = await h.csms.bootedStation({ prefix: 'iso-good' });
    const bad = await h.csms.bootedStation({ prefix: 'iso-bad' });

    let stop = false;
    const goodAnswers: Payload[] = [];
    let goodFailure: unknown;
    const goodTraffic = (async () => {
      try {
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by another async task, which the checker's narrowing does not see
        while (!stop && good.isOpen) goodAnswers.push(await good.heartbeat());
      } catch (err) {
        goodFailure = err;
      }
    })();

    for (const garbage of ['{', 'null', '[]', '[9]', '"text"', '\u0000\u0001', '[2,"x"', '[2,"a","Heartbeat",{"x":]']) {
      bad.sendRaw(garbage);
    }
    // Each unreadable frame gets an answer (or is dropped); the bad station's socket survives those.
    await bad.heartbeat();

    bad.sendRaw(JSON.stringify([2, 'huge', 'DataTransfer', { vendorId: 'x', data: 'y'.repeat(MAX_PAYLOAD * 3) }]));
    // Over CSMS_MAX_PAYLOAD_BYTES: the CSMS drops that station (the close code is not part of the contract).
    await bad.waitForClose(5000);

    const command = await h.csms.api.command(good.identity, 'GetVariables', {
      getVariableData: [{ component: { name: 'OCPPCommCtrlr' }, variable: { name: 'OfflineThreshold' } }],
    });
    expect(command.status).toBe(200);
    await waitFor(() => goodAnswers.length >= 5 || goodFailure !== undefined, { what: 'five heartbeats of the good station' });
    stop = true;
    await goodTraffic;
    expect(goodFailure).toBeUndefined();
    expect(good.isOpen).toBe(true);
    for (const answer of goodAnswers) expect(typeof answer.currentTime).toBe('string');
  });
});
