import type { Tokenizer, TokenizerJSON } from './tokenizer';
import { TokenizerError } from './tokenizer';
import { MAX_ID_VOCAB } from './limits';
import { describe } from '@attnkit/core';

/** Token ids written as space-separated integers: the tokenizer of synthetic-task runs. */
export class IdTokenizer implements Tokenizer {
  readonly kind = 'ids';

  constructor(readonly vocabSize: number) {}

  static fromJSON(json: TokenizerJSON): IdTokenizer {
    const size = json.vocabSize;
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > MAX_ID_VOCAB) {
      throw new TokenizerError(
        `IdTokenizer: tokenizer.json "vocabSize" expected an integer in [1, ${MAX_ID_VOCAB}], got ${describe(size)}`,
      );
    }
    return new IdTokenizer(size);
  }

  encode(text: string): number[] {
    const parts = text
      .trim()
      .split(/[\s,]+/)
      .filter(Boolean);
    return parts.map((p) => {
      const id = Number(p);
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new TokenizerError(
          `IdTokenizer: token expected an integer in [0, ${this.vocabSize}), got '${p}'`,
        );
      }
      return id;
    });
  }

  decode(ids: readonly number[]): string {
    return ids.join(' ');
  }

  toJSON(): TokenizerJSON {
    return { type: 'ids', vocabSize: this.vocabSize };
  }
}
