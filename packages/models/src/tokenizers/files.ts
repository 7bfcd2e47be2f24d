// A tokenizer as the files of a model directory: tokenizer.json (attnkit's kinds, or Hugging
// Face's format) and, for a Hugging Face tokenizer, tokenizer_config.json. Reading a directory
// is in `@attnkit/models/node` (`loadTokenizer`); this part runs anywhere.
import { cut, parseJson } from '@attnkit/core';
import type { Tokenizer } from './tokenizer';
import { TokenizerError } from './tokenizer';
import { HfTokenizer, isHfTokenizerJSON } from './hf';
import { MAX_HF_CONFIG_CHARS, MAX_HF_TOKENIZER_CHARS } from './limits';
import { tokenizerFromJSON } from './from-json';

export const TOKENIZER_FILE = 'tokenizer.json';
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';

/** The files that hold `tokenizer`, by name, as text. */
export function tokenizerFiles(tokenizer: Tokenizer): Record<string, string> {
  const files: Record<string, string> = {
    [TOKENIZER_FILE]: JSON.stringify(tokenizer.toJSON()) + '\n',
  };
  if (tokenizer instanceof HfTokenizer && Object.keys(tokenizer.configJSON()).length > 0) {
    files[TOKENIZER_CONFIG_FILE] = JSON.stringify(tokenizer.configJSON(), null, 2) + '\n';
  }
  return files;
}

/**
 * Where a tokenizer's files are read from: `read(file)` gives a file's text, or undefined when
 * there is no such file; `describe(file)` names it in errors.
 */
export interface TokenizerSource {
  read(file: string): Promise<string | undefined>;
  describe?(file: string): string;
}

function parse(text: string, name: string, maxLength: number): unknown {
  try {
    return parseJson('tokenizer', name, text, { maxLength });
  } catch (error) {
    const e = error as { expected?: string; actual?: string };
    throw new TokenizerError(
      `tokenizer: ${name} expected ${e.expected}, got ${cut(String(e.actual))}`,
    );
  }
}

/**
 * Reads the tokenizer of a model directory (a URL base, files in memory, ...): tokenizer.json,
 * and tokenizer_config.json next to a Hugging Face one when present. Undefined when there is no
 * tokenizer.json. Lengths and depth are checked before parsing.
 */
export async function readTokenizer(source: TokenizerSource): Promise<Tokenizer | undefined> {
  const name = (file: string) => source.describe?.(file) ?? file;
  const text = await source.read(TOKENIZER_FILE);
  if (text === undefined) return undefined;
  const json = parse(text, name(TOKENIZER_FILE), MAX_HF_TOKENIZER_CHARS);
  if (!isHfTokenizerJSON(json)) return tokenizerFromJSON(json);
  const configText = await source.read(TOKENIZER_CONFIG_FILE);
  const config =
    configText === undefined
      ? undefined
      : parse(configText, name(TOKENIZER_CONFIG_FILE), MAX_HF_CONFIG_CHARS);
  return HfTokenizer.fromJSON(json, config);
}

/** A tokenizer source over fetch: `base` is a directory URL (`…/resolve/main/`); 404 is no file. */
export function urlTokenizerSource(base: string, init?: RequestInit): TokenizerSource {
  const dir = base.endsWith('/') ? base : `${base}/`;
  return {
    describe: (file) => new URL(file, dir).href,
    async read(file) {
      const href = new URL(file, dir).href;
      let response: Response;
      try {
        response = await fetch(href, init);
      } catch (error) {
        throw new TokenizerError(
          `tokenizer: ${href} expected a URL that fetches, got ${cut(String(error))}`,
        );
      }
      if (response.status === 404) return undefined;
      if (!response.ok)
        throw new TokenizerError(
          `tokenizer: ${href} expected HTTP 2xx, got HTTP ${response.status}`,
        );
      const length = Number(response.headers.get('content-length') ?? 0);
      const max = file === TOKENIZER_FILE ? MAX_HF_TOKENIZER_CHARS : MAX_HF_CONFIG_CHARS;
      if (length > 4 * max)
        throw new TokenizerError(
          `tokenizer: ${href} expected at most ${max} characters, got ${length} bytes`,
        );
      return response.text();
    },
  };
}

/** The tokenizers attached to models (`attachTokenizer`), so generation can take text. */
const attached = new WeakMap<object, Tokenizer>();

/** Gives `model` its tokenizer: `generate(model, 'text', ...)` then encodes and decodes with it. */
export function attachTokenizer(model: object, tokenizer: Tokenizer): void {
  attached.set(model, tokenizer);
}

/** The tokenizer attached to `model`, if any. */
export function tokenizerOf(model: object): Tokenizer | undefined {
  return attached.get(model);
}
