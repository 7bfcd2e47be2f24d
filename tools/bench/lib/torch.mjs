// Runs tools/bench/torch/bench.py with Debian's python and returns its JSON.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), '../torch/bench.py');
export const PYTHON = process.env.ATTNKIT_BENCH_PYTHON ?? '/usr/bin/python3';

/**
 * Times `cases` (each with a `torch` field) in PyTorch with `threads` threads.
 * Returns { torch, threads, results: { id: {medianMs,...} | {skipped} | {error} }, matmulPeak? }
 * or { skipped }.
 */
export function runTorch(
  cases,
  { threads, warmup, warmupMs, repeats, matmulPeak, limitMs = Infinity },
) {
  if (!fs.existsSync(PYTHON)) {
    return {
      skipped: `${PYTHON} not found (install python3-torch with apt, or set ATTNKIT_BENCH_PYTHON)`,
    };
  }
  // Cases with the same PyTorch work (e.g. the `long` workload's MHA baseline, one per mixer
  // and length) are timed once and the result shared, instead of once per case.
  const byWork = new Map();
  for (const { id, torch, series, x, growth, modelFlops, limitMs: own } of cases) {
    const key = JSON.stringify(torch);
    if (!byWork.has(key))
      byWork.set(key, { id, torch, series, x, growth, modelFlops, limitMs: own, ids: [] });
    byWork.get(key).ids.push(id);
  }
  const unique = [...byWork.values()];
  const spec = {
    threads,
    warmup,
    warmupMs,
    repeats,
    // n of an inline matmul to time for the MFU peak (lib/peak.mjs), when matmul does not run.
    ...(matmulPeak ? { matmulPeak } : {}),
    // The same time limit as the JavaScript side: a size estimated from the previous size of
    // its series (time × (size ratio)^growth, or × the model FLOP ratio) above the limit is
    // skipped, not run for minutes.
    limitMs: Number.isFinite(limitMs) ? limitMs : null,
    cases: unique.map(({ id, torch, series, x, growth, modelFlops, limitMs: own }) => ({
      id,
      torch,
      series: series ?? null,
      x: x ?? null,
      growth: growth ?? 2,
      modelFlops: modelFlops ?? null,
      limitMs: own ?? null,
    })),
  };
  const child = spawnSync(PYTHON, [SCRIPT], {
    input: JSON.stringify(spec),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    // Progress lines (one per case) go straight to the terminal.
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, OMP_NUM_THREADS: String(threads) },
  });
  if (child.error) return { error: `could not run ${PYTHON}: ${child.error.message}` };
  if (child.status !== 0) {
    return {
      error: `PyTorch script exited with ${child.status} (its messages are above)`,
    };
  }
  let parsed;
  try {
    parsed = JSON.parse(child.stdout.trim().split('\n').pop());
  } catch {
    return { error: `PyTorch script printed no JSON: ${child.stdout.slice(-500)}` };
  }
  if (parsed.results) {
    const shared = {};
    for (const { id, ids } of unique) for (const each of ids) shared[each] = parsed.results[id];
    parsed.results = shared;
  }
  return parsed;
}
