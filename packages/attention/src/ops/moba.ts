import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, checkInt, formatShape } from '@attnkit/core';
import { blockSparseAttention } from './block-sparse';
import { blockGeometry, blockSparseMask } from './block-sparse-mask';
import { mergeAttention } from './merge';
import { scaledDotProductAttention } from './sdpa';
import { tokenBlockAttention, tokenBlockMask } from './token-block-sparse';
import { repeatKvHeads, validateAttention } from './validate';

const BLOCK = 'mobaAttention';
const LIMIT = 1e38;
const OUT = 3e38;

export interface MobaOptions {
  /** Tokens per key block (B). */
  blockSize: number;
  /** Blocks per query, the current one included (k of the paper). */
  topK: number;
  /** Logit multiplier; default 1/sqrt(headDim). */
  scale?: number;
  /**
   * Mean key of every full block, [batch, kvHeads, ⌊tk/B⌋, d] (a decoding state keeps them);
   * computed from k when absent.
   */
  keyMeans?: tf.Tensor4D;
  /** 'gather' (default): gathers only the selected blocks; 'dense': the same selection as a mask. */
  form?: 'gather' | 'dense';
}

/**
 * The mean key of each full block of k [b, kvh, tk, d]: [b, kvh, ⌊tk/B⌋, d] (null when none).
 * MoBA's block representative, mean_pool(K[I_i]) (Lu et al. 2025, eq. 4).
 */
export function blockKeyMeans(k: tf.Tensor4D, blockSize: number): tf.Tensor4D | null {
  const [b, h, tk, d] = k.shape;
  const full = Math.floor(tk / blockSize);
  if (full === 0) return null;
  return tf.tidy(() => {
    const head = tf.slice(k, [0, 0, 0, 0], [-1, -1, full * blockSize, -1]);
    return tf.mean(tf.reshape(head, [b, h, full, blockSize, d]), 3) as tf.Tensor4D;
  });
}

/**
 * MoBA's gate per query token (Lu et al. 2025, eq. 3-5): s_i = ⟨q, mean_pool(K[I_i])⟩ over the
 * blocks strictly before the query's own block (the causal rule of sec. 2.2; the own block is
 * always taken, separately); the `take` highest win. Returns int32 [b, h, tq, take], -1 where
 * fewer blocks are eligible. q [b, h, tq, d] sits at positions queryOffset, ...
 */
export function mobaGate(
  q: tf.Tensor4D,
  keyMeans: tf.Tensor4D,
  blockSize: number,
  take: number,
  queryOffset: number,
): tf.Tensor4D {
  return tf.tidy(() => {
    const scores = tf.matMul(q, repeatKvHeads(keyMeans, q.shape[1]), false, true);
    return topEarlierBlocks(scores as tf.Tensor4D, blockSize, take, queryOffset);
  });
}

/**
 * The `take` highest-scoring key blocks per query among those strictly before its own block:
 * scores [b, h, tq, full blocks] for queries at positions queryOffset, ...; int32
 * [b, h, tq, take], -1 where fewer are eligible; off the tape (the choice is data).
 */
export function topEarlierBlocks(
  raw: tf.Tensor4D,
  blockSize: number,
  take: number,
  queryOffset: number,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [, , tq, full] = raw.shape;
    const scores = tf.clipByValue(raw, -LIMIT, LIMIT);
    // Block j is eligible for the query at position p when j < ⌊p / B⌋.
    const eligible = Array.from({ length: tq * full }, (_, i) => {
      const block = Math.floor((queryOffset + Math.floor(i / full)) / blockSize);
      return i % full < block ? 1 : 0;
    });
    const rule = tf.tensor2d(eligible, [tq, full], 'int32');
    // Finite sentinel: cpu topk compares by subtraction, which ±Infinity breaks.
    const gated = tf.where(tf.cast(rule, 'bool'), scores, tf.fill(scores.shape, -OUT));
    const count = Math.min(take, full);
    const { values, indices } = tf.topk(gated, count);
    let selected: tf.Tensor = tf.where(
      tf.lessEqual(values, -OUT),
      tf.fill(indices.shape, -1, 'int32'),
      indices,
    );
    if (count < take) {
      selected = tf.pad(
        selected,
        [
          [0, 0],
          [0, 0],
          [0, 0],
          [0, take - count],
        ],
        -1,
      );
    }
    // Rebuilt from its values: the choice is data, off the tape (no gradient through topk).
    return tf.tensor4d(
      selected.dataSync(),
      [...selected.shape] as [number, number, number, number],
      'int32',
    );
  });
}

/**
 * Mixture of Block Attention (Lu et al. 2025, "MoBA", sec. 2.2, eq. 2-5), causal: each query
 * attends to its own block (causally masked) and the topK - 1 earlier blocks its gate ranks
 * highest. The sparse form attends to the own block through `blockSparseAttention` and to the
 * gated blocks through `tokenBlockAttention` (gathers, never [tq, tk]) and merges them by
 * log-sum-exp, as the paper's implementation does (sec. 2.3); the dense form applies the same
 * selection as a mask to full attention, its exact reference. Queries are end-aligned
 * (positions tk - tq, ...), so a decoding step attends to its cache.
 */
export function mobaAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  options: MobaOptions,
): { output: tf.Tensor4D; selected: tf.Tensor4D } {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError(BLOCK, 'options', '{ blockSize, topK, ... }', String(options));
  }
  const geo = validateAttention(q, k, v, {}, BLOCK);
  checkInt(BLOCK, 'topK', options.topK, 1);
  const { blockSize: B, topK } = options;
  const g = blockGeometry(geo.queryLength, geo.keyLength, B, undefined, BLOCK);
  const full = Math.floor(geo.keyLength / B);
  const given = options.keyMeans;
  if (given !== undefined) {
    const want = [geo.batch, geo.kvHeads, full, geo.headDim];
    if (!(given instanceof tf.Tensor) || !tf.util.arraysEqual(given.shape, want)) {
      throw new ShapeError(
        BLOCK,
        'keyMeans',
        `shape ${formatShape(want)} (the mean key of each full block)`,
        given instanceof tf.Tensor ? `shape ${formatShape(given.shape)}` : typeof given,
      );
    }
  }
  const scale = options.scale ?? geo.scale;
  return tf.tidy(() => {
    const { batch: b, heads: h } = geo;
    const means = given ?? blockKeyMeans(k, B);
    const selected =
      topK > 1 && means
        ? mobaGate(q, means, B, topK - 1, g.queryOffset)
        : (tf.fill([b, h, geo.queryLength, 1], -1, 'int32') as tf.Tensor4D);
    const { output } = ownAndSelectedBlocks(q, k, v, selected, {
      blockSize: B,
      scale,
      form: options.form,
    });
    return { output, selected };
  });
}

/**
 * Attention of each query over its own key block (causal inside) and the earlier blocks in
 * `selected` [b, h, tq, n] (per query, -1 empty; none may be the own block or later), the key
 * set of MoBA (eq. 2) and of NSA's selection branch (Yuan et al. 2025, eq. 12, own block forced).
 * Sparse: `blockSparseAttention` for the own blocks, `tokenBlockAttention` for the rest, merged
 * by log-sum-exp; dense: the same keys as a mask on full attention. Queries end-aligned.
 */
export function ownAndSelectedBlocks(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  selected: tf.Tensor4D,
  options: { blockSize: number; scale?: number; form?: 'gather' | 'dense' },
): { output: tf.Tensor4D } {
  const [b, h, tq] = q.shape;
  const tk = k.shape[2];
  const B = options.blockSize;
  const g = blockGeometry(tq, tk, B, undefined, 'ownAndSelectedBlocks');
  return tf.tidy(() => {
    const own = tf.broadcastTo(
      tf.reshape(
        tf.range(g.firstBlock, g.firstBlock + g.numQueryBlocks, 1, 'int32'),
        [1, 1, -1, 1],
      ),
      [b, h, g.numQueryBlocks, 1],
    ) as tf.Tensor4D;
    const scale = options.scale;
    if (options.form === 'dense') {
      const mask = tf.logicalOr(
        blockSparseMask(own, { blockSize: B, tq, tk, causal: true }),
        tokenBlockMask(selected, B, tk),
      );
      return { output: scaledDotProductAttention(q, k, v, { mask, scale }).output };
    }
    const current = blockSparseAttention(q, k, v, {
      blockSize: B,
      selected: own,
      causal: true,
      scale,
      returnLogSumExp: true,
    });
    const gated = tokenBlockAttention(q, k, v, { blockSize: B, selected, scale });
    const { output } = mergeAttention([
      { output: current.output, logSumExp: current.logSumExp! },
      gated,
    ]);
    return { output };
  });
}
