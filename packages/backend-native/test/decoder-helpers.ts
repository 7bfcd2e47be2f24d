// Models and token ids for the fused-decoder specs, and the comparison of logits.
import * as core from '@attnkit/core';
import type { DecoderLM, DecoderLmConfig } from '@attnkit/models';

export function buildModel(config: DecoderLmConfig, seed = 3): DecoderLM {
  const model = core.build<DecoderLM>(config, { rng: new core.Rng(seed) });
  model.eval();
  return model;
}

export function randomIds(n: number, vocab: number, seed: number): number[] {
  const rng = new core.Rng(seed);
  return Array.from({ length: n }, () => Math.floor(rng.uniform() * vocab));
}

export function maxDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}
