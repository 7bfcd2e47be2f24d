import type { Rng } from '@attnkit/core';
import type { SyntheticTask, TaskExample } from './task';
import { checkTaskOption } from './task';

export interface PasskeyOptions {
  /** Filler tokens around the passkey. */
  contextLength: number;
  /** Digits in the passkey. */
  passkeyLength: number;
}

const KEY = 1;
const QUERY = 2;
const DIGIT0 = 3;
const FILLER0 = 13;
const FILLERS = 4;

/**
 * Passkey retrieval (Mohtashami & Jaggi 2023, Landmark Attention, sec. 4.2): a repeating filler
 * with `KEY d1..dk` hidden at a random place; after `QUERY` the model must repeat d1..dk.
 */
export class PasskeyTask implements SyntheticTask {
  readonly name = 'passkey';
  readonly vocabSize = FILLER0 + FILLERS;
  readonly seqLen: number;
  readonly options: Record<string, number>;

  constructor(private readonly opts: PasskeyOptions) {
    checkTaskOption('passkey', 'contextLength', opts.contextLength, 1);
    checkTaskOption('passkey', 'passkeyLength', opts.passkeyLength, 1);
    this.seqLen = opts.contextLength + 2 * opts.passkeyLength + 1;
    this.options = { ...opts };
  }

  sample(rng: Rng): TaskExample {
    const { contextLength, passkeyLength } = this.opts;
    const digits = Array.from({ length: passkeyLength }, () => DIGIT0 + rng.int(10));
    const filler = Array.from({ length: contextLength }, (_, i) => FILLER0 + (i % FILLERS));
    const at = rng.int(contextLength + 1);
    const tokens = [...filler.slice(0, at), KEY, ...digits, ...filler.slice(at), QUERY, ...digits];
    const start = tokens.length - passkeyLength;
    return { tokens, answers: digits.map((_, i) => start + i) };
  }
}
