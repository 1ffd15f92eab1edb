/** Small, dependency-free SVG charts for bench/REPORT.md: line charts and stacked bars. */

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
}

const W = 640;
const H = 360;
const M = { left: 70, right: 170, top: 30, bottom: 50 };
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf', '#393b79', '#ad494a'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v: number) => (Math.abs(v) >= 1000 ? `${Number((v / 1000).toPrecision(3))}k` : String(Number(v.toPrecision(3))));

function frame(title: string, xLabel: string, yLabel: string, body: string): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11" role="img" aria-label="${esc(title)}">`,
    `<title>${esc(title)}</title>`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - M.right / 2 + M.left / 2}" y="18" text-anchor="middle" font-size="13">${esc(title)}</text>`,
    `<text x="${(M.left + W - M.right) / 2}" y="${H - 10}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text transform="translate(16 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
    body,
    '</svg>',
    '',
  ].join('\n');
}

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** Line chart; `logX` for batch sizes. */
export function lineChart(title: string, xLabel: string, yLabel: string, series: readonly Series[], opts: { logX?: boolean; yMax?: number } = {}): string {
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  const tx = (x: number) => (opts.logX ? Math.log10(Math.max(x, 1e-9)) : x);
  const x0 = xs.length ? Math.min(...xs.map(tx)) : 0;
  const x1 = xs.length ? Math.max(...xs.map(tx)) : 1;
  const yMax = opts.yMax ?? niceMax(Math.max(0, ...all.map((p) => p[1])));
  const px = (x: number) => M.left + ((tx(x) - x0) / (x1 - x0 || 1)) * (W - M.left - M.right);
  const py = (y: number) => H - M.bottom - (y / yMax) * (H - M.top - M.bottom);
  const parts: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const y = (yMax * i) / 4;
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${py(y)}" y2="${py(y)}" stroke="#ddd"/>`, `<text x="${M.left - 6}" y="${py(y) + 4}" text-anchor="end">${fmt(y)}</text>`);
  }
  const ticks = [...new Set(xs)].sort((a, b) => a - b);
  for (const x of ticks.length > 12 ? ticks.filter((_, i) => i % Math.ceil(ticks.length / 12) === 0) : ticks) {
    parts.push(`<text x="${px(x)}" y="${H - M.bottom + 16}" text-anchor="middle">${fmt(x)}</text>`);
  }
  parts.push(`<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${H - M.bottom}" stroke="#333"/>`, `<line x1="${M.left}" x2="${W - M.right}" y1="${H - M.bottom}" y2="${H - M.bottom}" stroke="#333"/>`);
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length]!;
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    if (pts.length > 1) parts.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.map((p) => `${px(p[0]).toFixed(1)},${py(Math.min(p[1], yMax)).toFixed(1)}`).join(' ')}"/>`);
    for (const p of pts) parts.push(`<circle cx="${px(p[0]).toFixed(1)}" cy="${py(Math.min(p[1], yMax)).toFixed(1)}" r="3" fill="${c}"/>`);
    parts.push(`<rect x="${W - M.right + 10}" y="${M.top + i * 16}" width="10" height="10" fill="${c}"/>`, `<text x="${W - M.right + 24}" y="${M.top + i * 16 + 9}">${esc(s.name)}</text>`);
  });
  return frame(title, xLabel, yLabel, parts.join('\n'));
}

/** Stacked bars: one bar per label, one segment per category. */
export function stackedBars(title: string, yLabel: string, labels: readonly string[], categories: readonly string[], values: readonly (readonly number[])[]): string {
  const totals = values.map((v) => v.reduce((a, b) => a + b, 0));
  const yMax = niceMax(Math.max(0, ...totals));
  const py = (y: number) => H - M.bottom - (y / yMax) * (H - M.top - M.bottom);
  const slot = (W - M.left - M.right) / Math.max(1, labels.length);
  const parts: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const y = (yMax * i) / 4;
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${py(y)}" y2="${py(y)}" stroke="#ddd"/>`, `<text x="${M.left - 6}" y="${py(y) + 4}" text-anchor="end">${fmt(y)}</text>`);
  }
  labels.forEach((label, b) => {
    let base = 0;
    const x = M.left + b * slot + slot * 0.15;
    categories.forEach((_, c) => {
      const v = values[b]![c] ?? 0;
      if (v > 0) parts.push(`<rect x="${x.toFixed(1)}" y="${py(base + v).toFixed(1)}" width="${(slot * 0.7).toFixed(1)}" height="${(py(base) - py(base + v)).toFixed(1)}" fill="${COLORS[c % COLORS.length]}"/>`);
      base += v;
    });
    parts.push(`<text x="${(x + slot * 0.35).toFixed(1)}" y="${H - M.bottom + 14}" text-anchor="middle" font-size="9">${esc(label)}</text>`);
  });
  categories.forEach((c, i) => {
    parts.push(`<rect x="${W - M.right + 10}" y="${M.top + i * 16}" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/>`, `<text x="${W - M.right + 24}" y="${M.top + i * 16 + 9}">${esc(c)}</text>`);
  });
  parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${H - M.bottom}" y2="${H - M.bottom}" stroke="#333"/>`);
  return frame(title, '', yLabel, parts.join('\n'));
}
