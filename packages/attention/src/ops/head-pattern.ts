import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  MASK_NEGATIVE,
  ShapeError,
  checkInt,
  checkNumber,
  gatherRows,
} from '@attnkit/core';
import { validateAttention } from './validate';

/**
 * Per-head key lists: for each head and query, the key slots it attends to, as an int32
 * [heads, tq, width] table padded with -1. Patterns that differ by head (S2-Attention's shards,
 * MoA's elastic windows, CCA's core tokens plus window) are such lists; they do not depend on
 * the batch, so one table serves every sequence.
 */
export interface HeadPattern {
  heads: number;
  queries: number;
  width: number;
  /** Row-major [heads, tq, width]; -1 marks an empty slot. */
  slots: Int32Array;
}

/**
 * Builds a HeadPattern from `keysOf(head, query)`: the key slots (0..keyLength-1) each query of
 * each head sees, in any order. Repeats are dropped (a key counts once); a slot outside
 * 0..keyLength-1 is a bug of the caller and throws.
 */
export function headPattern(
  block: string,
  heads: number,
  queries: number,
  keyLength: number,
  keysOf: (head: number, query: number) => Iterable<number>,
): HeadPattern {
  checkInt(block, 'heads', heads, 1);
  checkInt(block, 'tq', queries, 1);
  checkInt(block, 'tk', keyLength, 1);
  const lists: number[][] = [];
  let width = 1;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < queries; i++) {
      const list = [...new Set(keysOf(h, i))];
      const bad = list.find((j) => !Number.isInteger(j) || j < 0 || j >= keyLength);
      if (bad !== undefined) {
        throw new ConfigError(block, 'pattern', `key slots in 0..${keyLength - 1}`, String(bad));
      }
      width = Math.max(width, list.length);
      lists.push(list);
    }
  }
  const slots = new Int32Array(heads * queries * width).fill(-1);
  lists.forEach((list, row) => slots.set(list, row * width));
  return { heads, queries, width, slots };
}

export interface GatherAttentionOptions {
  /** Logit multiplier; default 1/sqrt(headDim). */
  scale?: number;
  /** Also return logSumExp [batch, heads, tq] (-Infinity where a query sees no key). */
  returnLogSumExp?: boolean;
}

export interface GatherAttentionResult {
  /** [batch, heads, tq, dv]; 0 for a query that sees no key. */
  output: tf.Tensor4D;
  logSumExp?: tf.Tensor3D;
}

/**
 * Attention over per-head, per-query key lists: o_i = softmax(q_i K[S_h(i)]ᵀ·scale) V[S_h(i)]
 * (Vaswani et al. 2017, eq. 1, restricted to the set S_h(i) of the pattern). Only the listed
 * keys and values are gathered, so logits are [tq, width] per head rather than [tq, tk]: time
 * and memory fall with the pattern's width. Equal, up to float error, to
 * `scaledDotProductAttention` with `headPatternMask(pattern, tk)` as its mask (except that a
 * query with no key gets 0 here). Grouped-query keys (fewer key heads) are read by each
 * group's query heads. Differentiable w.r.t. q, k and v; the pattern is data.
 */
export function gatherAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  pattern: HeadPattern,
  options: GatherAttentionOptions = {},
): GatherAttentionResult {
  const block = 'gatherAttention';
  if (options.scale !== undefined)
    checkNumber(block, 'scale', options.scale, { min: 0, minExclusive: true });
  const geo = validateAttention(q, k, v, {}, block);
  checkPattern(block, pattern, geo.heads, geo.queryLength, geo.keyLength);
  const scale = options.scale ?? geo.scale;
  return tf.tidy(() => {
    const { batch: b, heads: h, kvHeads, headDim: d, valueDim: dv, queryLength: tq } = geo;
    const tk = geo.keyLength;
    const w = pattern.width;
    const group = h / kvHeads;
    // Row of (batch, kv head, key slot) in k flattened to [b·kvHeads·tk, d].
    const index = new Int32Array(b * h * tq * w);
    for (let n = 0; n < b; n++) {
      for (let head = 0; head < h; head++) {
        const base = (n * kvHeads + Math.floor(head / group)) * tk;
        const from = head * tq * w;
        const to = (n * h + head) * tq * w;
        for (let r = 0; r < tq * w; r++) {
          index[to + r] = base + Math.max(pattern.slots[from + r]!, 0);
        }
      }
    }
    const rows = tf.tensor1d(index, 'int32');
    const gather = (x: tf.Tensor4D, width: number) =>
      tf.reshape(gatherRows(tf.reshape(x, [-1, width]) as tf.Tensor2D, rows), [
        b * h * tq,
        w,
        width,
      ]);
    const keys = gather(k, d);
    const values = gather(v, dv);
    const queries = tf.reshape(tf.mul(q, scale), [b * h * tq, 1, d]);
    const hidden = tf.where(
      tf.greaterEqual(tf.tensor3d(pattern.slots, [h, tq, w], 'int32'), 0),
      tf.scalar(0),
      tf.scalar(MASK_NEGATIVE),
    );
    const logits = tf.add(tf.reshape(tf.matMul(queries, keys, false, true), [b, h, tq, w]), hidden);
    const max = tf.max(logits, -1, true);
    // greaterEqual, not greater: only the former has a (zero) gradient in tfjs.
    const seen = tf.greaterEqual(max, MASK_NEGATIVE / 2);
    const p = tf.exp(tf.sub(logits, max));
    const denom = tf.sum(p, -1, true);
    const weighted = tf.matMul(tf.reshape(tf.div(p, denom), [b * h * tq, 1, w]), values);
    const output = tf.mul(
      tf.reshape(weighted, [b, h, tq, dv]),
      tf.cast(seen, 'float32'),
    ) as tf.Tensor4D;
    if (!options.returnLogSumExp) return { output };
    const lse = tf.where(seen, tf.add(max, tf.log(denom)), tf.fill(max.shape, -Infinity));
    return { output, logSumExp: tf.squeeze(lse, [3]) as tf.Tensor3D };
  });
}

/**
 * The dense equivalent of a pattern: bool [1, heads, tq, tk], true where the key slot is listed
 * for that head and query. `scaledDotProductAttention(q, k, v, { mask })` with it is the exact
 * reference of `gatherAttention` (at O(tq·tk) cost).
 */
export function headPatternMask(pattern: HeadPattern, keyLength: number): tf.Tensor4D {
  const block = 'headPatternMask';
  checkPattern(block, pattern, pattern.heads, pattern.queries, keyLength);
  const { heads: h, queries: tq, width: w, slots } = pattern;
  const dense = new Uint8Array(h * tq * keyLength);
  for (let row = 0; row < h * tq; row++) {
    for (let s = 0; s < w; s++) {
      const j = slots[row * w + s]!;
      if (j >= 0) dense[row * keyLength + j] = 1;
    }
  }
  return tf.tensor4d(dense, [1, h, tq, keyLength], 'bool');
}

function checkPattern(
  block: string,
  pattern: HeadPattern,
  heads: number,
  queries: number,
  keyLength: number,
): void {
  const ok =
    pattern !== null &&
    typeof pattern === 'object' &&
    pattern.slots instanceof Int32Array &&
    pattern.heads === heads &&
    pattern.queries === queries &&
    Number.isInteger(pattern.width) &&
    pattern.width >= 1 &&
    pattern.slots.length === heads * queries * pattern.width;
  if (!ok) {
    const given =
      pattern && typeof pattern === 'object'
        ? `[${pattern.heads},${pattern.queries},${pattern.width}]`
        : String(pattern);
    throw new ShapeError(
      block,
      'pattern',
      `a HeadPattern of [heads=${heads}, tq=${queries}, width] (from headPattern)`,
      given,
    );
  }
  const bad = pattern.slots.findIndex((j) => j < -1 || j >= keyLength);
  if (bad >= 0) {
    throw new ConfigError(
      block,
      'pattern',
      `key slots in -1..${keyLength - 1} (-1 = empty)`,
      `${pattern.slots[bad]} at flat index ${bad}`,
    );
  }
}
