import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, MASK_NEGATIVE, checkInt } from '@attnkit/core';
import { detached, queryOffsetOf } from './topk-select';
import { repeatKvHeads, validateScores } from './validate';

/**
 * x rounded to `bits`-bit signed integers per row (last axis), symmetric:
 * x̃ = round(x / s)·s with s = max|x| / (2^(bits-1) - 1) (s = 1 for an all-zero row).
 */
export function quantizeSymmetric(x: tf.Tensor, bits: number): tf.Tensor {
  checkInt('quantizeSymmetric', 'bits', bits, 2);
  return tf.tidy(() => {
    const levels = 2 ** (bits - 1) - 1;
    const max = tf.max(tf.abs(x), -1, true);
    const step = tf.where(tf.greater(max, 0), tf.div(max, levels), tf.onesLike(max));
    return tf.mul(tf.round(tf.div(x, step)), step);
  });
}

export interface LowBitBlockOptions {
  /** Keys per block. */
  blockSize: number;
  /** Key blocks kept per query. */
  blocks: number;
  /** Bits of the quantised q and k the estimate uses (default 4). */
  bits?: number;
  causal?: boolean;
  /** Position of the first query among the keys; default tk - tq. */
  queryOffset?: number;
}

/**
 * Each query's key indices from a low-bit estimate (SALE-style): q and k quantised to `bits`
 * bits, a block's estimate is the largest quantised score q̃·k̃ over its visible keys, and the
 * `blocks` best blocks (ties to the lower block) give their keys: int32 [b, h, tq, blocks·blockSize],
 * -1 for a key after the query (causal), past the end, or in an unselected empty slot.
 * Materialises the estimate [tq, blockSize] per key block and [tq, numBlocks] block scores,
 * never [tq, tk] at full precision. Data: no gradient.
 */
export function lowBitBlockSelect(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  options: LowBitBlockOptions,
): tf.Tensor4D {
  const block = 'lowBitBlockSelect';
  const geo = validateScores(q, k, {}, block);
  const size = checkInt(block, 'blockSize', options.blockSize, 1);
  const numBlocks = Math.ceil(geo.keyLength / size);
  const wanted = checkInt(block, 'blocks', options.blocks, 1);
  if (wanted > numBlocks) {
    throw new ConfigError(block, 'blocks', `at most the ${numBlocks} key blocks`, String(wanted));
  }
  const bits = checkInt(block, 'bits', options.bits ?? 4, 2);
  const offset = queryOffsetOf(block, options.queryOffset, geo.queryLength, geo.keyLength);
  const causal = options.causal ?? false;
  return detached(() => {
    const { heads: h, queryLength: tq, keyLength: tk } = geo;
    const qq = quantizeSymmetric(q, bits);
    const kq = repeatKvHeads(quantizeSymmetric(k, bits) as tf.Tensor4D, h);
    const queryPos = tf.reshape(tf.range(offset, offset + tq, 1, 'int32'), [tq, 1]);
    const scores: tf.Tensor[] = [];
    for (let start = 0; start < tk; start += size) {
      const n = Math.min(size, tk - start);
      let s: tf.Tensor = tf.matMul(
        qq,
        tf.slice(kq, [0, 0, start, 0], [-1, -1, n, -1]),
        false,
        true,
      );
      if (causal) {
        const keyPos = tf.reshape(tf.range(start, start + n, 1, 'int32'), [1, n]);
        s = tf.where(tf.lessEqual(keyPos, queryPos), s, tf.scalar(MASK_NEGATIVE));
      }
      scores.push(tf.max(s, 3, true));
    }
    const best = tf.topk(tf.concat(scores, 3), wanted).indices; // [b, h, tq, blocks]
    const keys = tf.reshape(
      tf.add(
        tf.expandDims(tf.mul(best, tf.scalar(size, 'int32')), 4),
        tf.range(0, size, 1, 'int32'),
      ),
      [geo.batch, h, tq, wanted * size],
    );
    let ok = tf.less(keys, tk);
    if (causal) ok = tf.logicalAnd(ok, tf.lessEqual(keys, tf.reshape(queryPos, [1, 1, tq, 1])));
    return tf.where(ok, keys, tf.scalar(-1, 'int32'));
  }) as tf.Tensor4D;
}
