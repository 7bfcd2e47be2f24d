import * as tf from '@tensorflow/tfjs-core';
import { Module, type ModuleOptions } from '@attnkit/core';
import { headNorm, type HeadNormKind } from '../ops/head-norm';

export interface HeadNormConfig {
  kind: HeadNormKind;
  heads: number;
  dim: number;
  eps?: number;
}

/**
 * Per-head normalisation of attention outputs [batch, heads, time, dim] with its gain:
 * 'rms' carries one gain [dim] shared by the heads (the DIFF/MTA code's RMSNorm "subln");
 * 'group' is GroupNorm with one group per head, gain and bias per channel [heads·dim].
 */
export class HeadNorm extends Module<HeadNormConfig> {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;

  constructor(config: HeadNormConfig, options: ModuleOptions = {}) {
    super(config, options);
    const perChannel = config.kind === 'group';
    const shape = perChannel ? [config.heads, 1, config.dim] : [config.dim];
    this.weight = this.addParameter('weight', tf.ones(shape));
    this.bias = perChannel ? this.addParameter('bias', tf.zeros(shape)) : null;
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const y = tf.mul(headNorm(x, this.config.kind, this.config.eps ?? 1e-5), this.weight);
      return (this.bias ? tf.add(y, this.bias) : y) as tf.Tensor4D;
    });
  }
}
