import type { Rng } from '@attnkit/core';
import type { SyntheticTask, TaskExample } from './task';
import { checkTaskOption } from './task';

export interface InductionOptions {
  /** Tokens per example, the trigger's second occurrence and its answer included. */
  length: number;
  /** Size of the random-token alphabet (ids 2..numSymbols+1); id 1 is the trigger. */
  numSymbols: number;
}

/**
 * Induction heads (Olsson et al. 2022; the synthetic form of Fu et al. 2023, H3, sec. 3.1):
 * random tokens in which a trigger (id 1) appears once followed by some token x; the
 * sequence ends with the trigger again, and the answer is x. Solving it takes a head that
 * finds the previous occurrence and copies what followed it.
 */
export class InductionTask implements SyntheticTask {
  readonly name = 'induction';
  readonly vocabSize: number;
  readonly seqLen: number;
  readonly options: Record<string, number>;

  constructor(private readonly opts: InductionOptions) {
    checkTaskOption('induction', 'length', opts.length, 4);
    checkTaskOption('induction', 'numSymbols', opts.numSymbols, 2);
    this.vocabSize = 2 + opts.numSymbols;
    this.seqLen = opts.length - 1;
    this.options = { ...opts };
  }

  sample(rng: Rng): TaskExample {
    const { length, numSymbols } = this.opts;
    const tokens = Array.from({ length }, () => 2 + rng.int(numSymbols));
    // The first trigger sits anywhere before the final pair (trigger, answer) leaves room.
    const at = rng.int(length - 3);
    tokens[at] = 1;
    tokens[length - 2] = 1;
    tokens[length - 1] = tokens[at + 1]!;
    return { tokens, answers: [length - 1] };
  }
}
