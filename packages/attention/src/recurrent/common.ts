import * as tf from '@tensorflow/tfjs-core';
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
