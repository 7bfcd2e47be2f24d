import * as tf from '@tensorflow/tfjs-core';
import type { IncrementalState } from '@attnkit/core';
import { KVCache } from './kv-cache';

/**
 * Decoding state of Multi-Token Attention: the KV cache plus the last `queryContext`
 * queries [batch, heads, ≤queryContext, headDim] with their positions, because the
 * key-query convolution of a new row reads the rows of the queries just before it.
 * Owns its tensors and frees them in dispose().
 */
export class MultiTokenState implements IncrementalState {
  readonly cache = new KVCache();
  queries: tf.Tensor4D | null = null;
  queryPositions: number[] = [];

  constructor(readonly queryContext: number) {}

  get length(): number {
    return this.cache.length;
  }

  /** Keeps the last `queryContext` rows of `queries` (all queries of this step, cached first). */
  keepQueries(queries: tf.Tensor4D, positions: number[]): void {
    const old = this.queries;
    const n = Math.min(this.queryContext, positions.length);
    this.queries =
      n === 0 ? null : tf.keep(tf.slice(queries, [0, 0, positions.length - n, 0], [-1, -1, n, -1]));
    this.queryPositions = positions.slice(positions.length - n);
    old?.dispose();
  }

  dispose(): void {
    this.cache.dispose();
    this.queries?.dispose();
    this.queries = null;
    this.queryPositions = [];
  }
}
