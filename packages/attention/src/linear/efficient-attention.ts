import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  estimateOf,
  parseConfig,
  register,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
} from '@attnkit/core';
import { LinearMixer, linearMixerParameters, type LinearInputs } from './base';
import { linearFields } from './config';
import type { LinearState } from './state';

const { causal: _causal, chunkSize: _chunkSize, ...fields } = linearFields;

/** 'efficient-attention': ρ_q(Q) (ρ_k(K)ᵀ V) (Shen et al. 2021, eqs. 3-4); encoder only. */
export const efficientAttentionSchema = z.strictObject({
  type: z.literal('efficient-attention'),
  ...fields,
  /** Bidirectional only: the paper defines no causal form. */
  causal: z.literal(false).optional(),
  /**
   * ρ_q, ρ_k: 'softmax' (default; softmax over each query's features and over the positions of
   * each key feature, eq. 4) or 'scaling' (both divided by √T: (1/T) Q Kᵀ V exactly, eq. 3).
   */
  normalization: z.enum(['softmax', 'scaling']).optional(),
});
export type EfficientAttentionConfig = z.input<typeof efficientAttentionSchema>;

/**
 * Efficient Attention, "Efficient Attention: Attention with Linear Complexities" (Shen et al.
 * 2021): E(Q, K, V) = ρ_q(Q) (ρ_k(K)ᵀ V) (eq. 3) with ρ_q = softmax over each query's features
 * and ρ_k = softmax over the positions, per key feature (eq. 4). Each of the dk columns of
 * ρ_k(K)ᵀ V is a global "template" read by every query, so it sees the whole input: the paper
 * gives no causal form (a prefix softmax over time would be another method), so it is encoder
 * only: no causal use, no decoding. Runs the op's bidirectional forms ('chunk' = Q (KᵀV), or the
 * quadratic 'parallel').
 */
export class EfficientAttention extends LinearMixer<EfficientAttentionConfig> {
  constructor(config: EfficientAttentionConfig, options: ModuleOptions = {}) {
    super(parseConfig('efficient-attention', efficientAttentionSchema, config), options);
  }

  /** Sees the whole input: never causal, no decoding state; no positional kind of its own. */
  override get capabilities(): MixerCapabilities {
    return {
      ...super.capabilities,
      causal: 'never',
      decoding: false,
      stateGrowth: 'none',
      positional: [],
    };
  }

  override initState(_batch: number): LinearState {
    throw new ConfigError(
      'efficient-attention',
      'initState',
      'a mixer that decodes (it sees the whole input)',
      'efficient-attention',
    );
  }

  protected override isCausal(_context: MixerContext): boolean {
    return false;
  }

  protected inputs(
    q: tf.Tensor4D,
    k: tf.Tensor4D,
    v: tf.Tensor4D,
    _x: tf.Tensor3D,
    _c: MixerContext,
  ): LinearInputs {
    if (this.config.normalization === 'scaling') {
      const s = 1 / Math.sqrt(q.shape[2]);
      return { q: tf.mul(q, s) as tf.Tensor4D, k: tf.mul(k, s) as tf.Tensor4D, v };
    }
    // k is [b, h, time, dk]: softmax over time = softmax of the transpose's last axis.
    const keys = tf.transpose(tf.softmax(tf.transpose(k, [0, 1, 3, 2])), [0, 1, 3, 2]);
    return { q: tf.softmax(q) as tf.Tensor4D, k: keys as tf.Tensor4D, v };
  }
}

register('efficient-attention', (c, o) => new EfficientAttention(c, o), efficientAttentionSchema, {
  category: 'mixer',
  estimate: (c) => estimateOf(linearMixerParameters(c)),
  info: {
    paper: 'Shen et al. 2021, Efficient Attention: Attention with Linear Complexities',
    equation:
      'eq. 3: E = ρ_q(Q)(ρ_k(K)ᵀV); eq. 4: ρ_q = softmax over features, ρ_k = softmax over positions',
    summary:
      'factorised softmax attention of linear cost: global templates ρ_k(K)ᵀV read by every query; encoder only',
    example: { type: 'efficient-attention', dModel: 16, numHeads: 2 },
  },
});
