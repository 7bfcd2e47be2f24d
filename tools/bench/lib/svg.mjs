// Hand-written SVG charts (no dependency): line charts on log axes and grouped bar charts.
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#17becf'];
// Past the colours, lines repeat them dashed, then dotted (the long-context sweep has ~30 lines).
const DASHES = ['', '7 4', '2 3'];
const colorOf = (i) => COLORS[i % COLORS.length];
const dashOf = (i) => DASHES[Math.floor(i / COLORS.length) % DASHES.length];
const W = 640;
const H = 360;
const PAD = { left: 70, right: 150, top: 40, bottom: 50 };

const esc = (s) =>
  String(s).replace(
    /[&<>"]/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c],
  );

function fmtTick(v) {
  if (v >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (v >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  return `${+v.toPrecision(3)}`;
}

/** Powers of ten (and 2, 5 between them when the range is short) covering [lo, hi]. */
function logTicks(lo, hi) {
  const ticks = [];
  const steps = Math.log10(hi / lo) < 2 ? [1, 2, 5] : [1];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of steps) {
      const v = m * 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) ticks.push(v);
    }
  }
  return ticks;
}

function frame(title, body, legend, height = H) {
  const legendItems = legend
    .map((name, i) => {
      const y = PAD.top + i * 20;
      const swatch = dashOf(i)
        ? `<line x1="${W - PAD.right + 12}" x2="${W - PAD.right + 28}" y1="${y + 6}" y2="${y + 6}" stroke="${colorOf(i)}" stroke-width="2" stroke-dasharray="${dashOf(i)}"/>`
        : `<rect x="${W - PAD.right + 15}" y="${y}" width="12" height="12" fill="${colorOf(i)}"/>`;
      return `${swatch}<text x="${W - PAD.right + 32}" y="${y + 10}">${esc(name)}</text>`;
    })
    .join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="sans-serif" font-size="12">
<rect width="${W}" height="${height}" fill="#fff"/>
<text x="${W / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>
${body}
${legendItems}
</svg>
`;
}

/**
 * series: [{ name, points: [[x, y], ...] }]; both axes logarithmic (sizes and times span decades).
 */
export function lineChart({ title, xLabel, yLabel, series }) {
  const pts = series.flatMap((s) => s.points).filter(([x, y]) => x > 0 && y > 0);
  if (pts.length === 0) return null;
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  y0 = 10 ** Math.floor(Math.log10(y0));
  y1 = 10 ** Math.ceil(Math.log10(y1));
  const pw = W - PAD.left - PAD.right;
  const ph = H - PAD.top - PAD.bottom;
  const sx = (x) => PAD.left + (x1 === x0 ? pw / 2 : (Math.log(x / x0) / Math.log(x1 / x0)) * pw);
  const sy = (y) => PAD.top + ph - (Math.log(y / y0) / Math.log(y1 / y0)) * ph;
  const grid = [];
  for (const t of logTicks(y0, y1)) {
    grid.push(
      `<line x1="${PAD.left}" x2="${PAD.left + pw}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" stroke="#ddd"/>`,
      `<text x="${PAD.left - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end">${fmtTick(t)}</text>`,
    );
  }
  for (const x of [...new Set(xs)].sort((a, b) => a - b)) {
    grid.push(
      `<text x="${sx(x).toFixed(1)}" y="${PAD.top + ph + 18}" text-anchor="middle">${fmtTick(x)}</text>`,
    );
  }
  const lines = series.map((s, i) => {
    const p = s.points.filter(([x, y]) => x > 0 && y > 0).sort((a, b) => a[0] - b[0]);
    const color = colorOf(i);
    const dash = dashOf(i) ? ` stroke-dasharray="${dashOf(i)}"` : '';
    const d = p.map(([x, y], j) => `${j ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`);
    const dots = p.map(
      ([x, y]) =>
        `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${color}"/>`,
    );
    return `<path d="${d.join('')}" fill="none" stroke="${color}" stroke-width="2"${dash}/>${dots.join('')}`;
  });
  const axes = `<rect x="${PAD.left}" y="${PAD.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>
<text x="${PAD.left + pw / 2}" y="${H - 10}" text-anchor="middle">${esc(xLabel)}</text>
<text transform="translate(16 ${PAD.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`;
  // A legend longer than the plot makes the picture taller (the plot keeps its size).
  return frame(
    title,
    [...grid, axes, ...lines].join('\n'),
    series.map((s) => s.name),
    Math.max(H, PAD.top + series.length * 20 + 10),
  );
}

/**
 * Grouped bars on a log value axis: categories along x, one bar per group in each
 * (values[g][c], null = not measured).
 */
export function barChart({ title, yLabel, categories, groups }) {
  const vals = groups.flatMap((g) => g.values).filter((v) => v > 0);
  if (vals.length === 0) return null;
  const y0 = 10 ** Math.floor(Math.log10(Math.min(...vals)));
  const y1 = 10 ** Math.ceil(Math.log10(Math.max(...vals)));
  // Many categories: labels slanted, under a taller chart.
  const slanted = categories.length > 5;
  const height = slanted ? H + 60 : H;
  const pw = W - PAD.left - PAD.right;
  const ph = H - PAD.top - PAD.bottom;
  const sy = (y) => PAD.top + ph - (Math.log(y / y0) / Math.log(y1 / y0 || 10)) * ph;
  const slot = pw / categories.length;
  const bw = (slot * 0.8) / groups.length;
  const parts = [];
  for (const t of logTicks(y0, y1)) {
    parts.push(
      `<line x1="${PAD.left}" x2="${PAD.left + pw}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" stroke="#ddd"/>`,
      `<text x="${PAD.left - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end">${fmtTick(t)}</text>`,
    );
  }
  categories.forEach((c, ci) => {
    const cx = PAD.left + slot * ci + slot * 0.1;
    groups.forEach((g, gi) => {
      const v = g.values[ci];
      if (!(v > 0)) return;
      const y = sy(v);
      parts.push(
        `<rect x="${(cx + gi * bw).toFixed(1)}" y="${y.toFixed(1)}" width="${(bw - 1).toFixed(1)}" height="${(PAD.top + ph - y).toFixed(1)}" fill="${COLORS[gi % COLORS.length]}"><title>${esc(`${g.name} ${c}: ${fmtTick(v)}`)}</title></rect>`,
      );
    });
    const lx = (cx + slot * 0.4).toFixed(1);
    const ly = PAD.top + ph + 16;
    parts.push(
      slanted
        ? `<text transform="translate(${lx} ${ly}) rotate(-40)" text-anchor="end" font-size="10">${esc(c)}</text>`
        : `<text x="${lx}" y="${ly}" text-anchor="middle">${esc(c)}</text>`,
    );
  });
  parts.push(
    `<rect x="${PAD.left}" y="${PAD.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`,
    `<text transform="translate(16 ${PAD.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
  );
  return frame(
    title,
    parts.join('\n'),
    groups.map((g) => g.name),
    height,
  );
}
