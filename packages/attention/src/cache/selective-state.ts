import type * as tf from '@tensorflow/tfjs-core';
import { State } from '@attnkit/core';
import { KVCache } from './kv-cache';

/**
 * Decoding state of selective attention: the KV cache plus, per key, the selection mass
 * Σ S accumulated over every token seen so far (subtracted from later logits).
 */
export class SelectiveState extends State {
  readonly cache = this.addChild('cache', new KVCache());

  override get length(): number {
    return this.cache.length;
  }

  /** [batch, keys so far] */
  get total(): tf.Tensor2D | null {
    return this.tensor<tf.Tensor2D>('total') ?? null;
  }

  setTotal(total: tf.Tensor2D): void {
    this.setTensor('total', total);
  }
}
