import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { Module, type ModuleOptions } from '../module';
import { parseConfig, register } from '../registry';
import { estimateOf } from '../limits';
import { checkLastAxis, checkShape } from '../checks';
import type { FusedDecoderNorm } from '../fused-decoder';
import { fusedValues } from './fused-values';
import { addLayerNormKernel, layerNormKernel } from './norm-kernel';
import type { ResidualNorm } from './residual-norm';

export const layerNormSchema = z.strictObject({
  type: z.literal('layer-norm'),
  dim: z.number().int().positive(),
  eps: z.number().positive().optional(),
  affine: z.boolean().optional(),
  bias: z.boolean().optional(),
});

export type LayerNormConfig = z.input<typeof layerNormSchema>;

/**
 * Normalises the last axis to zero mean and unit variance, then times `weight` and plus `bias`
 * ([dim] each) when given (Ba et al. 2016, eq. 4). One fused kernel with its gradient where the
 * backend has it.
 */
export function layerNorm(
  x: tf.Tensor,
  eps = 1e-5,
  weight?: tf.Tensor,
  bias?: tf.Tensor,
): tf.Tensor {
  const fused = layerNormKernel(x, eps, weight, bias);
  if (fused) return fused;
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true);
    let y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
    if (weight) y = tf.mul(y, weight);
    return bias ? tf.add(y, bias) : y;
  });
}

/** [sum, layerNorm(sum)] with sum = x + residual, fused where the backend has it (see addRmsNorm). */
export function addLayerNorm(
  x: tf.Tensor,
  residual: tf.Tensor,
  eps = 1e-5,
  weight?: tf.Tensor,
  bias?: tf.Tensor,
): [tf.Tensor, tf.Tensor] {
  const fused = addLayerNormKernel(x, residual, eps, weight, bias);
  if (fused) return fused;
  return tf.tidy(() => {
    const sum = tf.add(x, residual);
    return [sum, layerNorm(sum, eps, weight, bias)];
  });
}

export class LayerNorm extends Module<LayerNormConfig> implements ResidualNorm {
  readonly weight: tf.Variable | null;
  readonly bias: tf.Variable | null;

  constructor(
    config: Omit<LayerNormConfig, 'type'> & { type?: 'layer-norm' },
    options: ModuleOptions = {},
  ) {
    super(parseConfig('layer-norm', layerNormSchema, { ...config, type: 'layer-norm' }), options);
    const affine = config.affine ?? true;
    this.weight = affine ? this.addParameter('weight', tf.ones([config.dim])) : null;
    this.bias =
      affine && (config.bias ?? true) ? this.addParameter('bias', tf.zeros([config.dim])) : null;
  }

  /** The config's eps, or the default 1e-5. */
  get eps(): number {
    return this.config.eps ?? 1e-5;
  }

  forward(x: tf.Tensor): tf.Tensor {
    checkLastAxis('layer-norm', 'x', x, this.config.dim);
    return layerNorm(x, this.eps, this.weight ?? undefined, this.bias ?? undefined);
  }

  addAndNorm(x: tf.Tensor, residual: tf.Tensor): [tf.Tensor, tf.Tensor] {
    checkLastAxis('layer-norm', 'x', x, this.config.dim);
    checkShape('layer-norm', 'residual', residual, x.shape);
    const [w, b] = [this.weight ?? undefined, this.bias ?? undefined];
    return addLayerNorm(x, residual, this.eps, w, b);
  }

  /** Its part of a fused decoder's spec (contract 7). */
  fusedDecoding(): FusedDecoderNorm {
    return {
      kind: 'layer-norm',
      eps: this.eps,
      weight: this.weight ? fusedValues(this.weight) : undefined,
      bias: this.bias ? fusedValues(this.bias) : undefined,
    };
  }
}

register('layer-norm', (c: LayerNormConfig, o) => new LayerNorm(c, o), layerNormSchema, {
  estimate: (c) => estimateOf((c.affine ?? true) ? c.dim * ((c.bias ?? true) ? 2 : 1) : 0),
  category: 'norm',
  info: {
    paper: 'Ba et al. 2016, Layer Normalization',
    equation: 'eq. 4',
    summary: 'Zero mean, unit variance over the last axis, then gain and bias.',
    example: { type: 'layer-norm', dim: 4 },
  },
});
