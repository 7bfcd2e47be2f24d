import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type {
  FusedDecoderPositional,
  FusedDecodingContext,
  ModuleOptions,
  PositionalEncoding,
} from '@attnkit/core';
import { Module, ShapeError, checkShape, register, parseConfig, estimateOf } from '@attnkit/core';
import { lookupRows, normalInit, positionTable, toPositions } from './util';

export const learnedSchema = z.strictObject({
  type: z.literal('learned').default('learned'),
  maxLength: z.number().int().positive(),
  dim: z.number().int().positive(),
});
export type LearnedConfig = z.input<typeof learnedSchema>;

/**
 * Learned absolute position embeddings (Gehring et al. 2017; GPT, BERT): a `[maxLength, dim]`
 * table, row `p` added to the token at position `p`. Initialised N(0, 0.02) as in GPT-2.
 */
export class LearnedPositional
  extends Module<z.output<typeof learnedSchema>>
  implements PositionalEncoding
{
  readonly kind = 'embed' as const;
  readonly weight: tf.Variable;

  constructor(config: LearnedConfig, options: ModuleOptions = {}) {
    super(parseConfig('learned', learnedSchema, config), options);
    const { maxLength, dim } = this.config;
    this.weight = this.addParameter('weight', normalInit(this.rng, [maxLength, dim], 0.02));
  }

  embed(x: tf.Tensor3D, positions: tf.Tensor1D): tf.Tensor3D {
    checkShape('learned', 'x', x, [null, null, this.config.dim]);
    return tf.tidy(() => {
      const pos = toPositions('learned', 'positions', positions, x.shape[1]);
      this.checkRange(pos);
      const rows = lookupRows(this.weight, tf.cast(pos, 'int32'));
      return tf.add(x, rows) as tf.Tensor3D;
    });
  }

  /** Its part of a fused decoder's spec (contract 7): the rows it adds, as a table. */
  fusedDecoding(context: FusedDecodingContext): FusedDecoderPositional {
    return { positionTable: positionTable(this, context.maxLength, context.dModel) };
  }

  /** Positions are data, so this reads them back (one small sync) to fail loudly, not gather zeros. */
  private checkRange(pos: tf.Tensor1D): void {
    const values = pos.dataSync();
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of values) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    const { maxLength } = this.config;
    if (values.length > 0 && (lo < 0 || hi >= maxLength || !values.every(Number.isInteger))) {
      throw new ShapeError(
        'learned',
        'positions',
        `integers in [0, maxLength=${maxLength})`,
        `values from ${lo} to ${hi}`,
      );
    }
  }
}

register('learned', (c, o) => new LearnedPositional(c, o), learnedSchema, {
  category: 'positional',
  estimate: (c) => estimateOf(c.maxLength * c.dim),
  info: {
    paper: 'Gehring et al. 2017, Convolutional Sequence to Sequence Learning',
    summary: 'Learned absolute position table added to the token embeddings.',
    example: { type: 'learned', maxLength: 8, dim: 4 },
  },
});
