import { escape, niceStep } from '../chart.js';
import { TARGETS, type ClusterReport } from './report.js';

/**
 * The cluster run on one page (hand-written SVG, like bench/chart.ts): the boot storm (share of the fleet Accepted
 * over time, the cluster against the lone node), `/metrics` answer times of every node during it, local against
 * cross-node command latency, and the recovery after each fault (share of the affected stations back on a live node,
 * with the targets as vertical lines).
 */

const WIDTH = 1000;
const HEIGHT = 760;
const PANEL = { width: 500, height: 370 };
const INNER = { left: 62, right: 18, top: 34, bottom: 46 };
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

interface LineSeries {
  label: string;
  colour: string;
  points: [number, number][];
}

interface Axis {
  max: number;
  step: number;
}

function axis(maxValue: number, ticks: number): Axis {
  const step = niceStep(Math.max(maxValue, 1e-9), ticks);
  return { max: Math.max(step, Math.ceil(maxValue / step) * step), step };
}

function tick(value: number): string {
  return Number(value.toPrecision(6)).toLocaleString('en-US');
}

function frame(parts: string[], box: Box, title: string, xLabel: string, yLabel: string, x: Axis, y: Axis): void {
  parts.push(`<text x="${box.x}" y="${box.y - 12}" font-size="13" font-weight="bold">${escape(title)}</text>`);
  for (let v = 0; v <= y.max + 1e-9; v += y.step) {
    const py = box.y + box.h - (v / y.max) * box.h;
    parts.push(`<line x1="${box.x}" y1="${py}" x2="${box.x + box.w}" y2="${py}" stroke="#eee"/>`);
    parts.push(`<text x="${box.x - 6}" y="${py + 4}" text-anchor="end">${tick(v)}</text>`);
  }
  for (let v = 0; v <= x.max + 1e-9 && x.step > 0; v += x.step) {
    const px = box.x + (v / x.max) * box.w;
    parts.push(`<text x="${px}" y="${box.y + box.h + 16}" text-anchor="middle">${tick(v)}</text>`);
  }
  parts.push(`<rect x="${box.x}" y="${box.y}" width="${box.w}" height="${box.h}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${box.x + box.w / 2}" y="${box.y + box.h + 34}" text-anchor="middle">${escape(xLabel)}</text>`);
  parts.push(`<text transform="translate(${box.x - 46} ${box.y + box.h / 2}) rotate(-90)" text-anchor="middle">${escape(yLabel)}</text>`);
}

function legend(parts: string[], box: Box, entries: { label: string; colour: string; dash?: string }[]): void {
  if (entries.length === 0) return;
  const lx = box.x + box.w - 150;
  parts.push(`<rect x="${lx - 6}" y="${box.y + 3}" width="152" height="${entries.length * 15 + 6}" fill="white" fill-opacity="0.85"/>`);
  let ly = box.y + 14;
  for (const entry of entries) {
    parts.push(
      `<line x1="${lx}" y1="${ly - 4}" x2="${lx + 22}" y2="${ly - 4}" stroke="${entry.colour}" stroke-width="2"${entry.dash ? ` stroke-dasharray="${entry.dash}"` : ''}/>`,
    );
    parts.push(`<text x="${lx + 28}" y="${ly}">${escape(entry.label)}</text>`);
    ly += 15;
  }
}

function linePanel(
  parts: string[],
  box: Box,
  title: string,
  labels: { x: string; y: string },
  series: LineSeries[],
  options: { yMax?: number; markers?: { x: number; label: string }[] } = {},
): void {
  const xs = series.flatMap((s) => s.points.map(([px]) => px)).concat((options.markers ?? []).map((m) => m.x));
  const ys = series.flatMap((s) => s.points.map(([, py]) => py));
  const x = axis(Math.max(1, ...xs), 6);
  const y = options.yMax !== undefined ? axis(options.yMax, 5) : axis(Math.max(1, ...ys) * 1.05, 5);
  frame(parts, box, title, labels.x, labels.y, x, y);
  const px = (v: number): number => box.x + (Math.min(v, x.max) / x.max) * box.w;
  const py = (v: number): number => box.y + box.h - (Math.min(v, y.max) / y.max) * box.h;
  for (const marker of options.markers ?? []) {
    parts.push(`<line x1="${px(marker.x)}" y1="${box.y}" x2="${px(marker.x)}" y2="${box.y + box.h}" stroke="#888" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${px(marker.x) - 4}" y="${box.y + box.h - 6}" text-anchor="end" fill="#666">${escape(marker.label)}</text>`);
  }
  for (const s of series) {
    if (s.points.length === 0) continue;
    const d = s.points.map(([a, b], i) => `${i === 0 ? 'M' : 'L'}${px(a).toFixed(1)},${py(b).toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${s.colour}" stroke-width="1.8"/>`);
  }
  legend(parts, box, series);
}

function barPanel(parts: string[], box: Box, title: string, yLabel: string, groups: { label: string; bars: { label: string; colour: string; value: number }[] }[]): void {
  const values = groups.flatMap((g) => g.bars.map((b) => b.value));
  const y = axis(Math.max(1e-3, ...values) * 1.1, 5);
  frame(parts, box, title, '', yLabel, { max: 1, step: 0 }, y);
  const groupWidth = box.w / Math.max(1, groups.length);
  groups.forEach((group, g) => {
    const barWidth = (groupWidth * 0.7) / Math.max(1, group.bars.length);
    const left = box.x + g * groupWidth + groupWidth * 0.15;
    group.bars.forEach((bar, b) => {
      const height = (Math.min(bar.value, y.max) / y.max) * box.h;
      const bx = left + b * barWidth;
      parts.push(
        `<rect x="${bx.toFixed(1)}" y="${(box.y + box.h - height).toFixed(1)}" width="${(barWidth - 3).toFixed(1)}" height="${height.toFixed(1)}" fill="${bar.colour}"/>`,
      );
      parts.push(
        `<text x="${(bx + barWidth / 2).toFixed(1)}" y="${(box.y + box.h - height - 4).toFixed(1)}" text-anchor="middle" font-size="10">${tick(Number(bar.value.toFixed(2)))}</text>`,
      );
    });
    parts.push(`<text x="${(box.x + g * groupWidth + groupWidth / 2).toFixed(1)}" y="${box.y + box.h + 16}" text-anchor="middle">${escape(group.label)}</text>`);
  });
  legend(
    parts,
    box,
    (groups[0]?.bars ?? []).map((b) => ({ label: b.label, colour: b.colour })),
  );
}

function percentOf(points: [number, number][], total: number): [number, number][] {
  return total <= 0 ? [] : points.map(([t, n]) => [t, (n / total) * 100]);
}

export function clusterChart(report: ClusterReport): string {
  const s = report.settings;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`);
  parts.push(
    `<text x="20" y="20" font-size="15" font-weight="bold">${escape(`cluster: ${s.stations.toLocaleString('en-US')} stations on ${s.nodes} nodes, verdict ${report.verdict}`)}</text>`,
  );
  const box = (column: number, row: number): Box => ({
    x: column * PANEL.width + INNER.left,
    y: 20 + row * PANEL.height + INNER.top,
    w: PANEL.width - INNER.left - INNER.right,
    h: PANEL.height - INNER.top - INNER.bottom,
  });

  linePanel(
    parts,
    box(0, 0),
    'Boot storm: share of the fleet Accepted',
    { x: 'seconds since the storm started', y: '% of stations Accepted' },
    [
      { label: `cluster (${s.stations.toLocaleString('en-US')})`, colour: COLOURS[0] as string, points: percentOf(report.storm?.timeline ?? [], s.stations) },
      {
        label: `lone node (${(report.single?.stations ?? 0).toLocaleString('en-US')})`,
        colour: COLOURS[1] as string,
        points: percentOf(report.single?.storm.timeline ?? [], report.single?.stations ?? 0),
      },
    ],
    { yMax: 100 },
  );
  linePanel(
    parts,
    box(1, 0),
    'GET /metrics answer time during the storm',
    { x: 'seconds since the storm started', y: 'ms' },
    report.nodes.map((node, k) => ({ label: node.nodeId, colour: COLOURS[k % COLOURS.length] as string, points: node.metricsTimeline })),
  );
  const commands = report.commands;
  barPanel(
    parts,
    box(0, 1),
    `${commands?.action ?? 'command'} through the API at ${s.commandRate}/s (p99 ×${commands?.p99Ratio ?? '–'})`,
    'ms',
    [
      ['p50', 'p50'],
      ['p90', 'p90'],
      ['p99', 'p99'],
    ].map(([label, key]) => ({
      label: label as string,
      bars: [
        { label: 'local', colour: COLOURS[0] as string, value: commands?.local.latency[key as 'p50' | 'p90' | 'p99'] ?? 0 },
        { label: 'cross-node', colour: COLOURS[1] as string, value: commands?.crossNode.latency[key as 'p50' | 'p90' | 'p99'] ?? 0 },
      ],
    })),
  );
  const restart = report.redisRestart;
  const failover = report.failover;
  linePanel(
    parts,
    box(1, 1),
    'Recovery: affected stations shown on a live node',
    { x: 'seconds since Redis answered again / since the SIGKILL', y: '% of the affected stations' },
    [
      { label: 'Redis restarted', colour: COLOURS[2] as string, points: percentOf(restart?.timeline ?? [], s.stations) },
      { label: `${failover?.nodeId ?? 'node'} killed`, colour: COLOURS[3] as string, points: percentOf(failover?.timeline ?? [], failover?.stations ?? 0) },
    ],
    {
      yMax: 100,
      markers: [
        { x: TARGETS.presenceRebuildSeconds, label: `${TARGETS.presenceRebuildSeconds} s` },
        { x: TARGETS.failoverSeconds, label: `${TARGETS.failoverSeconds} s` },
      ],
    },
  );
  parts.push('</svg>');
  return parts.join('\n');
}
