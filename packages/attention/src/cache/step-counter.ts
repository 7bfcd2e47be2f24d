import type { IncrementalState } from '@attnkit/core';

/** The state of a mixer that needs no memory of past tokens: it only counts them. */
export class StepCounter implements IncrementalState {
  length = 0;

  advance(tokens: number): void {
    this.length += tokens;
  }

  dispose(): void {}
}
