// The goals of issue 7 checked against one run: native matmul 1024³ at ≥ 50% of PyTorch's
// GFLOP/s; llama-tiny training step and generation (the workload: with the KV cache,
// as generate() runs it) within 2× PyTorch's time and ≥ 20× faster than the plain cpu backend.
// The other generation cases (no cache; the cache with the fused decoder off) are listed for
// reference, without a goal. PyTorch is taken from the same run at its best time with at most
// native's thread count (on a loaded machine two OpenMP threads can be far slower than one).
const GOALS = { matmulShare: 0.5, torchRatio: 2, cpuSpeedup: 20 };

/** Whether a case is one the goals name (see above). */
const hasGoal = (name, c) =>
  name === 'train' || (c.params?.useCache !== false && c.params?.fused !== false);

/**
 * [{ what, value, goal, met }] for the cases present in the run (empty without native); met is
 * null for reference rows.
 */
export function targetRows(results) {
  const native = results.backends.find((b) => b.ok && b.name === 'native');
  if (!native) return [];
  const byName = Object.fromEntries(results.workloads.map((w) => [w.name, w]));
  const rows = [];
  const mm = byName.matmul?.cases?.find((c) => c.x === 1024);
  const torchMs = (c) => {
    const times = Object.entries(c?.pytorch ?? {})
      .filter(([t, r]) => Number(t) <= native.threads && r?.medianMs > 0)
      .map(([, r]) => r.medianMs);
    return times.length ? Math.min(...times) : undefined;
  };
  const torchName = `PyTorch ≤${native.threads}t`;
  if (mm?.backends.native?.medianMs && torchMs(mm)) {
    const share = torchMs(mm) / mm.backends.native.medianMs;
    rows.push({
      what: `matmul 1024³: native GFLOP/s / ${torchName} GFLOP/s`,
      value: `${(share * 100).toFixed(0)}%`,
      goal: `≥ ${GOALS.matmulShare * 100}%`,
      met: share >= GOALS.matmulShare,
    });
  }
  for (const name of ['train', 'generate']) {
    for (const c of byName[name]?.cases ?? []) {
      const n = c.backends.native?.medianMs;
      if (!n) continue;
      const t = torchMs(c);
      const goal = hasGoal(name, c);
      if (t) {
        rows.push({
          what: `${name} ${c.label}: native time / ${torchName} time`,
          value: `×${(n / t).toFixed(2)}`,
          goal: goal ? `≤ ×${GOALS.torchRatio}` : '— (reference)',
          met: goal ? n / t <= GOALS.torchRatio : null,
        });
      }
      const cpu = c.backends.cpu?.medianMs;
      if (cpu) {
        rows.push({
          what: `${name} ${c.label}: cpu time / native time`,
          value: `${(cpu / n).toFixed(1)}×`,
          goal: goal ? `≥ ${GOALS.cpuSpeedup}×` : '— (reference)',
          met: goal ? cpu / n >= GOALS.cpuSpeedup : null,
        });
      }
    }
  }
  return rows;
}
