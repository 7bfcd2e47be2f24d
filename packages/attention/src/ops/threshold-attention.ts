import * as tf from '@tensorflow/tfjs-core';
import {
  MASK_NEGATIVE,
  ShapeError,
  checkInt,
  checkOneOf,
  checkRank,
  formatShape,
} from '@attnkit/core';
import { detached, queryOffsetOf } from './topk-select';
import { repeatKvHeads, validateAttention } from './validate';

/**
 * How the mass of the pruned keys is treated (Berestizshevsky et al. 2025, as we read its
 * two compensations):
 * 'none': softmax over the kept keys alone; 'denominator' (SDC): the kept keys' weights keep
 * the full softmax denominator Σ_all exp(s), so rows sum to less than one; 'vmean' (SDC +
 * VMC): the pruned mass 1 - Σ_kept p is given to the mean of the visible values.
 */
export type ThresholdCompensation = 'none' | 'denominator' | 'vmean';
export const THRESHOLD_COMPENSATIONS = ['none', 'denominator', 'vmean'] as const;

export interface ThresholdAttentionOptions {
  /** `[heads, tq]`: each query row keeps the keys whose scaled score is >= its threshold. */
  thresholds: tf.Tensor2D;
  compensation?: ThresholdCompensation;
  causal?: boolean;
  /** Position of the first query among the keys; default tk - tq. */
  queryOffset?: number;
  scale?: number;
  /** Keys per step (default 64); chunkSize >= tk is the plain dense form. */
  chunkSize?: number;
}

/**
 * Thresholded attention (Top-θ, Berestizshevsky et al. 2025): s = q·kᵀ·scale, keep
 * s >= θ[head, row], softmax over the kept keys with the chosen compensation. The chunked form
 * keeps only [tq, chunkSize] scores and the running sums (max, kept and full denominators,
 * kept numerator, value sum), never [tq, tk]. A row that keeps no key
 * outputs 0 ('none', 'denominator') or its value mean ('vmean'). θ is data: no gradient.
 */
export function thresholdAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  options: ThresholdAttentionOptions,
): tf.Tensor4D {
  const block = 'thresholdAttention';
  const geo = validateAttention(q, k, v, { scale: options.scale }, block);
  const theta = options.thresholds;
  checkRank(block, 'thresholds', theta, 2);
  if (theta.shape[0] !== geo.heads || theta.shape[1] !== geo.queryLength) {
    throw new ShapeError(
      block,
      'thresholds',
      `[${geo.heads},${geo.queryLength}] (heads, queries)`,
      formatShape(theta.shape),
    );
  }
  const compensation = checkOneOf(
    block,
    'compensation',
    options.compensation ?? 'vmean',
    THRESHOLD_COMPENSATIONS,
  );
  const chunk = checkInt(block, 'chunkSize', options.chunkSize ?? 64, 1);
  const offset = queryOffsetOf(block, options.queryOffset, geo.queryLength, geo.keyLength);
  const scale = options.scale ?? geo.scale;
  const causal = options.causal ?? false;
  return tf.tidy(() => {
    const { batch: b, heads: h, queryLength: tq, keyLength: tk, valueDim: dv } = geo;
    const keys = repeatKvHeads(k, h);
    const values = repeatKvHeads(v, h);
    const row = tf.reshape(theta, [1, h, tq, 1]);
    const queries = tf.mul(q, scale);
    let max: tf.Tensor = tf.fill([b, h, tq, 1], MASK_NEGATIVE);
    let keptSum: tf.Tensor = tf.zeros([b, h, tq, 1]);
    let allSum: tf.Tensor = tf.zeros([b, h, tq, 1]);
    let numerator: tf.Tensor = tf.zeros([b, h, tq, dv]);
    let valueSum: tf.Tensor = tf.zeros([b, h, tq, dv]);
    let count: tf.Tensor = tf.zeros([1, 1, tq, 1]);
    for (let start = 0; start < tk; start += chunk) {
      const n = Math.min(chunk, tk - start);
      const kc = tf.slice(keys, [0, 0, start, 0], [-1, -1, n, -1]);
      const vc = tf.slice(values, [0, 0, start, 0], [-1, -1, n, -1]);
      const s = tf.matMul(queries, kc, false, true);
      const visible = causal
        ? tf.reshape(
            tf.lessEqual(
              tf.reshape(tf.range(start, start + n, 1, 'int32'), [1, n]),
              tf.reshape(tf.range(offset, offset + tq, 1, 'int32'), [tq, 1]),
            ),
            [1, 1, tq, n],
          )
        : tf.ones([1, 1, tq, n], 'bool');
      // Masks are data: computed off the tape (tfjs has no gradient for the logical ops).
      const kept = detached(() => tf.logicalAnd(visible, tf.greaterEqual(s, row)));
      const hidden = tf.where(visible, s, tf.scalar(MASK_NEGATIVE));
      const next = tf.maximum(max, tf.max(hidden, 3, true));
      const decay = tf.exp(tf.sub(max, next));
      const e = tf.exp(tf.sub(hidden, next));
      const eKept = tf.where(kept, e, tf.zerosLike(e));
      const eVisible = tf.where(tf.broadcastTo(visible, e.shape), e, tf.zerosLike(e));
      keptSum = tf.add(tf.mul(keptSum, decay), tf.sum(eKept, 3, true));
      allSum = tf.add(tf.mul(allSum, decay), tf.sum(eVisible, 3, true));
      numerator = tf.add(tf.mul(numerator, decay), tf.matMul(eKept, vc));
      const seen = tf.cast(visible, 'float32');
      valueSum = tf.add(valueSum, tf.matMul(tf.broadcastTo(seen, [b, h, tq, n]), vc));
      count = tf.add(count, tf.sum(seen, 3, true));
      max = next;
    }
    const empty = (x: tf.Tensor) => detached(() => tf.lessEqual(x, 0));
    const safe = (x: tf.Tensor) => tf.where(empty(x), tf.onesLike(x), x);
    if (compensation === 'none') return tf.div(numerator, safe(keptSum)) as tf.Tensor4D;
    const out = tf.div(numerator, safe(allSum));
    if (compensation === 'denominator') return out as tf.Tensor4D;
    const pruned = tf.sub(tf.onesLike(allSum), tf.div(keptSum, safe(allSum)));
    const anySeen = tf.cast(tf.logicalNot(empty(allSum)), 'float32');
    const mean = tf.div(valueSum, safe(count));
    return tf.add(out, tf.mul(tf.mul(pruned, anySeen), mean)) as tf.Tensor4D;
  });
}
