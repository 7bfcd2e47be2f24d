import type { Tokenizer, TokenizerJSON } from './tokenizer';
import { TokenizerError } from './tokenizer';
import { MAX_CHAR_VOCAB } from './limits';

/**
 * Character-level tokenizer over Unicode code points (`for..of` order), so emoji and other
 * astral characters are one token each. A lone surrogate in a JS string is a symbol of its own:
 * it is kept in the vocabulary like any other character, so round trips stay exact.
 */
export class CharTokenizer implements Tokenizer {
  readonly kind = 'char';
  private readonly index: Map<string, number>;

  constructor(readonly vocab: readonly string[]) {
    this.index = new Map(vocab.map((c, i) => [c, i]));
    if (this.index.size !== vocab.length) {
      throw new TokenizerError('CharTokenizer: vocab expected unique characters, got duplicates');
    }
  }

  /** Vocabulary = the distinct characters of `text`, sorted by code point. */
  static train(text: string): CharTokenizer {
    if (text.length === 0) {
      throw new TokenizerError('CharTokenizer.train: text expected non-empty, got an empty string');
    }
    const chars = [...new Set(text)].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
    return new CharTokenizer(chars);
  }

  static fromJSON(json: TokenizerJSON): CharTokenizer {
    if (Array.isArray(json.vocab) && json.vocab.length > MAX_CHAR_VOCAB) {
      throw new TokenizerError(
        `CharTokenizer: tokenizer.json "vocab" expected at most ${MAX_CHAR_VOCAB} entries, got ${json.vocab.length}`,
      );
    }
    // One character each: a code point (a lone surrogate kept as such). "ab" is two: encode
    // reads text code point by code point, so such an entry could never be produced.
    const isChar = (c: unknown): boolean =>
      typeof c === 'string' && c.length >= 1 && c.length <= 2 && [...c].length === 1;
    if (!Array.isArray(json.vocab) || json.vocab.length === 0 || !json.vocab.every(isChar)) {
      throw new TokenizerError(
        'CharTokenizer: tokenizer.json "vocab" expected a non-empty array of one-character strings',
      );
    }
    return new CharTokenizer(json.vocab as string[]);
  }

  get vocabSize(): number {
    return this.vocab.length;
  }

  encode(text: string): number[] {
    const ids: number[] = [];
    let offset = 0;
    for (const c of text) {
      const id = this.index.get(c);
      if (id === undefined) {
        const code = c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
        throw new TokenizerError(
          `CharTokenizer: text has character ${JSON.stringify(c)} (U+${code}) at offset ${offset}, ` +
            `which is not in the tokenizer's vocabulary of ${this.vocab.length} characters`,
        );
      }
      ids.push(id);
      offset += c.length;
    }
    return ids;
  }

  decode(ids: readonly number[]): string {
    return ids
      .map((id) => {
        const c = this.vocab[id];
        if (c === undefined) {
          throw new TokenizerError(
            `CharTokenizer: id expected an integer in [0, ${this.vocab.length}), got ${id}`,
          );
        }
        return c;
      })
      .join('');
  }

  toJSON(): TokenizerJSON {
    return { type: 'char', vocab: [...this.vocab] };
  }
}
