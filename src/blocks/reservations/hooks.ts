/** What other blocks' messages tell the reservations block (kept apart so the station core sees an interface only). */
export interface ReservationHooks {
  /** A TransactionEvent / StartTransaction carried this reservation id (H01.FR.15). */
  used(stationId: string, reservationId: number, transactionId: string): Promise<void>;
  /** ReservationStatusUpdate (H01.FR.16/17, H04). */
  stationUpdate(stationId: string, reservationId: number, status: 'Expired' | 'Removed'): Promise<void>;
}
