/**
 * Reservations managed by the CSMS (CONTRACT §8.2; Reservation profile): TC_H_01, TC_H_07, TC_H_08, TC_H_14, TC_H_15,
 * TC_H_17, TC_H_19, TC_H_20, TC_H_22, and DRV-RES-01 (expiry by the CSMS's clock, station silent), DRV-RES-02 (a
 * transaction uses it), DRV-RES-03 (offline station), DRV-RES-04 (distinct ids), DRV-RES-08; the 1.6 mapping.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { withCsms } from '../support/csms.js';
import { ChargingSession, newIdToken, registerIdToken, type IdToken } from '../support/charging.js';
import { Reply, waitFor, type Payload, type TestStation } from '../support/station.js';
import { Station16 } from '../support/station16.js';
import { SseReader } from '../support/sse.js';
import { randomPassword, uniqueIdentity } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 3000 });

interface ReservationView {
  id: number;
  evseId: number | null;
  connectorType: string | null;
  idToken: IdToken;
  groupIdToken: IdToken | null;
  expiresAt: string;
  status: string;
  response: Payload | null;
  transactionId: string | null;
  error?: { code: string; message: string; details?: { rule?: string } };
}

const path = (stationId: string, id?: number): string => `/api/v1/stations/${encodeURIComponent(stationId)}/reservations${id === undefined ? '' : `/${id}`}`;
const inMs = (ms: number): string => new Date(Date.now() + ms).toISOString();

function reserve(stationId: string, body: Payload) {
  return h.csms.api.request<ReservationView>('POST', path(stationId), body);
}

async function getReservation(stationId: string, id: number): Promise<ReservationView> {
  const res = await h.csms.api.request<ReservationView>('GET', path(stationId, id));
  expect(res.status, res.text).toBe(200);
  return res.body;
}

async function reserved(station: TestStation, body: Payload): Promise<{ view: ReservationView; received: Payload }> {
  const mark = station.mark();
  const res = await reserve(station.identity, body);
  expect(res.status, res.text).toBe(201);
  const call = await station.waitForCall('ReserveNow', { afterSeq: mark });
  return { view: res.body, received: call.payload };
}

async function token(): Promise<IdToken> {
  return registerIdToken(h.csms.api, newIdToken('ISO14443'));
}

describe('Reservations, 2.0.1 (H)', () => {
  it('TC_H_01: reserves a specific EVSE with a CSMS-assigned id; the station reports the EVSE Reserved', async () => {
    const station = await h.csms.bootedStation({ prefix: 'H01' });
    const idToken = await token();
    const expiresAt = inMs(3_600_000);
    const { view, received } = await reserved(station, { evseId: 1, idToken, expiresAt });
    expect(Number.isInteger(view.id) && view.id > 0).toBe(true);
    expect(received).toEqual({ id: view.id, evseId: 1, idToken, expiryDateTime: expiresAt });
    expect(view).toMatchObject({ evseId: 1, connectorType: null, idToken, groupIdToken: null, expiresAt, status: 'Accepted', response: { status: 'Accepted' } });

    await station.statusNotification(1, 1, 'Reserved');
    const stationView = await h.csms.api.getStation(station.identity);
    expect(stationView.body.evses?.[0]?.connectors[0]?.status).toBe('Reserved');
    const list = await h.csms.api.request<{ items: ReservationView[] }>('GET', path(station.identity));
    expect(list.body.items.map((r) => [r.id, r.status])).toEqual([[view.id, 'Accepted']]);
  });

  it('publishes every change of a reservation on the change stream (reservation.updated)', async () => {
    const station = await h.csms.bootedStation({ prefix: 'H-sse' });
    const stream = await SseReader.open(`${h.csms.apiUrl}/api/v1/stream?stationId=${encodeURIComponent(station.identity)}`);
    try {
      const { view } = await reserved(station, { evseId: 1, idToken: await token(), expiresAt: inMs(600_000) });
      const accepted = await stream.waitFor(
        (e) => e.event === 'reservation.updated' && (JSON.parse(e.data) as { reservation: ReservationView }).reservation.status === 'Accepted',
      );
      expect(JSON.parse(accepted.data)).toMatchObject({ stationId: station.identity, reservation: { id: view.id, evseId: 1 } });
      await h.csms.api.request('DELETE', path(station.identity, view.id));
      await stream.waitFor((e) => e.event === 'reservation.updated' && (JSON.parse(e.data) as { reservation: ReservationView }).reservation.status === 'Cancelled');
    } finally {
      stream.close();
    }
  });

  it('TC_H_07: the station reports the reservation Expired; a late second report changes nothing', async () => {
    const station = await h.csms.bootedStation({ prefix: 'H07' });
    const { view } = await reserved(station, { evseId: 1, idToken: await token(), expiresAt: inMs(60_000) });
    await station.statusNotification(1, 1, 'Reserved');
    await station.statusNotification(1, 1, 'Available');
    expect(await station.call('ReservationStatusUpdate', { reservationId: view.id, reservationUpdateStatus: 'Expired' })).toEqual({});
    expect((await getReservation(station.identity, view.id)).status).toBe('Expired');
    expect(await station.call('ReservationStatusUpdate', { reservationId: view.id, reservationUpdateStatus: 'Removed' })).toEqual({});
    expect((await getReservation(station.identity, view.id)).status).toBe('Expired');
  });

  it('DRV-RES-01: expiresAt passed → Expired within 5 s by the CSMS clock, although the station says nothing', async () => {
    const station = await h.csms.bootedStation({ prefix: 'H07-silent' });
    const { view } = await reserved(station, { evseId: 1, idToken: await token(), expiresAt: inMs(1500) });
    expect(view.status).toBe('Accepted');
    await station.close();
    const expired = await waitFor(
      async () => {
        const r = await getReservation(station.identity, view.id);
        return r.status === 'Expired' ? r : undefined;
      },
      { timeoutMs: 1500 + 5000, intervalMs: 100, what: 'reservation Expired by the CSMS' },
    );
    expect(Date.parse(expired.expiresAt)).toBeLessThanOrEqual(Date.now());
  });

  it('TC_H_08 and TC_H_14: reserves unspecified EVSEs, N times, with distinct ids (DRV-RES-04)', async () => {
    const station = await h.csms.bootedStation({ prefix: 'H14', connectOptions: {} });
    const idToken = await token();
    const first = await reserved(station, { idToken, expiresAt: inMs(600_000) });
    const second = await reserved(station, { idToken, expiresAt: inMs(600_000) });
    for (const { received, view } of [first, second]) {
      expect(received).not.toHaveProperty('evseId');
      expect(received).not.toHaveProperty('connectorType');
      expect(received.id).toBe(view.id);
      expect(view.status).toBe('Accepted');
    }
    expect(first.view.id).not.toBe(second.view.id);
  });

  it('TC_H_15: reserves a connector type', async () => {
    const station = await h.csms.bootedStation({ prefix: 'H15' });
    const { view, received } = await reserved(station, { connectorType: 'cType2', idToken: await token(), expiresAt: inMs(600_000) });
    expect(received).toMatchObject({ id: view.id, connectorType: 'cType2' });
    expect(received).not.toHaveProperty('evseId');
    expect(view.connectorType).toBe('cType2');
  });

  it('TC_H_15: a connector type outside ConnectorEnumType is refused with 400 and nothing is kept', async () => {
    const station = await h.csms.bootedStation({ prefix: 'H15-bad' });
    const res = await reserve(station.identity, { connectorType: 'Schuko', idToken: await token(), expiresAt: inMs(600_000) });
    expect(res.status).toBe(400);
    expect(station.callsOf('ReserveNow')).toHaveLength(0);
    const list = await h.csms.api.request<{ items: ReservationView[] }>('GET', path(station.identity));
    expect(list.body.items).toEqual([]);
  });

  it('TC_H_17: cancels with CancelReservation for that id; Cancelled on Accepted without waiting for an update', async () => {
    const station = await h.csms.bootedStation({ prefix: 'H17' });
    const { view } = await reserved(station, { evseId: 1, idToken: await token(), expiresAt: inMs(600_000) });
    const mark = station.mark();
    const res = await h.csms.api.request<ReservationView>('DELETE', path(station.identity, view.id));
    expect(res.status, res.text).toBe(200);
    expect((await station.waitForCall('CancelReservation', { afterSeq: mark })).payload).toEqual({ reservationId: view.id });
    expect(res.body).toMatchObject({ id: view.id, status: 'Cancelled', response: { status: 'Accepted' } });
  });

  it('DRV-RES-08: a cancel the station rejects (it no longer holds it) keeps what the CSMS knows, with the answer', async () => {
    const station = await h.csms.bootedStation({ prefix: 'H17-rej' });
    const { view } = await reserved(station, { evseId: 1, idToken: await token(), expiresAt: inMs(600_000) });
    station.onCall('CancelReservation', () => ({ status: 'Rejected' }));
    const res = await h.csms.api.request<ReservationView>('DELETE', path(station.identity, view.id));
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ status: 'Accepted', response: { status: 'Rejected' } });
    const unknown = await h.csms.api.request<ReservationView>('DELETE', path(station.identity, 2_000_000_000));
    expect(unknown.status).toBe(404);
  });

  it('TC_H_19: reserves for a token and its group (groupIdToken sent)', async () => {
    const station = await h.csms.bootedStation({ prefix: 'H19' });
    const group = { idToken: `GRP${Date.now()}`, type: 'Central' };
    const idToken = await registerIdToken(h.csms.api, newIdToken('ISO14443'), { status: 'Accepted', groupId: group.idToken });
    const { view, received } = await reserved(station, { evseId: 1, idToken, groupIdToken: group, expiresAt: inMs(600_000) });
    expect(received).toMatchObject({ id: view.id, evseId: 1, idToken, groupIdToken: group });
    expect(view.groupIdToken).toEqual(group);
    // DRV-RES-05: another member of the group is answered with the same group.
    const other = await registerIdToken(h.csms.api, newIdToken('ISO14443'), { status: 'Accepted', groupId: group.idToken });
    const answer = await station.authorize(other.idToken, other.type);
    expect(answer.idTokenInfo.groupIdToken).toEqual(group);
  });

  it('TC_H_20: the station removes a reservation when its EVSE faults (ReservationStatusUpdate Removed)', async () => {
    const station = await h.csms.bootedStation({ prefix: 'H20' });
    const { view } = await reserved(station, { evseId: 1, idToken: await token(), expiresAt: inMs(600_000) });
    await station.statusNotification(1, 1, 'Reserved');
    await station.statusNotification(1, 1, 'Faulted');
    expect(await station.call('ReservationStatusUpdate', { reservationId: view.id, reservationUpdateStatus: 'Removed' })).toEqual({});
    expect((await getReservation(station.identity, view.id)).status).toBe('Removed');
    expect((await h.csms.api.getStation(station.identity)).body.evses?.[0]?.connectors[0]?.status).toBe('Faulted');
  });

  it('TC_H_22: a station that rejects reservations: 201 with status Rejected, nothing live, no retry', async () => {
    const station = await h.csms.bootedStation({ prefix: 'H22' });
    station.onCall('ReserveNow', () => ({ status: 'Rejected' }));
    const res = await reserve(station.identity, { evseId: 1, idToken: await token(), expiresAt: inMs(1000) });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ status: 'Rejected', response: { status: 'Rejected' } });
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(station.callsOf('ReserveNow')).toHaveLength(1);
    // Never live, so never Expired by the sweep either.
    expect((await getReservation(station.identity, res.body.id)).status).toBe('Rejected');
  });

  it('DRV-RES-02: a TransactionEvent carrying the reservation id marks it Used; expiry later changes nothing', async () => {
    const station = await h.csms.bootedStation({ prefix: 'H-used' });
    const idToken = await token();
    const { view } = await reserved(station, { evseId: 1, idToken, expiresAt: inMs(1500) });
    const tx = new ChargingSession(station);
    await tx.event('Started', 'Authorized', { idToken, evse: true, extra: { reservationId: view.id } });
    const used = await getReservation(station.identity, view.id);
    expect(used).toMatchObject({ status: 'Used', transactionId: tx.transactionId });
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect((await getReservation(station.identity, view.id)).status).toBe('Used');
  });

  it('DRV-RES-03: an offline station → 409 and no reservation kept; unknown station → 404; a past expiry → 400 naming the rule', async () => {
    const creds = await h.csms.register({ prefix: 'H-off' });
    const idToken = await token();
    const offline = await reserve(creds.identity, { evseId: 1, idToken, expiresAt: inMs(60_000) });
    expect(offline.status).toBe(409);
    expect((await h.csms.api.request<{ items: unknown[] }>('GET', path(creds.identity))).body.items).toEqual([]);
    expect((await reserve('no-such-station-H', { evseId: 1, idToken, expiresAt: inMs(60_000) })).status).toBe(404);
    expect((await h.csms.api.request('GET', path('no-such-station-H'))).status).toBe(404);
    const station = await h.csms.bootedStation({ prefix: 'H-past' });
    const past = await reserve(station.identity, { evseId: 1, idToken, expiresAt: new Date(Date.now() - 1000).toISOString() });
    expect(past.status).toBe(400);
    expect(past.body.error?.details?.rule).toBe('H01');
    expect((await reserve(station.identity, { evseId: 1, idToken })).status).toBe(400);
    expect(station.callsOf('ReserveNow')).toHaveLength(0);
  });

  it('a CALLERROR answer → 502 and no reservation kept', async () => {
    const station = await h.csms.bootedStation({ prefix: 'H-err' });
    station.onCall('ReserveNow', () => Reply.error('InternalError', 'boom'));
    const res = await reserve(station.identity, { evseId: 1, idToken: await token(), expiresAt: inMs(60_000) });
    expect(res.status).toBe(502);
    expect((await h.csms.api.request<{ items: unknown[] }>('GET', path(station.identity))).body.items).toEqual([]);
  });
});

describe('Reservations, 1.6 mapping (CONTRACT §8.2)', () => {
  const opened: Station16[] = [];
  afterEach(async () => {
    for (const s of opened.splice(0)) {
      expect(s.problems()).toEqual([]);
      await s.close();
    }
  });

  it('sends the 1.6 ReserveNow and CancelReservation; a StartTransaction with the id uses it', async () => {
    const identity = uniqueIdentity('H16');
    const password = randomPassword();
    expect((await h.csms.api.putStation(identity, { securityProfile: 1, password, bootPolicy: 'Accepted' })).status).toBe(201);
    const station = await Station16.connect({ url: h.csms.ocppUrl, identity, password });
    opened.push(station);
    await station.booted(2);
    const idTag = `H16-${Date.now() % 100000}`;
    await h.csms.api.request('PUT', `/api/v1/id-tokens/ISO14443/${idTag}`, { status: 'Accepted' });
    const expiresAt = inMs(600_000);
    const res = await reserve(identity, { evseId: 2, idToken: { idToken: idTag, type: 'ISO14443' }, groupIdToken: { idToken: 'PARENT1', type: 'Central' }, expiresAt });
    expect(res.status, res.text).toBe(201);
    expect(await station.waitForCall('ReserveNow')).toEqual({ connectorId: 2, expiryDate: expiresAt, idTag, parentIdTag: 'PARENT1', reservationId: res.body.id });
    expect(res.body.status).toBe('Accepted');

    const other = await reserve(identity, { idToken: { idToken: idTag, type: 'ISO14443' }, expiresAt });
    expect(await station.waitForCall('ReserveNow', 2)).toMatchObject({ connectorId: 0, reservationId: other.body.id });
    const cancelled = await h.csms.api.request<ReservationView>('DELETE', path(identity, other.body.id));
    expect(cancelled.body.status).toBe('Cancelled');
    expect(await station.waitForCall('CancelReservation')).toEqual({ reservationId: other.body.id });

    const byType = await reserve(identity, { connectorType: 'cType2', idToken: { idToken: idTag, type: 'ISO14443' }, expiresAt });
    expect(byType.status).toBe(400);

    const started = await station.call<{ transactionId: number }>('StartTransaction', {
      connectorId: 2,
      idTag,
      meterStart: 0,
      reservationId: res.body.id,
      timestamp: new Date().toISOString(),
    });
    expect(await getReservation(identity, res.body.id)).toMatchObject({ status: 'Used', transactionId: String(started.transactionId) });
  });
});
