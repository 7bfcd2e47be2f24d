import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, Rng, checkInt } from '@attnkit/core';
import type { DecoderLM } from '../assemblies/decoder-lm';
import type { SamplingOptions } from './sampling';
import { applyRepetitionPenalty, checkSamplingOptions, sampleToken } from './sampling';

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
}

/**
 * Streams new token ids one by one. With the cache the prompt is read once and each step feeds
 * one token through the layers' states; without it each step reruns the whole sequence. Both
 * give the same tokens. Generation also stops at the model's `maxLength`.
 */
export async function* generateStream(
  model: DecoderLM,
  prompt: readonly number[],
  options: GenerateOptions,
): AsyncGenerator<number> {
  checkInt('generate', 'maxTokens', options.maxTokens, 0);
  checkSamplingOptions(options);
  if (prompt.length === 0)
    throw new ConfigError('generate', 'prompt', 'at least one token', 'none');
  const vocab = model.config.vocabSize;
  for (const id of prompt) checkInt('generate', 'prompt token', id, 0);
  const bad = prompt.find((id) => id >= vocab);
  if (bad !== undefined)
    throw new ConfigError('generate', 'prompt token', `an id < ${vocab}`, String(bad));
  const rng = options.rng ?? new Rng(options.seed ?? 0);
  const stops = new Set(options.stopTokens ?? []);
  const penalty = options.repetitionPenalty ?? 1;
  const tokens = [...prompt];
  const wasTraining = model.training;
  model.eval();
  let state = options.useCache === false ? undefined : model.initState(1);
  if (state && state.layers.some((s) => s === undefined)) {
    state.dispose();
    state = undefined;
  }
  try {
    let pending = [...prompt];
    for (let produced = 0; produced < options.maxTokens; produced++) {
      if (tokens.length > model.config.maxLength) break;
      const input = state ? pending : tokens;
      const last = tf.tidy(() => {
        const ids = tf.tensor2d(input, [1, input.length], 'int32');
        const logits = model.forward(ids, { state, training: false });
        return tf.reshape(tf.slice(logits, [0, input.length - 1, 0], [1, 1, vocab]), [vocab]);
      });
      const values = (await last.data()) as Float32Array;
      last.dispose();
      const next = sampleToken(applyRepetitionPenalty(values, tokens, penalty), options, rng);
      tokens.push(next);
      pending = [next];
      yield next;
      if (stops.has(next) || tokens.length >= model.config.maxLength + 1) break;
    }
  } finally {
    state?.dispose();
    model.train(wasTraining);
  }
}

/** Collects `generateStream` into an array of new token ids. */
export async function generate(
  model: DecoderLM,
  prompt: readonly number[],
  options: GenerateOptions,
): Promise<number[]> {
  const out: number[] = [];
  for await (const id of generateStream(model, prompt, options)) out.push(id);
  return out;
}
