import type { Rng } from '@attnkit/core';
import type { SyntheticTask, TaskExample } from './task';
import { checkTaskOption, distinct } from './task';

export interface SelectiveCopyOptions {
  /** Tokens to remember. */
  numTokens: number;
  /** Length of the noisy region holding them (>= numTokens). */
  regionLength: number;
  numSymbols: number;
}

/**
 * Selective copying (Gu & Dao 2023, Mamba, sec. 3.1): data tokens scattered among noise
 * tokens (id 2), then SEP (1), then the data tokens in order: the answers.
 */
export class SelectiveCopyTask implements SyntheticTask {
  readonly name = 'selective-copy';
  readonly vocabSize: number;
  readonly seqLen: number;
  readonly options: Record<string, number>;

  constructor(private readonly opts: SelectiveCopyOptions) {
    checkTaskOption('selective-copy', 'numTokens', opts.numTokens, 1);
    checkTaskOption('selective-copy', 'regionLength', opts.regionLength, opts.numTokens);
    checkTaskOption('selective-copy', 'numSymbols', opts.numSymbols, 2);
    this.vocabSize = 3 + opts.numSymbols;
    this.seqLen = opts.regionLength + opts.numTokens;
    this.options = { ...opts };
  }

  sample(rng: Rng): TaskExample {
    const { numTokens, regionLength, numSymbols } = this.opts;
    const slots = distinct(rng, numTokens, 0, regionLength).sort((a, b) => a - b);
    const region = new Array<number>(regionLength).fill(2);
    const data = slots.map((s) => (region[s] = 3 + rng.int(numSymbols)));
    const tokens = [...region, 1, ...data];
    return { tokens, answers: data.map((_, i) => regionLength + 1 + i) };
  }
}
