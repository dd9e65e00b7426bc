import type { Clock } from '../../clock.js';
import type { Logger } from '../../log.js';
import { newRequestId } from '../../ids.js';
import type { StationHandle } from '../../station/types.js';
import type { Store } from '../../store/store.js';
import type { DisplayMessageStore } from './display-message-store.js';

export interface DisplayMessageResyncDeps {
  messages: DisplayMessageStore;
  store: Pick<Store, 'getVariables'>;
  /** The live, open connection of a station on this node, if it is here. */
  session(stationId: string): StationHandle | undefined;
  log: Logger;
  clock: Clock;
  /** How long after the connection (or the Accepted boot) the request waits: the boot answer leaves first. */
  settleMs?: number;
}

const DEFAULT_SETTLE_MS = 500;
/** A connection that is Accepted already and the boot that follows at once are one moment: one ask serves both. */
const SAME_MOMENT_MS = 5000;

/**
 * DRV-AUI-10 (O03): at each connection and Accepted boot, a 2.0.1 station that shows messages is asked what it
 * holds (GetDisplayMessages without a filter). The block's result hook starts a new report and NotifyDisplayMessages
 * fills it, so ids the CSMS never set are imported and messages the station lost leave the station's view.
 * "Shows messages" means: the CSMS set or saw a message on it, or it reported a DisplayMessageCtrlr; other
 * stations are never sent anything unasked. One attempt per connection: a lost answer waits for the next one.
 */
export class DisplayMessageResync {
  /** Per station: the connection of the last ask, its timer while it waits, and when it was scheduled. */
  private readonly asks = new Map<string, { session: StationHandle; timer: NodeJS.Timeout | undefined; at: number }>();

  constructor(private readonly deps: DisplayMessageResyncDeps) {}

  connected(stationId: string): void {
    const session = this.accepted(stationId);
    if (session === undefined) return;
    const now = this.deps.clock.now();
    const last = this.asks.get(stationId);
    if (last?.session === session && (last.timer !== undefined || now - last.at < SAME_MOMENT_MS)) return;
    if (last?.timer !== undefined) clearTimeout(last.timer);
    const entry: { session: StationHandle; timer: NodeJS.Timeout | undefined; at: number } = { session, timer: undefined, at: now };
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      this.ask(stationId, session).catch((err: unknown) => this.deps.log.warn({ stationId, err }, 'display messages: resync failed'));
    }, this.deps.settleMs ?? DEFAULT_SETTLE_MS);
    entry.timer.unref();
    this.asks.set(stationId, entry);
  }

  disconnected(stationId: string): void {
    const last = this.asks.get(stationId);
    if (last?.timer !== undefined) clearTimeout(last.timer);
    this.asks.delete(stationId);
  }

  stop(): void {
    for (const { timer } of this.asks.values()) if (timer !== undefined) clearTimeout(timer);
    this.asks.clear();
  }

  private accepted(stationId: string): StationHandle | undefined {
    const session = this.deps.session(stationId);
    if (session === undefined || session.protocol.version !== '2.0.1' || session.context().bootStatus !== 'Accepted') return undefined;
    return session;
  }

  private async ask(stationId: string, session: StationHandle): Promise<void> {
    // The connection this was for is gone (or replaced): its successor schedules its own.
    if (this.accepted(stationId) !== session) return;
    const [held, report, deviceModel] = await Promise.all([
      this.deps.messages.list(stationId),
      this.deps.messages.report(stationId),
      this.deps.store.getVariables(stationId),
    ]);
    const shows = held.length > 0 || report !== undefined || deviceModel.some((v) => (v.component as { name?: string }).name === 'DisplayMessageCtrlr');
    if (!shows) return;
    try {
      await session.call('GetDisplayMessages', { requestId: newRequestId() });
    } catch (err) {
      // A station without the feature answers NotImplemented / NotSupported; the view stays as it was.
      this.deps.log.info({ stationId, err: (err as Error).message }, 'display messages: the station did not answer GetDisplayMessages');
    }
  }
}
