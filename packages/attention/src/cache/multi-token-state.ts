import * as tf from '@tensorflow/tfjs-core';
import { State } from '@attnkit/core';
import { KVCache, restoredPositions } from './kv-cache';

/**
 * Decoding state of Multi-Token Attention: the KV cache plus the last `queryContext`
 * queries [batch, heads, ≤queryContext, headDim] with their positions, because the
 * key-query convolution of a new row reads the rows of the queries just before it.
 */
export class MultiTokenState extends State {
  readonly cache = this.addChild('cache', new KVCache());
  queryPositions: number[] = [];

  constructor(readonly queryContext: number) {
    super();
  }

  override get length(): number {
    return this.cache.length;
  }

  get queries(): tf.Tensor4D | null {
    return this.tensor<tf.Tensor4D>('queries') ?? null;
  }

  /** Keeps the last `queryContext` rows of `queries` (all queries of this step, cached first). */
  keepQueries(queries: tf.Tensor4D, positions: number[]): void {
    const n = Math.min(this.queryContext, positions.length);
    this.setTensor(
      'queries',
      n === 0 ? null : tf.slice(queries, [0, 0, positions.length - n, 0], [-1, -1, n, -1]),
    );
    this.queryPositions = positions.slice(positions.length - n);
  }

  protected override fields(): Record<string, unknown> {
    return { queryPositions: this.queryPositions };
  }

  protected override restoreFields(fields: Record<string, unknown>): void {
    const kept = this.queries?.shape[2] ?? 0;
    this.queryPositions = restoredPositions(this.kind, fields.queryPositions, kept);
  }

  override dispose(): void {
    super.dispose();
    this.queryPositions = [];
  }
}
