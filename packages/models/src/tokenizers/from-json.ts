import { BpeTokenizer } from './bpe';
import { CharTokenizer } from './char';
import { IdTokenizer } from './ids';
import { HfTokenizer, isHfTokenizerJSON } from './hf';
import type { Tokenizer } from './tokenizer';
import { describe } from '@attnkit/core';
import { TokenizerError } from './tokenizer';

/**
 * Rebuilds a tokenizer from what `toJSON()` wrote: attnkit's own kinds by their `type`, a
 * Hugging Face tokenizer.json (with its tokenizer_config.json as `config`) by its format.
 */
export function tokenizerFromJSON(json: unknown, config?: unknown): Tokenizer {
  if (isHfTokenizerJSON(json)) return HfTokenizer.fromJSON(json, config);
  const type = (json as { type?: unknown } | null)?.type;
  if (type === 'char') return CharTokenizer.fromJSON(json as never);
  if (type === 'bpe') return BpeTokenizer.fromJSON(json as never);
  if (type === 'ids') return IdTokenizer.fromJSON(json as never);
  throw new TokenizerError(
    `tokenizer.json: "type" expected one of 'char', 'bpe', 'ids' (or a Hugging Face tokenizer.json with a "model"), got ${describe(type)}`,
  );
}
