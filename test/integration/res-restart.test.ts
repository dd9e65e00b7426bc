/**
 * DRV-RES-01 (Reservation profile, H04): a reservation's expiry survives a CSMS restart. The station stays silent;
 * the CSMS that comes back after `expiresAt` closes it by its own clock within 5 s, and a late
 * ReservationStatusUpdate(Expired) is answered {} without closing it twice.
 */
import { describe, expect, it } from 'vitest';
import { startTestCsms } from '../support/csms.js';
import { newIdToken, registerIdToken } from '../support/charging.js';
import { freshPostgresDatabaseUrl } from '../support/services.js';
import { waitFor } from '../support/station.js';

interface ReservationView {
  id: number;
  status: string;
  updatedAt: string;
}

describe('reservation expiry across a restart', () => {
  it('DRV-RES-01: expires a reservation whose expiresAt passed while the CSMS was down', async () => {
    const databaseUrl = await freshPostgresDatabaseUrl();
    const first = await startTestCsms({ DATABASE_URL: databaseUrl });
    let reservationId: number;
    let identity: string;
    let password: string;
    const expiresAt = Date.now() + 3000;
    try {
      const creds = await first.register({ prefix: 'H-restart' });
      identity = creds.identity;
      password = creds.password;
      const station = await first.connect(creds);
      await station.booted();
      const idToken = await registerIdToken(first.api, newIdToken('ISO14443'));
      const res = await first.api.request<ReservationView>('POST', `/api/v1/stations/${identity}/reservations`, {
        evseId: 1,
        idToken,
        expiresAt: new Date(expiresAt).toISOString(),
      });
      expect(res.status, res.text).toBe(201);
      expect(res.body.status).toBe('Accepted');
      reservationId = res.body.id;
    } finally {
      await first.stop();
    }
    // Down past the expiry.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now()) + 200));
    const second = await startTestCsms({ DATABASE_URL: databaseUrl });
    try {
      const path = `/api/v1/stations/${identity}/reservations/${reservationId}`;
      const expired = await waitFor(
        async () => {
          const r = await second.api.request<ReservationView>('GET', path);
          return r.body.status === 'Expired' ? r.body : undefined;
        },
        { timeoutMs: 5000, intervalMs: 100, what: 'the reservation Expired after the restart' },
      );
      const station = await second.connect({ identity, password });
      await station.booted();
      expect(await station.call('ReservationStatusUpdate', { reservationId, reservationUpdateStatus: 'Expired' })).toEqual({});
      const after = await second.api.request<ReservationView>('GET', path);
      expect(after.body).toEqual(expired);
    } finally {
      await second.stop();
    }
  });
});
