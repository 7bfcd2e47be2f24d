// What the block-sparse sweep (workloads/sparse.mjs) concludes: from which T the block-sparse
// op beats dense attention on each backend, and the charts of time against T and density.
import { lineChart } from './svg.mjs';

const okBackends = (results) => results.backends.filter((b) => b.ok);
const sparseOf = (results) => results.workloads.find((x) => x.name === 'sparse');

function times(w, series, backend) {
  return new Map(
    w.cases
      .filter((c) => c.series === series)
      .map((c) => [c.x, c.backends[backend]?.medianMs])
      .filter(([, ms]) => ms > 0),
  );
}

/** The smallest T from which `mine` stays below `other` at every larger T where both ran. */
function crossover(mine, other) {
  const common = [...mine.keys()].filter((t) => other.has(t)).sort((a, b) => a - b);
  if (!common.length) return undefined;
  let from = null;
  for (let i = common.length - 1; i >= 0 && mine.get(common[i]) < other.get(common[i]); i--)
    from = common[i];
  const last = common[common.length - 1];
  return { from, first: common[0], last, ratio: mine.get(last) / other.get(last) };
}

/** Markdown lines: block-sparse against dense (naive or fused) and chunked, per backend. */
export function sparseCrossoverTable(results) {
  const w = sparseOf(results);
  if (!w?.cases?.length) return [];
  const cell = (x) => {
    if (!x) return '—';
    const at = `×${x.ratio.toPrecision(2)} at ${x.last}`;
    if (x.from === null) return `slower up to ${x.last} (${at})`;
    return `${x.from === x.first ? '≤ ' : ''}${x.from} (${at})`;
  };
  const lines = [
    '| backend | block-sparse faster than dense from T = | than dense chunked from T = |',
    '| --- | --- | --- |',
  ];
  for (const b of okBackends(results)) {
    const block = times(w, 'sparse-block', b.name);
    lines.push(
      `| ${b.name} | ${cell(crossover(block, times(w, 'sparse-dense', b.name)))} | ${cell(crossover(block, times(w, 'sparse-dense-chunked', b.name)))} |`,
    );
  }
  const { d, block } = w.cases.find((c) => c.series === 'sparse-block').params;
  lines.push(
    '',
    `Forward+backward, causal, 4 heads, d ${d}, batch 1; block-sparse keeps 4 key blocks of ${block} per query block (its own and the three before); dense on native is the fused kernel. ×N = block-sparse time / dense time at the largest T where both ran.`,
  );
  return lines;
}

export function sparseCharts(results) {
  const w = sparseOf(results);
  if (!w?.cases?.length) return {};
  const backends = okBackends(results);
  const threads = results.pytorch.threads ?? [];
  const points = (series, value) =>
    w.cases
      .filter((c) => c.series === series)
      .map((c) => [c.x, value(c)])
      .filter(([, y]) => y > 0);
  const byT = [];
  for (const [series, name] of [
    ['sparse-dense', 'dense'],
    ['sparse-dense-chunked', 'dense chunked'],
    ['sparse-block', 'block-sparse'],
  ]) {
    for (const b of backends)
      byT.push({
        name: `${name} ${b.name}`,
        points: points(series, (c) => c.backends[b.name]?.medianMs),
      });
  }
  if (threads.length) {
    const t = Math.max(...threads);
    byT.push({
      name: `dense PyTorch ${t}t`,
      points: points('sparse-dense', (c) => c.pytorch?.[t]?.medianMs),
    });
  }
  const charts = {
    'sparse-t.svg': lineChart({
      title: 'block-sparse vs dense attention, forward+backward (4 heads, d 64, causal)',
      xLabel: 'sequence length T',
      yLabel: 'milliseconds (lower is better)',
      series: byT.filter((s) => s.points.length),
    }),
    'sparse-density.svg': lineChart({
      title: 'block-sparse attention against density (T 4096, blocks of 64)',
      xLabel: 'kept key blocks / all key blocks',
      yLabel: 'milliseconds (lower is better)',
      series: [
        ...backends.map((b) => ({
          name: b.name,
          points: points('sparse-density', (c) => c.backends[b.name]?.medianMs),
        })),
        ...backends.map((b) => ({
          name: `${b.name} peak MiB`,
          points: points('sparse-density', (c) => (c.backends[b.name]?.peakBytes ?? 0) / 2 ** 20),
        })),
      ].filter((s) => s.points.length),
    }),
  };
  return Object.fromEntries(Object.entries(charts).filter(([, svg]) => svg));
}
