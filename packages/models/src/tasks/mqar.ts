import type { Rng } from '@attnkit/core';
import { ConfigError } from '@attnkit/core';
import type { SyntheticTask, TaskExample } from './task';
import { checkTaskOption, distinct } from './task';

export interface MqarOptions {
  /** Distinct keys per example. */
  numPairs: number;
  /** Size of the key alphabet (ids 1..numKeys). */
  numKeys: number;
  /** Size of the value alphabet (ids numKeys+1..numKeys+numValues). */
  numValues: number;
  /** Keys asked about (<= numPairs); default numPairs. */
  numQueries?: number;
}

/**
 * Multi-query associative recall (Arora et al. 2023, "Zoology", sec. 3): key-value pairs
 * `k1 v1 ... kN vN`, then queried keys each followed by its value, which is the answer.
 * Unlike Zoology the queries follow the pairs directly (no filler), to keep sequences short.
 */
export class MqarTask implements SyntheticTask {
  readonly name = 'mqar';
  readonly vocabSize: number;
  readonly seqLen: number;
  readonly options: Record<string, number>;
  private readonly numQueries: number;

  constructor(private readonly opts: MqarOptions) {
    checkTaskOption('mqar', 'numPairs', opts.numPairs, 1);
    checkTaskOption('mqar', 'numKeys', opts.numKeys, opts.numPairs);
    checkTaskOption('mqar', 'numValues', opts.numValues, 1);
    this.numQueries = opts.numQueries ?? opts.numPairs;
    if (this.numQueries < 1 || this.numQueries > opts.numPairs) {
      throw new ConfigError(
        'mqar',
        'numQueries',
        `an integer in [1, ${opts.numPairs}]`,
        String(this.numQueries),
      );
    }
    this.vocabSize = 1 + opts.numKeys + opts.numValues;
    this.seqLen = 2 * opts.numPairs + 2 * this.numQueries - 1;
    this.options = { ...opts, numQueries: this.numQueries };
  }

  sample(rng: Rng): TaskExample {
    const { numPairs, numKeys, numValues } = this.opts;
    const keys = distinct(rng, numPairs, 1, numKeys + 1);
    const values = keys.map(() => numKeys + 1 + rng.int(numValues));
    const tokens: number[] = [];
    keys.forEach((k, i) => tokens.push(k, values[i]!));
    const asked = distinct(rng, this.numQueries, 0, numPairs);
    const answers: number[] = [];
    for (const i of asked) {
      tokens.push(keys[i]!, values[i]!);
      answers.push(tokens.length - 1);
    }
    return { tokens, answers };
  }
}
