/**
 * Site load management, the pure part (CONTRACT §8.3): how a site's limit is shared among its EVSEs, and in
 * which order the new limits may go out so that the sum of what stations have accepted never exceeds it.
 * Everything is in amperes per phase; W converts with the site's voltage and phases (W = A × V × phases,
 * K01.FR.50). No I/O, no clock: the site manager (sites.ts) feeds it and carries out its steps.
 */

export type SiteUnit = 'A' | 'W';

export interface SiteQuantity {
  value: number;
  unit: SiteUnit;
}

export interface SiteElectrics {
  voltage: number;
  phases: 1 | 3;
}

/** A quantity in A per phase. */
export function toAmps(quantity: SiteQuantity, site: SiteElectrics): number {
  return quantity.unit === 'A' ? quantity.value : quantity.value / (site.voltage * site.phases);
}

export function fromAmps(amps: number, unit: SiteUnit, site: SiteElectrics): number {
  return unit === 'A' ? amps : amps * site.voltage * site.phases;
}

/** A limit goes to a station with at most 1 decimal: rounding down never lets the sum grow past the limit. */
export function floorTenth(amps: number): number {
  return Math.max(0, Math.floor(amps * 10 + 1e-9) / 10);
}

export interface EvseDemand {
  /** `${stationId}/${evseId}` */
  key: string;
  /** A session runs and draws (not SuspendedEV): it gets a share. */
  charging: boolean;
  /** When its session started (epoch ms, or any increasing order): served first when not all can be. */
  sessionStart: number;
  /** The most this EVSE can take (device model, else 32 A), and any external limit on it. */
  maxAmps: number;
}

/**
 * The share of each EVSE: equal shares of the limit among the charging EVSEs, none above its maximum (what a
 * capped EVSE cannot take goes to the others); EVSEs not charging get 0. When the limit cannot give every
 * charging EVSE `minAmps`, the earliest sessions get served first: as many as can have `minAmps` share the limit,
 * the later ones get 0.
 */
export function allocate(limitAmps: number, minAmps: number, evses: readonly EvseDemand[]): Map<string, number> {
  const shares = new Map<string, number>();
  for (const evse of evses) shares.set(evse.key, 0);
  let charging = evses.filter((e) => e.charging).sort((a, b) => a.sessionStart - b.sessionStart || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  if (minAmps > 0 && charging.length * minAmps > limitAmps) charging = charging.slice(0, Math.floor(limitAmps / minAmps + 1e-9));
  // Water-filling: an EVSE whose maximum is below the equal share takes its maximum, the rest is shared again.
  let remaining = limitAmps;
  let open = [...charging].sort((a, b) => a.maxAmps - b.maxAmps);
  while (open.length > 0) {
    const share = remaining / open.length;
    const capped = open.filter((e) => e.maxAmps <= share);
    if (capped.length === 0) {
      for (const evse of open) shares.set(evse.key, floorTenth(share));
      break;
    }
    for (const evse of capped) {
      shares.set(evse.key, floorTenth(evse.maxAmps));
      remaining -= evse.maxAmps;
    }
    open = open.filter((e) => e.maxAmps > share);
  }
  return shares;
}

/** What the manager knows of one EVSE when it plans the next pushes. */
export interface EvseLimitState {
  key: string;
  /** What it counts now: the limit its station last accepted and still has in force (or its maximum). */
  counted: number;
  /**
   * The highest limit sent to it that the station may have accepted without our knowing (in flight, or no
   * answer): it counts as well until an answer settles it.
   */
  uncertain: number | undefined;
  /** A push to it is under way (in flight or waiting to retry): its answer comes before another push. */
  busy: boolean;
  /** Where the allocation wants it. */
  target: number;
}

export interface PushStep {
  key: string;
  amps: number;
}

/**
 * The pushes that may go out now, lowers first: a lower is always safe; a raise only when the site stays within
 * its limit even if every push in flight and every earlier raise is accepted and no lower in flight is. Raises are
 * given in the order of `states` (the caller lists them in session-start order), as many as fit.
 */
export function nextPushes(limitAmps: number, states: readonly EvseLimitState[]): PushStep[] {
  const steps: PushStep[] = [];
  const exposure = (s: EvseLimitState): number => Math.max(s.counted, s.uncertain ?? 0);
  let worst = states.reduce((sum, s) => sum + exposure(s), 0);
  for (const s of states) {
    if (s.busy) continue; // one push per EVSE at a time: its answer comes first
    if (s.target < exposure(s)) steps.push({ key: s.key, amps: s.target });
  }
  for (const s of states) {
    if (s.busy || s.target <= s.counted || s.target < exposure(s)) continue;
    const added = s.target - exposure(s);
    if (worst + added <= limitAmps + 1e-9) {
      steps.push({ key: s.key, amps: s.target });
      worst += Math.max(0, added);
    }
  }
  return steps;
}

/** The counted sum of a site: what the invariant bounds (each EVSE at what it counts, uncertain pushes included). */
export function exposureSum(states: readonly EvseLimitState[]): number {
  return states.reduce((sum, s) => sum + Math.max(s.counted, s.uncertain ?? 0), 0);
}
