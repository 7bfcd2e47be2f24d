import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
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
import { LinearMixer, linearMixerParameters, type LinearInputs } from './base';
import { causalOnly } from './causal-only';
import { linearFields } from './config';

/** 'retnet': multi-scale retention (Sun et al. 2023, eqs. 5-8, sec. 2.2). */
export const retnetSchema = z.strictObject({
  type: z.literal('retnet'),
  ...linearFields,
});
export type RetNetConfig = z.input<typeof retnetSchema>;

/** γ_h = 1 - 2^(-5-h), h = 0 .. heads-1 (sec. 2.2, "multi-scale"). */
export function retentionDecays(heads: number): number[] {
  return Array.from({ length: heads }, (_, h) => 1 - 2 ** (-5 - h));
}

/**
 * Multi-scale retention, "Retentive Network" (Sun et al. 2023): per head
 * Retention(X) = (Q Kᵀ ⊙ D) V with D_nm = γ^(n-m) for n >= m (eq. 5, parallel), the same as
 * S_n = γ S_{n-1} + k_nᵀ v_n, o_n = q_n S_n (eq. 6, recurrent) and its chunkwise form (eq. 7):
 * all three are `linearAttention` with `decay: γ_h`, no softmax and no normaliser; q·k is
 * scaled by 1/√d. Then (sec. 2.2, eq. 8) Y = GroupNorm(heads) with one group per head (no affine,
 * as the paper writes it) and MSR(X) = (swish(X W_G) ⊙ Y) W_O. Sec. 2.2's other two
 * normalisations (of D's rows and of the retention scores) divide each token's head by a positive
 * number, which GroupNorm removes, so they are left out. The paper rotates q and k with xPos;
 * here any rotary encoding of the context does (capabilities.positional ['rotate']).
 */
export class RetNet extends LinearMixer<RetNetConfig> {
  /** W_G, the swish gate (eq. 8). */
  readonly g: Linear;
  readonly decays: number[];

  constructor(config: RetNetConfig, options: ModuleOptions = {}) {
    super(causalOnly(parseConfig('retnet', retnetSchema, config)), options);
    const { dModel, bias } = this.config;
    const width = this.layout.outputHeads * this.layout.valueDim;
    const gate = new Linear(
      { inFeatures: dModel, outFeatures: width, bias: bias ?? false },
      {
        rng: this.rng,
      },
    );
    this.g = this.addModule('g', gate);
    this.decays = retentionDecays(this.layout.queryHeads);
  }

  /** Retention decays towards the past: causal only. */
  override get capabilities(): MixerCapabilities {
    return { ...super.capabilities, causal: 'only' };
  }

  protected inputs(
    q: tf.Tensor4D,
    k: tf.Tensor4D,
    v: tf.Tensor4D,
    _x: tf.Tensor3D,
    _c: MixerContext,
  ): LinearInputs {
    return { q, k, v, options: { scale: 1 / Math.sqrt(this.headDim), decay: this.decays } };
  }

  protected override finish(heads: tf.Tensor4D, x: tf.Tensor3D): tf.Tensor4D {
    const { outputHeads, valueDim } = this.layout;
    const gate = splitHeads(this.g.forward(x), outputHeads, valueDim);
    const swish = tf.mul(gate, tf.sigmoid(gate));
    return tf.mul(swish, headNorm(heads, 'group')) as tf.Tensor4D;
  }
}

register('retnet', (c, o) => new RetNet(c, o), retnetSchema, {
  category: 'mixer',
  // Projections and the swish gate W_G; the decays are one number per head.
  estimate: (c) => estimateOf(linearMixerParameters(c, true), 8 * c.numHeads),
  info: {
    paper:
      'Sun et al. 2023, Retentive Network: A Successor to Transformer for Large Language Models',
    equation:
      'eqs. 5-7 (parallel, recurrent, chunkwise retention), eq. 8 (GroupNorm, swish gate); γ_h = 1 - 2^(-5-h)',
    summary: 'multi-scale retention: per-head decayed linear attention, GroupNorm, swish gate',
    example: { type: 'retnet', dModel: 16, numHeads: 2 },
  },
});
