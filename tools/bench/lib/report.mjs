// The terminal table: one block per workload, a column per backend with the ratio to PyTorch.
import { modelNotes } from './peak.mjs';
import { goalTables } from './targets.mjs';

const fmtMs = (ms) =>
  ms >= 1000
    ? `${(ms / 1000).toFixed(2)} s`
    : ms >= 10
      ? `${ms.toFixed(1)} ms`
      : `${ms.toFixed(2)} ms`;

function fmtNum(v) {
  if (v >= 1e4) return `${(v / 1e3).toFixed(0)}k`;
  if (v >= 100) return v.toFixed(0);
  return v.toPrecision(3);
}

/** "12.3 ms [7] 4.5 GFLOP/s ×67" for a measured case, or why it has no number. */
export function cell(r) {
  if (!r) return '';
  if (r.error) return 'FAILED';
  if (r.skipped) return 'skipped';
  let s = `${fmtMs(r.medianMs)} [${r.repeats}]`;
  if (r.gflops !== undefined) s += ` ${fmtNum(r.gflops)} GFLOP/s`;
  if (r.tokensPerSec !== undefined) s += ` ${fmtNum(r.tokensPerSec)} tok/s`;
  if (r.mfu !== undefined) s += ` MFU ${(r.mfu * 100).toFixed(1)}%`;
  if (r.ratio !== undefined) s += ` ×${fmtNum(r.ratio)}`;
  return s;
}

const mib = (bytes) =>
  bytes === undefined ? '' : `${(bytes / 2 ** 20).toFixed(bytes < 2 ** 20 ? 2 : 1)}`;

function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  return rows.map((r) =>
    r
      .map((v, c) => String(v).padEnd(widths[c]))
      .join('  ')
      .trimEnd(),
  );
}

// Long reasons (a registry error lists every type) are cut on the terminal; the JSON keeps them.
const brief = (text) => (text.length > 200 ? `${text.slice(0, 197)}…` : text);

/** Lines of text for the whole run. */
export function renderReport(results) {
  const out = [];
  const { meta } = results;
  const backends = results.backends.filter((b) => b.ok).map((b) => b.name);
  out.push(
    `attnkit bench — ${meta.cpu}, ${meta.cores} cores, node ${meta.node}, tfjs ${meta.tfjs}${meta.quick ? ', --quick' : ''}`,
  );
  for (const b of results.backends) {
    out.push(
      `  ${b.name}: ${b.ok ? `${b.note}; PyTorch ratio at ${b.threads} thread(s)` : `skipped: ${b.reason}`}`,
    );
  }
  const pt = results.pytorch;
  out.push(
    pt.skipped || pt.error
      ? `  PyTorch: ${pt.skipped ? `skipped: ${pt.skipped}` : `FAILED: ${pt.error}`}`
      : `  PyTorch ${pt.version} (python ${pt.python}${pt.blas ? `, BLAS ${pt.blas}` : ''}), threads ${pt.threads.join(', ')}`,
  );
  out.push(
    `Each cell: median time [timed runs, after ≥${meta.warmup} warm-up runs and ≥${meta.warmupMs ?? 0} ms] throughput ×(time / PyTorch time at`,
    `the backend's thread count; >1 is slower). Slow cases stop at 3 runs once they pass 4 s.`,
    '',
  );
  const threads = pt.threads ?? [];
  for (const w of results.workloads) {
    out.push(`== ${w.name}: ${w.title}`);
    if (w.skipped) {
      out.push(`   skipped: ${brief(w.skipped)}`, '');
      continue;
    }
    if (w.error) {
      out.push(`   FAILED: ${w.error}`, '');
      continue;
    }
    for (const n of w.notes ?? []) out.push(`   note: ${n}`);
    const head = ['case', ...threads.map((t) => `torch ${t}t`), ...backends, 'peak MiB'];
    const rows = [head];
    const problems = [];
    const skipped = new Map();
    for (const c of w.cases) {
      const peak = backends.map((b) => c.backends[b]?.peakBytes).find((v) => v !== undefined);
      rows.push([
        c.label,
        ...threads.map((t) => {
          const r = c.pytorch?.[t];
          if (r?.medianMs === undefined) return r?.error ? 'FAILED' : '-';
          return `${fmtMs(r.medianMs)}${r.mfu !== undefined ? ` MFU ${(r.mfu * 100).toFixed(1)}%` : ''}`;
        }),
        ...backends.map((b) => cell(c.backends[b])),
        mib(peak),
      ]);
      if (c.skip) skipped.set(c.skip, (skipped.get(c.skip) ?? 0) + 1);
      for (const b of backends) {
        const r = c.backends[b];
        if (r?.error) problems.push(`${c.label} on ${b}: FAILED: ${r.error}`);
        else if (r?.skipped && !c.skip) problems.push(`${c.label} on ${b}: skipped: ${r.skipped}`);
        if (r?.leakedTensors)
          problems.push(`${c.label} on ${b}: leaked ${r.leakedTensors} tensors`);
      }
      for (const t of threads) {
        const r = c.pytorch?.[t];
        if (r?.error)
          problems.push(
            `${c.label} in PyTorch (${t}t): FAILED: ${r.error.trim().split('\n').pop()}`,
          );
        if (r?.skipped) problems.push(`${c.label} in PyTorch (${t}t): skipped: ${r.skipped}`);
      }
    }
    out.push(...table(rows).map((l) => `   ${l}`));
    if (w.peakBytes) {
      const peaks = Object.entries(w.peakBytes).map(([b, v]) => `${b} ${mib(v)} MiB`);
      out.push(`   peak tensor memory of the workload: ${peaks.join(', ')}`);
    }
    for (const n of modelNotes(w, results.peaks)) out.push(`   ${n}`);
    for (const [reason, n] of skipped)
      out.push(`   ${n} case${n > 1 ? 's' : ''} skipped: ${reason}`);
    for (const p of [...new Set(problems)]) out.push(`   ${p}`);
    out.push('');
  }
  for (const { title, rows: goals } of goalTables(results)) {
    out.push(`== ${title}`);
    const rows = [
      ['measure', 'this run', 'goal', 'met'],
      ...goals.map((g) => [g.what, g.value, g.goal, g.met === null ? '—' : g.met ? 'yes' : 'NO']),
    ];
    out.push(...table(rows).map((l) => `   ${l}`), '');
  }
  return out;
}
