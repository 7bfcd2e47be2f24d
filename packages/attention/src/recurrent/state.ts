import type * as tf from '@tensorflow/tfjs-core';
import { State } from '@attnkit/core';

/**
 * Decoding state of a recurrent mixer: a few named tensors (a convolution's last inputs, an SSM
 * state, scan statistics), each batch-first and of a size fixed by the config, not the length.
 * Each mixer subclasses it, so a state of another mixer is refused by its kind.
 */
export abstract class RecurrentState extends State {
  /** The named tensor, or undefined before the first token. */
  read<T extends tf.Tensor = tf.Tensor>(name: string): T | undefined {
    return this.tensor<T>(name);
  }

  /** Takes the tensors after `tokens` more tokens (they become the state's). */
  update(next: Record<string, tf.Tensor>, tokens: number): void {
    for (const [name, value] of Object.entries(next)) this.setTensor(name, value);
    this.advance(tokens);
  }
}
