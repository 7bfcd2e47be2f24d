import type * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  estimateOf,
  parseConfig,
  register,
  type MixerContext,
  type ModuleOptions,
} from '@attnkit/core';
import { fastmaxFeatures } from '../ops/fastmax';
import { makeFeatureMap, type FeatureMap } from '../ops/feature-maps';
import { projectedParameters } from '../softmax/projected';
import { LinearMixer, type LinearInputs } from './base';
import { linearFields } from './config';

/** 'fast': Fastmax attention (Gerami et al. 2024, § 2), linear in T. */
export const fastSchema = z.strictObject({
  type: z.literal('fast'),
  ...linearFields,
});
export type FastConfig = z.input<typeof fastSchema>;

/**
 * FAST / Fastmax (Gerami et al. 2024, "FAST: Factorizable Attention for Speeding up
 * Transformers", § 2): a_ij = f(q̂_i·k̂_j) / Σ_n f(q̂_i·k̂_n) with f(s) = Σ_{ℓ≤p} s^ℓ/ℓ! at p = 2,
 * i.e. 1 + s + s²/2, on normalised q̂, k̂. f is a polynomial, so it factorises: f(q̂·k̂) =
 * φ(q̂)·φ(k̂) with φ the 'taylor' map (Based's), and attention is the normalised linear attention
 * φ(Q̂)(φ(K̂)ᵀV) / φ(Q̂)Σφ(K̂): O(T·d³) per head instead of O(T²·d), causal by prefix sums (the
 * chunked or recurrent form) or bidirectional. Normalisation: q and k are centred over their
 * features and scaled so that |q̂·k̂| ≤ 1. The authors' code divides every token by the largest
 * token norm of the sequence, which mixes positions (not causal); here each token is divided by
 * its own norm (`fastmaxNormalize`), which keeps the bound and causality. 'taylor' alone (Based)
 * differs only there: it uses s = q·k/√d, unbounded. p = 1 and dropout are not offered.
 */
export class Fast extends LinearMixer<FastConfig> {
  private readonly phi: FeatureMap;

  constructor(config: FastConfig, options: ModuleOptions = {}) {
    super(parseConfig('fast', fastSchema, config), options);
    this.phi = makeFeatureMap('taylor', { headDim: this.headDim });
  }

  protected inputs(
    q: tf.Tensor4D,
    k: tf.Tensor4D,
    v: tf.Tensor4D,
    _x: tf.Tensor3D,
    _c: MixerContext,
  ): LinearInputs {
    return {
      q: fastmaxFeatures(q, this.phi, 'query') as tf.Tensor4D,
      k: fastmaxFeatures(k, this.phi, 'key') as tf.Tensor4D,
      v,
      options: { normalize: true },
    };
  }

  override dispose(): void {
    this.phi.dispose();
    super.dispose();
  }
}

register('fast', (c, o) => new Fast(c as FastConfig, o), fastSchema, {
  category: 'mixer',
  estimate: (c: FastConfig) => estimateOf(projectedParameters(c)),
  info: {
    paper:
      'Gerami et al. 2024, FAST: Factorizable Attention for Speeding up Transformers (Fastmax)',
    equation:
      '§ 2: a_ij = f(q̂_i·k̂_j)/Σ_n f(q̂_i·k̂_n), f(s) = 1 + s + s²/2, q̂, k̂ centred and unit-norm; factorised by the Taylor feature map',
    summary:
      'Fastmax: a degree-2 polynomial score of normalised q·k, factorised into linear attention: O(T) training, constant-state decoding',
    example: { type: 'fast', dModel: 8, numHeads: 2 },
  },
});
