// Hugging Face tokenizers (tokenizer.json, with tokenizer_config.json when there is one) run by
// @huggingface/tokenizers: byte-level BPE (GPT-2), SentencePiece-style BPE with byte fallback
// (Llama), WordPiece (BERT), Unigram. Sizes are checked on the JSON before the library builds
// its tables; whatever it still refuses becomes a TokenizerError.
import { Tokenizer as HfLibrary } from '@huggingface/tokenizers';
import { cut, describe, parseJson } from '@attnkit/core';
import type { Tokenizer, TokenizerJSON } from './tokenizer';
import { TokenizerError } from './tokenizer';
import {
  MAX_BPE_MERGES,
  MAX_HF_CONFIG_CHARS,
  MAX_HF_TOKENIZER_CHARS,
  MAX_HF_TOKEN_CHARS,
  MAX_HF_VOCAB,
} from './limits';
import { type ChatMessage, type ChatTemplateOptions, renderChatTemplate } from './hf-chat';

/** The model kinds read (`model.type` of tokenizer.json). */
export const HF_TOKENIZER_MODELS = ['BPE', 'WordPiece', 'Unigram'] as const;
/** The special-token fields of tokenizer_config.json that name one token. */
const SPECIAL_FIELDS = [
  'bos_token',
  'eos_token',
  'unk_token',
  'pad_token',
  'sep_token',
  'cls_token',
  'mask_token',
] as const;
export type HfSpecialToken = (typeof SPECIAL_FIELDS)[number];

export interface HfEncodeOptions {
  /** Add the special tokens the tokenizer's post-processor adds (Llama's `<s>`, BERT's [CLS]/[SEP]); default true. */
  addSpecialTokens?: boolean;
}
export interface HfDecodeOptions {
  /** Leave special tokens (`<s>`, `<|endoftext|>`, [CLS]) out of the text; default true. */
  skipSpecialTokens?: boolean;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Whether a parsed tokenizer.json is in Hugging Face's format (a `model` object, no `type`). */
export function isHfTokenizerJSON(json: unknown): boolean {
  return isObject(json) && isObject(json.model) && typeof json.type !== 'string';
}

function fail(file: string, field: string, expected: string, got: string): never {
  throw new TokenizerError(`HfTokenizer: ${file} "${field}" expected ${expected}, got ${got}`);
}

const isId = (v: unknown) =>
  Number.isInteger(v) && (v as number) >= 0 && (v as number) < MAX_HF_VOCAB;
const tokenText = (v: unknown) => typeof v === 'string' && v.length <= MAX_HF_TOKEN_CHARS;

/**
 * Checks the sizes and shapes of a tokenizer.json before the library builds anything from it;
 * returns the vocabulary size (largest id + 1).
 */
function checkTokenizerJSON(json: unknown, file: string): number {
  if (!isObject(json)) fail(file, '$', 'an object', describe(json));
  const model = json.model;
  if (!isObject(model)) fail(file, 'model', 'an object', describe(model));
  const type = model.type;
  if (!HF_TOKENIZER_MODELS.includes(type as never)) {
    fail(file, 'model.type', `one of ${HF_TOKENIZER_MODELS.join(', ')}`, describe(type));
  }
  let size = 0;
  const vocab = model.vocab;
  if (type === 'Unigram') {
    if (!Array.isArray(vocab) || vocab.length === 0 || vocab.length > MAX_HF_VOCAB) {
      fail(
        file,
        'model.vocab',
        `an array of 1 to ${MAX_HF_VOCAB} [piece, score] pairs`,
        describe(vocab),
      );
    }
    vocab.forEach((entry, i) => {
      if (!Array.isArray(entry) || !tokenText(entry[0]) || typeof entry[1] !== 'number') {
        fail(
          file,
          `model.vocab[${i}]`,
          `[a piece of at most ${MAX_HF_TOKEN_CHARS} characters, a score]`,
          describe(entry),
        );
      }
    });
    size = vocab.length;
  } else {
    if (!isObject(vocab)) fail(file, 'model.vocab', 'an object of token -> id', describe(vocab));
    const entries = Object.entries(vocab);
    if (entries.length === 0 || entries.length > MAX_HF_VOCAB) {
      fail(file, 'model.vocab', `1 to ${MAX_HF_VOCAB} entries`, `${entries.length}`);
    }
    for (const [token, id] of entries) {
      if (token.length > MAX_HF_TOKEN_CHARS) {
        fail(
          file,
          'model.vocab',
          `tokens of at most ${MAX_HF_TOKEN_CHARS} characters`,
          `one of ${token.length}`,
        );
      }
      if (!isId(id))
        fail(
          file,
          `model.vocab[${JSON.stringify(cut(token, 40))}]`,
          `an id in [0, ${MAX_HF_VOCAB})`,
          describe(id),
        );
      size = Math.max(size, (id as number) + 1);
    }
  }
  if (type === 'BPE') {
    const merges = model.merges;
    if (!Array.isArray(merges) || merges.length > MAX_BPE_MERGES) {
      fail(
        file,
        'model.merges',
        `an array of at most ${MAX_BPE_MERGES} merges`,
        Array.isArray(merges) ? `${merges.length}` : describe(merges),
      );
    }
    merges.forEach((m, i) => {
      const ok =
        (typeof m === 'string' && m.length <= 2 * MAX_HF_TOKEN_CHARS + 1 && m.includes(' ')) ||
        (Array.isArray(m) && m.length === 2 && tokenText(m[0]) && tokenText(m[1]));
      if (!ok)
        fail(
          file,
          `model.merges[${i}]`,
          `'a b' or ["a", "b"] (each at most ${MAX_HF_TOKEN_CHARS} characters)`,
          describe(m),
        );
    });
  }
  const added = json.added_tokens ?? [];
  if (!Array.isArray(added) || added.length > MAX_HF_VOCAB) {
    fail(file, 'added_tokens', `an array of at most ${MAX_HF_VOCAB} tokens`, describe(added));
  }
  added.forEach((t, i) => {
    if (!isObject(t) || !isId(t.id) || !tokenText(t.content) || t.content === '') {
      fail(
        file,
        `added_tokens[${i}]`,
        `{ id in [0, ${MAX_HF_VOCAB}), content: a non-empty string of at most ${MAX_HF_TOKEN_CHARS} characters }`,
        describe(t),
      );
    }
    size = Math.max(size, (t.id as number) + 1);
  });
  for (const part of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder']) {
    const v = json[part];
    if (v !== undefined && v !== null && !isObject(v))
      fail(file, part, 'an object or null', describe(v));
  }
  checkPatterns(json, file);
  return size;
}

/** Regex patterns run on every text: their length is bounded (the library compiles them). */
function checkPatterns(json: Json, file: string): void {
  const stack: unknown[] = [json.normalizer, json.pre_tokenizer, json.decoder, json.post_processor];
  while (stack.length > 0) {
    const v = stack.pop();
    if (Array.isArray(v)) stack.push(...v);
    else if (isObject(v)) {
      const pattern = v.pattern;
      if (isObject(pattern)) {
        for (const key of ['Regex', 'String']) {
          const p = pattern[key];
          if (p !== undefined && !tokenText(p)) {
            fail(
              file,
              `pattern.${key}`,
              `a string of at most ${MAX_HF_TOKEN_CHARS} characters`,
              describe(p),
            );
          }
        }
      }
      for (const child of Object.values(v)) if (typeof child === 'object') stack.push(child);
    }
  }
}

/** tokenizer_config.json: an object; token fields as strings or `{ content }` objects. */
function checkConfig(config: unknown, file: string): Json {
  if (config === undefined || config === null) return {};
  if (!isObject(config)) fail(file, '$', 'an object', describe(config));
  for (const field of SPECIAL_FIELDS) {
    const v = config[field];
    const text = isObject(v) ? v.content : v;
    if (v !== undefined && v !== null && !tokenText(text)) {
      fail(file, field, `a token (a string or { content })`, describe(v));
    }
  }
  return config;
}

const tokenOf = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : isObject(v) && typeof v.content === 'string' ? v.content : undefined;

/**
 * A Hugging Face tokenizer (kind 'hf'): `tokenizer.json` as the `tokenizers` library writes it,
 * with `tokenizer_config.json` (special tokens, chat template) when there is one. `encode` adds
 * the special tokens the tokenizer's post-processor adds; `decode` leaves special tokens out, so
 * text without special tokens round-trips. `toJSON()` gives tokenizer.json back as read.
 */
export class HfTokenizer implements Tokenizer {
  readonly kind = 'hf';
  readonly vocabSize: number;
  private readonly library: HfLibrary;
  private readonly cleanUpSpaces: boolean;

  private constructor(
    private readonly json: Json,
    private readonly config: Json,
    vocabSize: number,
  ) {
    this.vocabSize = vocabSize;
    // Missing parts are null for the library, which requires every key; WordPiece's prefix
    // defaults to '##' as in the Rust library.
    const model = json.model as Json;
    const wordPiecePrefix =
      model.type === 'WordPiece' && model.continuing_subword_prefix === undefined
        ? { model: { ...model, continuing_subword_prefix: '##' } }
        : {};
    const full = {
      normalizer: null,
      pre_tokenizer: null,
      post_processor: null,
      decoder: null,
      added_tokens: [],
      ...json,
      ...wordPiecePrefix,
    };
    // Exact round trips unless the config asks for HF's clean-up (" ," -> ",") by name.
    this.cleanUpSpaces = config.clean_up_tokenization_spaces === true;
    const libConfig: Json = { ...config, clean_up_tokenization_spaces: this.cleanUpSpaces };
    for (const field of SPECIAL_FIELDS)
      if (field in config) libConfig[field] = tokenOf(config[field]);
    try {
      this.library = new HfLibrary(full, libConfig);
    } catch (error) {
      throw new TokenizerError(
        `HfTokenizer: tokenizer.json expected a tokenizer @huggingface/tokenizers reads, got one it refuses (${cut((error as Error).message)})`,
      );
    }
  }

  /** From the parsed tokenizer.json (and tokenizer_config.json), sizes checked first. */
  static fromJSON(json: unknown, config?: unknown): HfTokenizer {
    const size = checkTokenizerJSON(json, 'tokenizer.json');
    return new HfTokenizer(json as Json, checkConfig(config, 'tokenizer_config.json'), size);
  }

  /** From the texts of tokenizer.json (and tokenizer_config.json): lengths and depth checked before parsing. */
  static fromText(json: string, config?: string): HfTokenizer {
    const parse = (file: string, text: string, maxLength: number) => {
      try {
        return parseJson('HfTokenizer', file, text, { maxLength });
      } catch (error) {
        const e = error as { expected?: string; actual?: string };
        throw new TokenizerError(`HfTokenizer: ${file} expected ${e.expected}, got ${e.actual}`);
      }
    };
    return HfTokenizer.fromJSON(
      parse('tokenizer.json', json, MAX_HF_TOKENIZER_CHARS),
      config === undefined
        ? undefined
        : parse('tokenizer_config.json', config, MAX_HF_CONFIG_CHARS),
    );
  }

  encode(text: string, options: HfEncodeOptions = {}): number[] {
    const { ids, tokens } = this.library.encode(text, {
      add_special_tokens: options.addSpecialTokens ?? true,
    });
    const missing = ids.findIndex((id) => id === undefined);
    if (missing >= 0) {
      throw new TokenizerError(
        `HfTokenizer: text has token ${JSON.stringify(cut(tokens[missing] ?? '', 40))}, which is not in the vocabulary and the tokenizer has no unknown token`,
      );
    }
    return ids;
  }

  decode(ids: readonly number[], options: HfDecodeOptions = {}): string {
    for (const id of ids) {
      if (
        !Number.isInteger(id) ||
        id < 0 ||
        id >= this.vocabSize ||
        this.library.id_to_token(id) === undefined
      ) {
        throw new TokenizerError(
          `HfTokenizer: id expected a token of the vocabulary (an integer in [0, ${this.vocabSize})), got ${describe(id)}`,
        );
      }
    }
    if (ids.length === 0) return '';
    return this.library.decode([...ids], {
      skip_special_tokens: options.skipSpecialTokens ?? true,
      clean_up_tokenization_spaces: this.cleanUpSpaces,
    });
  }

  /** The token's id, or undefined when it is not in the vocabulary. */
  tokenToId(token: string): number | undefined {
    return this.library.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.library.id_to_token(id);
  }

  /** A special token named by tokenizer_config.json (`eos_token`, ...), as text and id. */
  specialToken(name: HfSpecialToken): { token: string; id: number } | undefined {
    const token = tokenOf(this.config[name]);
    const id = token === undefined ? undefined : this.tokenToId(token);
    return token === undefined || id === undefined ? undefined : { token, id };
  }

  /** The chat template of tokenizer_config.json (by name when it holds several), if any. */
  chatTemplate(name?: string): string | undefined {
    const t = this.config.chat_template;
    if (typeof t === 'string') return name === undefined || name === 'default' ? t : undefined;
    if (Array.isArray(t)) {
      const wanted = name ?? 'default';
      const found = t.find((e) => isObject(e) && e.name === wanted);
      return isObject(found) && typeof found.template === 'string' ? found.template : undefined;
    }
    return undefined;
  }

  /**
   * Renders `messages` with the tokenizer's chat template (`@huggingface/jinja`), with the
   * special tokens of tokenizer_config.json as `bos_token`, `eos_token`, ...: the text to encode
   * (with `addSpecialTokens: false`, as the template writes them).
   */
  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    const template = options.template ?? this.chatTemplate(options.templateName);
    if (template === undefined) {
      throw new TokenizerError(
        `HfTokenizer: applyChatTemplate expected a chat_template in tokenizer_config.json${options.templateName ? ` named '${options.templateName}'` : ''}, got none`,
      );
    }
    const special: Record<string, string> = {};
    for (const field of SPECIAL_FIELDS) {
      const token = tokenOf(this.config[field]);
      if (token !== undefined) special[field] = token;
    }
    return renderChatTemplate(template, messages, { ...special, ...options.variables }, options);
  }

  toJSON(): TokenizerJSON {
    return this.json;
  }

  /** tokenizer_config.json as read ({} when there was none). */
  configJSON(): Record<string, unknown> {
    return this.config;
  }
}
