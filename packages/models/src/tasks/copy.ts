import type { Rng } from '@attnkit/core';
import type { SyntheticTask, TaskExample } from './task';
import { checkTaskOption } from './task';

export interface CopyOptions {
  length: number;
  /** Alphabet size of the copied tokens (ids 2..). */
  numSymbols: number;
}

/** Copying (Graves et al. 2014): `x1..xn SEP x1..xn`; the second half are the answers. */
export class CopyTask implements SyntheticTask {
  readonly name = 'copy';
  readonly vocabSize: number;
  readonly seqLen: number;
  readonly options: Record<string, number>;

  constructor(private readonly opts: CopyOptions) {
    checkTaskOption('copy', 'length', opts.length, 1);
    checkTaskOption('copy', 'numSymbols', opts.numSymbols, 2);
    this.vocabSize = 2 + opts.numSymbols;
    this.seqLen = 2 * opts.length;
    this.options = { ...opts };
  }

  sample(rng: Rng): TaskExample {
    const xs = Array.from({ length: this.opts.length }, () => 2 + rng.int(this.opts.numSymbols));
    const tokens = [...xs, 1, ...xs];
    return { tokens, answers: xs.map((_, i) => this.opts.length + 1 + i) };
  }
}
