// Turns a results object into the SVG charts that docs/benchmarks.md shows.
import { longCharts } from './long-report.mjs';
import { sparseCharts } from './sparse-report.mjs';
import { barChart, lineChart } from './svg.mjs';

const okBackends = (results) => results.backends.filter((b) => b.ok);

function seriesOf(w, seriesName, results, value, { suffix = '', torch = true } = {}) {
  const cases = w.cases.filter((c) => c.series === seriesName);
  const out = okBackends(results).map((b) => ({
    name: `${b.name}${suffix}`,
    points: cases
      .map((c) => [c.x, value(c.backends[b.name]?.medianMs, c)])
      .filter(([, y]) => y > 0),
  }));
  for (const t of torch ? (results.pytorch.threads ?? []) : []) {
    out.push({
      name: `PyTorch ${t}t`,
      points: cases.map((c) => [c.x, value(c.pytorch?.[t]?.medianMs, c)]).filter(([, y]) => y > 0),
    });
  }
  return out.filter((s) => s.points.length);
}

/** PyTorch's lines from the first series that has them (attnkit rows may all be skipped). */
function torchLines(w, names, results) {
  for (const name of names) {
    const lines = seriesOf(w, name, results, (v) => v ?? 0).filter((s) =>
      s.name.startsWith('PyTorch'),
    );
    if (lines.length) return lines;
  }
  return [];
}

/** { 'matmul.svg': '<svg…', … } for the workloads that have numbers. */
export function buildCharts(results) {
  const charts = {};
  const byName = Object.fromEntries(results.workloads.map((w) => [w.name, w]));
  const has = (n) => byName[n] && byName[n].cases?.length;
  const gflops = (ms, c) => (ms ? c.flops / (ms / 1e3) / 1e9 : 0);
  const ms = (v) => v ?? 0;
  if (has('matmul')) {
    charts['matmul.svg'] = lineChart({
      title: 'matmul n×n·n×n',
      xLabel: 'n',
      yLabel: 'GFLOP/s (higher is better)',
      series: seriesOf(byName.matmul, 'matmul', results, gflops),
    });
  }
  if (has('sdpa')) {
    for (const [series, what] of [
      ['sdpa-fwd', 'forward'],
      ['sdpa-fwdbwd', 'forward + backward'],
    ]) {
      charts[`${series}.svg`] = lineChart({
        title: `sdpa ${what} (batch 1, 8 heads, d 64, causal)`,
        xLabel: 'sequence length T',
        yLabel: 'milliseconds (lower is better)',
        series: [
          ...seriesOf(byName.sdpa, series, results, ms, { torch: false }),
          ...seriesOf(byName.sdpa, series.replace('sdpa-', 'sdpa-tfjs-'), results, ms, {
            suffix: ' plain tfjs',
            torch: false,
          }),
          ...torchLines(byName.sdpa, [series, series.replace('sdpa-', 'sdpa-tfjs-')], results),
        ],
      });
    }
    const b = okBackends(results)[0];
    if (b) {
      const mem = (series) =>
        byName.sdpa.cases
          .filter((c) => c.series === series)
          .map((c) => [c.x, (c.backends[b.name]?.peakBytes ?? 0) / 2 ** 20]);
      charts['sdpa-memory.svg'] = lineChart({
        title: `sdpa peak tensor memory (${b.name})`,
        xLabel: 'sequence length T',
        yLabel: 'MiB (lower is better)',
        series: [
          { name: 'naive fwd', points: mem('sdpa-fwd') },
          { name: 'naive fwd+bwd', points: mem('sdpa-fwdbwd') },
          { name: 'chunked fwd', points: mem('sdpa-chunked-fwd') },
          { name: 'plain tfjs fwd', points: mem('sdpa-tfjs-fwd') },
          { name: 'plain tfjs fwd+bwd', points: mem('sdpa-tfjs-fwdbwd') },
        ].filter((s) => s.points.some(([, y]) => y > 0)),
      });
    }
  }
  if (has('mixers')) {
    const w = byName.mixers;
    const maxT = Math.max(...w.cases.map((c) => c.x));
    const rows = w.cases.filter((c) => c.x === maxT && c.params.backward);
    const types = rows.map((c) => c.params.type);
    charts['mixers.svg'] = barChart({
      title: `mixers forward + backward, T=${maxT}, dModel ${rows[0]?.params.dModel}: time / PyTorch MHA`,
      yLabel: '× PyTorch MHA time (lower is better)',
      categories: types,
      groups: okBackends(results).map((b) => ({
        name: b.name,
        values: rows.map((c) => c.backends[b.name]?.ratio ?? null),
      })),
    });
  }
  for (const name of ['train', 'generate']) {
    if (!has(name)) continue;
    const w = byName[name];
    charts[`${name}.svg`] = barChart({
      title: w.title,
      yLabel: 'tokens/s (higher is better)',
      categories: w.cases.map((c) => c.label),
      groups: [
        ...okBackends(results).map((b) => ({
          name: b.name,
          values: w.cases.map((c) => c.backends[b.name]?.tokensPerSec ?? null),
        })),
        ...(results.pytorch.threads ?? []).map((t) => ({
          name: `PyTorch ${t}t`,
          values: w.cases.map((c) => {
            const m = c.pytorch?.[t]?.medianMs;
            return m ? c.tokens / (m / 1e3) : null;
          }),
        })),
      ],
    });
  }
  if (has('long')) Object.assign(charts, longCharts(results));
  if (has('sparse')) Object.assign(charts, sparseCharts(results));
  return Object.fromEntries(Object.entries(charts).filter(([, svg]) => svg));
}
