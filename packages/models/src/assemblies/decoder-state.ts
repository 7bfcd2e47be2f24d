import type { IncrementalState } from '@attnkit/core';

/** Decoding state of a whole stack: one state per layer plus the number of tokens consumed. */
export class StackState implements IncrementalState {
  length = 0;

  constructor(readonly layers: (IncrementalState | undefined)[]) {}

  dispose(): void {
    for (const s of this.layers) s?.dispose();
  }
}
