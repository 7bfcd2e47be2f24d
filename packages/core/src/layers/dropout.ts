import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { Module, type ModuleOptions } from '../module';
import { parseConfig, register } from '../registry';
import { estimateOf } from '../limits';

export const dropoutSchema = z.strictObject({
  type: z.literal('dropout'),
  rate: z.number().min(0).lt(1),
});

export type DropoutConfig = z.input<typeof dropoutSchema>;

/** Inverted dropout (Srivastava et al. 2014); seeds each call from the module's generator. */
export class Dropout extends Module<DropoutConfig> {
  constructor(
    config: Omit<DropoutConfig, 'type'> & { type?: 'dropout' },
    options: ModuleOptions = {},
  ) {
    super(parseConfig('dropout', dropoutSchema, { ...config, type: 'dropout' }), options);
  }

  forward(x: tf.Tensor, training = this.training): tf.Tensor {
    const rate = this.config.rate;
    if (!training || rate === 0) return tf.clone(x);
    const seed = this.rng.nextUint32();
    return tf.tidy(() => {
      const keep = tf.cast(
        tf.greaterEqual(tf.randomUniform(x.shape, 0, 1, 'float32', seed), rate),
        'float32',
      );
      return tf.mul(x, tf.div(keep, 1 - rate));
    });
  }
}

register('dropout', (c: DropoutConfig, o) => new Dropout(c, o), dropoutSchema, {
  estimate: () => estimateOf(0),
  category: 'layer',
  info: {
    paper: 'Srivastava et al. 2014, Dropout',
    summary: "Inverted dropout seeded from the module's generator; identity outside training.",
    example: { type: 'dropout', rate: 0.1 },
  },
});
