import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  ShapeError,
  causalMask,
  checkInt,
  checkRank,
  formatShape,
} from '@attnkit/core';

/**
 * How queries and keys fall into blocks of `blockSize`. Keys sit at positions 0..tk-1 and key
 * block j holds keys [j·B, (j+1)·B) (the last one may be ragged). Queries are consecutive
 * from position `queryOffset`, end-aligned by default (tk - tq, as sdpa's default positions),
 * and a query at position p belongs to absolute block ⌊p / B⌋, so a decoding step shares the
 * block of the prefill it continues. The third axis of `selected` lists the query blocks the
 * queries cover, from `firstBlock` on; `lead` queries of the first block come before q.
 */
export interface BlockGeometry {
  blockSize: number;
  queryLength: number;
  keyLength: number;
  queryOffset: number;
  /** Absolute index of the first query block. */
  firstBlock: number;
  /** Query blocks covered: the size of `selected`'s third axis. */
  numQueryBlocks: number;
  /** Key blocks: ⌈tk / B⌉; valid indices in `selected` are -1 (empty) and 0..numKeyBlocks-1. */
  numKeyBlocks: number;
  /** Positions of the first block before the first query (0 when end-aligned on a boundary). */
  lead: number;
}

export function blockGeometry(
  queryLength: number,
  keyLength: number,
  blockSize: number,
  queryOffset?: number,
  block = 'blockGeometry',
): BlockGeometry {
  checkInt(block, 'blockSize', blockSize, 1);
  checkInt(block, 'tq', queryLength, 1);
  checkInt(block, 'tk', keyLength, 1);
  const offset = queryOffset ?? keyLength - queryLength;
  if (!Number.isInteger(offset) || offset < 0) {
    throw new ConfigError(
      block,
      'queryOffset',
      'an integer >= 0 (queries after the first key; tq <= tk by default)',
      String(offset),
    );
  }
  const firstBlock = Math.floor(offset / blockSize);
  const lastBlock = Math.floor((offset + queryLength - 1) / blockSize);
  return {
    blockSize,
    queryLength,
    keyLength,
    queryOffset: offset,
    firstBlock,
    numQueryBlocks: lastBlock - firstBlock + 1,
    numKeyBlocks: Math.ceil(keyLength / blockSize),
    lead: offset - firstBlock * blockSize,
  };
}

/** Throws unless `selected` is int32 [batch, heads, numQueryBlocks, kPerBlock]. */
export function checkSelected(
  block: string,
  selected: tf.Tensor,
  batch: number,
  heads: number,
  geometry: BlockGeometry,
): void {
  if (!(selected instanceof tf.Tensor)) {
    throw new ShapeError(block, 'selected', 'an int32 tensor', typeof selected);
  }
  checkRank(block, 'selected', selected, 4);
  const [b, h, nqb, kpb] = selected.shape as number[];
  if (selected.dtype !== 'int32' || b !== batch || h !== heads || nqb !== geometry.numQueryBlocks) {
    throw new ShapeError(
      block,
      'selected',
      `int32 [${batch},${heads},${geometry.numQueryBlocks},kPerBlock] (one row of key-block indices per query block)`,
      `${selected.dtype} ${formatShape(selected.shape)}`,
    );
  }
  if (kpb === 0) {
    throw new ShapeError(block, 'selected', 'kPerBlock >= 1', formatShape(selected.shape));
  }
  // A small int tensor read once: an index out of range would gather another head's keys.
  const values = selected.dataSync();
  const bad = values.findIndex((x) => x < -1 || x >= geometry.numKeyBlocks);
  if (bad >= 0) {
    throw new ConfigError(
      block,
      'selected',
      `key-block indices in -1..${geometry.numKeyBlocks - 1} (-1 = empty slot)`,
      `${values[bad]} at flat index ${bad}`,
    );
  }
}

export interface BlockSparseMaskOptions {
  blockSize: number;
  tq: number;
  tk: number;
  causal?: boolean;
  queryOffset?: number;
}

/**
 * The dense equivalent of a block selection: a boolean mask [batch, heads, tq, tk], true where
 * key j lies in a block selected for query i's block (and, with `causal`, j <= i's position).
 * `scaledDotProductAttention(q, k, v, { mask })` with it is the exact reference of
 * `blockSparseAttention` (at O(tq·tk) cost). Duplicates and -1 slots select nothing extra.
 */
export function blockSparseMask(
  selected: tf.Tensor4D,
  options: BlockSparseMaskOptions,
): tf.Tensor4D {
  const block = 'blockSparseMask';
  const { blockSize, tq, tk, causal = false } = options;
  const g = blockGeometry(tq, tk, blockSize, options.queryOffset, block);
  checkRank(block, 'selected', selected, 4);
  checkSelected(block, selected, selected.shape[0], selected.shape[1], g);
  return tf.tidy(() => {
    // [b, h, nqb, nkb]: whether each key block is selected for each query block (-1 matches
    // no block; a comparison, not tf.oneHot, which refuses a depth of 1: a single key block).
    const blocks = tf.range(0, g.numKeyBlocks, 1, 'int32');
    const hot = tf.cast(tf.equal(tf.expandDims(selected, -1), blocks), 'int32');
    const chosen = tf.greater(tf.sum(hot, 3), 0);
    const queryBlock = Array.from(
      { length: tq },
      (_, i) => Math.floor((g.queryOffset + i) / blockSize) - g.firstBlock,
    );
    const keyBlock = Array.from({ length: tk }, (_, j) => Math.floor(j / blockSize));
    const rows = tf.gather(tf.cast(chosen, 'int32'), tf.tensor1d(queryBlock, 'int32'), 2);
    let mask: tf.Tensor = tf.cast(tf.gather(rows, tf.tensor1d(keyBlock, 'int32'), 3), 'bool');
    if (causal) mask = tf.logicalAnd(mask, causalMask(tq, tk, g.queryOffset));
    return mask as tf.Tensor4D;
  });
}
