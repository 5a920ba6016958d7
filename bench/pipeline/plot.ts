// A small SVG line chart: latency (log scale) against throughput, one colour per path, p99
// solid and p50 dashed. No dependencies; the output is a standalone .svg file.

export interface Series {
  name: string;
  color: string;
  /** x: decisions per second achieved; p50 / p99: milliseconds. */
  points: Array<{ x: number; p50: number; p99: number }>;
}

/**
 * The points of one path for the plot: the steps it kept up with (and its half-saturation
 * run), by throughput, then its highest-throughput step it did not keep up with (saturation).
 */
export function curveOf(steps: ReadonlyArray<{ sustained: boolean; throughput: number; decision: { p50: number; p99: number } }>): Series['points'] {
  const kept = steps.filter((s) => s.sustained).sort((a, b) => a.throughput - b.throughput);
  const over = steps.filter((s) => !s.sustained).sort((a, b) => b.throughput - a.throughput)[0];
  return [...kept, ...(over && over.throughput > (kept.at(-1)?.throughput ?? 0) ? [over] : [])].map((s) => ({ x: s.throughput, p50: s.decision.p50, p99: s.decision.p99 }));
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function latencyThroughputSvg(title: string, series: Series[], options: { targetP99Ms?: number } = {}): string {
  const W = 900;
  const H = 480;
  const m = { left: 70, right: 290, top: 40, bottom: 55 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const all = series.flatMap((s) => s.points);
  const xMaxRaw = Math.max(1, ...all.map((p) => p.x));
  const xStep = niceStep(xMaxRaw / 6);
  const xMax = Math.ceil(xMaxRaw / xStep) * xStep;
  const yValues = all.flatMap((p) => [p.p50, p.p99]).filter((v) => v > 0);
  const yMinExp = Math.floor(Math.log10(Math.max(0.1, Math.min(1, ...yValues))));
  const yMaxExp = Math.ceil(Math.log10(Math.max(10, ...yValues)));
  const x = (v: number) => m.left + (v / xMax) * pw;
  const y = (v: number) => m.top + ph - ((Math.log10(Math.max(v, 10 ** yMinExp)) - yMinExp) / (yMaxExp - yMinExp)) * ph;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${m.left}" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`);
  for (let e = yMinExp; e <= yMaxExp; e++) {
    const v = 10 ** e;
    out.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    out.push(`<text x="${m.left - 8}" y="${y(v) + 4}" text-anchor="end">${v >= 1 ? v.toFixed(0) : v}</text>`);
  }
  for (let v = 0; v <= xMax + 1e-9; v += xStep) {
    out.push(`<line x1="${x(v)}" x2="${x(v)}" y1="${m.top}" y2="${m.top + ph}" stroke="#eee"/>`);
    out.push(`<text x="${x(v)}" y="${m.top + ph + 18}" text-anchor="middle">${v.toFixed(0)}</text>`);
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
  out.push(`<text x="${m.left + pw / 2}" y="${H - 12}" text-anchor="middle">throughput achieved (decisions / s)</text>`);
  out.push(`<text transform="translate(18 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">submit → decision latency (ms, log)</text>`);
  if (options.targetP99Ms) {
    const ty = y(options.targetP99Ms);
    out.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${ty}" y2="${ty}" stroke="#999" stroke-dasharray="2 4"/>`);
    out.push(`<text x="${m.left + pw - 4}" y="${ty - 4}" text-anchor="end" fill="#777">${options.targetP99Ms} ms</text>`);
  }
  series.forEach((s, i) => {
    const pts = s.points;
    const line = (key: 'p50' | 'p99') => pts.map((p) => `${x(p.x).toFixed(1)},${y(p[key]).toFixed(1)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${line('p99')}"/>`);
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.5" stroke-dasharray="5 4" points="${line('p50')}"/>`);
    for (const p of pts) out.push(`<circle cx="${x(p.x).toFixed(1)}" cy="${y(p.p99).toFixed(1)}" r="3" fill="${s.color}"/>`);
    const ly = m.top + 10 + i * 20;
    out.push(`<line x1="${W - m.right + 15}" x2="${W - m.right + 40}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"/>`);
    out.push(`<text x="${W - m.right + 46}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  const ly = m.top + 10 + series.length * 20 + 10;
  out.push(`<text x="${W - m.right + 15}" y="${ly}" fill="#555">solid: p99, dashed: p50</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function niceStep(raw: number): number {
  const e = 10 ** Math.floor(Math.log10(raw));
  for (const f of [1, 2, 2.5, 5, 10]) if (f * e >= raw) return f * e;
  return 10 * e;
}
