import * as tf from '@tensorflow/tfjs-core';
import type { IncrementalState } from '@attnkit/core';

export interface KVCacheOptions {
  /** Keep only the last `window` positions (ring-buffer behaviour for sliding windows). */
  window?: number;
  /** Always keep the first `sinkTokens` positions as well (StreamingLLM attention sinks). */
  sinkTokens?: number;
}

/**
 * Keys and values of the tokens seen so far, [batch, kvHeads, kept, headDim], with their
 * absolute positions. Owns its tensors (kept out of tf.tidy) and frees them in dispose().
 * With a window it evicts what no future query can see, so memory stays bounded.
 */
export class KVCache implements IncrementalState {
  keys: tf.Tensor4D | null = null;
  values: tf.Tensor4D | null = null;
  /** Absolute positions of the kept keys. */
  positions: number[] = [];
  /** Tokens consumed so far. */
  length = 0;

  constructor(readonly options: KVCacheOptions = {}) {}

  /** Appends new keys/values; returns everything a query of this step may attend to. */
  append(
    keys: tf.Tensor4D,
    values: tf.Tensor4D,
    positions: number[],
  ): { keys: tf.Tensor4D; values: tf.Tensor4D; positions: number[] } {
    const nextKeys = this.keys ? tf.concat([this.keys, keys], 2) : tf.clone(keys);
    const nextValues = this.values ? tf.concat([this.values, values], 2) : tf.clone(values);
    this.replace(nextKeys, nextValues, [...this.positions, ...positions]);
    this.length += keys.shape[2];
    return { keys: this.keys!, values: this.values!, positions: this.positions };
  }

  /** Drops keys no later query can see (outside the window and not a sink). Call after attending. */
  evict(): void {
    const { window, sinkTokens = 0 } = this.options;
    if (window === undefined || !this.keys) return;
    const next = this.length; // position of the next query
    const keep = this.positions
      .map((p, i) => (p < sinkTokens || next - p < window ? i : -1))
      .filter((i) => i >= 0);
    if (keep.length === this.positions.length) return;
    const index = tf.tensor1d(keep, 'int32');
    // Kept rows are a sink prefix plus a recent suffix: gather along the time axis.
    const keys = tf.gather(this.keys, index, 2) as tf.Tensor4D;
    const values = tf.gather(this.values!, index, 2) as tf.Tensor4D;
    index.dispose();
    this.replace(
      keys,
      values,
      keep.map((i) => this.positions[i]!),
    );
  }

  private replace(keys: tf.Tensor4D, values: tf.Tensor4D, positions: number[]): void {
    const old = [this.keys, this.values];
    this.keys = tf.keep(keys);
    this.values = tf.keep(values);
    this.positions = positions;
    for (const t of old) t?.dispose();
  }

  dispose(): void {
    this.keys?.dispose();
    this.values?.dispose();
    this.keys = this.values = null;
    this.positions = [];
  }
}
