// Model FLOP utilisation (MFU): a case's model FLOP per second over the matmul peak of the same
// run and the same backend (or PyTorch thread count). The peak is the matmul workload's best
// GFLOP/s when it ran; otherwise one n×n matmul timed inline, as the matmul workload times it.
import * as tf from '@tensorflow/tfjs-core';
import { settle, timeStep } from './measure.mjs';

/** Size of the inline matmul: the published runs peak at n = 512 on native and in PyTorch. */
export const PEAK_N = 512;

/** { gflops, n, source } from the matmul workload's cases, or undefined when none ran. */
export function peakFromMatmul(workloads, side) {
  const mm = workloads.find((w) => w.name === 'matmul');
  let best;
  for (const c of mm?.cases ?? []) {
    const ms = side(c)?.medianMs;
    if (!(ms > 0)) continue;
    const gflops = c.flops / (ms / 1e3) / 1e9;
    if (!best || gflops > best.gflops) best = { gflops, n: c.x, source: 'matmul workload' };
  }
  return best;
}

/** Times an n×n float32 matmul on the active tfjs backend: { gflops, n, source: 'inline' }. */
export async function measurePeak(opts, n = PEAK_N) {
  const a = tf.randomNormal([n, n], 0, 1, 'float32', 1);
  const b = tf.randomNormal([n, n], 0, 1, 'float32', 2);
  try {
    const t = await timeStep(() => settle(tf.matMul(a, b)), {
      warmup: opts.warmup,
      warmupMs: opts.warmupMs,
      repeats: 5,
      budgetMs: 2000,
    });
    return { gflops: (2 * n ** 3) / (t.medianMs / 1e3) / 1e9, n, source: 'inline' };
  } finally {
    tf.dispose([a, b]);
  }
}

/** Whether any case of the run reports MFU (carries its model FLOP). */
export const wantsPeak = (workloads) => workloads.some((w) => w.cases.some((c) => c.modelFlops));

/**
 * Sets `mfu` (a fraction) and `peakGflops` on every timed result of the cases with `modelFlops`:
 * peaks.backends[name] for the tfjs backends, peaks.pytorch[threads] for PyTorch.
 */
export function applyMfu(workloads, peaks) {
  const set = (r, c, peak) => {
    if (!(r?.medianMs > 0) || !peak) return;
    r.mfu = c.modelFlops / (r.medianMs / 1e3) / 1e9 / peak.gflops;
    r.peakGflops = peak.gflops;
  };
  for (const w of workloads) {
    for (const c of w.cases) {
      if (!c.modelFlops) continue;
      for (const [name, r] of Object.entries(c.backends)) set(r, c, peaks.backends[name]);
      for (const [t, r] of Object.entries(c.pytorch ?? {})) set(r, c, peaks.pytorch[t]);
    }
  }
}

/**
 * Lines under a workload whose cases give model FLOP: each model's parameter count on both sides
 * and the peaks its MFU was computed against.
 */
export function modelNotes(w, peaks) {
  const cases = (w.cases ?? []).filter((c) => c.paramCount !== undefined);
  if (!cases.length) return [];
  const models = new Map();
  for (const c of cases) {
    const name = c.params?.model ?? c.label;
    const torch = Object.values(c.pytorch ?? {})
      .map((r) => r?.params)
      .filter((n) => n !== undefined);
    const m = models.get(name) ?? { attnkit: c.paramCount, torch: new Set() };
    for (const n of torch) m.torch.add(n);
    models.set(name, m);
  }
  const count = (n) => n.toLocaleString('en');
  const params = [...models].map(
    ([name, m]) =>
      `${name} ${count(m.attnkit)} (PyTorch: ${m.torch.size ? [...m.torch].map(count).join(', ') : 'not run'})`,
  );
  const fmt = (p) => `${p.gflops.toFixed(0)} GFLOP/s (${p.source}, n=${p.n})`;
  const peakParts = [
    ...Object.entries(peaks?.backends ?? {}).map(([b, p]) => `${b} ${fmt(p)}`),
    ...Object.entries(peaks?.pytorch ?? {}).map(([t, p]) => `PyTorch ${t}t ${fmt(p)}`),
  ];
  return [
    `Parameters: ${params.join('; ')}.`,
    ...(peakParts.length
      ? [
          `MFU = (6 · parameters · tokens + 12 · layers · dModel · T · tokens) / step time / matmul peak of this run: ${peakParts.join(', ')}.`,
        ]
      : []),
  ];
}
