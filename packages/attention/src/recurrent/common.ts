import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { SOFTMAX_CAPABILITIES, activations, type MixerCapabilities, type Rng } from '@attnkit/core';

/**
 * What a recurrent mixer supports: causal only, a constant-size state, and nothing that needs a
 * score map (no masks, segments, rotary or bias positions, weights hook, head control, prefix).
 */
export const RECURRENT_CAPABILITIES: MixerCapabilities = Object.freeze<MixerCapabilities>({
  ...SOFTMAX_CAPABILITIES,
  causal: 'only',
  positional: [],
  masks: false,
  segmentIds: false,
  attentionWeights: 'none',
  stateGrowth: 'constant',
  headControl: false,
  keyValuePrefix: false,
});

/**
 * The bias of Δ's projection as Mamba initialises it (Gu & Dao 2023, sec. 3.6, App. E.1):
 * Δ = softplus(bias) log-uniform in [dtMin, dtMax] (floored at 1e-4), so bias = softplus⁻¹(Δ)
 * = Δ + log(1 - e^{-Δ}).
 */
export function deltaBias(n: number, dtMin: number, dtMax: number, rng: Rng): tf.Tensor1D {
  const values = Float32Array.from({ length: n }, () => {
    const dt = Math.max(Math.exp(Math.log(dtMin) + rng.uniform() * Math.log(dtMax / dtMin)), 1e-4);
    return dt + Math.log(-Math.expm1(-dt));
  });
  return tf.tensor1d(values);
}

/** x ⊙ sigmoid(x), core's registered activation. */
export function silu(x: tf.Tensor): tf.Tensor {
  return activations.get('silu')(x);
}

/** U(-bound, bound) drawn from `rng` (PyTorch's Conv1d default init with bound = 1/√fan-in). */
export function uniform(rng: Rng, shape: number[], bound: number): tf.Tensor {
  const size = shape.reduce((p, q) => p * q, 1);
  const values = Float32Array.from({ length: size }, () => (2 * rng.uniform() - 1) * bound);
  return tf.tensor(values, shape);
}

/** Config fields the Mamba blocks share (Gu & Dao 2023; Dao & Gu 2024). */
export const ssmFields = {
  dModel: z.number().int().positive(),
  /** The inner width is expand·dModel (default 2). */
  expand: z.number().int().positive().optional(),
  /** Kernel of the causal depthwise convolution (default 4). */
  dConv: z.number().int().positive().optional(),
  /** Range of Δ at initialisation (defaults 0.001, 0.1). */
  dtMin: z.number().positive().optional(),
  dtMax: z.number().positive().optional(),
  /** Biases on the in/out projections (default false) and on the convolution (default true). */
  bias: z.boolean().optional(),
  convBias: z.boolean().optional(),
  /** Steps per chunk of the chunked training form. */
  chunkSize: z.number().int().positive().optional(),
};

/** dtMin < dtMax, refined on a schema with ssmFields: `.refine(...dtRange)`. */
export const dtRange: [
  (c: { dtMin?: number; dtMax?: number }) => boolean,
  { path: string[]; message: string },
] = [
  (c) => (c.dtMin ?? 0.001) < (c.dtMax ?? 0.1),
  { path: ['dtMax'], message: 'greater than dtMin (defaults 0.001, 0.1)' },
];
