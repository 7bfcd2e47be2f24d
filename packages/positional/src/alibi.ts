import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { ModuleOptions, PositionalEncoding } from '@attnkit/core';
import { Module, checkInt, register, parseConfig, estimateOf } from '@attnkit/core';
import { checkNumHeads, relativePositions, toPositions } from './util';

/** 2^(-8/n), 2^(-16/n), ..., 2^(-8): the geometric sequence for a power-of-two head count. */
function powerOfTwoSlopes(n: number): number[] {
  const start = Math.pow(2, -8 / n);
  return Array.from({ length: n }, (_, i) => Math.pow(start, i + 1));
}

/**
 * ALiBi head slopes (Press et al. 2022, sec. 3). For a head count that is not a power of two,
 * the slopes of the closest smaller power of two 2^k come first, followed by every other slope
 * of 2^(k+1) heads until there are `numHeads` (the rule of the paper's reference code).
 */
export function alibiSlopes(numHeads: number): number[] {
  checkInt('alibi', 'numHeads', numHeads, 1);
  const closest = Math.pow(2, Math.floor(Math.log2(numHeads)));
  if (closest === numHeads) return powerOfTwoSlopes(numHeads);
  const extra = alibiSlopes(2 * closest).filter((_, i) => i % 2 === 0);
  return [...powerOfTwoSlopes(closest), ...extra.slice(0, numHeads - closest)];
}

export const alibiSchema = z.strictObject({
  type: z.literal('alibi').default('alibi'),
  numHeads: z.number().int().positive(),
});
export type AlibiConfig = z.input<typeof alibiSchema>;

/**
 * Attention with Linear Biases (Press et al. 2022, eq. in sec. 3): logits += -m_h * |i - j|.
 * Under a causal mask only j <= i is seen, so this equals the paper's -m_h * (i - j); the
 * symmetric distance serves bidirectional attention. No parameters.
 */
export class AlibiBias extends Module<z.output<typeof alibiSchema>> implements PositionalEncoding {
  readonly kind = 'bias' as const;
  readonly slopes: readonly number[];

  constructor(config: AlibiConfig, options: ModuleOptions = {}) {
    super(parseConfig('alibi', alibiSchema, config), options);
    this.slopes = alibiSlopes(this.config.numHeads);
  }

  /** `[1, heads, tq, tk]` bias. */
  bias(queryPositions: tf.Tensor1D, keyPositions: tf.Tensor1D, numHeads: number): tf.Tensor4D {
    checkNumHeads('alibi', this.config.numHeads, numHeads);
    return tf.tidy(() => {
      const q = toPositions('alibi', 'queryPositions', queryPositions);
      const k = toPositions('alibi', 'keyPositions', keyPositions);
      const distance = tf.abs(relativePositions(q, k));
      const slopes = tf.tensor4d(this.slopes as number[], [1, numHeads, 1, 1]);
      return tf.mul(tf.neg(slopes), tf.expandDims(tf.expandDims(distance, 0), 0)) as tf.Tensor4D;
    });
  }
}

register('alibi', (c, o) => new AlibiBias(c, o), alibiSchema, {
  category: 'positional',
  estimate: (c) => estimateOf(0, c.numHeads * 8),
  info: {
    paper: 'Press et al. 2022, Train Short, Test Long (ALiBi)',
    equation: 'sec. 3',
    summary: 'Logit bias -m_h·|i - j| with fixed per-head slopes; no parameters.',
    example: { type: 'alibi', numHeads: 2 },
  },
});
