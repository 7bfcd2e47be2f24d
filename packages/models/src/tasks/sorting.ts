import type { Rng } from '@attnkit/core';
import type { SyntheticTask, TaskExample } from './task';
import { checkTaskOption } from './task';

export interface SortingOptions {
  length: number;
  /** Numbers are drawn from [0, numSymbols) and written as ids 2.. */
  numSymbols: number;
}

/** Sorting: `x1..xn SEP sorted(x)`; the sorted half are the answers. */
export class SortingTask implements SyntheticTask {
  readonly name = 'sorting';
  readonly vocabSize: number;
  readonly seqLen: number;
  readonly options: Record<string, number>;

  constructor(private readonly opts: SortingOptions) {
    checkTaskOption('sorting', 'length', opts.length, 1);
    checkTaskOption('sorting', 'numSymbols', opts.numSymbols, 2);
    this.vocabSize = 2 + opts.numSymbols;
    this.seqLen = 2 * opts.length;
    this.options = { ...opts };
  }

  sample(rng: Rng): TaskExample {
    const xs = Array.from({ length: this.opts.length }, () => 2 + rng.int(this.opts.numSymbols));
    const sorted = [...xs].sort((a, b) => a - b);
    return {
      tokens: [...xs, 1, ...sorted],
      answers: sorted.map((_, i) => this.opts.length + 1 + i),
    };
  }
}
