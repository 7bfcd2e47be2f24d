import * as tf from '@tensorflow/tfjs-core';
import { offTape } from '@attnkit/core';
import { hasGatedRecurrenceKernel } from '../gated-recurrence';
import { linearAttention } from '../linear';
import { latentMixtureProducts } from './latent-mixture-products';
import { linearRecurrence } from './linear-recurrence';
import type { LogSumExpState } from './log-sum-exp';

export interface LatentMixtureChunksResult {
  /** Shape [b, h, t, dv]: Σ_l p_{t,l} Σ_{s<=t} e^{k_{s,l}} v_s / Σ_{s<=t} e^{k_{s,l}}. */
  output: tf.Tensor4D;
  /** Per latent: max [b, h, L], numerator [b, h, L, dv], denominator [b, h, L] after the last token. */
  state: LogSumExpState;
}

/**
 * Latte's causal form in chunks: `latentMixtureGated` where the backend has the gated recurrence
 * kernel, else `latentMixtureProducts` (its composite beats the gated form's); the same outputs
 * and state either way. p, keys [b, h, t, L]; values [b, h, t, dv]. Checked by the caller.
 */
export function latentMixtureChunks(
  p: tf.Tensor4D,
  keys: tf.Tensor4D,
  values: tf.Tensor4D,
  chunkSize: number,
  initialState?: LogSumExpState,
): LatentMixtureChunksResult {
  const form = hasGatedRecurrenceKernel() ? latentMixtureGated : latentMixtureProducts;
  return form(p, keys, values, chunkSize, initialState);
}

/**
 * Latte's causal form (Dolga et al. 2024) as gated linear attention: per latent l the softmax
 * average of v over s <= t, mixed by p(l|t). With m_t the running max of each latent's keys
 * (carried max included), the shifted sums N_t = Σ_{s<=t} e^{k_s - m_t} v_s and
 * D_t = Σ_{s<=t} e^{k_s - m_t} follow S_t = e^{m_{t-1} - m_t} ⊙ S_{t-1} + e^{k_t - m_t} v_t, a
 * per-key-dimension decay <= 1 (GLA's recurrence, Yang et al. 2024, eq. 3), and
 *   out_t = Σ_l (p_{t,l} / D_{t,l}) N_{t,l} = q_t N_t with q_t = p_t / D_t.
 * Every exponent is <= 0 and D_t >= 1, so nothing overflows or underflows for any logit range.
 * N runs on `linearAttention` (the backend's gated recurrence kernel where it has one), D on
 * `linearRecurrence`; the outputs do not depend on m, so m is a constant to autodiff. The state
 * is the log-sum-exp scan's (running max, Σ e^{k-m} v, Σ e^{k-m}), so decoding continues with
 * `logSumExpScan`. p, keys [b, h, t, L]; values [b, h, t, dv]. Checked by the caller.
 */
export function latentMixtureGated(
  p: tf.Tensor4D,
  keys: tf.Tensor4D,
  values: tf.Tensor4D,
  chunkSize: number,
  initialState?: LogSumExpState,
): LatentMixtureChunksResult {
  return tf.tidy(() => {
    const [b, h, t, latents] = keys.shape;
    const dv = values.shape[3];
    const carried = initialState?.max as tf.Tensor3D | undefined;
    const max = offTape(() => runningMax(keys, carried)); // m_t [b, h, t, L]
    const before = offTape(() => {
      const first = carried
        ? tf.expandDims(carried, 2)
        : tf.slice(max, [0, 0, 0, 0], [b, h, 1, latents]);
      return t === 1
        ? first
        : tf.concat([first, tf.slice(max, [0, 0, 0, 0], [b, h, t - 1, latents])], 2);
    });
    const logDecay = tf.sub(before, max) as tf.Tensor4D; // <= 0
    const weights = tf.exp(tf.sub(keys, max)) as tf.Tensor4D; // e^{k_t - m_t} <= 1
    // D_t along time ([b·h, t, L], time on axis 1 as linearRecurrence wants).
    const flat = (x: tf.Tensor) => tf.reshape(x, [b * h, t, latents]);
    const denominators = linearRecurrence(flat(tf.exp(logDecay)), flat(weights), {
      initialState: initialState
        ? tf.reshape(initialState.denominator, [b * h, latents])
        : undefined,
    });
    const d = tf.reshape(denominators.output, [b, h, t, latents]);
    const { output, state } = linearAttention(tf.div(p, d) as tf.Tensor4D, weights, values, {
      gate: logDecay,
      chunkSize,
      checkValues: false,
      initialState: initialState
        ? { kv: tf.reshape(initialState.numerator, [b, h, latents, dv]) as tf.Tensor4D }
        : undefined,
    });
    return {
      output,
      state: {
        max: tf.reshape(tf.slice(max, [0, 0, t - 1, 0], [b, h, 1, latents]), [b, h, latents]),
        numerator: state.kv,
        denominator: tf.reshape(denominators.state, [b, h, latents]),
      },
    };
  });
}

/** max(carried, k_0, ..., k_t) along axis 2 of [b, h, t, L]: ceil(log2 t) doubling steps. */
function runningMax(keys: tf.Tensor4D, carried?: tf.Tensor3D): tf.Tensor4D {
  const [b, h, t, latents] = keys.shape;
  let m: tf.Tensor4D = keys;
  for (let shift = 1; shift < t; shift *= 2) {
    const earlier = tf.pad(
      tf.slice(m, [0, 0, 0, 0], [b, h, t - shift, latents]),
      [
        [0, 0],
        [0, 0],
        [shift, 0],
        [0, 0],
      ],
      -Infinity,
    );
    m = tf.maximum(m, earlier);
  }
  return carried ? tf.maximum(m, tf.expandDims(carried, 2)) : m;
}
