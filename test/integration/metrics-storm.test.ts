/**
 * `/metrics` answers during a boot storm (issue 14 item 10: a scrape took more than 3 s at the peak of a
 * 2,000-station storm). 200 stations open at once over loopback, each boots and reports its connector, while
 * the test scrapes /metrics again and again: every scrape answers 200 with the CONTRACT §5 series, and the
 * gauge never counts stations by label (no per-station series on the scrape path). Behaviour, not timing.
 */
import { describe, expect, it } from 'vitest';
import { MiniWebSocket } from '../../bench/generator/ws-client.js';
import { metricValue } from '../support/api.js';
import { startTestCsms } from '../support/csms.js';

// Each new station's password is hashed once (scrypt N=2^15, 0.1–0.4 s of CPU here): 200 keep the storm busy for
// tens of seconds on 2 cores without making the suite wait minutes.
const STATIONS = 200;

interface StormStation {
  booted: Promise<void>;
  close(): void;
}

function stormStation(port: number, identity: string): StormStation {
  const password = `storm-secret-${identity}`.padEnd(24, '0');
  let resolveBooted: () => void = () => undefined;
  let rejectBooted: (err: Error) => void = () => undefined;
  const booted = new Promise<void>((resolve, reject) => {
    resolveBooted = resolve;
    rejectBooted = reject;
  });
  const socket: MiniWebSocket = new MiniWebSocket(
    {
      host: '127.0.0.1',
      port,
      path: `/ocpp/${identity}`,
      protocol: 'ocpp2.0.1',
      authorization: `Basic ${Buffer.from(`${identity}:${password}`).toString('base64')}`,
      timeoutMs: 240_000,
    },
    {
      onOpen: () => socket.sendText(JSON.stringify([2, 'boot', 'BootNotification', { reason: 'PowerUp', chargingStation: { model: 'Storm', vendorName: 'Stroom' } }])),
      onText: (text) => {
        const frame = JSON.parse(text) as unknown[];
        if (frame[0] === 3 && frame[1] === 'boot') {
          socket.sendText(
            JSON.stringify([2, 'status', 'StatusNotification', { timestamp: new Date().toISOString(), connectorStatus: 'Available', evseId: 1, connectorId: 1 }]),
          );
        } else if (frame[0] === 3 && frame[1] === 'status') {
          resolveBooted();
        } else if (frame[0] === 4) {
          rejectBooted(new Error(`${identity}: ${text}`));
        }
      },
      onClose: (code, error) => rejectBooted(new Error(`${identity} closed (${code}${error === undefined ? '' : `, ${error}`}) before it booted`)),
    },
  );
  return { booted, close: () => socket.close() };
}

describe('/metrics during a boot storm', () => {
  it(`answers every scrape while ${STATIONS} stations connect and boot at once`, async () => {
    const csms = await startTestCsms({ CSMS_UNKNOWN_STATIONS: 'accept' });
    const stations: StormStation[] = [];
    try {
      let booted = 0;
      for (let i = 0; i < STATIONS; i++) stations.push(stormStation(csms.csms.ocppPort, `STORM${String(i).padStart(5, '0')}`));
      const storm = Promise.all(stations.map((s) => s.booted.then(() => booted++)));
      let stormOver = false;
      void storm.finally(() => (stormOver = true)).catch(() => undefined);

      let scrapesDuringStorm = 0;
      let scrapes = 0;
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by another async task, which the checker's narrowing does not see
      while (!stormOver) {
        const during = booted < STATIONS;
        const text = await csms.api.metrics();
        expect(text).toContain('csms_connected_stations');
        expect(text).toContain('csms_ocpp_response_seconds');
        scrapes++;
        if (during) scrapesDuringStorm++;
      }
      await storm;
      expect(booted).toBe(STATIONS);
      expect(scrapesDuringStorm, 'scrapes answered while stations were still booting').toBeGreaterThan(0);

      const after = await csms.api.metrics();
      expect(metricValue(after, 'csms_connected_stations')).toBe(STATIONS);
      expect(metricValue(after, 'csms_boots_total', { status: 'Accepted' })).toBe(STATIONS);
      // No station id in any series: the exposition does not grow with the fleet.
      expect(after).not.toContain('STORM0');
      expect(scrapes).toBeGreaterThanOrEqual(scrapesDuringStorm);
    } finally {
      for (const station of stations) station.close();
      await csms.stop();
    }
  }, 300_000);
});
