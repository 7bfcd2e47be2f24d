import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, NamedRegistry, checkInt } from '@attnkit/core';
import { repeatKvHeads, validateScores } from './validate';
import { blockGeometry, type BlockGeometry } from './block-sparse-mask';

export interface KeySelectorOptions {
  /** Tokens per query block and per key block. */
  blockSize: number;
  /** Key blocks per query block: the size of the selection's last axis. */
  topK: number;
  /** Select only key blocks at or before the query block (and always the current one). */
  causal?: boolean;
  /** Position of the first query; default tk - tq (as blockSparseAttention). */
  queryOffset?: number;
  /** A selector's own options (e.g. a score temperature) travel through the registry too. */
  [option: string]: unknown;
}

/**
 * Maps queries [b, h, tq, d] and keys [b, kvHeads, tk, d] to `selected`, int32
 * [b, h, numQueryBlocks, topK] key-block indices with -1 for empty slots: the input of
 * `blockSparseAttention`. Selection is discrete and not differentiated; gradients reach q, k
 * and v through the attention over the selected blocks.
 */
export type KeySelector = (
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  options: KeySelectorOptions,
) => tf.Tensor4D;

/** Key selectors by name: the seam of the sparse mixers (MoBA, NSA, top-k, ...). */
export const keySelectors = new NamedRegistry<KeySelector>('keySelector');

/** Runs the selector registered as `name` (a RegistryError lists the names otherwise). */
export function selectKeyBlocks(
  name: string,
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  options: KeySelectorOptions,
): tf.Tensor4D {
  return keySelectors.get(name, 'selector')(q, k, options);
}

/** Checks the shared inputs of a selector; returns the block geometry. */
export function selectorGeometry(
  block: string,
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  options: KeySelectorOptions,
): BlockGeometry & { batch: number; heads: number } {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError(block, 'options', '{ blockSize, topK, causal? }', String(options));
  }
  const geo = validateScores(q, k, {}, block);
  checkInt(block, 'topK', options.topK, 1);
  const g = blockGeometry(
    geo.queryLength,
    geo.keyLength,
    options.blockSize,
    options.queryOffset,
    block,
  );
  return { ...g, batch: geo.batch, heads: geo.heads };
}

const LIMIT = 1e38;
const OUT = 3e38;

/** Means over the real tokens of each block of x [b, h, t, d] placed from `lead`: [b, h, n, d]. */
function blockMeans(x: tf.Tensor4D, lead: number, blocks: number, size: number): tf.Tensor4D {
  const [b, h, t, d] = x.shape;
  const padded = tf.pad(x, [
    [0, 0],
    [0, 0],
    [lead, blocks * size - lead - t],
    [0, 0],
  ]);
  const counts = Array.from(
    { length: blocks },
    (_, i) => Math.min(t + lead, (i + 1) * size) - Math.max(lead, i * size),
  );
  const sums = tf.sum(tf.reshape(padded, [b, h, blocks, size, d]), 3);
  return tf.div(sums, tf.reshape(tf.tensor1d(counts), [1, 1, blocks, 1])) as tf.Tensor4D;
}

/**
 * MoBA's gate (Lu et al. 2025, sec. 2.2, eq. 3-5): the affinity of a query block and a key
 * block is ⟨mean-pooled q, mean-pooled k⟩ (MoBA scores each query token; a block of queries
 * shares one selection here, so its queries are pooled too: a block-level approximation; the
 * per-token gate of the paper is `mobaGate` in moba.ts); the topK highest blocks win.
 * Causal (sec. 2.2, "causality"): blocks after the query block are out and its own block is
 * always in. Slots beyond the blocks available get -1.
 */
export const blockTopKMean: KeySelector = (q, k, options) => {
  const g = selectorGeometry('block-topk-mean', q, k, options);
  return tf.tidy(() => {
    const heads = q.shape[1];
    const qMean = blockMeans(q, g.lead, g.numQueryBlocks, g.blockSize);
    const kMean = repeatKvHeads(blockMeans(k, 0, g.numKeyBlocks, g.blockSize), heads);
    // Finite sentinels: tfjs' cpu topk compares by subtraction, which Infinity - Infinity breaks.
    let scores: tf.Tensor = tf.clipByValue(tf.matMul(qMean, kMean, false, true), -LIMIT, LIMIT);
    if (options.causal) {
      const rule = Array.from({ length: g.numQueryBlocks * g.numKeyBlocks }, (_, i) => {
        const current = g.firstBlock + Math.floor(i / g.numKeyBlocks);
        const key = i % g.numKeyBlocks;
        return key > current ? -1 : key === current ? 1 : 0;
      });
      // Future blocks drop below every score, the current block rises above.
      const forced = tf.tensor2d(rule, [g.numQueryBlocks, g.numKeyBlocks]);
      scores = tf.where(tf.equal(forced, 0), scores, tf.mul(forced, OUT));
    }
    const take = Math.min(options.topK, g.numKeyBlocks);
    const { values, indices } = tf.topk(scores, take);
    let selected: tf.Tensor = tf.where(
      tf.lessEqual(values, -OUT),
      tf.fill(indices.shape, -1, 'int32'),
      indices,
    );
    if (take < options.topK) {
      selected = tf.pad(
        selected,
        [
          [0, 0],
          [0, 0],
          [0, 0],
          [0, options.topK - take],
        ],
        -1,
      );
    }
    return selected as tf.Tensor4D;
  });
};

/**
 * A sliding window of blocks: the query block and the topK - 1 before it (blocks that do not
 * exist are -1), the local branch of block-sparse schemes (e.g. NSA's sliding window, Yuan et
 * al. 2025, sec. 3.3.3, at block granularity).
 */
export const slidingBlocks: KeySelector = (q, k, options) => {
  const g = selectorGeometry('sliding-blocks', q, k, options);
  const { topK } = options;
  const rows = Array.from({ length: g.numQueryBlocks * topK }, (_, i) => {
    const block = g.firstBlock + Math.floor(i / topK) - (i % topK);
    return block >= 0 && block < g.numKeyBlocks ? block : -1;
  });
  return tf.tidy(
    () =>
      tf.broadcastTo(tf.tensor4d(rows, [1, 1, g.numQueryBlocks, topK], 'int32'), [
        g.batch,
        g.heads,
        g.numQueryBlocks,
        topK,
      ]) as tf.Tensor4D,
  );
};

keySelectors.register('block-topk-mean', blockTopKMean, {
  paper: 'Lu et al. 2025, MoBA: Mixture of Block Attention for Long-Context LLMs',
  equation: 'sec. 2.2, eq. 3-5 (mean-pooled block affinity, top-k gate, causal current block)',
  summary:
    'Top-k key blocks by mean-pooled query · mean-pooled key; causal keeps the current block.',
  example: { blockSize: 16, topK: 2, causal: true },
});

keySelectors.register('sliding-blocks', slidingBlocks, {
  paper: 'Yuan et al. 2025, Native Sparse Attention (sliding branch, at block granularity)',
  equation: 'sec. 3.3.3',
  summary: 'The current block and the topK - 1 blocks before it.',
  example: { blockSize: 16, topK: 2, causal: true },
});
