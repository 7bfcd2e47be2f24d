import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  estimateOf,
  parseConfig,
  register,
  type MixerContext,
  type ModuleOptions,
} from '@attnkit/core';
import { LinearMixer, type LinearInputs } from '../linear/base';
import { linearFields } from '../linear/config';
import { projectedParameters } from '../softmax/projected';

/** 'softmax-rnn': softmax attention as a sum of linear-attention RNNs, truncated at `order`. */
export const softmaxRnnSchema = z.strictObject({
  type: z.literal('softmax-rnn'),
  ...linearFields,
  /** N, the last Taylor term kept (default 2); the state per head is Σ_{n≤N} d^n × dv. */
  order: z.number().int().min(1).max(4).optional(),
});
export type SoftmaxRnnConfig = z.input<typeof softmaxRnnSchema>;

/** Σ_{n=0}^{N} d^n: the width of the order-N Taylor features of a d-wide head. */
export function taylorWidth(d: number, order: number): number {
  let width = 0;
  for (let n = 0, p = 1; n <= order; n++, p *= d) width += p;
  return width;
}

/**
 * φ(x) = [φ_0(x), …, φ_N(x)] with φ_n(x) = x^{⊗n} / √n! (flattened), so that
 * ⟨φ(q), φ(k)⟩ = Σ_{n≤N} (q·k)^n / n!, the order-N Taylor polynomial of exp(q·k)
 * (Mongaras & Larson 2025, sec. 3). [..., d] -> [..., taylorWidth(d, N)].
 */
export function taylorFeatures(x: tf.Tensor, order: number): tf.Tensor {
  return tf.tidy(() => {
    const d = x.shape[x.rank - 1]!;
    const lead = x.shape.slice(0, -1);
    const terms: tf.Tensor[] = [tf.ones([...lead, 1])];
    let power: tf.Tensor = tf.ones([...lead, 1]);
    for (let n = 1; n <= order; n++) {
      // x^{⊗n}/√n! = (x^{⊗(n-1)}/√(n-1)!) ⊗ x / √n.
      const outer = tf.mul(tf.expandDims(power, -1), tf.expandDims(x, -2));
      power = tf.div(tf.reshape(outer, [...lead, power.shape[power.rank - 1]! * d]), Math.sqrt(n));
      terms.push(power);
    }
    return tf.concat(terms, -1);
  });
}

/**
 * Softmax attention as an RNN (Mongaras & Larson 2025, "On the Expressiveness of Softmax
 * Attention: A Recurrent Neural Network Perspective", sec. 3): with s = q·k/√d,
 * exp(s) = Σ_n s^n/n! = Σ_n ⟨φ_n(q'), φ_n(k')⟩ (q' = q/d^¼, k' = k/d^¼, φ_n the n-th tensor power
 * over √n!), so the numerator Σ_{s≤t} exp(q_t·k_s) v_s is a sum of linear-attention RNNs with
 * states S_n = Σ φ_n(k)ᵀ v of size d^n × dv, and the denominator Σ exp(q·k) likewise with
 * z_n = Σ φ_n(k). Kept to order N it is `linearAttention` with φ = [φ_0 … φ_N] and
 * normalisation: a constant state per head, exact as N → ∞; N = 1 is linear attention with
 * φ(x) = [1, x] (score 1 + s), the paper's "first-order approximation". Odd N can give a
 * non-positive denominator for large negative scores (the Taylor polynomial is not positive).
 */
export class SoftmaxRnn extends LinearMixer<SoftmaxRnnConfig> {
  constructor(config: SoftmaxRnnConfig, options: ModuleOptions = {}) {
    super(parseConfig('softmax-rnn', softmaxRnnSchema, config), options);
  }

  get order(): number {
    return this.config.order ?? 2;
  }

  protected inputs(
    q: tf.Tensor4D,
    k: tf.Tensor4D,
    v: tf.Tensor4D,
    _x: tf.Tensor3D,
    _c: MixerContext,
  ): LinearInputs {
    const root = Math.pow(this.headDim, 0.25); // q'·k' = q·k/√d, softmax's logit
    return {
      q: taylorFeatures(tf.div(q, root), this.order) as tf.Tensor4D,
      k: taylorFeatures(tf.div(k, root), this.order) as tf.Tensor4D,
      v,
      options: { normalize: true },
    };
  }
}

register('softmax-rnn', (c, o) => new SoftmaxRnn(c, o), softmaxRnnSchema, {
  category: 'mixer',
  estimate: (c: SoftmaxRnnConfig) => estimateOf(projectedParameters(c)),
  info: {
    paper:
      'Mongaras & Larson 2025, On the Expressiveness of Softmax Attention: A Recurrent Neural Network Perspective',
    equation:
      'sec. 3: exp(qᵀk) = Σ_n ⟨φ_n(q), φ_n(k)⟩, φ_n = n-th tensor power/√n!; numerator and denominator as sums of linear RNNs',
    summary:
      'softmax attention as a sum of linear-attention RNNs truncated at order N: constant state, N = 1 is linear attention',
    example: { type: 'softmax-rnn', dModel: 8, numHeads: 2, order: 2 },
  },
});
