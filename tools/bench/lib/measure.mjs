// Timing and memory measurement shared by the workloads.
import * as tf from '@tensorflow/tfjs-core';

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Runs `step` `warmup` times untimed, then times it `repeats` times and returns the median.
 * Slow cases get fewer repeats (never fewer than 3) so one case takes about `budgetMs`;
 * the repeat count actually used is returned and printed.
 * `step` must finish its work (read its results back) and free its tensors.
 */
export async function timeStep(step, { warmup, repeats, budgetMs = 4000 }) {
  let warmed = 0;
  while (warmed < warmup) {
    const t0 = performance.now();
    await step();
    warmed++;
    // One warm-up is enough for a case that takes a large part of the budget.
    if (performance.now() - t0 > budgetMs / 4) break;
  }
  const times = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await step();
    times.push(performance.now() - t0);
    const spent = times.reduce((a, b) => a + b, 0);
    if (times.length >= 3 && spent > budgetMs) break;
  }
  return {
    medianMs: median(times),
    minMs: Math.min(...times),
    repeats: times.length,
    warmup: warmed,
  };
}

/**
 * Peak bytes of tensor memory one `step` allocates above what was alive before it
 * (tfjs' engine samples its byte count after every kernel inside tf.profile).
 * Run apart from the timed runs because profiling slows kernels down.
 */
export async function peakTensorBytes(step) {
  const before = tf.memory().numBytes;
  const info = await tf.profile(async () => {
    await step();
  });
  if (!info.kernels.length) return 0;
  return Math.max(0, info.peakBytes - before);
}

/** Reads every tensor back so asynchronous backends have finished, then frees them. */
export async function settle(tensors) {
  const list = Array.isArray(tensors) ? tensors : [tensors];
  await Promise.all(list.map((t) => t.data()));
  tf.dispose(list);
}
