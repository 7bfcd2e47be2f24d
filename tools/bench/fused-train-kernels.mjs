// The fused training kernels of backend-native (RMSNorm, LayerNorm, softmax cross-entropy,
// rotary, gated activation), forward + backward, against their composites on the same backend,
// at llama-small's shapes (batch 8 × 256 tokens, d_model 256, 8 heads of 32, SwiGLU 688, vocab
// 256); then llama-tiny's training step (batch 8 × 32) with the kernels registered and without:
// its tfjs kernel count and time. The composite runs by unregistering the fused kernels from
// 'native' (so every op takes its composite path), then they are registered again.
// Median of 5 timed runs after a warm-up of >= 1 s; each run reads its gradients back. Ratios
// are the figures to compare: on a machine shared with other jobs the times move by 2× or more.
// `npm run build && node tools/bench/fused-train-kernels.mjs [--quick]`
import * as tf from '@tensorflow/tfjs-core';
import * as core from '@attnkit/core';
import { applyRotary } from '@attnkit/positional';
import { crossEntropy, getPreset, TextSource, Trainer } from '@attnkit/models';
import * as kernels from '@attnkit/kernels';
import { nativeInfo } from '@attnkit/backend-native';
import { randomIds } from './workloads/models-common.mjs';

const quick = process.argv.includes('--quick');
const REPEATS = quick ? 3 : 5;
const [B, T, D, H, HD, FF, V] = [8, quick ? 64 : 256, 256, 8, 32, 688, 256];
const FUSED = [
  kernels.RMS_NORM,
  kernels.RMS_NORM_GRAD,
  kernels.LAYER_NORM,
  kernels.LAYER_NORM_GRAD,
  kernels.SOFTMAX_CROSS_ENTROPY,
  kernels.SOFTMAX_CROSS_ENTROPY_GRAD,
  kernels.ROTARY,
  kernels.ROTARY_GRAD,
  kernels.GATED_ACTIVATION,
  kernels.GATED_ACTIVATION_GRAD,
];

tf.env().set('PROD', true);
await tf.setBackend('native');
const saved = FUSED.map((name) => tf.getKernel(name, 'native'));
if (saved.some((k) => !k)) {
  console.error('fused-train-kernels: the native build lacks the fused training kernels');
  process.exit(1);
}
const fused = (on) => {
  for (const [i, name] of FUSED.entries()) {
    const has = tf.getKernel(name, 'native') !== undefined;
    if (on && !has) tf.registerKernel(saved[i]);
    if (!on && has) tf.unregisterKernel(name, 'native');
  }
};

const rand = (shape, seed) => tf.randomUniform(shape, -1, 1, 'float32', seed);

/** Gradients of Σ f(xs)·w with respect to xs (inputs made once, outside the timing). */
function fwdBwd(f, xs, w) {
  return tf.tidy(() => tf.grads((...a) => tf.sum(tf.mul(f(...a), w)))(xs));
}

async function median(run) {
  const once = async () => {
    const out = run();
    await Promise.all(out.map((t) => t.data()));
    tf.dispose(out);
  };
  const warmStart = performance.now();
  for (let i = 0; i < 3 || performance.now() - warmStart < 1000; i++) await once();
  const times = [];
  for (let i = 0; i < REPEATS; i++) {
    const start = performance.now();
    await once();
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}

const silu = core.getActivation('silu');
const targets = tf.tensor2d(randomIds(B * T, V, 3), [B, T], 'int32');
const ops = [
  [
    'rmsNorm [B·T, 256]',
    () => [rand([B * T, D], 1), tf.add(rand([D], 2), 1)],
    (x, w) => core.rmsNorm(x, 1e-6, w),
  ],
  [
    'layerNorm [B·T, 256]',
    () => [rand([B * T, D], 1), tf.add(rand([D], 2), 1), rand([D], 3)],
    (x, w, b) => core.layerNorm(x, 1e-5, w, b),
  ],
  [
    'crossEntropy [B, T, 256]',
    () => [rand([B, T, V], 1)],
    (x) => crossEntropy(tf.mul(x, 4), targets),
  ],
  [
    'rotary [B, 8, T, 32]',
    () => [rand([B, H, T, HD], 1)],
    (x) => applyRotary(x, tf.range(0, T), { headDim: HD }),
  ],
  [
    'silu(gate)·up [B·T, 688]',
    () => [rand([B * T, FF], 1), rand([B * T, FF], 2)],
    (g, u) => {
      const [on] = [tf.getKernel(kernels.GATED_ACTIVATION, 'native') !== undefined];
      if (!on) return tf.mul(silu(g), u);
      return tf
        .engine()
        .runKernel(kernels.GATED_ACTIVATION, { gate: g, up: u }, { activation: 'silu' })[0];
    },
  ],
];

const info = nativeInfo();
const load = (await import('node:os')).loadavg()[0].toFixed(1);
console.log(
  `fused training kernels on native (${info.gemm}, ${info.threads} threads), load average ${load}`,
);
console.log('op (forward + backward)          kernel ms  composite ms  composite/kernel');
for (const [name, make, f] of ops) {
  const xs = make();
  const w = tf.tidy(() => rand(f(...xs).shape, 99));
  fused(true);
  const k = await median(() => fwdBwd(f, xs, w));
  fused(false);
  const c = await median(() => fwdBwd(f, xs, w));
  fused(true);
  tf.dispose([...xs, w]);
  console.log(
    `${name.padEnd(32)} ${k.toFixed(2).padStart(9)} ${c.toFixed(2).padStart(13)} ${(c / k).toFixed(2).padStart(17)}`,
  );
}

// llama-tiny's training step, as tools/bench/profile.mjs runs it.
const config = getPreset('llama-tiny');
async function trainStep(on) {
  fused(on);
  const rng = new core.Rng(0);
  const model = core.build(config, { rng });
  const source = new TextSource(randomIds(4096, config.vocabSize, 11), 32, 8, 1);
  const trainer = new Trainer(model, source, { steps: 1000, lr: 3e-3, rngs: [rng] });
  const warmStart = performance.now();
  for (let i = 0; i < 3 || performance.now() - warmStart < 1000; i++) await trainer.trainStep();
  const times = [];
  for (let i = 0; i < REPEATS * 2; i++) {
    const start = performance.now();
    await trainer.trainStep();
    times.push(performance.now() - start);
  }
  const profile = await tf.profile(async () => void (await trainer.trainStep()));
  const counts = {};
  for (const k of profile.kernels) counts[k.name] = (counts[k.name] ?? 0) + 1;
  model.dispose();
  fused(true);
  return {
    ms: times.sort((a, b) => a - b)[times.length >> 1],
    kernels: profile.kernels.length,
    counts,
  };
}
const before = await trainStep(false);
const after = await trainStep(true);
console.log(`llama-tiny training step (batch 8 × 32), median of ${REPEATS * 2}:`);
for (const [label, r] of [
  ['composite', before],
  ['fused', after],
]) {
  const top = Object.entries(r.counts)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6)
    .map(([n, c]) => `${n} ${c}`)
    .join(', ');
  console.log(`  ${label.padEnd(10)} ${r.kernels} kernels, ${r.ms.toFixed(1)} ms (${top})`);
}
console.log(
  `  kernels ×${(after.kernels / before.kernels).toFixed(2)}, time ×${(after.ms / before.ms).toFixed(2)} (fused / composite)`,
);
