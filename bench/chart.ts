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

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function niceStep(range: number, ticks: number): number {
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
