import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  type Estimate,
  Linear,
  estimateOf,
  parseConfig,
  register,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
} from '@attnkit/core';
import { headNorm } from '../ops/head-norm';
import { splitHeads } from '../softmax/heads';
import { headLayout } from '../softmax/projected';
import { LinearMixer, linearMixerParameters, type LinearInputs } from './base';
import { causalOnly } from './causal-only';
import { linearFields } from './config';

/** 'gla': gated linear attention (Yang et al. 2024). */
export const glaSchema = z.strictObject({
  type: z.literal('gla'),
  ...linearFields,
  /** Rank of the gate's low-rank projection W1 W2 (default 16, the paper's). */
  gateRank: z.number().int().positive().optional(),
  /** τ in α = σ(x W1 W2 + b)^(1/τ) (default 16, the paper's). */
  gateTemperature: z.number().positive().optional(),
});
export type GLAConfig = z.input<typeof glaSchema>;

/**
 * Gated Linear Attention, "Gated Linear Attention Transformers with Hardware-Efficient Training"
 * (Yang et al. 2024, sec. 4): per head S_t = (α_tᵀ 1) ⊙ S_{t-1} + k_tᵀ v_t, o_t = q_t S_t, with a
 * data-dependent decay per key dimension α_t = σ(x_t W1 W2 + b)^(1/τ) ∈ (0, 1)^dk from a low-rank
 * projection (rank 16, τ = 16). The op takes it as the log decay log σ(·)/τ <= 0
 * (`gate` [b, h, t, dk]), so its chunked form is GLA's chunkwise form in log space. Then each
 * head is normalised (LayerNorm without affine) and gated: y = (swish(x W_r) ⊙ Norm(O)) W_O.
 * q·k is scaled by 1/√dk (the authors' implementation; the head norm makes it matter only near
 * ε). The paper adds no positional encoding; a rotary one from the context is accepted.
 */
export class GLA extends LinearMixer<GLAConfig> {
  /** W1 [dModel, rank] and W2 [rank, heads·dk] (+ b) of the forget gate. */
  readonly a1: Linear;
  readonly a2: Linear;
  /** W_r, the output gate. */
  readonly r: Linear;

  constructor(config: GLAConfig, options: ModuleOptions = {}) {
    super(causalOnly(parseConfig('gla', glaSchema, config)), options);
    const { dModel, bias, gateRank = 16 } = this.config;
    const { queryHeads, outputHeads, valueDim } = this.layout;
    const sub = { rng: this.rng };
    const linear = (inFeatures: number, outFeatures: number, withBias: boolean) =>
      new Linear({ inFeatures, outFeatures, bias: withBias }, sub);
    this.a1 = this.addModule('a1', linear(dModel, gateRank, false));
    this.a2 = this.addModule('a2', linear(gateRank, queryHeads * this.headDim, true));
    this.r = this.addModule('r', linear(dModel, outputHeads * valueDim, bias ?? false));
  }

  /** The gate forgets towards the past: causal only. */
  override get capabilities(): MixerCapabilities {
    return { ...super.capabilities, causal: 'only' };
  }

  protected inputs(
    q: tf.Tensor4D,
    k: tf.Tensor4D,
    v: tf.Tensor4D,
    x: tf.Tensor3D,
    _c: MixerContext,
  ): LinearInputs {
    const tau = this.config.gateTemperature ?? 16;
    const logits = this.a2.forward(this.a1.forward(x));
    // log α = log σ(·)/τ <= 0 by construction: the op need not read it back to check.
    const gate = tf.div(
      // log σ(x) = -softplus(-x): tfjs' own logSigmoid gradient fails on wasm.
      splitHeads(tf.neg(tf.softplus(tf.neg(logits))), this.layout.queryHeads, this.headDim),
      tau,
    );
    const options = { gate, scale: 1 / Math.sqrt(this.headDim), checkValues: false };
    return { q, k, v, options };
  }

  protected override finish(heads: tf.Tensor4D, x: tf.Tensor3D): tf.Tensor4D {
    const { outputHeads, valueDim } = this.layout;
    const r = splitHeads(this.r.forward(x), outputHeads, valueDim);
    return tf.mul(tf.mul(r, tf.sigmoid(r)), headNorm(heads, 'group')) as tf.Tensor4D;
  }
}

/** Projections, the output gate W_r, and the low-rank forget gate W1 [dModel, r], W2 [r, heads·dk] + b. */
function estimateGla(c: GLAConfig): Estimate {
  const rank = c.gateRank ?? 16;
  const { queryHeads, headDim } = headLayout(c);
  const gate = c.dModel * rank + (rank + 1) * queryHeads * headDim;
  return estimateOf(linearMixerParameters(c, true) + gate);
}

register('gla', (c, o) => new GLA(c, o), glaSchema, {
  category: 'mixer',
  estimate: estimateGla,
  info: {
    paper: 'Yang et al. 2024, Gated Linear Attention Transformers with Hardware-Efficient Training',
    equation:
      'sec. 4: S_t = (α_tᵀ 1) ⊙ S_{t-1} + k_tᵀ v_t, its chunkwise form, the layer (α = σ(x W1 W2 + b)^(1/τ), τ = 16; swish output gate)',
    summary: 'linear attention with a data-dependent forget gate per key dimension',
    example: { type: 'gla', dModel: 16, numHeads: 2, gateRank: 4 },
  },
});
