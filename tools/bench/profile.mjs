// Where the time of one llama-tiny step goes on a backend: kernel time (tf.profile) against the
// whole step, so the share spent in tfjs dispatch and JavaScript around the kernels shows.
// `node tools/bench/profile.mjs [--backend native] [--what train|generate] [--steps 20]
//   [--model llama-small] [--detail BatchMatMul]` (llama-small: the train workload's 3M model,
//   batch 8 × 256; --detail: that kernel's calls grouped by input shapes; --top N: N kernels)
// `--mixer TYPE [--d-model 64] [--length 64]`: the recall study's 2-layer model around that mixer
//   on MQAR (T/4 pairs), batch 32, instead of a preset.
// (needs `npm run build`). Single-threaded runs (ATTNKIT_NATIVE_THREADS=1) give stabler CPU time.
import * as tf from '@tensorflow/tfjs-core';
import { importPackage } from './lib/packages.mjs';
import { loadBackend } from './lib/backends.mjs';
import { PRESET, randomIds, smallConfig } from './workloads/models-common.mjs';
import { recallModelConfig, taskFor } from './lib/recall-model.mjs';

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}
const backend = option('backend', 'native');
const what = option('what', 'train');
const steps = Number(option('steps', '20'));
const small = option('model', PRESET) === 'llama-small';
const detail = option('detail', '');
const mixerType = option('mixer', '');

tf.env().set('PROD', true);
await import('@tensorflow/tfjs-backend-cpu');
const loaded = await loadBackend(backend, 1);
if (!loaded.ok) {
  console.error(`profile: backend ${backend} unavailable: ${loaded.reason}`);
  process.exit(1);
}
await tf.setBackend(backend);
const core = (await importPackage('core')).mod;
const models = (await importPackage('models')).mod;
await importPackage('attention');
if (!core || !models) {
  console.error('profile: run `npm run build` first');
  process.exit(1);
}
let config;
let source;
let batch;
let seqLen;
if (mixerType) {
  const dModel = Number(option('d-model', '64'));
  seqLen = Number(option('length', '64'));
  batch = 32;
  const pairs = seqLen / 4;
  const task = models.createTask('mqar', taskFor('mqar', seqLen, 2 * pairs + 1, pairs));
  config = recallModelConfig(core, mixerType, dModel, task);
  source = new models.TaskSource(task, batch, 2);
} else {
  config = small ? smallConfig(models.getPreset(PRESET)) : models.getPreset(PRESET);
  [batch, seqLen] = small ? [8, 256] : [8, 32];
  source = new models.TextSource(randomIds(4096, config.vocabSize, 11), seqLen, batch, 1);
}
const modelName = mixerType ? `recall model (${mixerType})` : small ? 'llama-small' : PRESET;
const rng = new core.Rng(0);
const model = core.build(config, { rng });
let step;
if (what === 'train') {
  const trainer = new models.Trainer(model, source, { steps: 1000, lr: 3e-3, rngs: [rng] });
  step = async () => trainer.trainStep();
} else {
  const prompt = Array.from(randomIds(8, config.vocabSize, 5));
  // The tfjs kernels of cached decoding: native's fused decoder would run none (fused: false).
  const options = { maxTokens: 56, temperature: 0, useCache: true, fused: false };
  step = () => models.generate(model, prompt, options);
}
for (let i = 0; i < 3; i++) await step();
const c0 = process.cpuUsage();
const t0 = performance.now();
for (let i = 0; i < steps; i++) await step();
const wall = (performance.now() - t0) / steps;
const cu = process.cpuUsage(c0);
const cpuMs = (cu.user + cu.system) / 1000 / steps;
const info = await tf.profile(async () => {
  await step();
});
/** Calls and kernel milliseconds of `kernels`, grouped by keyOf(kernel), largest time first. */
function tally(kernels, keyOf) {
  const groups = new Map();
  for (const k of kernels) {
    const e = groups.get(keyOf(k)) ?? { calls: 0, ms: 0 };
    e.calls++;
    e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    groups.set(keyOf(k), e);
  }
  return [...groups].sort((a, b) => b[1].ms - a[1].ms);
}
const byName = tally(info.kernels, (k) => k.name);
const kernelMs = byName.reduce((sum, [, e]) => sum + e.ms, 0);
const label =
  what === 'train'
    ? `training step, batch ${batch} × ${seqLen}`
    : 'generation of 56 tokens (KV cache through tfjs kernels, fused: false)';
console.log(`${modelName} ${label} on ${backend} (${loaded.note})`);
console.log(
  `  wall ${wall.toFixed(2)} ms, CPU ${cpuMs.toFixed(2)} ms per step (mean of ${steps} steps)`,
);
console.log(
  `  ${info.kernels.length} kernels; kernel time ${kernelMs.toFixed(2)} ms in the profiled step`,
);
console.log('  kernel                        calls   ms');
for (const [name, e] of byName.slice(0, Number(option('top', '15')))) {
  console.log(`  ${name.padEnd(28)} ${String(e.calls).padStart(6)} ${e.ms.toFixed(2).padStart(7)}`);
}
if (detail) {
  console.log(`  ${detail} by input shapes                      calls   ms`);
  const calls = info.kernels.filter((k) => k.name === detail);
  for (const [key, e] of tally(calls, (k) => k.inputShapes.map((s) => `[${s}]`).join(' '))) {
    console.log(
      `  ${key.padEnd(44)} ${String(e.calls).padStart(6)} ${e.ms.toFixed(2).padStart(7)}`,
    );
  }
}
const pool = tf.memory().bufferPool;
if (pool) {
  const mib = (b) => (b / 2 ** 20).toFixed(0);
  console.log(
    `  buffer pool: ${pool.reused} reused, ${pool.allocated} allocated; ` +
      `${mib(pool.idleBytes)} of ${mib(pool.limitBytes)} MiB idle`,
  );
}
model.dispose();
