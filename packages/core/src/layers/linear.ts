import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { Module, type ModuleOptions } from '../module';
import { parseConfig, register } from '../registry';
import { estimateOf } from '../limits';
import { initSpecSchema, initTensor } from '../init';
import { checkLastAxis } from '../checks';
import type { FusedDecoderDense } from '../fused-decoder';
import { fusedValues } from './fused-values';
import { denseKernel } from './dense-kernel';

export const linearSchema = z.strictObject({
  type: z.literal('linear'),
  inFeatures: z.number().int().positive(),
  outFeatures: z.number().int().positive(),
  bias: z.boolean().optional(),
  init: initSpecSchema.optional(),
});

export type LinearConfig = z.input<typeof linearSchema>;

/** y = x W + b on the last axis. W is [inFeatures, outFeatures]. */
export class Linear extends Module<LinearConfig> {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;

  constructor(
    config: Omit<LinearConfig, 'type'> & { type?: 'linear' },
    options: ModuleOptions = {},
  ) {
    super(parseConfig('linear', linearSchema, { ...config, type: 'linear' }), options);
    const { inFeatures, outFeatures } = config;
    this.weight = this.addParameter(
      'weight',
      initTensor(config.init ?? 'xavier-uniform', [inFeatures, outFeatures], this.rng),
    );
    this.bias = (config.bias ?? true) ? this.addParameter('bias', tf.zeros([outFeatures])) : null;
  }

  forward(x: tf.Tensor): tf.Tensor {
    const inFeatures = this.config.inFeatures;
    checkLastAxis('linear', 'x', x, inFeatures);
    // One kernel each way where the backend fuses it (no reshapes, fewer saved copies).
    const fused = denseKernel(x, this.weight, this.bias);
    if (fused) return fused;
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      const flat = tf.reshape(x, [-1, inFeatures]);
      let y: tf.Tensor = tf.matMul(flat, this.weight);
      if (this.bias) y = tf.add(y, this.bias);
      return tf.reshape(y, [...lead, this.config.outFeatures]);
    });
  }

  /** Its part of a fused decoder's spec (contract 7): the weights, read in place. */
  fusedDecoding(): FusedDecoderDense {
    return {
      weight: fusedValues(this.weight),
      bias: this.bias ? fusedValues(this.bias) : undefined,
    };
  }
}

register('linear', (c: LinearConfig, o) => new Linear(c, o), linearSchema, {
  estimate: (c) =>
    estimateOf(c.inFeatures * c.outFeatures + ((c.bias ?? true) ? c.outFeatures : 0)),
  category: 'layer',
  info: {
    summary: 'Affine map y = x W + b on the last axis.',
    example: { type: 'linear', inFeatures: 4, outFeatures: 2 },
  },
});
