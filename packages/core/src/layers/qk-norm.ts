import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { Module, type ModuleOptions } from '../module';
import { parseConfig, register } from '../registry';
import { estimateOf } from '../limits';
import { checkLastAxis } from '../checks';
import { layerNorm } from './layer-norm';
import { rmsNorm } from './rms-norm';

export const qkNormSchema = z.strictObject({
  type: z.literal('qk-norm'),
  headDim: z.number().int().positive(),
  norm: z.enum(['rms', 'layer', 'l2']).optional(),
  eps: z.number().positive().optional(),
});

export type QKNormConfig = z.input<typeof qkNormSchema>;

/**
 * Normalises queries or keys per head over headDim before the dot product
 * (Henry et al. 2020 uses l2; Dehghani et al. 2023, ViT-22B, LayerNorm; OLMo 2 RMSNorm).
 * 'rms' and 'layer' carry a learned gain; 'l2' carries none (the scale is set by the mixer).
 */
export class QKNorm extends Module<QKNormConfig> {
  readonly weight: tf.Variable | null;

  constructor(
    config: Omit<QKNormConfig, 'type'> & { type?: 'qk-norm' },
    options: ModuleOptions = {},
  ) {
    super(parseConfig('qk-norm', qkNormSchema, { ...config, type: 'qk-norm' }), options);
    this.weight =
      (config.norm ?? 'rms') === 'l2'
        ? null
        : this.addParameter('weight', tf.ones([config.headDim]));
  }

  forward(x: tf.Tensor): tf.Tensor {
    checkLastAxis('qk-norm', 'x', x, this.config.headDim);
    const eps = this.config.eps ?? 1e-6;
    return tf.tidy(() => {
      const kind = this.config.norm ?? 'rms';
      if (kind === 'l2') return tf.div(x, tf.maximum(tf.norm(x, 'euclidean', -1, true), eps));
      return kind === 'rms' ? rmsNorm(x, eps, this.weight!) : layerNorm(x, eps, this.weight!);
    });
  }
}

register('qk-norm', (c: QKNormConfig, o) => new QKNorm(c, o), qkNormSchema, {
  estimate: (c) => estimateOf((c.norm ?? 'rms') === 'l2' ? 0 : c.headDim),
  category: 'norm',
  info: {
    paper: 'Henry et al. 2020, Query-Key Normalization; Dehghani et al. 2023, ViT-22B',
    summary:
      'Normalises queries or keys per head (l2, LayerNorm or RMSNorm) before the dot product.',
    example: { type: 'qk-norm', headDim: 4 },
  },
});
