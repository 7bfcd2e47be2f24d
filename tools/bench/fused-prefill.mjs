// generate() on native with and without the fused decoder for a mid-sized llama-style model
// (dModel 512, 4 layers, GQA 8/2, SwiGLU 1536, ~13M parameters), short and long prompts, 16
// new tokens: the fused decoder feeds a prompt in one call (matrix products on the GEMM) and
// each new token as matrix-vector products. Median of 3 runs after one warm-up.
// `npm run build && node tools/bench/fused-prefill.mjs`
import * as tf from '@tensorflow/tfjs-core';
import '../../packages/backend-native/dist/index.js';
import { Rng, build } from '../../packages/core/dist/index.js';
import '../../packages/attention/dist/index.js';
import '../../packages/positional/dist/index.js';
import { generate } from '../../packages/models/dist/index.js';

await tf.setBackend('native');
const model = build(
  {
    type: 'decoder-lm',
    vocabSize: 1000,
    dModel: 512,
    numLayers: 4,
    maxLength: 512,
    positional: { type: 'rotary', headDim: 64 },
    block: {
      mixer: { type: 'gqa', numHeads: 8, numKvHeads: 2 },
      feedForward: { type: 'swiglu', hiddenDim: 1536 },
    },
  },
  { rng: new Rng(0) },
);
console.log(`${(model.numParams() / 1e6).toFixed(1)}M parameters, native backend`);
for (const promptLength of [8, 256]) {
  const prompt = Array.from({ length: promptLength }, (_, i) => (i * 7) % 1000);
  const tokens = {};
  for (const fused of [true, false]) {
    const run = () => generate(model, prompt, { maxTokens: 16, temperature: 0, fused });
    await run();
    const times = [];
    for (let i = 0; i < 3; i++) {
      const start = performance.now();
      tokens[fused] = await run();
      times.push(performance.now() - start);
    }
    times.sort((a, b) => a - b);
    console.log(`prompt ${promptLength} + 16 tokens, fused: ${fused}: ${times[1].toFixed(1)} ms`);
  }
  if (tokens.true.join() !== tokens.false.join())
    throw new Error('fused and unfused tokens differ');
}
model.dispose();
