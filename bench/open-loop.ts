/**
 * Open loop: `task(k, intended)` for k = 0, 1, 2, … falls due every 1000 / `rate` ms for `seconds`, and each one is
 * started when due, whatever the earlier ones are doing: a slow answer delays nothing else, and a caller that counts
 * latency from `intended` (performance.now() ms) sees the CSMS's slowness in full (no coordinated omission).
 * Resolves with the number of tasks started, once the last of them has settled; a task's rejection is its own business.
 */
export function openLoop(rate: number, seconds: number, task: (k: number, intended: number) => Promise<void>): Promise<number> {
  const start = performance.now() + 20;
  const end = start + seconds * 1000;
  const interval = 1000 / rate;
  let due = 0;
  let inFlight = 0;
  return new Promise((resolve) => {
    const settled = (): void => {
      inFlight--;
      if (performance.now() >= end && inFlight === 0) resolve(due);
    };
    const tick = (): void => {
      const now = performance.now();
      while (start + due * interval <= Math.min(now, end)) {
        const k = due++;
        inFlight++;
        task(k, start + k * interval)
          .catch(() => undefined)
          .finally(settled);
      }
      if (now < end) setTimeout(tick, Math.max(0, Math.min(start + due * interval, end) - performance.now()));
      else if (inFlight === 0) resolve(due);
    };
    setTimeout(tick, 20);
  });
}
