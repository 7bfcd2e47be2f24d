import type * as tf from '@tensorflow/tfjs-core';
import { State } from '@attnkit/core';
import type { LinearAttentionState } from '../ops/linear';

/**
 * Decoding state of a linear-attention mixer: the running sums S = Σ φ(k)ᵀ v [batch, heads, dk,
 * dv] and, when it normalises, z = Σ φ(k) [batch, heads, dk]: constant size, whatever the length.
 */
export class LinearState extends State {
  /** The op's state to continue from, or undefined before the first token. */
  get sums(): LinearAttentionState | undefined {
    const kv = this.tensor<tf.Tensor4D>('kv');
    if (!kv) return undefined;
    const kSum = this.tensor<tf.Tensor3D>('kSum');
    return kSum ? { kv, kSum } : { kv };
  }

  /** Takes the op's state after `tokens` more tokens (the tensors become the state's). */
  update(next: LinearAttentionState, tokens: number): void {
    this.setTensor('kv', next.kv);
    this.setTensor('kSum', next.kSum ?? null);
    this.advance(tokens);
  }
}
