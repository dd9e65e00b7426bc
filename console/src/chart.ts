import { h } from './dom.js';

export interface Series {
  name: string;
  unit: string;
  points: { t: number; v: number }[];
  className: string;
}

const SVG = 'http://www.w3.org/2000/svg';

function el(tag: string, attrs: Record<string, string | number>): SVGElement {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/**
 * A line chart of up to two series over one time axis, each on its own scale (left and right): power and energy
 * of a transaction. Plain SVG: a few hundred points need no library.
 */
export function lineChart(title: string, series: Series[]): HTMLElement {
  const width = 720;
  const height = 260;
  const pad = { left: 64, right: 64, top: 16, bottom: 36 };
  const all = series.flatMap((s) => s.points);
  const figure = h('figure', { class: 'chart', id: 'transaction-chart' }, h('figcaption', {}, title));
  if (all.length === 0) {
    figure.appendChild(h('p', { class: 'muted' }, 'No meter values in this transaction.'));
    return figure;
  }
  const t0 = Math.min(...all.map((p) => p.t));
  const t1 = Math.max(...all.map((p) => p.t), t0 + 1);
  const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `${title}: ${series.map((s) => `${s.name} (${s.unit})`).join(', ')}` });
  const x = (t: number): number => pad.left + ((t - t0) / (t1 - t0)) * (width - pad.left - pad.right);
  svg.appendChild(el('line', { x1: pad.left, y1: height - pad.bottom, x2: width - pad.right, y2: height - pad.bottom, class: 'axis' }));
  series.forEach((s, index) => {
    if (s.points.length === 0) return;
    const min = Math.min(0, ...s.points.map((p) => p.v));
    const max = Math.max(...s.points.map((p) => p.v), min + 1);
    const y = (v: number): number => height - pad.bottom - ((v - min) / (max - min)) * (height - pad.top - pad.bottom);
    const sorted = [...s.points].sort((a, b) => a.t - b.t);
    svg.appendChild(el('polyline', { points: sorted.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' '), class: `line ${s.className}` }));
    for (const p of sorted) svg.appendChild(el('circle', { cx: x(p.t).toFixed(1), cy: y(p.v).toFixed(1), r: 3, class: `dot ${s.className}` }));
    const side = index === 0 ? pad.left - 6 : width - pad.right + 6;
    const anchor = index === 0 ? 'end' : 'start';
    const top = el('text', { x: side, y: pad.top + 10, 'text-anchor': anchor, class: `label ${s.className}` });
    top.textContent = `${max} ${s.unit}`;
    const bottom = el('text', { x: side, y: height - pad.bottom, 'text-anchor': anchor, class: `label ${s.className}` });
    bottom.textContent = `${min}`;
    svg.append(top, bottom);
  });
  const start = el('text', { x: pad.left, y: height - 12, class: 'label' });
  start.textContent = new Date(t0).toLocaleTimeString();
  const end = el('text', { x: width - pad.right, y: height - 12, 'text-anchor': 'end', class: 'label' });
  end.textContent = new Date(t1).toLocaleTimeString();
  svg.append(start, end);
  figure.appendChild(svg);
  figure.appendChild(h('p', { class: 'legend' }, ...series.map((s) => h('span', { class: `key ${s.className}` }, `${s.name} (${s.unit}), ${s.points.length} readings`))));
  return figure;
}
