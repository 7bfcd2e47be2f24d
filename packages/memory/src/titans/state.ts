import type * as tf from '@tensorflow/tfjs-core';
import { State } from '@attnkit/core';
import type { NeuralMemoryCarry } from './neural-memory-op';

/**
 * Decoding state of the neural memory: the memory's weights (accumulators), its surprise and the
 * weights at the current chunk's start, each [b, h, in, out] per matrix of the memory model.
 * Constant size: the memory is its state, as a KV cache is attention's.
 */
export class NeuralMemoryState extends State {
  /** The carry after the tokens seen, or undefined before the first call. */
  get carry(): NeuralMemoryCarry | undefined {
    if (!this.tensor('weights_0')) return undefined;
    const read = (part: string) => {
      const out: tf.Tensor[] = [];
      for (let i = 0; this.tensor(`${part}_${i}`); i++) out.push(this.tensor(`${part}_${i}`)!);
      return out;
    };
    return { weights: read('weights'), momentum: read('momentum'), base: read('base') };
  }

  /** Takes the carry after `tokens` more tokens (its tensors become the state's). */
  update(carry: NeuralMemoryCarry, tokens: number): void {
    // The op may hand back as `base` a tensor also held elsewhere (the weights, new or old): copy it
    // before anything is replaced, so no slot shares a tensor another slot frees.
    const held = new Set([...Object.values(this.tensors()), ...carry.weights]);
    carry.base.forEach((t, i) => {
      const name = `base_${i}`;
      if (t !== this.tensor(name)) this.setTensor(name, held.has(t) ? t.clone() : t);
    });
    for (const part of ['weights', 'momentum'] as const) {
      carry[part].forEach((t, i) => this.setTensor(`${part}_${i}`, t));
    }
    this.advance(tokens);
  }
}
