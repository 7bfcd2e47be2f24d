import * as tf from '@tensorflow/tfjs-core';
import type {
  LinearAttentionOptions,
  LinearAttentionResult,
  LinearAttentionState,
  LinearCore,
  LinearVectorCore,
} from './types';
import { validateLinear } from './validate';
import { linearBidirectional, linearParallel, linearParallelBidirectional } from './parallel';
import { linearChunk } from './chunk';
import { linearKernel } from './kernel';
import { linearRecurrent } from './recurrent';
import { gatedRecurrenceKernel } from '../gated-recurrence';
import { linearChunkVector, linearParallelVector, linearRecurrentVector } from './vector-gate';

export type {
  LinearAttentionForm,
  LinearAttentionOptions,
  LinearAttentionResult,
  LinearAttentionState,
} from './types';

const CORES: Record<'parallel' | 'chunk' | 'recurrent', LinearCore> = {
  parallel: (q, k, v, g, s0) => linearParallel(q, k, v, g, s0),
  chunk: linearChunk,
  recurrent: (q, k, v, g, s0) => linearRecurrent(q, k, v, g, s0),
};

// The chunk and recurrent forms run the backend's GATED_RECURRENCE kernel when it has one (the
// exact recurrence, gradient included); the parallel form stays the composite reference.
const VECTOR_CORES: Record<'parallel' | 'chunk' | 'recurrent', LinearVectorCore> = {
  parallel: (q, k, v, g, s0) => linearParallelVector(q, k, v, g, s0),
  chunk: (q, k, v, g, s0, chunkSize) =>
    gatedRecurrenceKernel(q, k, v, { logDecay: g, s0 }) ??
    linearChunkVector(q, k, v, g, s0, chunkSize),
  recurrent: (q, k, v, g, s0) =>
    gatedRecurrenceKernel(q, k, v, { logDecay: g, s0 }) ?? linearRecurrentVector(q, k, v, g, s0),
};

/**
 * Linear attention (Katharopoulos et al. 2020, "Transformers are RNNs", eqs. 4-9), optionally
 * with a per-head constant decay (RetNet, Sun et al. 2023 eq. 5; Lightning Attention) and a
 * data-dependent gate, a scalar per step (Mamba-2 as scalar-decay linear attention) or one per key
 * dimension (GLA, Yang et al. 2024, eq. 3: S_t = (exp(g_t)ᵀ 1) ⊙ S_{t-1} + k_tᵀ v_t):
 *
 *   S_t = exp(g_t) S_{t-1} + k_tᵀ v_t,    out_t = scale · q_t S_t
 *   (normalize)  z_t = exp(g_t) z_{t-1} + k_t,   out_t = scale · q_t S_t / (scale · q_t·z_t + eps)
 *
 * with g_t = log λ_h + gate_t. q and k are already feature-mapped ([batch, heads, time, dk]),
 * v is [batch, heads, time, dv]. Three forms compute the same thing: 'parallel' (quadratic,
 * the reference), 'chunk' (default: chunkwise with its own O(T·chunkSize)-memory gradient) and
 * 'recurrent' (token by token, for decoding). The state after the last token comes back;
 * passing it as `initialState` to the call over the next tokens continues the sequence exactly.
 * `causal: false` is the encoder form (every token sees all; no decay, no initial state).
 * The 'chunk' form runs the backend's CHUNKED_LINEAR_ATTENTION kernel when it has one (no gate
 * or a scalar one; see kernel.ts); with a per-dimension gate, the 'chunk' and 'recurrent' forms
 * run its GATED_RECURRENCE kernel (../gated-recurrence.ts).
 */
export function linearAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  options: LinearAttentionOptions = {},
): LinearAttentionResult {
  const geo = validateLinear(q, k, v, options);
  const { batch: b, heads: h, time: t, keyDim: dk, valueDim: dv, normalize } = geo;
  const fused = linearKernel(q, k, v, options, geo, () => logDecay(options, b, h, t));
  if (fused) return fused;
  const [output, kv, kSum] = tf.tidy(() => {
    const qs = geo.scale === 1 ? q : (tf.mul(q, geo.scale) as tf.Tensor4D);
    // Normalising: one more value column of ones carries z_t through the same recurrence.
    const values = normalize ? (tf.concat([v, tf.ones([b, h, t, 1])], 3) as tf.Tensor4D) : v;
    const init = options.initialState;
    const s0 = init
      ? normalize
        ? (tf.concat([init.kv, tf.expandDims(init.kSum!, 3)], 3) as tf.Tensor4D)
        : init.kv
      : null;
    const g = logDecay(options, b, h, t);

    let core: { output: tf.Tensor4D; state: tf.Tensor4D };
    if (!geo.causal) {
      core =
        geo.form === 'parallel'
          ? linearParallelBidirectional(qs, k, values)
          : linearBidirectional(qs, k, values);
    } else if (g && g.rank === 4) {
      core = VECTOR_CORES[geo.form](qs, k, values, g as tf.Tensor4D, s0, geo.chunkSize);
    } else {
      core = CORES[geo.form](qs, k, values, g as tf.Tensor3D | null, s0, geo.chunkSize);
    }
    if (!normalize) return [core.output, core.state];

    const numerator = tf.slice(core.output, [0, 0, 0, 0], [b, h, t, dv]);
    const denominator = tf.slice(core.output, [0, 0, 0, dv], [b, h, t, 1]);
    const kvPart = tf.slice(core.state, [0, 0, 0, 0], [b, h, dk, dv]);
    const kSumPart = tf.reshape(tf.slice(core.state, [0, 0, 0, dv], [b, h, dk, 1]), [b, h, dk]);
    return [tf.div(numerator, tf.add(denominator, geo.eps)), kvPart, kSumPart];
  });
  const state: LinearAttentionState = { kv: kv as tf.Tensor4D };
  if (kSum) state.kSum = kSum as tf.Tensor3D;
  return { output: output as tf.Tensor4D, state };
}

/** g = log λ_h + gate: [b, h, t], or [b, h, t, dk] with a per-dimension gate (null when neither). */
function logDecay(
  options: LinearAttentionOptions,
  b: number,
  h: number,
  t: number,
): tf.Tensor3D | tf.Tensor4D | null {
  const { decay, gate } = options;
  const vector = gate !== undefined && gate.rank === 4;
  let g: tf.Tensor | null = null;
  if (decay !== undefined) {
    const lambda =
      decay instanceof tf.Tensor ? decay : tf.tensor1d(typeof decay === 'number' ? [decay] : decay);
    const logs = tf.log(lambda);
    g = vector
      ? tf.broadcastTo(tf.reshape(logs, [1, -1, 1, 1]), gate.shape)
      : tf.broadcastTo(tf.reshape(logs, [1, -1, 1]), [b, h, t]);
  }
  if (gate) g = g ? tf.add(g, gate) : gate;
  return g as tf.Tensor3D | tf.Tensor4D | null;
}
