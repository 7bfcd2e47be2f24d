import { BpeTokenizer } from './bpe';
import { CharTokenizer } from './char';
import { IdTokenizer } from './ids';
import type { Tokenizer } from './tokenizer';
import { describe } from '@attnkit/core';
import { TokenizerError } from './tokenizer';

export * from './tokenizer';
export * from './limits';
export { BpeTokenizer, CharTokenizer, IdTokenizer };

/** Rebuilds a tokenizer from what `toJSON()` wrote. */
export function tokenizerFromJSON(json: unknown): Tokenizer {
  const type = (json as { type?: unknown } | null)?.type;
  if (type === 'char') return CharTokenizer.fromJSON(json as never);
  if (type === 'bpe') return BpeTokenizer.fromJSON(json as never);
  if (type === 'ids') return IdTokenizer.fromJSON(json as never);
  throw new TokenizerError(
    `tokenizer.json: "type" expected one of 'char', 'bpe', 'ids', got ${describe(type)}`,
  );
}
