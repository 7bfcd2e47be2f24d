import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  MASK_NEGATIVE,
  ShapeError,
  checkInt,
  checkRank,
  formatShape,
  gatherRows,
  withCustomGradient,
} from '@attnkit/core';
import { repeatKvHeads, validateAttention, validateScores } from './validate';

export interface TopKSelectOptions {
  /** Keys kept per query. */
  k: number;
  /** Keys scored per step (default 64): the running top-k sees [tq, k + chunkSize] at a time. */
  chunkSize?: number;
  /** Key j is visible to query i only when j <= queryOffset + i. */
  causal?: boolean;
  /** Position of the first query among the keys; default tk - tq (end-aligned, as sdpa). */
  queryOffset?: number;
}

/**
 * The k keys of highest score q·kᵀ per query (Gupta et al. 2021: top-k over key chunks
 * with a running top-k), int32 [b, h, tq, k], best first; -1 marks an empty slot (a
 * causal query that sees fewer than k keys). Only [tq, k + chunkSize] scores exist at once.
 * Ties go to the lower key index (the running set precedes each chunk, and tfjs' topk prefers
 * the earlier entry). The selection is data: no gradient flows through it. k may have fewer
 * heads than q (GQA). Scores may come from any space (Loki scores in a low-rank one).
 */
export function chunkedTopK(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  options: TopKSelectOptions,
): tf.Tensor4D {
  const block = 'chunkedTopK';
  const geo = validateScores(q, k, {}, block);
  const topK = checkInt(block, 'k', options.k, 1);
  if (topK > geo.keyLength) {
    throw new ConfigError(block, 'k', `at most the ${geo.keyLength} keys`, String(topK));
  }
  const chunk = checkInt(block, 'chunkSize', options.chunkSize ?? 64, 1);
  const offset = queryOffsetOf(block, options.queryOffset, geo.queryLength, geo.keyLength);
  const causal = options.causal ?? false;
  return detached(() => runningTopK(q, k, topK, chunk, causal, offset)) as tf.Tensor4D;
}

/**
 * Runs `compute` as one custom op whose only input is a constant: its inner ops are not taped
 * and its output is unreachable from any variable, so gradients neither flow into nor through
 * it (an int32 result on the tape would need int32 gradients, which tfjs refuses).
 */
export function detached(compute: () => tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const op = withCustomGradient<[tf.Tensor]>((anchor) => ({
      value: compute(),
      gradFunc: () => [tf.zerosLike(anchor)],
    }));
    return op(tf.scalar(0));
  });
}

function runningTopK(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  topK: number,
  chunk: number,
  causal: boolean,
  offset: number,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, tq] = q.shape;
    const keys = repeatKvHeads(k, h);
    const tk = keys.shape[2];
    // Finite sentinels (cpu topk compares by subtraction): empty slots below hidden keys.
    let values: tf.Tensor = tf.fill([b, h, tq, topK], 2 * MASK_NEGATIVE);
    let indices: tf.Tensor = tf.fill([b, h, tq, topK], -1, 'int32');
    for (let start = 0; start < tk; start += chunk) {
      const n = Math.min(chunk, tk - start);
      let scores: tf.Tensor = tf.matMul(
        q,
        tf.slice(keys, [0, 0, start, 0], [-1, -1, n, -1]),
        false,
        true,
      );
      if (causal)
        scores = tf.where(visibleBlock(tq, start, n, offset), scores, tf.scalar(MASK_NEGATIVE));
      const ids = tf.broadcastTo(tf.range(start, start + n, 1, 'int32'), [b, h, tq, n]);
      const best = tf.topk(tf.concat([values, scores], 3), topK);
      values = best.values;
      indices = gatherLast(tf.concat([indices, ids], 3), best.indices);
    }
    return tf.where(
      tf.greater(values, MASK_NEGATIVE / 2),
      indices,
      tf.scalar(-1, 'int32'),
    ) as tf.Tensor4D;
  });
}

/**
 * x[..., idx[..., j]] for x [..., W] and idx [..., K], as one flat gather (tf.gather with
 * batchDims misreads on the wasm backend).
 */
function gatherLast(x: tf.Tensor, idx: tf.Tensor): tf.Tensor {
  const width = x.shape[x.shape.length - 1]!;
  const k = idx.shape[idx.shape.length - 1]!;
  const rows = idx.size / k;
  const base = tf.reshape(tf.mul(tf.range(0, rows, 1, 'int32'), tf.scalar(width, 'int32')), [
    rows,
    1,
  ]);
  const flat = tf.reshape(tf.add(tf.reshape(idx, [rows, k]), base), [-1]);
  return tf.reshape(tf.gather(tf.reshape(x, [-1]), flat), idx.shape);
}

/** [tq, n] boolean: key start + j is at or before query offset + i. */
function visibleBlock(tq: number, start: number, n: number, offset: number): tf.Tensor2D {
  return tf.lessEqual(
    tf.reshape(tf.range(start, start + n, 1, 'int32'), [1, n]),
    tf.reshape(tf.range(offset, offset + tq, 1, 'int32'), [tq, 1]),
  ) as tf.Tensor2D;
}

export function queryOffsetOf(
  block: string,
  offset: number | undefined,
  tq: number,
  tk: number,
): number {
  if (offset === undefined) return tk - tq;
  return checkInt(block, 'queryOffset', offset, 0);
}

export interface GatheredAttentionResult {
  /** [b, h, tq, dv]; 0 for a query whose slots are all empty. */
  output: tf.Tensor4D;
  /** `[b, h, tq, k]`: softmax weights of the selected keys (0 in empty slots). */
  weights: tf.Tensor4D;
}

/**
 * Softmax attention of each query over its own selected keys (Gupta et al. 2021:
 * softmax(q K[I]ᵀ · scale) V[I]): the selected keys and values are gathered per query, so
 * what is materialised is [tq, k, d] keys and values and [tq, k] logits, never [tq, tk].
 * indices int32 [b, h, tq, k] (-1: empty slot, e.g. from chunkedTopK); a repeated index would
 * count twice, so pass distinct ones. Differentiable w.r.t. q, k and v.
 */
export function gatheredAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  indices: tf.Tensor4D,
  options: { scale?: number } = {},
): GatheredAttentionResult {
  const block = 'gatheredAttention';
  const geo = validateAttention(q, k, v, { scale: options.scale }, block);
  checkIndices(block, indices, geo.batch, geo.heads, geo.queryLength);
  const scale = options.scale ?? geo.scale;
  return tf.tidy(() => {
    const {
      batch: b,
      heads: h,
      kvHeads,
      queryLength: tq,
      keyLength: tk,
      headDim: d,
      valueDim: dv,
    } = geo;
    const K = indices.shape[3];
    const rows = b * h * tq;
    const group = h / kvHeads;
    // Row of (batch, kv head) in the flattened keys, GQA-aware: [b, h, 1, 1].
    const base = Array.from(
      { length: b * h },
      (_, i) => (Math.floor(i / h) * kvHeads + Math.floor((i % h) / group)) * tk,
    );
    const at = tf.reshape(
      tf.add(
        tf.reshape(tf.tensor1d(base, 'int32'), [b, h, 1, 1]),
        tf.maximum(indices, tf.scalar(0, 'int32')),
      ),
      [-1],
    ) as tf.Tensor1D;
    const keys = tf.reshape(gatherRows(tf.reshape(k, [-1, d]) as tf.Tensor2D, at), [rows, K, d]);
    const values = tf.reshape(gatherRows(tf.reshape(v, [-1, dv]) as tf.Tensor2D, at), [
      rows,
      K,
      dv,
    ]);
    const valid = tf.reshape(tf.greaterEqual(indices, 0), [rows, 1, K]);
    const logits = tf.add(
      tf.matMul(tf.reshape(tf.mul(q, scale), [rows, 1, d]), keys, false, true),
      tf.where(valid, tf.scalar(0), tf.scalar(MASK_NEGATIVE)),
    );
    // A row with only empty slots gets weights 0 (not a uniform average of padding).
    const weights = tf.mul(tf.softmax(logits), tf.cast(valid, 'float32'));
    const output = tf.reshape(tf.matMul(weights, values), [b, h, tq, dv]) as tf.Tensor4D;
    return { output, weights: tf.reshape(weights, [b, h, tq, K]) as tf.Tensor4D };
  });
}

/**
 * The dense reference's mask: bool [b, h, tq, tk], true where key j is among the query's
 * selected indices (int32 [b, h, tq, k], -1 ignored). Materialises [tq, k, tk]: tests only.
 */
export function selectionMask(indices: tf.Tensor4D, keyLength: number): tf.Tensor4D {
  const block = 'selectionMask';
  checkInt(block, 'keyLength', keyLength, 1);
  checkIndices(block, indices, indices.shape[0], indices.shape[1], indices.shape[2]);
  return tf.tidy(() => {
    const hot = tf.oneHot(tf.reshape(indices, [-1]) as tf.Tensor1D, keyLength); // -1: all zero
    const [b, h, tq, K] = indices.shape;
    return tf.greater(tf.sum(tf.reshape(hot, [b, h, tq, K, keyLength]), 3), 0) as tf.Tensor4D;
  });
}

function checkIndices(block: string, indices: tf.Tensor, b: number, h: number, tq: number): void {
  checkRank(block, 'indices', indices, 4);
  const [ib, ih, iq] = indices.shape;
  if (indices.dtype !== 'int32' || ib !== b || ih !== h || iq !== tq) {
    throw new ShapeError(
      block,
      'indices',
      `int32 [${b},${h},${tq},k]`,
      `${indices.dtype} ${formatShape(indices.shape)}`,
    );
  }
}
