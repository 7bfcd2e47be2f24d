import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { Module, type ModuleOptions } from '../module';
import { parseConfig, register } from '../registry';
import { estimateOf } from '../limits';
import type { FeedForward } from '../contracts';
import type { FusedDecoderFeedForward } from '../fused-decoder';
import { activationNameSchema, getActivation } from './activations';
import { Linear } from './linear';
import { Dropout } from './dropout';

export const mlpSchema = z.strictObject({
  type: z.literal('mlp'),
  dim: z.number().int().positive(),
  hiddenDim: z.number().int().positive(),
  activation: activationNameSchema.optional(),
  bias: z.boolean().optional(),
  dropout: z.number().min(0).lt(1).optional(),
});

export type MLPConfig = z.input<typeof mlpSchema>;

/** Position-wise feed-forward down(act(up(x))) (Vaswani et al. 2017, eq. 2). */
export class MLP extends Module<MLPConfig> implements FeedForward {
  readonly up: Linear;
  readonly down: Linear;
  /** The activation's name (default gelu). */
  readonly activation: string;
  private readonly dropout: Dropout;
  private readonly act: (x: tf.Tensor) => tf.Tensor;

  constructor(config: Omit<MLPConfig, 'type'> & { type?: 'mlp' }, options: ModuleOptions = {}) {
    super(parseConfig('mlp', mlpSchema, { ...config, type: 'mlp' }), options);
    const bias = config.bias ?? true;
    this.activation = config.activation ?? 'gelu';
    this.act = getActivation(this.activation);
    this.up = this.addModule(
      'up',
      new Linear({ inFeatures: config.dim, outFeatures: config.hiddenDim, bias }, options),
    );
    this.down = this.addModule(
      'down',
      new Linear({ inFeatures: config.hiddenDim, outFeatures: config.dim, bias }, options),
    );
    this.dropout = this.addModule('dropout', new Dropout({ rate: config.dropout ?? 0 }, options));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.down.forward(this.dropout.forward(this.act(this.up.forward(x)))));
  }

  /** Its part of a fused decoder's spec (contract 7); dropout is off when decoding. */
  fusedDecoding(): FusedDecoderFeedForward {
    return {
      activation: this.activation,
      hiddenDim: this.config.hiddenDim,
      up: this.up.fusedDecoding(),
      down: this.down.fusedDecoding(),
    };
  }
}

register('mlp', (c: MLPConfig, o) => new MLP(c, o), mlpSchema, {
  estimate: (c) =>
    estimateOf(2 * c.dim * c.hiddenDim + ((c.bias ?? true) ? c.hiddenDim + c.dim : 0)),
  category: 'feedforward',
  info: {
    paper: 'Vaswani et al. 2017, Attention Is All You Need',
    equation: 'eq. 2',
    summary: 'Position-wise feed-forward down(act(up(x))).',
    example: { type: 'mlp', dim: 4, hiddenDim: 8 },
  },
});
