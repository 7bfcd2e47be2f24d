import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { Module, type ModuleOptions } from '../module';
import { parseConfig, register } from '../registry';
import { estimateOf } from '../limits';
import { checkLastAxis, checkShape } from '../checks';
import type { FusedDecoderNorm } from '../fused-decoder';
import { fusedValues } from './fused-values';
import { addRmsNormKernel, rmsNormKernel } from './norm-kernel';
import type { ResidualNorm } from './residual-norm';

export const rmsNormSchema = z.strictObject({
  type: z.literal('rms-norm'),
  dim: z.number().int().positive(),
  eps: z.number().positive().optional(),
  affine: z.boolean().optional(),
});

export type RMSNormConfig = z.input<typeof rmsNormSchema>;

/**
 * x / sqrt(mean(x²) + eps) over the last axis, times `weight` ([dim]) when given (Zhang &
 * Sennrich 2019, eq. 4). One fused kernel with its gradient where the backend has it.
 */
export function rmsNorm(x: tf.Tensor, eps = 1e-6, weight?: tf.Tensor): tf.Tensor {
  const fused = rmsNormKernel(x, eps, weight);
  if (fused) return fused;
  return tf.tidy(() => {
    const y = tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps)));
    return weight ? tf.mul(y, weight) : y;
  });
}

/**
 * [sum, rmsNorm(sum)] with sum = x + residual: a pre-norm block's residual add and the next
 * norm, one kernel each way where the backend has it (x and residual shaped alike).
 */
export function addRmsNorm(
  x: tf.Tensor,
  residual: tf.Tensor,
  eps = 1e-6,
  weight?: tf.Tensor,
): [tf.Tensor, tf.Tensor] {
  const fused = addRmsNormKernel(x, residual, eps, weight);
  if (fused) return fused;
  return tf.tidy(() => {
    const sum = tf.add(x, residual);
    return [sum, rmsNorm(sum, eps, weight)];
  });
}

export class RMSNorm extends Module<RMSNormConfig> implements ResidualNorm {
  readonly weight: tf.Variable | null;

  constructor(
    config: Omit<RMSNormConfig, 'type'> & { type?: 'rms-norm' },
    options: ModuleOptions = {},
  ) {
    super(parseConfig('rms-norm', rmsNormSchema, { ...config, type: 'rms-norm' }), options);
    this.weight =
      (config.affine ?? true) ? this.addParameter('weight', tf.ones([config.dim])) : null;
  }

  /** The config's eps, or the default 1e-6. */
  get eps(): number {
    return this.config.eps ?? 1e-6;
  }

  forward(x: tf.Tensor): tf.Tensor {
    checkLastAxis('rms-norm', 'x', x, this.config.dim);
    return rmsNorm(x, this.eps, this.weight ?? undefined);
  }

  addAndNorm(x: tf.Tensor, residual: tf.Tensor): [tf.Tensor, tf.Tensor] {
    checkLastAxis('rms-norm', 'x', x, this.config.dim);
    checkShape('rms-norm', 'residual', residual, x.shape);
    return addRmsNorm(x, residual, this.eps, this.weight ?? undefined);
  }

  /** Its part of a fused decoder's spec (contract 7). */
  fusedDecoding(): FusedDecoderNorm {
    const weight = this.weight ? fusedValues(this.weight) : undefined;
    return { kind: 'rms-norm', eps: this.eps, weight };
  }
}

register('rms-norm', (c: RMSNormConfig, o) => new RMSNorm(c, o), rmsNormSchema, {
  estimate: (c) => estimateOf((c.affine ?? true) ? c.dim : 0),
  category: 'norm',
  info: {
    paper: 'Zhang & Sennrich 2019, Root Mean Square Layer Normalization',
    equation: 'eq. 4',
    summary: 'x / sqrt(mean(x²) + eps) times a learned gain.',
    example: { type: 'rms-norm', dim: 4 },
  },
});
