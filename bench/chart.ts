/**
 * Latency percentiles against offered load, as a self-contained SVG written by hand (no native chart
 * dependency): x = offered msg/s (linear), y = latency in ms (log scale), one colour per target, one
 * dash pattern per percentile, and the p99 limit as a horizontal line.
 */

export interface ChartPoint {
  rate: number;
  p50: number;
  p99: number;
  p999: number;
}

export interface ChartSeries {
  label: string;
  points: ChartPoint[];
}

const WIDTH = 860;
const HEIGHT = 500;
const MARGIN = { left: 70, right: 200, top: 40, bottom: 60 };
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];
const PERCENTILES: { key: keyof Omit<ChartPoint, 'rate'>; label: string; dash: string }[] = [
  { key: 'p50', label: 'p50', dash: '' },
  { key: 'p99', label: 'p99', dash: '8 4' },
  { key: 'p999', label: 'p99.9', dash: '2 3' },
];

export function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A round step (1, 2 or 5 × 10^k) that cuts `range` into about `ticks` parts. */
export function niceStep(range: number, ticks: number): number {
  const raw = range / ticks;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const residual = raw / magnitude;
  return (residual > 5 ? 10 : residual > 2 ? 5 : residual > 1 ? 2 : 1) * magnitude;
}

export function latencyChart(title: string, series: ChartSeries[], limitMs: number | undefined): string {
  const points = series.flatMap((s) => s.points);
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const maxRate = Math.max(1, ...points.map((p) => p.rate));
  const xStep = niceStep(maxRate, 6);
  const xMax = Math.ceil(maxRate / xStep) * xStep;
  const values = points.flatMap((p) => [p.p50, p.p99, p.p999]).filter((v) => v > 0);
  if (limitMs !== undefined) values.push(limitMs);
  const yMin = 10 ** Math.floor(Math.log10(Math.max(0.01, Math.min(...values, 1))));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...values, 1)));
  const x = (rate: number): number => MARGIN.left + (rate / xMax) * plotW;
  const y = (value: number): number => {
    const v = Math.min(yMax, Math.max(yMin, value));
    return MARGIN.top + plotH - ((Math.log10(v) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * plotH;
  };

  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`);
  parts.push(`<text x="${MARGIN.left}" y="22" font-size="15" font-weight="bold">${escape(title)}</text>`);

  // Grid and axes.
  for (let rate = 0; rate <= xMax + 1e-9; rate += xStep) {
    parts.push(`<line x1="${x(rate)}" y1="${MARGIN.top}" x2="${x(rate)}" y2="${MARGIN.top + plotH}" stroke="#eee"/>`);
    parts.push(`<text x="${x(rate)}" y="${MARGIN.top + plotH + 18}" text-anchor="middle">${rate.toLocaleString('en-US')}</text>`);
  }
  for (let decade = yMin; decade <= yMax * 1.0001; decade *= 10) {
    for (const m of [1, 2, 5]) {
      const v = decade * m;
      if (v > yMax * 1.0001) break;
      parts.push(`<line x1="${MARGIN.left}" y1="${y(v)}" x2="${MARGIN.left + plotW}" y2="${y(v)}" stroke="${m === 1 ? '#ddd' : '#f3f3f3'}"/>`);
      if (m === 1) parts.push(`<text x="${MARGIN.left - 8}" y="${y(v) + 4}" text-anchor="end">${v >= 1 ? v.toFixed(0) : String(Number(v.toPrecision(1)))}</text>`);
    }
  }
  parts.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 18}" text-anchor="middle">offered load (OCPP CALLs per second)</text>`);
  parts.push(`<text transform="translate(18 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">latency from intended send (ms, log scale)</text>`);
  if (limitMs !== undefined) {
    parts.push(`<line x1="${MARGIN.left}" y1="${y(limitMs)}" x2="${MARGIN.left + plotW}" y2="${y(limitMs)}" stroke="#888" stroke-width="1.5" stroke-dasharray="1 4"/>`);
    parts.push(`<text x="${MARGIN.left + plotW - 4}" y="${y(limitMs) - 5}" text-anchor="end" fill="#666">p99 limit ${limitMs} ms</text>`);
  }

  // Series.
  series.forEach((s, index) => {
    const colour = COLOURS[index % COLOURS.length] as string;
    const sorted = [...s.points].sort((a, b) => a.rate - b.rate);
    for (const percentile of PERCENTILES) {
      const path = sorted.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.rate).toFixed(1)},${y(p[percentile.key]).toFixed(1)}`).join(' ');
      if (path.length > 0) {
        parts.push(`<path d="${path}" fill="none" stroke="${colour}" stroke-width="2"${percentile.dash ? ` stroke-dasharray="${percentile.dash}"` : ''}/>`);
      }
      for (const p of sorted) parts.push(`<circle cx="${x(p.rate).toFixed(1)}" cy="${y(p[percentile.key]).toFixed(1)}" r="2.5" fill="${colour}"/>`);
    }
  });

  // Legend.
  const lx = MARGIN.left + plotW + 16;
  let ly = MARGIN.top + 8;
  series.forEach((s, index) => {
    const colour = COLOURS[index % COLOURS.length] as string;
    parts.push(`<text x="${lx}" y="${ly}" font-weight="bold" fill="${colour}">${escape(s.label)}</text>`);
    ly += 18;
    for (const percentile of PERCENTILES) {
      parts.push(
        `<line x1="${lx}" y1="${ly - 4}" x2="${lx + 30}" y2="${ly - 4}" stroke="${colour}" stroke-width="2"${percentile.dash ? ` stroke-dasharray="${percentile.dash}"` : ''}/>`,
      );
      parts.push(`<text x="${lx + 36}" y="${ly}">${percentile.label}</text>`);
      ly += 16;
    }
    ly += 10;
  });
  parts.push('</svg>');
  return parts.join('\n');
}

// ------------------------------------------------------------------------------------------ soak

export interface SoakChartData {
  /** Seconds since the start; bytes. */
  samples: { t: number; rssBytes: number | null; heapUsedBytes: number | null }[];
  /** Each window's span (s) and the p99 / p50 of its station CALLs (ms). */
  windows: { startSeconds: number; endSeconds: number; p99: number; p50: number; rssMeanBytes: number | null }[];
  /** Seconds since the start. */
  storms: number[];
  durationSeconds: number;
}

/**
 * Memory and latency over a soak: x = minutes since the start; left axis MiB (RSS and JS heap used, every
 * sample, plus each window's mean RSS), right axis ms (each window's p99 and p50 of station CALLs, drawn
 * across its window). Window boundaries are light vertical lines, reconnect storms dotted ones.
 */
export function soakChart(title: string, data: SoakChartData): string {
  const MIB = 1024 * 1024;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const xMaxMin = Math.max(1, data.durationSeconds / 60, ...data.samples.map((s) => s.t / 60));
  const xStep = niceStep(xMaxMin, 8);
  const xMax = Math.ceil(xMaxMin / xStep) * xStep;
  const memory = data.samples
    .flatMap((s) => [s.rssBytes, s.heapUsedBytes])
    .filter((v): v is number => v !== null)
    .map((v) => v / MIB);
  const memLow = Math.max(0, Math.min(...memory, Number.POSITIVE_INFINITY));
  const memHigh = Math.max(...memory, memLow + 1);
  const mStep = niceStep(Math.max(1, memHigh - 0), 6);
  const mMin = 0;
  const mMax = Math.ceil((memHigh * 1.05) / mStep) * mStep;
  const latencies = data.windows.flatMap((w) => [w.p99, w.p50]).filter((v) => Number.isFinite(v));
  const lStep = niceStep(Math.max(1, ...latencies), 6);
  const lMax = Math.ceil((Math.max(1, ...latencies) * 1.05) / lStep) * lStep;
  const x = (seconds: number): number => MARGIN.left + (seconds / 60 / xMax) * plotW;
  const yMem = (mib: number): number => MARGIN.top + plotH - ((mib - mMin) / (mMax - mMin)) * plotH;
  const yLat = (msValue: number): number => MARGIN.top + plotH - (Math.min(msValue, lMax) / lMax) * plotH;
  const RSS = '#1f77b4';
  const HEAP = '#2ca02c';
  const P99 = '#d62728';
  const P50 = '#ff9896';

  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`);
  parts.push(`<text x="${MARGIN.left}" y="22" font-size="15" font-weight="bold">${escape(title)}</text>`);
  for (let minute = 0; minute <= xMax + 1e-9; minute += xStep) {
    parts.push(`<text x="${x(minute * 60)}" y="${MARGIN.top + plotH + 18}" text-anchor="middle">${Number(minute.toFixed(2))}</text>`);
  }
  for (let v = mMin; v <= mMax + 1e-9; v += mStep) {
    parts.push(`<line x1="${MARGIN.left}" y1="${yMem(v)}" x2="${MARGIN.left + plotW}" y2="${yMem(v)}" stroke="#eee"/>`);
    parts.push(`<text x="${MARGIN.left - 8}" y="${yMem(v) + 4}" text-anchor="end" fill="${RSS}">${Number(v.toFixed(1))}</text>`);
  }
  for (let v = 0; v <= lMax + 1e-9; v += lStep) {
    parts.push(`<text x="${MARGIN.left + plotW + 8}" y="${yLat(v) + 4}" fill="${P99}">${Number(v.toFixed(2))}</text>`);
  }
  for (const w of data.windows) {
    parts.push(`<line x1="${x(w.endSeconds)}" y1="${MARGIN.top}" x2="${x(w.endSeconds)}" y2="${MARGIN.top + plotH}" stroke="#ddd"/>`);
  }
  for (const at of data.storms) {
    parts.push(`<line x1="${x(at)}" y1="${MARGIN.top}" x2="${x(at)}" y2="${MARGIN.top + plotH}" stroke="#999" stroke-dasharray="2 3"/>`);
  }
  parts.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 18}" text-anchor="middle">minutes since the start of the soak</text>`);
  parts.push(`<text transform="translate(18 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="${RSS}">CSMS memory (MiB)</text>`);
  parts.push(
    `<text transform="translate(${MARGIN.left + plotW + 52} ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="${P99}">station CALL latency per window (ms)</text>`,
  );

  const line = (points: [number, number][], colour: string, width: number, dash = ''): void => {
    if (points.length === 0) return;
    const d = points.map(([px, py], i) => `${i === 0 ? 'M' : 'L'}${px.toFixed(1)},${py.toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${colour}" stroke-width="${width}"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
  };
  line(
    data.samples.filter((s) => s.rssBytes !== null).map((s) => [x(s.t), yMem((s.rssBytes as number) / MIB)]),
    RSS,
    1.5,
  );
  line(
    data.samples.filter((s) => s.heapUsedBytes !== null).map((s) => [x(s.t), yMem((s.heapUsedBytes as number) / MIB)]),
    HEAP,
    1,
  );
  for (const w of data.windows) {
    if (w.rssMeanBytes !== null)
      parts.push(`<circle cx="${x((w.startSeconds + w.endSeconds) / 2).toFixed(1)}" cy="${yMem(w.rssMeanBytes / MIB).toFixed(1)}" r="3.5" fill="${RSS}"/>`);
  }
  const steps = (pick: (w: SoakChartData['windows'][number]) => number): [number, number][] =>
    data.windows.flatMap((w) => [
      [x(w.startSeconds), yLat(pick(w))],
      [x(w.endSeconds), yLat(pick(w))],
    ]);
  line(
    steps((w) => w.p99),
    P99,
    2,
  );
  line(
    steps((w) => w.p50),
    P50,
    1.5,
    '6 3',
  );

  const lx = MARGIN.left + plotW + 70;
  let ly = MARGIN.top + 8;
  const legend = (colour: string, label: string, dash = '', dot = false): void => {
    parts.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 26}" y2="${ly - 4}" stroke="${colour}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    if (dot) parts.push(`<circle cx="${lx + 13}" cy="${ly - 4}" r="3.5" fill="${colour}"/>`);
    parts.push(`<text x="${lx + 32}" y="${ly}">${escape(label)}</text>`);
    ly += 18;
  };
  legend(RSS, 'RSS');
  legend(RSS, 'window mean RSS', '', true);
  legend(HEAP, 'JS heap used');
  legend(P99, 'p99 (window)');
  legend(P50, 'p50 (window)', '6 3');
  legend('#999', 'reconnect storm', '2 3');
  parts.push('</svg>');
  return parts.join('\n');
}
