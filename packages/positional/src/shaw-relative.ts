import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { ModuleOptions, PositionalEncoding } from '@attnkit/core';
import { Module, ShapeError, checkShape, register, parseConfig, estimateOf } from '@attnkit/core';
import { checkNumHeads, lookupRows, normalInit, relativePositions, toPositions } from './util';

export const shawRelativeSchema = z.strictObject({
  type: z.literal('shaw-relative').default('shaw-relative'),
  numHeads: z.number().int().positive(),
  headDim: z.number().int().positive(),
  maxRelativePosition: z.number().int().positive(),
});
export type ShawRelativeConfig = z.input<typeof shawRelativeSchema>;

/**
 * Relative position representations (Shaw et al. 2018, eq. 5): logits gain
 * q_i . a^K_{clip(j - i, k)} / sqrt(headDim), with `2k + 1` learned key-side vectors shared across
 * heads (k = maxRelativePosition), so a mixer that scales q.k by 1/sqrt(headDim) reproduces
 * eq. 5 exactly. The value-side term a^V (eq. 3) is not included: this is a logit bias only.
 */
export class ShawRelativeBias
  extends Module<z.output<typeof shawRelativeSchema>>
  implements PositionalEncoding
{
  readonly kind = 'bias' as const;
  /** `[2 * maxRelativePosition + 1, headDim]`: row r holds a^K for distance r - maxRelativePosition. */
  readonly keyEmbeddings: tf.Variable;

  constructor(config: ShawRelativeConfig, options: ModuleOptions = {}) {
    super(parseConfig('shaw-relative', shawRelativeSchema, config), options);
    const { maxRelativePosition, headDim } = this.config;
    this.keyEmbeddings = this.addParameter(
      'keyEmbeddings',
      normalInit(this.rng, [2 * maxRelativePosition + 1, headDim], 0.02),
    );
  }

  /** `[batch, heads, tq, tk]` bias; needs `queries` `[batch, heads, tq, headDim]`. */
  bias(
    queryPositions: tf.Tensor1D,
    keyPositions: tf.Tensor1D,
    numHeads: number,
    queries?: tf.Tensor4D,
  ): tf.Tensor4D {
    const { headDim, maxRelativePosition: k } = this.config;
    checkNumHeads('shaw-relative', this.config.numHeads, numHeads);
    if (!queries) {
      throw new ShapeError(
        'shaw-relative',
        'queries',
        '[batch, heads, tq, headDim] tensor',
        'none',
      );
    }
    checkShape('shaw-relative', 'queries', queries, [
      null,
      numHeads,
      queryPositions.shape[0],
      headDim,
    ]);
    const [batch, heads, tq] = queries.shape;
    return tf.tidy(() => {
      const q = toPositions('shaw-relative', 'queryPositions', queryPositions);
      const kp = toPositions('shaw-relative', 'keyPositions', keyPositions);
      const tk = kp.shape[0];
      const index = tf.cast(tf.add(tf.clipByValue(relativePositions(q, kp), -k, k), k), 'int32');
      const a = lookupRows(this.keyEmbeddings, index); // [tq, tk, headDim]
      const perQuery = tf.reshape(tf.transpose(queries, [2, 0, 1, 3]), [
        tq,
        batch * heads,
        headDim,
      ]);
      const logits = tf.matMul(perQuery, a, false, true); // [tq, batch*heads, tk]
      const scaled = tf.div(logits, Math.sqrt(headDim));
      return tf.transpose(tf.reshape(scaled, [tq, batch, heads, tk]), [1, 2, 0, 3]) as tf.Tensor4D;
    });
  }
}

register('shaw-relative', (c, o) => new ShawRelativeBias(c, o), shawRelativeSchema, {
  category: 'positional',
  estimate: (c) => estimateOf((2 * c.maxRelativePosition + 1) * c.headDim),
  info: {
    paper: 'Shaw et al. 2018, Self-Attention with Relative Position Representations',
    equation: 'eq. 5',
    summary: 'Learned clipped relative-position key vectors as a logit bias.',
    example: { type: 'shaw-relative', numHeads: 2, headDim: 4, maxRelativePosition: 4 },
  },
});
