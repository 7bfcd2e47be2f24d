import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { ModuleOptions, PositionalEncoding } from '@attnkit/core';
import { Module, checkInt, register, parseConfig, estimateOf } from '@attnkit/core';
import { checkNumHeads, lookupRows, normalInit, relativePositions, toPositions } from './util';

export interface T5BucketOptions {
  bidirectional: boolean;
  numBuckets: number;
  maxDistance: number;
}

/**
 * T5 relative-position buckets (Raffel et al. 2020, sec. 2.1; Mesh TensorFlow's rule) for
 * `relativePosition = key - query`. Half the buckets (all, when causal) hold exact distances
 * below `numBuckets/4` (`/2`); the rest grow logarithmically up to `maxDistance`, beyond which
 * distances share the last bucket. Bidirectional: keys after the query use the upper half.
 * Causal: keys after the query fall in bucket 0. Returns int32 of the same shape.
 */
export function t5RelativeBucket(relativePosition: tf.Tensor, options: T5BucketOptions): tf.Tensor {
  const { numBuckets, maxExact } = bucketLayout(options);
  const { bidirectional } = options;
  return tf.tidy(() => {
    const rel = tf.cast(relativePosition, 'float32');
    let offset: tf.Tensor = tf.zerosLike(rel);
    let n: tf.Tensor;
    if (bidirectional) {
      offset = tf.mul(tf.cast(tf.greater(rel, 0), 'float32'), numBuckets);
      n = tf.abs(rel);
    } else {
      n = tf.relu(tf.neg(rel));
    }
    // log-spaced buckets for n >= maxExact; the max() only keeps log() finite where unused
    const ratio = tf.div(
      tf.log(tf.div(tf.maximum(n, maxExact), maxExact)),
      Math.log(options.maxDistance / maxExact),
    );
    const large = tf.minimum(
      tf.add(tf.floor(tf.mul(ratio, numBuckets - maxExact)), maxExact),
      numBuckets - 1,
    );
    const bucket = tf.where(tf.less(n, maxExact), n, large);
    return tf.cast(tf.add(offset, bucket), 'int32');
  });
}

/** Buckets per direction and how many of them hold exact distances; validates the options. */
function bucketLayout(options: T5BucketOptions): { numBuckets: number; maxExact: number } {
  const { bidirectional } = options;
  checkInt('t5-relative', 'numBuckets', options.numBuckets, bidirectional ? 4 : 2);
  const numBuckets = bidirectional ? Math.floor(options.numBuckets / 2) : options.numBuckets;
  const maxExact = Math.floor(numBuckets / 2);
  const argument = `maxDistance (> numBuckets/${bidirectional ? 4 : 2}=${maxExact})`;
  checkInt('t5-relative', argument, options.maxDistance, maxExact + 1);
  return { numBuckets, maxExact };
}

export const t5RelativeSchema = z.strictObject({
  type: z.literal('t5-relative').default('t5-relative'),
  numHeads: z.number().int().positive(),
  numBuckets: z.number().int().positive().default(32),
  maxDistance: z.number().int().positive().default(128),
  bidirectional: z.boolean().default(true),
});
export type T5RelativeConfig = z.input<typeof t5RelativeSchema>;

/**
 * T5 relative position bias (Raffel et al. 2020, sec. 2.1): a learned scalar per bucket and
 * head, `weight[bucket(j - i), h]`, added to the logits. Initialised N(0, 0.02).
 */
export class T5RelativeBias
  extends Module<z.output<typeof t5RelativeSchema>>
  implements PositionalEncoding
{
  readonly kind = 'bias' as const;
  /** `[numBuckets, numHeads]` */
  readonly weight: tf.Variable;

  constructor(config: T5RelativeConfig, options: ModuleOptions = {}) {
    const c = parseConfig('t5-relative', t5RelativeSchema, config);
    bucketLayout(c);
    super(c, options);
    this.weight = this.addParameter(
      'weight',
      normalInit(this.rng, [c.numBuckets, c.numHeads], 0.02),
    );
  }

  /** `[1, heads, tq, tk]` bias. */
  bias(queryPositions: tf.Tensor1D, keyPositions: tf.Tensor1D, numHeads: number): tf.Tensor4D {
    checkNumHeads('t5-relative', this.config.numHeads, numHeads);
    return tf.tidy(() => {
      const q = toPositions('t5-relative', 'queryPositions', queryPositions);
      const k = toPositions('t5-relative', 'keyPositions', keyPositions);
      const buckets = t5RelativeBucket(relativePositions(q, k), this.config); // [tq, tk]
      const values = lookupRows(this.weight, buckets); // [tq, tk, heads]
      return tf.expandDims(tf.transpose(values, [2, 0, 1]), 0) as tf.Tensor4D;
    });
  }
}

register('t5-relative', (c, o) => new T5RelativeBias(c, o), t5RelativeSchema, {
  category: 'positional',
  estimate: (c) => estimateOf(c.numBuckets * c.numHeads),
  info: {
    paper: 'Raffel et al. 2020, Exploring the Limits of Transfer Learning (T5)',
    equation: 'sec. 2.1',
    summary:
      'Learned scalar per log-spaced relative-distance bucket and head, added to the logits.',
    example: { type: 't5-relative', numHeads: 2 },
  },
});
