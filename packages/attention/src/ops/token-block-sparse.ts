import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  MASK_NEGATIVE,
  ShapeError,
  checkInt,
  formatShape,
  gatherRows,
} from '@attnkit/core';
import { validateAttention } from './validate';

const BLOCK = 'tokenBlockAttention';

export interface TokenBlockOptions {
  /** Tokens per key block; key block j holds keys [j·B, (j+1)·B), the last may be ragged. */
  blockSize: number;
  /**
   * int32 [batch, heads, tq, n]: the key blocks each query attends to, -1 for an empty slot.
   * Slots must be distinct (a top-k gives that); every key of a selected block is visible.
   */
  selected: tf.Tensor4D;
  /** Logit multiplier; default 1/sqrt(headDim). */
  scale?: number;
}

/**
 * Attention of each query over its own selected key blocks, softmax(q K[I_q]ᵀ) V[I_q] (MoBA,
 * Lu et al. 2025, eq. 2, with the gate of eq. 3-5 choosing I_q per query token). The selected
 * blocks are gathered per query, so logits are [tq, n·B], not [tq, tk]. Returns the output and
 * the log-sum-exp (-Infinity, output 0, for a query whose slots are all empty) for
 * `mergeAttention`. Differentiable w.r.t. q, k and v; the selection is data.
 */
export function tokenBlockAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  options: TokenBlockOptions,
): { output: tf.Tensor4D; logSumExp: tf.Tensor3D } {
  const geo = validateAttention(q, k, v, {}, BLOCK);
  const { blockSize: B, selected } = options;
  checkInt(BLOCK, 'blockSize', B, 1);
  const numKeyBlocks = Math.ceil(geo.keyLength / B);
  checkTokenSelection(BLOCK, selected, [geo.batch, geo.heads, geo.queryLength], numKeyBlocks);
  const scale = options.scale ?? geo.scale;
  return tf.tidy(() => {
    const { batch: b, heads: h, kvHeads, headDim: d, valueDim: dv, queryLength: tq } = geo;
    const n = selected.shape[3];
    const rows = b * h * tq;
    const group = h / kvHeads;
    // Row of (batch, kv head, block 0) for each (batch, head): GQA reads head / group.
    const base = Array.from(
      { length: b * h },
      (_, i) => (Math.floor(i / h) * kvHeads + Math.floor((i % h) / group)) * numKeyBlocks,
    );
    const index = tf.reshape(
      tf.add(
        tf.reshape(tf.tensor1d(base, 'int32'), [b, h, 1, 1]),
        tf.maximum(selected, tf.scalar(0, 'int32')),
      ),
      [-1],
    ) as tf.Tensor1D;
    const gather = (x: tf.Tensor4D, width: number) => {
      const padded = tf.pad(x, [
        [0, 0],
        [0, 0],
        [0, numKeyBlocks * B - geo.keyLength],
        [0, 0],
      ]);
      const blocks = tf.reshape(padded, [b * kvHeads * numKeyBlocks, B * width]) as tf.Tensor2D;
      return tf.reshape(gatherRows(blocks, index), [rows, n * B, width]);
    };
    const keys = gather(k, d);
    const values = gather(v, dv);
    const queries = tf.reshape(tf.mul(q, scale), [rows, 1, d]);
    // A key counts when its slot is not empty and it exists (ragged last block).
    const keyPos = tf.add(
      tf.mul(tf.expandDims(selected, -1), tf.scalar(B, 'int32')),
      tf.range(0, B, 1, 'int32'),
    );
    const visible = tf.logicalAnd(
      tf.greaterEqual(tf.expandDims(selected, -1), 0),
      tf.less(keyPos, geo.keyLength),
    );
    const hidden = tf.reshape(tf.where(visible, tf.scalar(0), tf.scalar(MASK_NEGATIVE)), [
      rows,
      1,
      n * B,
    ]);
    const logits = tf.add(tf.matMul(queries, keys, false, true), hidden); // [rows, 1, n·B]
    const max = tf.max(logits, -1, true);
    const seen = tf.greaterEqual(max, MASK_NEGATIVE / 2);
    const p = tf.exp(tf.sub(logits, max));
    const denom = tf.sum(p, -1, true);
    const out = tf.mul(tf.div(tf.matMul(p, values), denom), tf.cast(seen, 'float32'));
    const lse = tf.where(seen, tf.add(max, tf.log(denom)), tf.fill(max.shape, -Infinity));
    return {
      output: tf.reshape(out, [b, h, tq, dv]) as tf.Tensor4D,
      logSumExp: tf.reshape(lse, [b, h, tq]) as tf.Tensor3D,
    };
  });
}

/**
 * The dense equivalent of a per-query block selection: bool [batch, heads, tq, tk], true where
 * key j lies in a block selected for query i (the exact reference of `tokenBlockAttention`).
 */
export function tokenBlockMask(selected: tf.Tensor4D, blockSize: number, tk: number): tf.Tensor4D {
  const block = 'tokenBlockMask';
  checkInt(block, 'blockSize', blockSize, 1);
  checkInt(block, 'tk', tk, 1);
  const numKeyBlocks = Math.ceil(tk / blockSize);
  const [b, h, tq] = selected.shape ?? [];
  checkTokenSelection(block, selected, [b!, h!, tq!], numKeyBlocks);
  return tf.tidy(() => {
    const hot = tf.oneHot(tf.maximum(selected, tf.scalar(0, 'int32')), numKeyBlocks);
    const valid = tf.cast(tf.expandDims(tf.greaterEqual(selected, 0), -1), 'int32');
    const chosen = tf.sum(tf.mul(hot, valid), 3); // [b, h, tq, numKeyBlocks]
    const keyBlock = Array.from({ length: tk }, (_, j) => Math.floor(j / blockSize));
    return tf.greater(tf.gather(chosen, tf.tensor1d(keyBlock, 'int32'), 3), 0) as tf.Tensor4D;
  });
}

/** Throws unless `selected` is int32 [...lead, n] with indices in -1..numKeyBlocks-1. */
export function checkTokenSelection(
  block: string,
  selected: tf.Tensor,
  lead: number[],
  numKeyBlocks: number,
): void {
  const want = `int32 [${lead.join(',')},n] (key-block indices per query)`;
  if (!(selected instanceof tf.Tensor)) {
    throw new ShapeError(block, 'selected', want, typeof selected);
  }
  const shape = selected.shape;
  if (
    selected.dtype !== 'int32' ||
    shape.length !== 4 ||
    lead.some((x, i) => shape[i] !== x) ||
    shape[3] === 0
  ) {
    throw new ShapeError(block, 'selected', want, `${selected.dtype} ${formatShape(shape)}`);
  }
  const values = selected.dataSync();
  const bad = values.findIndex((x) => x < -1 || x >= numKeyBlocks);
  if (bad >= 0) {
    throw new ConfigError(
      block,
      'selected',
      `key-block indices in -1..${numKeyBlocks - 1} (-1 = empty slot)`,
      `${values[bad]} at flat index ${bad}`,
    );
  }
  // A block listed twice would count twice in the softmax (the mask counts it once).
  const n = shape[3]!;
  for (let r = 0; r < values.length; r += n) {
    const row = Array.from(values.subarray(r, r + n)).filter((x) => x >= 0);
    if (new Set(row).size !== row.length) {
      throw new ConfigError(
        block,
        'selected',
        'distinct key blocks per query',
        `[${row.join(',')}] at row ${r / n}`,
      );
    }
  }
}
