import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { Module, type ModuleOptions } from '../module';
import { parseConfig, register } from '../registry';
import { estimateOf } from '../limits';
import { checkLastAxis } from '../checks';

export const scaleNormSchema = z.strictObject({
  type: z.literal('scale-norm'),
  dim: z.number().int().positive(),
  eps: z.number().positive().optional(),
});

export type ScaleNormConfig = z.input<typeof scaleNormSchema>;

/** g · x / max(‖x‖, eps) with one learned scalar g, initialised to sqrt(dim) (Nguyen & Salazar 2019, eq. 7). */
export class ScaleNorm extends Module<ScaleNormConfig> {
  readonly scale: tf.Variable;

  constructor(
    config: Omit<ScaleNormConfig, 'type'> & { type?: 'scale-norm' },
    options: ModuleOptions = {},
  ) {
    super(parseConfig('scale-norm', scaleNormSchema, { ...config, type: 'scale-norm' }), options);
    this.scale = this.addParameter('scale', tf.scalar(Math.sqrt(config.dim)));
  }

  forward(x: tf.Tensor): tf.Tensor {
    checkLastAxis('scale-norm', 'x', x, this.config.dim);
    return tf.tidy(() => {
      const norm = tf.maximum(tf.norm(x, 'euclidean', -1, true), this.config.eps ?? 1e-5);
      return tf.mul(tf.div(x, norm), this.scale);
    });
  }
}

register('scale-norm', (c: ScaleNormConfig, o) => new ScaleNorm(c, o), scaleNormSchema, {
  estimate: () => estimateOf(1),
  category: 'norm',
  info: {
    paper: 'Nguyen & Salazar 2019, Transformers without Tears',
    equation: 'eq. 7',
    summary: 'g · x / ‖x‖ with one learned scalar g.',
    example: { type: 'scale-norm', dim: 4 },
  },
});
