/**
 * What every tokenizer offers; `toJSON()` is what `tokenizer.json` holds (attnkit's own kinds
 * write a `type`; a Hugging Face tokenizer writes its own format, which has none).
 */
export interface Tokenizer {
  readonly kind: string;
  readonly vocabSize: number;
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
  toJSON(): TokenizerJSON;
}

export type TokenizerJSON = { type?: string } & Record<string, unknown>;

/** Thrown when text holds symbols a saved tokenizer cannot encode. */
export class TokenizerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenizerError';
  }
}
