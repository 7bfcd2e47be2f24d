// What the long-context sweep (workloads/long.mjs) concludes: for each mixer and backend, the
// sequence length from which the mixer's forward+backward stays faster than softmax attention
// (`mha` at the same width), and the charts of time against T.
import { lineChart } from './svg.mjs';

const okBackends = (results) => results.backends.filter((b) => b.ok);

function seriesTimes(w, series, backend) {
  return new Map(
    w.cases
      .filter((c) => c.series === series)
      .map((c) => [c.x, c.backends[backend]?.medianMs])
      .filter(([, ms]) => ms > 0),
  );
}

/**
 * Rows { type, backend, crossover, lastT, ratio }: `crossover` is the smallest measured T from
 * which the mixer is faster than mha at every larger T where both ran ('≤ first T' when always,
 * null when never); `ratio` is mixer / mha time at the largest T where both ran.
 */
export function crossovers(results) {
  const w = results.workloads.find((x) => x.name === 'long');
  if (!w?.cases?.length) return [];
  const types = [
    ...new Set(w.cases.filter((c) => c.params.part === 'mixer').map((c) => c.params.type)),
  ].filter((t) => t !== 'mha');
  const rows = [];
  for (const b of okBackends(results)) {
    const softmax = seriesTimes(w, 'long-mixer-mha', b.name);
    for (const type of types) {
      const mine = seriesTimes(w, `long-mixer-${type}`, b.name);
      const common = [...mine.keys()].filter((t) => softmax.has(t)).sort((a, b) => a - b);
      if (common.length === 0) continue;
      let crossover = null;
      for (let i = common.length - 1; i >= 0; i--) {
        if (mine.get(common[i]) < softmax.get(common[i])) crossover = common[i];
        else break;
      }
      const lastT = common[common.length - 1];
      rows.push({
        type,
        backend: b.name,
        crossover,
        always: crossover === common[0],
        lastT,
        ratio: mine.get(lastT) / softmax.get(lastT),
        softmaxUpTo: Math.max(...softmax.keys()),
        mixerUpTo: Math.max(...mine.keys()),
      });
    }
  }
  return rows;
}

/** The crossover table as markdown lines (a column per backend). */
export function crossoverTable(results) {
  const rows = crossovers(results);
  if (rows.length === 0) return [];
  const backends = [...new Set(rows.map((r) => r.backend))];
  const types = [...new Set(rows.map((r) => r.type))].sort();
  const cell = (r) => {
    if (!r) return '—';
    const at = `×${r.ratio.toPrecision(2)} at ${r.lastT}`;
    if (r.crossover === null) return `slower up to ${r.lastT} (${at})`;
    return `${r.always ? '≤ ' : ''}${r.crossover} (${at})`;
  };
  const lines = [
    `| mixer | ${backends.map((b) => `${b}: faster than mha from T =`).join(' | ')} |`,
    `| --- | ${backends.map(() => '---').join(' | ')} |`,
  ];
  for (const type of types) {
    const cells = backends.map((b) => cell(rows.find((r) => r.type === type && r.backend === b)));
    lines.push(`| \`${type}\` | ${cells.join(' | ')} |`);
  }
  const reach = backends.map((b) => {
    const r = rows.find((x) => x.backend === b);
    return `${b} up to T = ${r.softmaxUpTo}`;
  });
  lines.push(
    '',
    `Forward+backward of the whole layer (projections included), dModel 256 (4 heads of 64; 64 with --quick), batch 1, causal where the mixer can be; ×N = mixer time / mha time at the largest T where both ran. mha ran ${reach.join(', ')} (longer runs are skipped past the time limit, so a crossover beyond that is not measured).`,
  );
  return lines;
}

/** Charts: the ops (each backend and PyTorch) and every mixer on the fastest backend. */
export function longCharts(results) {
  const w = results.workloads.find((x) => x.name === 'long');
  if (!w?.cases?.length) return {};
  const charts = {};
  const backends = okBackends(results);
  const opSeries = [...new Set(w.cases.filter((c) => c.params.part === 'op').map((c) => c.series))];
  const points = (series, value) =>
    w.cases
      .filter((c) => c.series === series)
      .map((c) => [c.x, value(c)])
      .filter(([, y]) => y > 0);
  const label = (series) => w.cases.find((c) => c.series === series).label.replace(/ T=\d+$/, '');
  const threads = results.pytorch.threads ?? [];
  const ops = [];
  for (const s of opSeries) {
    for (const b of backends) {
      ops.push({
        name: `${label(s)} ${b.name}`,
        points: points(s, (c) => c.backends[b.name]?.medianMs),
      });
    }
    // One PyTorch line per op kind (both softmax rows run the same PyTorch math).
    if (threads.length && s !== 'long-op-softmax-chunked') {
      const t = Math.max(...threads);
      ops.push({
        name: `${label(s)} PyTorch ${t}t`,
        points: points(s, (c) => c.pytorch?.[t]?.medianMs),
      });
    }
  }
  charts['long-ops.svg'] = lineChart({
    title: 'softmax vs linear attention ops, forward+backward (4 heads, d 64, causal)',
    xLabel: 'sequence length T',
    yLabel: 'milliseconds (lower is better)',
    series: ops.filter((s) => s.points.length),
  });
  const best = backends.find((b) => b.name === 'native') ?? backends[backends.length - 1];
  if (best) {
    const mixerSeries = [
      ...new Set(w.cases.filter((c) => c.params.part === 'mixer').map((c) => c.series)),
    ];
    charts['long-mixers.svg'] = lineChart({
      title: `mixers forward+backward against T (${best.name}, 4 heads)`,
      xLabel: 'sequence length T',
      yLabel: 'milliseconds (lower is better)',
      series: mixerSeries
        .map((s) => ({
          name: s.replace('long-mixer-', ''),
          points: points(s, (c) => c.backends[best.name]?.medianMs),
        }))
        .filter((s) => s.points.length),
    });
  }
  return Object.fromEntries(Object.entries(charts).filter(([, svg]) => svg));
}
