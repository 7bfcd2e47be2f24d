import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  estimateOf,
  parseConfig,
  register,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
} from '@attnkit/core';
import { LinearMixer, linearMixerParameters, type LinearInputs } from './base';
import { linearFields } from './config';

/** 'lln': Linear Log-Normal attention (Nahshan et al. 2023). */
export const llnSchema = z.strictObject({
  type: z.literal('lln'),
  ...linearFields,
  /**
   * Weight of this batch's statistics in the kept estimates of σ_q, σ_k (default 1: the paper's
   * batch statistics; below 1 a running average, as batch norm keeps).
   */
  momentum: z.number().gt(0).max(1).optional(),
});
export type LlnConfig = z.input<typeof llnSchema>;

// The paper's linear fit between SA's and LLN's log-variances (sec. 4, moment matching; the
// values of the authors' released code).
const FIT_A = 0.14855178144710912;
const FIT_B = -0.35487039130661086;

/**
 * Linear Log-Normal attention (Nahshan et al. 2023, "Linear Log-Normal Attention with Unbiased
 * Concentration", sec. 4): φ_q(q) = exp(α q), φ_k(k) = exp(β k), normalised causal linear
 * attention, whose weights are log-normal like softmax's. Moment matching (sec. 4) picks α, β
 * so that LLN's log-variance σ²_lln = α²σ_q² + β²σ_k² = 2σ̃² maps onto softmax's σ²_sm = σ_q²σ_k²
 * through the paper's fit σ²_sm = a σ²_lln + b:
 *
 *   σ̃² = (σ_q² σ_k² − b) / (2a),   α = σ̃ / σ_q,   β = σ̃ / σ_k
 *
 * with σ_q, σ_k the standard deviations of all query / key entries (unbiased) and the paper's
 * fitted a, b. α, β carry no gradient (the paper computes them under no_grad). A training call
 * without a state measures σ_q, σ_k on its batch and folds them into kept estimates (momentum 1,
 * the default: the batch's own, as the paper does); it then uses the kept estimates, as every
 * evaluation call and every decoding step does, so cached decoding equals the full forward.
 * Because a training call's statistics span the whole sequence, a later token can move earlier
 * outputs there (strictlyCausal: false); evaluation and decoding are causal. Each query is
 * shifted by its own max before exp (a per-row factor that cancels in the normalisation); keys
 * are not, since a shift over keys would depend on tokens not seen yet when decoding (so very
 * large σ̃·k can overflow exp in float32). The paper's LLN+Diag variant (block-diagonal softmax
 * averaged in) is not part of this mixer.
 */
export class Lln extends LinearMixer<LlnConfig> {
  /** Kept estimates of σ_q and σ_k (non-trainable; saved with the weights). */
  readonly sigmaQ: tf.Variable;
  readonly sigmaK: tf.Variable;

  constructor(config: LlnConfig, options: ModuleOptions = {}) {
    super(parseConfig('lln', llnSchema, config), options);
    this.sigmaQ = this.addParameter('sigmaQ', tf.scalar(1), false);
    this.sigmaK = this.addParameter('sigmaK', tf.scalar(1), false);
  }

  /** Training calls measure σ over the whole sequence: not strictly causal (see the class note). */
  override get capabilities(): MixerCapabilities {
    return { ...super.capabilities, strictlyCausal: false };
  }

  protected inputs(
    q: tf.Tensor4D,
    k: tf.Tensor4D,
    v: tf.Tensor4D,
    _x: tf.Tensor3D,
    context: MixerContext,
  ): LinearInputs {
    if ((context.training ?? this.training) && !context.state) {
      const m = this.config.momentum ?? 1;
      const fold = (kept: tf.Variable, x: tf.Tensor) =>
        kept.assign(tf.add(tf.mul(kept, 1 - m), tf.mul(unbiasedStd(x), m)) as tf.Scalar);
      fold(this.sigmaQ, q);
      fold(this.sigmaK, k);
    }
    // Read through the variables: no gradient reaches q or k through α, β.
    const product = tf.mul(tf.square(this.sigmaQ), tf.square(this.sigmaK));
    const tilde = tf.sqrt(tf.div(tf.sub(product, FIT_B), 2 * FIT_A));
    const aq = tf.mul(q, tf.div(tilde, this.sigmaQ));
    const fq = tf.exp(tf.sub(aq, tf.max(aq, -1, true)));
    const fk = tf.exp(tf.mul(k, tf.div(tilde, this.sigmaK)));
    return { q: fq as tf.Tensor4D, k: fk as tf.Tensor4D, v, options: { normalize: true } };
  }
}

/** Standard deviation of every entry (n − 1 in the denominator, as torch.std). */
function unbiasedStd(x: tf.Tensor): tf.Tensor {
  const n = x.size;
  const centred = tf.sub(x, tf.mean(x));
  return tf.sqrt(tf.div(tf.sum(tf.square(centred)), Math.max(n - 1, 1)));
}

register('lln', (c, o) => new Lln(c as LlnConfig, o), llnSchema, {
  category: 'mixer',
  // The kept σ_q, σ_k are two non-trainable scalars.
  estimate: (c) => estimateOf(linearMixerParameters(c) + 2),
  info: {
    paper:
      'Nahshan et al. 2023, Linear Log-Normal Attention with Unbiased Concentration (ICLR 2024)',
    equation:
      'sec. 4: φ_q = exp(αq), φ_k = exp(βk); moment matching σ̃² = (σ_q²σ_k² − b)/(2a), α = σ̃/σ_q, β = σ̃/σ_k',
    summary:
      'exponential feature maps whose log-normal weights match softmax attention in variance; constant-state decoding',
    example: { type: 'lln', dModel: 8, numHeads: 2 },
  },
});
