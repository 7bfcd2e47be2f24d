import type * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  estimateOf,
  parseConfig,
  register,
  type MixerContext,
  type ModuleOptions,
} from '@attnkit/core';
import { featureMaps, makeFeatureMap, type FeatureMap } from '../ops/feature-maps';
import { LinearMixer, linearMixerParameters, type LinearInputs } from './base';
import { linearFields } from './config';

/** 'linear-attention': φ(Q)(φ(K)ᵀV) normalised by φ(Q)·Σφ(K) (Katharopoulos et al. 2020, eqs. 4-6, 9). */
export const linearAttentionSchema = z.strictObject({
  type: z.literal('linear-attention'),
  ...linearFields,
  /** φ: 'elu+1' (the paper's, default), 'relu', or any registered deterministic map. */
  featureMap: z.string().optional(),
  /** Divide by φ(q)·Σφ(k) (eq. 6; default true). */
  normalize: z.boolean().optional(),
});
export type LinearAttentionConfig = z.input<typeof linearAttentionSchema>;

/**
 * Linear attention, "Transformers are RNNs" (Katharopoulos et al. 2020): softmax(q·k) replaced by
 * the kernel φ(q)·φ(k), so out_i = φ(q_i) Σ_{j≤i} φ(k_j)ᵀ v_j / φ(q_i)·Σ_{j≤i} φ(k_j) (eq. 9,
 * causal; every j with `causal: false`). Trains in the chunked form, decodes with S and z.
 */
export class LinearAttention extends LinearMixer<LinearAttentionConfig> {
  private readonly phi: FeatureMap;

  constructor(config: LinearAttentionConfig, options: ModuleOptions = {}) {
    const parsed = parseConfig('linear-attention', linearAttentionSchema, config);
    featureMaps.get(parsed.featureMap ?? 'elu+1', '$.featureMap'); // refuse before allocating
    super(parsed, options);
    this.phi = makeFeatureMap(this.config.featureMap ?? 'elu+1', { headDim: this.headDim });
  }

  protected inputs(
    q: tf.Tensor4D,
    k: tf.Tensor4D,
    v: tf.Tensor4D,
    _x: tf.Tensor3D,
    _c: MixerContext,
  ): LinearInputs {
    return {
      q: this.phi.apply(q, 'query') as tf.Tensor4D,
      k: this.phi.apply(k, 'key') as tf.Tensor4D,
      v,
      options: { normalize: this.config.normalize ?? true },
    };
  }

  override dispose(): void {
    this.phi.dispose();
    super.dispose();
  }
}

register('linear-attention', (c, o) => new LinearAttention(c, o), linearAttentionSchema, {
  category: 'mixer',
  // A deterministic feature map holds no buffers.
  estimate: (c) => estimateOf(linearMixerParameters(c)),
  info: {
    paper:
      'Katharopoulos et al. 2020, Transformers are RNNs: Fast Autoregressive Transformers with Linear Attention',
    equation: 'eqs. 4-6 (kernelised attention), 9 (causal recurrence); φ = elu + 1 (sec. 3.2)',
    summary: 'softmax replaced by a feature-map kernel: O(T) training, constant-state decoding',
    example: { type: 'linear-attention', dModel: 16, numHeads: 2 },
  },
});
