/**
 * Site load management (CONTRACT §8.3; DRV-SC-07, DRV-SC-08, DRV-SC-12): a site of four test stations, sessions
 * starting, suspending and ending. Every SetChargingProfile a station accepts is recorded in the order the stations
 * accepted them, and the invariant is checked from that record alone — what the stations hold, not what the CSMS
 * believes: at every step the limits in force on the EVSEs with a session sum to at most the site limit.
 */
import { describe, expect, it } from 'vitest';
import { metricValue } from '../support/api.js';
import { withCsms } from '../support/csms.js';
import { ChargingSession, newIdToken, registerIdToken } from '../support/charging.js';
import { Reply, waitFor, type Payload, type TestStation } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 10_000 });
/** What a session counts at without any profile of ours (CONTRACT §8.3). */
const EVSE_MAX = 32;

interface Accepted {
  stationId: string;
  evseId: number;
  purpose: string;
  transactionId: string | undefined;
  limit: number;
  unit: string;
}

/** The site as the stations see it: what each accepted, in order, and which sessions run. */
class SiteWitness {
  readonly accepted: Accepted[] = [];
  readonly sessions = new Map<string, { stationId: string; evseId: number; transactionId: string }>();
  readonly violations: string[] = [];
  readonly log: string[] = [];
  /** Every SetChargingProfile the stations received, answered or not. */
  readonly received: { stationId: string; payload: Payload }[] = [];

  constructor(readonly limitAmps: number) {}

  /** Makes the station accept every SetChargingProfile (or answer as `answer` says) and record it. */
  watch(station: TestStation, answer: (payload: Payload) => Payload | ReturnType<typeof Reply.error> | Promise<Payload> = () => ({ status: 'Accepted' })): void {
    station.onCall('SetChargingProfile', async (payload) => {
      this.received.push({ stationId: station.identity, payload });
      const reply = await answer(payload);
      if ('status' in reply && reply.status === 'Accepted') {
        const profile = payload.chargingProfile as {
          chargingProfilePurpose: string;
          transactionId?: string;
          chargingSchedule: { chargingRateUnit: string; chargingSchedulePeriod: { limit: number }[] }[];
        };
        const schedule = profile.chargingSchedule[0];
        this.accepted.push({
          stationId: station.identity,
          evseId: payload.evseId as number,
          purpose: profile.chargingProfilePurpose,
          transactionId: profile.transactionId,
          limit: Math.max(...(schedule?.chargingSchedulePeriod.map((p) => p.limit) ?? [0])),
          unit: schedule?.chargingRateUnit ?? 'A',
        });
        this.check(`accepted ${profile.chargingProfilePurpose} ${String(payload.evseId)}=${String(schedule?.chargingSchedulePeriod[0]?.limit)} at ${station.identity}`);
      }
      return reply;
    });
  }

  /** The limit in force for one session, from what its station accepted (its TxProfile, else the TxDefault, else the maximum). */
  inForce(session: { stationId: string; evseId: number; transactionId: string }): number {
    let tx: number | undefined;
    let txDefault: number | undefined;
    for (const a of this.accepted) {
      if (a.stationId !== session.stationId) continue;
      if (a.purpose === 'TxProfile' && a.transactionId === session.transactionId && a.evseId === session.evseId) tx = a.limit;
      if (a.purpose === 'TxDefaultProfile' && (a.evseId === 0 || a.evseId === session.evseId)) txDefault = a.limit;
    }
    return tx ?? txDefault ?? EVSE_MAX;
  }

  sum(): number {
    let total = 0;
    for (const session of this.sessions.values()) total += this.inForce(session);
    return total;
  }

  check(what: string): void {
    const total = this.sum();
    this.log.push(`${what}: sum ${total}`);
    if (total > this.limitAmps + 1e-9) this.violations.push(`${what}: ${total} A in force > ${this.limitAmps} A`);
  }

  /** Every session ever started here, to check a TxProfile named one of its EVSE's transactions. */
  readonly everStarted: { stationId: string; evseId: number; transactionId: string }[] = [];

  started(session: ChargingSession): void {
    this.everStarted.push({ stationId: session.station.identity, evseId: session.evseId, transactionId: session.transactionId });
    this.sessions.set(session.transactionId, { stationId: session.station.identity, evseId: session.evseId, transactionId: session.transactionId });
    this.check(`started ${session.transactionId}`);
  }

  ended(session: ChargingSession): void {
    this.sessions.delete(session.transactionId);
  }
}

interface SiteView {
  allocation: { stationId: string; evseId: number; limit: { value: number; unit: string }; state: string }[];
  headroom: { value: number; unit: string };
  pendingPushes: number;
}

async function getSite(siteId: string): Promise<SiteView> {
  const res = await h.csms.api.request<SiteView>('GET', `/api/v1/sites/${siteId}`);
  expect(res.status, res.text).toBe(200);
  return res.body;
}

/** Waits until the site has nothing in flight and each session has the share `expected` says. */
async function settled(siteId: string, expected: Record<string, number>): Promise<SiteView> {
  return waitFor(
    async () => {
      const site = await getSite(siteId);
      if (site.pendingPushes > 0) return undefined;
      const shares = new Map(site.allocation.map((a) => [`${a.stationId}/${a.evseId}`, a.state === 'Accepted' ? a.limit.value : Number.NaN]));
      const wanted = Object.entries(expected);
      return shares.size === wanted.length && wanted.every(([k, v]) => Math.abs((shares.get(k) ?? Number.NaN) - v) < 1e-6) ? site : undefined;
    },
    { timeoutMs: 10_000, what: `site ${siteId} settled at ${JSON.stringify(expected)}` },
  );
}

async function start(witness: SiteWitness, station: TestStation, evseId = 1): Promise<ChargingSession> {
  const token = await registerIdToken(h.csms.api, newIdToken('ISO14443'));
  const session = new ChargingSession(station, { evseId });
  const started = session.authorized(token);
  witness.started(session);
  await started;
  await session.energyTransferStarted(token);
  return session;
}

describe('Site load management', () => {
  it('DRV-SC-07 / DRV-SC-08: four stations under 32 A: shares follow starts, suspensions and ends; lowers before raises; the accepted sum never exceeds the limit', async () => {
    const siteId = `site-${Date.now()}`;
    const witness = new SiteWitness(32);
    const stations: TestStation[] = [];
    for (let i = 0; i < 4; i++) {
      const station = await h.csms.bootedStation({ prefix: `SITE${i}` });
      witness.watch(station);
      stations.push(station);
    }
    const put = await h.csms.api.request('PUT', `/api/v1/sites/${siteId}`, {
      limit: { value: 32, unit: 'A' },
      phases: 3,
      voltage: 230,
      stations: stations.map((s) => s.identity),
    });
    expect(put.status, put.text).toBe(201);
    // Each station first gets the TxDefaultProfile that holds a new session at 0 until its share arrives.
    await waitFor(() => stations.every((s) => witness.accepted.some((a) => a.stationId === s.identity && a.purpose === 'TxDefaultProfile' && a.limit === 0)));
    await waitFor(async () => (await getSite(siteId)).pendingPushes === 0);

    const key = (s: TestStation): string => `${s.identity}/1`;
    const [s0, s1, s2, s3] = stations as [TestStation, TestStation, TestStation, TestStation];
    const a = await start(witness, s0);
    await settled(siteId, { [key(s0)]: 32 });
    const b = await start(witness, s1);
    await settled(siteId, { [key(s0)]: 16, [key(s1)]: 16 });
    // DRV-SC-08: s0's lower was accepted before s1's raise was sent
    const lower = witness.accepted.findIndex((x) => x.stationId === s0.identity && x.limit === 16);
    const raise = witness.accepted.findIndex((x) => x.stationId === s1.identity && x.limit === 16);
    expect(lower).toBeGreaterThanOrEqual(0);
    expect(raise).toBeGreaterThan(lower);
    const c = await start(witness, s2);
    await settled(siteId, { [key(s0)]: 10.6, [key(s1)]: 10.6, [key(s2)]: 10.6 });
    const d = await start(witness, s3);
    const view = await settled(siteId, { [key(s0)]: 8, [key(s1)]: 8, [key(s2)]: 8, [key(s3)]: 8 });
    expect(view.headroom).toEqual({ value: 0, unit: 'A' });

    // SuspendedEV frees its share
    await b.energyTransferSuspended();
    await settled(siteId, { [key(s0)]: 10.6, [key(s1)]: 0, [key(s2)]: 10.6, [key(s3)]: 10.6 });

    // An ended session counts 0 at once; its share goes to the others
    // The station drops the TxProfile as it ends the transaction: from then on the session counts 0.
    witness.ended(a);
    await a.event('Ended', 'EVCommunicationLost', { stoppedReason: 'EVDisconnected', chargingState: 'Idle' });
    const after = await settled(siteId, { [key(s1)]: 0, [key(s2)]: 16, [key(s3)]: 16 });
    expect(after.headroom.value).toBeCloseTo(0, 6);

    for (const session of [c, d]) {
      witness.ended(session);
      await session.event('Ended', 'EVCommunicationLost', { stoppedReason: 'EVDisconnected', chargingState: 'Idle' });
    }
    await settled(siteId, { [key(s1)]: 0 });
    expect(witness.violations, witness.log.join('\n')).toEqual([]);
    expect((await getSite(siteId)).headroom.value).toBeCloseTo(32, 6);
    const metrics = await h.csms.api.metrics();
    expect(metricValue(metrics, 'csms_site_limit_amperes', { site: siteId })).toBe(32);
    expect(metricValue(metrics, 'csms_site_counted_amperes', { site: siteId })).toBe(0);
    expect(metricValue(metrics, 'csms_site_pushes_total', { site: siteId, outcome: 'accepted' })).toBeGreaterThanOrEqual(10);

    // DELETE: the CSMS clears what it set, then the site is gone
    const del = await h.csms.api.request('DELETE', `/api/v1/sites/${siteId}`);
    expect(del.status, del.text).toBe(204);
    expect(stations.every((s) => s.callsOf('ClearChargingProfile').length > 0)).toBe(true);
    expect((await h.csms.api.request('GET', `/api/v1/sites/${siteId}`)).status).toBe(404);
  });

  it('DRV-SC-12: a station that rejects keeps its last accepted limit counted; the others are not raised on its account', async () => {
    const siteId = `site-rej-${Date.now()}`;
    const witness = new SiteWitness(20);
    const good = await h.csms.bootedStation({ prefix: 'SITEok' });
    const stubborn = await h.csms.bootedStation({ prefix: 'SITEno' });
    witness.watch(good);
    let refuse = false;
    witness.watch(stubborn, () => (refuse ? { status: 'Rejected' } : { status: 'Accepted' }));
    const put = await h.csms.api.request('PUT', `/api/v1/sites/${siteId}`, {
      limit: { value: 20, unit: 'A' },
      phases: 3,
      voltage: 230,
      stations: [stubborn.identity, good.identity],
    });
    expect(put.status, put.text).toBe(201);
    await waitFor(async () => (await getSite(siteId)).pendingPushes === 0);

    await start(witness, stubborn);
    await settled(siteId, { [`${stubborn.identity}/1`]: 20 });
    refuse = true; // from now on it refuses to be lowered
    await start(witness, good);
    const view = await waitFor(async () => {
      const site = await getSite(siteId);
      return site.allocation.find((x) => x.stationId === stubborn.identity)?.state === 'Rejected' ? site : undefined;
    });
    // The good station's session stays at 0: the stubborn one still holds 20 A
    expect(view.allocation.find((x) => x.stationId === good.identity)).toMatchObject({ limit: { value: 0 } });
    expect(witness.accepted.some((x) => x.stationId === good.identity && x.purpose === 'TxProfile' && x.limit > 0)).toBe(false);
    expect(witness.violations, witness.log.join('\n')).toEqual([]);

    refuse = false; // the retry with backoff now lands: the lower first, then the raise
    await settled(siteId, { [`${stubborn.identity}/1`]: 10, [`${good.identity}/1`]: 10 });
    expect(witness.violations, witness.log.join('\n')).toEqual([]);
    const del = await h.csms.api.request('DELETE', `/api/v1/sites/${siteId}`);
    expect(del.status).toBe(204);
  });

  it('a site limit in W is shared in A per phase (W = A × V × phases); a bad body is 400', async () => {
    const siteId = `site-w-${Date.now()}`;
    const witness = new SiteWitness(16);
    const station = await h.csms.bootedStation({ prefix: 'SITEw' });
    witness.watch(station);
    const put = await h.csms.api.request('PUT', `/api/v1/sites/${siteId}`, { limit: { value: 11040, unit: 'W' }, phases: 3, voltage: 230, stations: [station.identity] });
    expect(put.status, put.text).toBe(201);
    await waitFor(async () => (await getSite(siteId)).pendingPushes === 0);
    await start(witness, station);
    const view = await settled(siteId, { [`${station.identity}/1`]: 11040 });
    expect(view.headroom).toEqual({ value: 0, unit: 'W' });
    expect(witness.accepted.at(-1)).toMatchObject({ purpose: 'TxProfile', limit: 16, unit: 'A' });
    expect((await h.csms.api.request('PUT', `/api/v1/sites/${siteId}`, { limit: { value: 10, unit: 'kW' }, phases: 3, voltage: 230, stations: [] })).status).toBe(400);
    expect((await h.csms.api.request('DELETE', `/api/v1/sites/${siteId}`)).status).toBe(204);
  });

  it('DRV-SC-09: an external limit caps its EVSE and frees the rest for the others, until it is cleared', async () => {
    const siteId = `site-ext-${Date.now()}`;
    const witness = new SiteWitness(30);
    const capped = await h.csms.bootedStation({ prefix: 'SITEext' });
    const other = await h.csms.bootedStation({ prefix: 'SITEoth' });
    witness.watch(capped);
    witness.watch(other);
    expect(
      (
        await h.csms.api.request('PUT', `/api/v1/sites/${siteId}`, {
          limit: { value: 30, unit: 'A' },
          phases: 3,
          voltage: 230,
          stations: [capped.identity, other.identity],
        })
      ).status,
    ).toBe(201);
    await waitFor(async () => (await getSite(siteId)).pendingPushes === 0);
    await start(witness, capped);
    await start(witness, other);
    await settled(siteId, { [`${capped.identity}/1`]: 15, [`${other.identity}/1`]: 15 });
    const chargingSchedule = [{ id: 1, chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 5 }] }];
    expect(await capped.call('NotifyChargingLimit', { evseId: 1, chargingLimit: { chargingLimitSource: 'EMS' }, chargingSchedule })).toEqual({});
    await settled(siteId, { [`${capped.identity}/1`]: 5, [`${other.identity}/1`]: 25 });
    expect(await capped.call('ClearedChargingLimit', { chargingLimitSource: 'EMS', evseId: 1 })).toEqual({});
    await settled(siteId, { [`${capped.identity}/1`]: 15, [`${other.identity}/1`]: 15 });
    expect(witness.violations, witness.log.join('\n')).toEqual([]);
    // A station is managed by one site at most
    const twice = await h.csms.api.request('PUT', `/api/v1/sites/${siteId}-2`, { limit: { value: 30, unit: 'A' }, phases: 3, voltage: 230, stations: [other.identity] });
    expect(twice.status).toBe(409);
    expect((await h.csms.api.request('DELETE', `/api/v1/sites/${siteId}`)).status).toBe(204);
  });

  it('DRV-SC-10: a station that reconnects gets its accepted limits again; while away it shows Offline and keeps its share counted', async () => {
    const siteId = `site-re-${Date.now()}`;
    const witness = new SiteWitness(20);
    const creds = await h.csms.register({ prefix: 'SITEre' });
    const first = await h.csms.connect(creds);
    await first.booted();
    witness.watch(first);
    expect(
      (await h.csms.api.request('PUT', `/api/v1/sites/${siteId}`, { limit: { value: 20, unit: 'A' }, phases: 3, voltage: 230, stations: [creds.identity] })).status,
    ).toBe(201);
    await waitFor(async () => (await getSite(siteId)).pendingPushes === 0);
    await start(witness, first);
    await settled(siteId, { [`${creds.identity}/1`]: 20 });
    const sentBefore = first.callsOf('SetChargingProfile').length;
    await first.close();
    const away = await waitFor(async () => {
      const site = await getSite(siteId);
      return site.allocation[0]?.state === 'Offline' ? site : undefined;
    });
    expect(away.allocation[0]).toMatchObject({ counted: { value: 20 } });
    expect(away.headroom.value).toBe(0);

    const again = await h.csms.connect(creds);
    witness.watch(again);
    await again.booted();
    const resent = await again.waitForCall('SetChargingProfile', {
      timeoutMs: 10_000,
      where: (p) => (p.chargingProfile as Payload).chargingProfilePurpose === 'TxProfile',
    });
    expect(
      (resent.payload.chargingProfile as { chargingSchedule: { chargingSchedulePeriod: { limit: number }[] }[] }).chargingSchedule[0]?.chargingSchedulePeriod[0]?.limit,
    ).toBe(20);
    expect(sentBefore).toBeGreaterThan(0);
    await settled(siteId, { [`${creds.identity}/1`]: 20 });
    expect((await h.csms.api.request('DELETE', `/api/v1/sites/${siteId}`)).status).toBe(204);
  });

  it('DRV-SC-07 (seeded random): 5 stations × 2 EVSEs under 40 A; stations accept, reject or answer late (seeded); starts, suspensions, resumptions and ends; the accepted sum stays under the limit and every profile obeys K01', async () => {
    let seed = 20261207;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const siteId = `site-rnd-${Date.now()}`;
    const witness = new SiteWitness(40);
    const stations: TestStation[] = [];
    for (let i = 0; i < 5; i++) {
      const station = await h.csms.newStation({ prefix: `RND${i}` });
      await station.booted({
        evses: [
          { id: 1, connectors: [1] },
          { id: 2, connectors: [1] },
        ],
      });
      witness.watch(station, async () => {
        const r = random();
        if (r < 0.1) return { status: 'Rejected' };
        // Late, but within CSMS_CALL_TIMEOUT_MS (beyond it the CSMS rightly sends its next CALL, which the test station flags)
        if (r < 0.25) await new Promise((resolve) => setTimeout(resolve, 300 + 1000 * random()));
        return { status: 'Accepted' };
      });
      stations.push(station);
    }
    expect(
      (
        await h.csms.api.request('PUT', `/api/v1/sites/${siteId}`, {
          limit: { value: 40, unit: 'A' },
          phases: 3,
          voltage: 230,
          stations: stations.map((s) => s.identity),
        })
      ).status,
    ).toBe(201);
    await waitFor(() => stations.every((s) => witness.accepted.some((a) => a.stationId === s.identity && a.purpose === 'TxDefaultProfile')), { timeoutMs: 30_000 });

    const evses = stations.flatMap((station) => [1, 2].map((evseId) => ({ station, evseId, session: undefined as ChargingSession | undefined, suspended: false })));
    for (let step = 0; step < 40; step++) {
      const evse = evses[Math.floor(random() * evses.length)] as (typeof evses)[number];
      if (evse.session === undefined) {
        evse.session = await start(witness, evse.station, evse.evseId);
        evse.suspended = false;
      } else if (random() < 0.5) {
        witness.ended(evse.session);
        await evse.session.event('Ended', 'EVCommunicationLost', { stoppedReason: 'EVDisconnected', chargingState: 'Idle' });
        evse.session = undefined;
      } else {
        evse.suspended = !evse.suspended;
        await evse.session.event('Updated', 'ChargingStateChanged', { chargingState: evse.suspended ? 'SuspendedEV' : 'Charging' });
      }
      await new Promise((resolve) => setTimeout(resolve, 50 + 200 * random()));
    }
    // Quiet: every charging EVSE gets a share (the limit allows 4 A each for all ten)
    const site = await waitFor(
      async () => {
        const view = await getSite(siteId);
        return view.pendingPushes === 0 ? view : undefined;
      },
      { timeoutMs: 60_000, what: 'no push left in flight' },
    );
    for (const evse of evses.filter((e) => e.session !== undefined && !e.suspended)) {
      const item = site.allocation.find((a) => a.stationId === evse.station.identity && a.evseId === evse.evseId);
      expect(item?.limit.value, `${evse.station.identity}/${evse.evseId} in ${JSON.stringify(site)}`).toBeGreaterThan(0);
    }
    expect(witness.violations, witness.log.join('\n')).toEqual([]);

    // An independent reading of K01 for every profile a station received from the site manager
    const k01: string[] = [];
    for (const { stationId, payload } of witness.received) {
      const profile = payload.chargingProfile as {
        chargingProfilePurpose: string;
        chargingProfileKind: string;
        transactionId?: string;
        chargingSchedule: { startSchedule?: string; chargingSchedulePeriod: { startPeriod: number; limit: number }[] }[];
      };
      const where = `${stationId} ${JSON.stringify(payload)}`;
      if (profile.chargingSchedule.length !== 1) k01.push(`K01.FR.34 ${where}`);
      const schedule = profile.chargingSchedule[0];
      if (schedule?.chargingSchedulePeriod[0]?.startPeriod !== 0) k01.push(`K01.FR.31 ${where}`);
      if (schedule?.chargingSchedulePeriod.some((p) => p.limit < 0) === true) k01.push(`negative ${where}`);
      if (profile.chargingProfileKind === 'Relative' && schedule?.startSchedule !== undefined) k01.push(`K01.FR.41 ${where}`);
      if (profile.chargingProfilePurpose === 'TxProfile') {
        if ((payload.evseId as number) <= 0) k01.push(`K01.FR.16 ${where}`);
        if (profile.transactionId === undefined) k01.push(`K01.FR.03 ${where}`);
        const transactionId = profile.transactionId;
        const owner = evses.find((e) => e.station.identity === stationId && e.evseId === payload.evseId);
        const known =
          owner !== undefined && [...witness.everStarted].some((t) => t.transactionId === transactionId && t.stationId === stationId && t.evseId === payload.evseId);
        if (!known) k01.push(`K01.FR.09 (not a transaction of that EVSE) ${where}`);
      }
    }
    expect(k01).toEqual([]);

    for (const evse of evses) {
      if (evse.session === undefined) continue;
      witness.ended(evse.session);
      await evse.session.event('Ended', 'EVCommunicationLost', { stoppedReason: 'EVDisconnected', chargingState: 'Idle' });
    }
    expect((await h.csms.api.request('DELETE', `/api/v1/sites/${siteId}`)).status).toBe(204);
  }, 180_000);
});
