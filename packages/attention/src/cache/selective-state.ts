import * as tf from '@tensorflow/tfjs-core';
import type { IncrementalState } from '@attnkit/core';
import { KVCache } from './kv-cache';

/**
 * Decoding state of selective attention: the KV cache plus, per key, the selection mass
 * Σ S accumulated over every token seen so far (subtracted from later logits).
 * Owns its tensors and frees them in dispose().
 */
export class SelectiveState implements IncrementalState {
  readonly cache = new KVCache();
  /** [batch, keys so far] */
  total: tf.Tensor2D | null = null;

  get length(): number {
    return this.cache.length;
  }

  setTotal(total: tf.Tensor2D): void {
    const old = this.total;
    this.total = tf.keep(total);
    old?.dispose();
  }

  dispose(): void {
    this.cache.dispose();
    this.total?.dispose();
    this.total = null;
  }
}
