// Timing and memory measurement shared by the workloads.
import * as tf from '@tensorflow/tfjs-core';

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Warms `step` up, then times it `repeats` times and returns the median.
 * Warm-up runs at least `warmup` times and for at least `warmupMs`: a tiny model's step is
 * mostly JavaScript dispatch, which V8 needs tens of runs to optimise, so a fixed count of two
 * measured a state no long run stays in (the llama-tiny step on native: 24 ms after 2 warm-ups,
 * 9.5 ms after 20). A single run that takes a large part of the budget ends the warm-up.
 * Slow cases get fewer repeats (never fewer than 3) so one case takes about `budgetMs`;
 * the counts actually used are returned and printed.
 * `step` must finish its work (read its results back) and free its tensors.
 */
/** Upper bound on time-based warm-up runs. */
const MAX_WARMUP = 200;

export async function timeStep(step, { warmup, warmupMs = 0, repeats, budgetMs = 4000 }) {
  let warmed = 0;
  const start = performance.now();
  while (warmed < warmup || (performance.now() - start < warmupMs && warmed < MAX_WARMUP)) {
    const t0 = performance.now();
    await step();
    warmed++;
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
