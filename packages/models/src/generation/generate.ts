import { ConfigError, Rng, checkInt } from '@attnkit/core';
import type { DecoderLM } from '../assemblies/decoder-lm';
import type { SamplingOptions } from './sampling';
import { applyRepetitionPenalty, checkSamplingOptions, sampleToken } from './sampling';
import { openDecoding } from './decoding';
import { enterEval } from './eval-mode';
import { checkLive, checkPrompt } from './generate-checks';
import { HfTokenizer, TextStream, type Tokenizer, tokenizerOf } from '../tokenizers';

export interface GenerateOptions extends SamplingOptions {
  /** New tokens to produce at most. */
  maxTokens: number;
  /** Stop after emitting one of these (it is emitted). */
  stopTokens?: number[];
  /** Seed for sampling (ignored when `rng` is given); default 0. */
  seed?: number;
  rng?: Rng;
  /** Decode with each mixer's incremental state (default true where every layer has one). */
  useCache?: boolean;
  /**
   * With the cache, run each token through the backend's fused decoder when the backend has
   * one (backend-native) and it runs every part of the model (default true; see
   * `fusedDecodingSupport`). The same tokens either way, up to float rounding of the logits.
   */
  fused?: boolean;
}

/** Options of a text prompt: its tokenizer and whether the end-of-sequence token stops. */
export interface GenerateTextOptions extends GenerateOptions {
  /** The tokenizer of a string prompt; default: the model's (`attachTokenizer`). */
  tokenizer?: Tokenizer;
  /** Stop at the tokenizer's `eos_token` (Hugging Face tokenizers; default true). */
  stopAtEos?: boolean;
}

/**
 * Streams new token ids one by one (for `prompt` as ids), or the text they make (for `prompt`
 * as text, encoded and decoded with `options.tokenizer` or the model's tokenizer: each piece is
 * complete text, so a character split across tokens comes out whole; see `TextStream`). With the cache the prompt is read once and each step feeds
 * one token through the layers' states (or the backend's fused decoder); without it each step
 * reruns the whole sequence. All give the same tokens. Generation also stops at the model's
 * `maxLength`. The model is in eval mode while any generation on it runs and gets its training
 * flag back when the last one ends. A disposed model (before or between steps) is a
 * ConfigError. The fused decoder follows weights replaced mid-stream (see decoding.ts).
 */
export function generateStream(
  model: DecoderLM,
  prompt: readonly number[],
  options: GenerateOptions,
): AsyncGenerator<number>;
export function generateStream(
  model: DecoderLM,
  prompt: string,
  options: GenerateTextOptions,
): AsyncGenerator<string>;
export function generateStream(
  model: DecoderLM,
  prompt: readonly number[] | string,
  options: GenerateTextOptions,
): AsyncGenerator<number> | AsyncGenerator<string> {
  return typeof prompt === 'string'
    ? streamText(model, prompt, options)
    : streamIds(model, prompt, options);
}

/** The tokenizer of a text prompt (ConfigError when there is none). */
function textTokenizer(model: DecoderLM, options: GenerateTextOptions): Tokenizer {
  const tokenizer = options.tokenizer ?? tokenizerOf(model);
  if (!tokenizer) {
    throw new ConfigError(
      'generate',
      'options.tokenizer',
      'a tokenizer for a text prompt (pass one, or attachTokenizer(model, tokenizer))',
      'none',
    );
  }
  if (tokenizer.vocabSize > model.config.vocabSize) {
    throw new ConfigError(
      'generate',
      'options.tokenizer',
      `a tokenizer of at most the model's vocabSize=${model.config.vocabSize} tokens`,
      `${tokenizer.vocabSize} tokens`,
    );
  }
  return tokenizer;
}

async function* streamText(
  model: DecoderLM,
  prompt: string,
  options: GenerateTextOptions,
): AsyncGenerator<string> {
  const tokenizer = textTokenizer(model, options);
  const ids = tokenizer.encode(prompt);
  const stopTokens = [...(options.stopTokens ?? [])];
  const eos = tokenizer instanceof HfTokenizer ? tokenizer.specialToken('eos_token') : undefined;
  if (eos && (options.stopAtEos ?? true)) stopTokens.push(eos.id);
  const text = new TextStream(tokenizer, ids);
  for await (const id of streamIds(model, ids, { ...options, stopTokens })) {
    const piece = text.push(id);
    if (piece) yield piece;
  }
  const rest = text.flush();
  if (rest) yield rest;
}

async function* streamIds(
  model: DecoderLM,
  prompt: readonly number[],
  options: GenerateOptions,
): AsyncGenerator<number> {
  checkLive(model);
  checkInt('generate', 'maxTokens', options.maxTokens, 0);
  checkSamplingOptions(options);
  checkPrompt(model, prompt, 'prompt');
  const rng = options.rng ?? new Rng(options.seed ?? 0);
  const stops = new Set(options.stopTokens ?? []);
  const penalty = options.repetitionPenalty ?? 1;
  const tokens = [...prompt];
  const leave = enterEval(model);
  let decoding: ReturnType<typeof openDecoding> | undefined;
  try {
    decoding = openDecoding(model, options);
    let pending = [...prompt];
    for (let produced = 0; produced < options.maxTokens; produced++) {
      if (tokens.length > model.config.maxLength) break;
      checkLive(model);
      const values = await decoding.next(decoding.mode === 'full' ? tokens : pending);
      const next = sampleToken(applyRepetitionPenalty(values, tokens, penalty), options, rng);
      tokens.push(next);
      pending = [next];
      yield next;
      if (stops.has(next) || tokens.length >= model.config.maxLength + 1) break;
    }
  } finally {
    decoding?.dispose();
    leave();
  }
}

/** Collects `generateStream`: the new token ids, or for a text prompt the new text. */
export function generate(
  model: DecoderLM,
  prompt: readonly number[],
  options: GenerateOptions,
): Promise<number[]>;
export function generate(
  model: DecoderLM,
  prompt: string,
  options: GenerateTextOptions,
): Promise<string>;
export async function generate(
  model: DecoderLM,
  prompt: readonly number[] | string,
  options: GenerateTextOptions,
): Promise<number[] | string> {
  if (typeof prompt === 'string') {
    let text = '';
    for await (const piece of streamText(model, prompt, options)) text += piece;
    return text;
  }
  const out: number[] = [];
  for await (const id of streamIds(model, prompt, options)) out.push(id);
  return out;
}
