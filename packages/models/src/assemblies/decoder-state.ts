import { State, type IncrementalState } from '@attnkit/core';

/**
 * Decoding state of a whole stack: one state per layer (`layers.<i>.*` in `tensors()` and saved
 * files) and the token offset, which the stack owns: it passes positions to every layer as
 * numbers, so no layer's own count has to agree and nothing is read back from the backend.
 */
export class StackState extends State {
  constructor(readonly layers: (IncrementalState | undefined)[]) {
    super();
    layers.forEach((s, i) => {
      if (s) this.addChild(`layers.${i}`, s);
    });
  }
}
