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
  /**
   * Tokens per example (Zoology's input_seq_len): the queries are spread at random over the
   * span after the pairs, the gaps filled with token 0. Default: no gaps.
   */
  totalLength?: number;
}

/**
 * Multi-query associative recall (Arora et al. 2023, "Zoology", sec. 3): key-value pairs
 * `k1 v1 ... kN vN`, then queried keys each followed by its value, which is the answer.
 * Without `totalLength` the queries follow the pairs directly (short sequences for quick
 * training); with it, as in Zoology, each query sits at a random place in the rest of the
 * sequence and the gaps hold token 0 (uniform places, where Zoology draws gaps from a power law).
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
    const tight = 2 * opts.numPairs + 2 * this.numQueries;
    if (opts.totalLength !== undefined)
      checkTaskOption('mqar', 'totalLength', opts.totalLength, tight);
    this.seqLen = (opts.totalLength ?? tight) - 1;
    this.options = { ...opts, numQueries: this.numQueries };
  }

  sample(rng: Rng): TaskExample {
    const { numPairs, numKeys, numValues } = this.opts;
    const keys = distinct(rng, numPairs, 1, numKeys + 1);
    const values = keys.map(() => numKeys + 1 + rng.int(numValues));
    const tokens: number[] = [];
    keys.forEach((k, i) => tokens.push(k, values[i]!));
    const asked = distinct(rng, this.numQueries, 0, numPairs);
    // Where each query starts in the span after the pairs: the free tokens are spread over the
    // gaps before the queries by a random choice of slots among (queries + free) places.
    const free = this.seqLen + 1 - tokens.length - 2 * asked.length;
    // (Drawn only when there are gaps, so the gapless task's examples stay what they were.)
    const places =
      free === 0
        ? asked.map((_, q) => q)
        : distinct(rng, asked.length, 0, asked.length + free).sort((a, b) => a - b);
    const answers: number[] = [];
    let slot = 0;
    asked.forEach((i, q) => {
      for (; slot < places[q]!; slot++) tokens.push(0);
      slot++;
      tokens.push(keys[i]!, values[i]!);
      answers.push(tokens.length - 1);
    });
    while (tokens.length < this.seqLen + 1) tokens.push(0);
    return { tokens, answers };
  }
}
