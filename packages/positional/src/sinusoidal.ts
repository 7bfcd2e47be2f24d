import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type {
  FusedDecoderPositional,
  FusedDecodingContext,
  ModuleOptions,
  PositionalEncoding,
} from '@attnkit/core';
import {
  ConfigError,
  Module,
  checkInt,
  checkNumber,
  checkShape,
  register,
  parseConfig,
  estimateOf,
} from '@attnkit/core';
import { positionTable, toPositions } from './util';

/**
 * Fixed sinusoidal position embedding (Vaswani et al. 2017, sec. 3.5):
 * PE(pos, 2i) = sin(pos / base^(2i/dim)), PE(pos, 2i+1) = cos(pos / base^(2i/dim)).
 * Returns `[positions, dim]`; sines and cosines interleave as in the paper.
 */
export function sinusoidalEmbedding(
  positions: tf.Tensor1D | readonly number[],
  dim: number,
  base = 10000,
): tf.Tensor2D {
  checkInt('sinusoidal', 'dim', dim, 2);
  if (dim % 2 !== 0) throw new ConfigError('sinusoidal', 'dim', 'an even integer', String(dim));
  checkNumber('sinusoidal', 'base', base, { min: 1, minExclusive: true });
  return tf.tidy(() => {
    const pos = toPositions('sinusoidal', 'positions', positions);
    const invFreq = Array.from({ length: dim / 2 }, (_, i) => Math.pow(base, (-2 * i) / dim));
    const angles = tf.mul(tf.expandDims(pos, 1), tf.tensor2d(invFreq, [1, dim / 2]));
    // stack on a new last axis then flatten: [sin0, cos0, sin1, cos1, ...]
    const pairs = tf.stack([tf.sin(angles), tf.cos(angles)], 2);
    return tf.reshape(pairs, [pos.shape[0], dim]) as tf.Tensor2D;
  });
}

export const sinusoidalSchema = z.strictObject({
  type: z.literal('sinusoidal').default('sinusoidal'),
  dim: z.number().int().positive(),
  base: z.number().positive().default(10000),
});
export type SinusoidalConfig = z.input<typeof sinusoidalSchema>;

/** Adds the fixed sinusoidal embedding to token embeddings `[batch, time, dim]`. No parameters. */
export class SinusoidalPositional
  extends Module<z.output<typeof sinusoidalSchema>>
  implements PositionalEncoding
{
  readonly kind = 'embed' as const;

  constructor(config: SinusoidalConfig, options: ModuleOptions = {}) {
    const c = parseConfig('sinusoidal', sinusoidalSchema, config);
    if (c.dim % 2 !== 0)
      throw new ConfigError('sinusoidal', 'dim', 'an even integer', String(c.dim));
    super(c, options);
  }

  embed(x: tf.Tensor3D, positions: tf.Tensor1D): tf.Tensor3D {
    checkShape('sinusoidal', 'x', x, [null, null, this.config.dim]);
    return tf.tidy(() => {
      const pos = toPositions('sinusoidal', 'positions', positions, x.shape[1]);
      return tf.add(x, sinusoidalEmbedding(pos, this.config.dim, this.config.base)) as tf.Tensor3D;
    });
  }

  /** Its part of a fused decoder's spec (contract 7): the vectors it adds, as a table. */
  fusedDecoding(context: FusedDecodingContext): FusedDecoderPositional {
    return { positionTable: positionTable(this, context.maxLength, context.dModel) };
  }
}

register('sinusoidal', (c, o) => new SinusoidalPositional(c, o), sinusoidalSchema, {
  category: 'positional',
  estimate: (c) => estimateOf(0, (c.dim / 2) * 8),
  info: {
    paper: 'Vaswani et al. 2017, Attention Is All You Need',
    equation: 'sec. 3.5',
    summary: 'Fixed sine-cosine absolute position embedding.',
    example: { type: 'sinusoidal', dim: 4 },
  },
});
