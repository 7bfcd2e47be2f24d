import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { Module, parseConfig, type ModuleOptions } from '@attnkit/core';
import { headNorm } from '../ops/head-norm';

export const headNormSchema = z.strictObject({
  kind: z.enum(['rms', 'group']),
  heads: z.number().int().positive(),
  dim: z.number().int().positive(),
  eps: z.number().positive().optional(),
});

export type HeadNormConfig = z.input<typeof headNormSchema>;

/** Parameters of a HeadNorm, before building: one gain [dim] ('rms'), gain and bias [heads·dim] ('group'). */
export function headNormParameters(kind: 'rms' | 'group', heads: number, dim: number): number {
  return kind === 'group' ? 2 * heads * dim : dim;
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
    super(parseConfig('head-norm', headNormSchema, config), options);
    const perChannel = this.config.kind === 'group';
    const shape = perChannel ? [this.config.heads, 1, this.config.dim] : [this.config.dim];
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
