import { ConfigError, checkInt } from '@attnkit/core';
import type { DecoderLM } from '../assemblies/decoder-lm';

/** Throws a ConfigError when `model` was disposed (before or between steps). */
export function checkLive(model: DecoderLM): void {
  if (model.isDisposed)
    throw new ConfigError('generate', 'model', 'a live model', 'a disposed model');
}

/** Throws a ConfigError (naming `name`) unless `prompt` is 1 to maxLength ids below vocabSize. */
export function checkPrompt(model: DecoderLM, prompt: readonly number[], name: string): void {
  if (prompt.length === 0) throw new ConfigError('generate', name, 'at least one token', 'none');
  for (const id of prompt) checkInt('generate', `${name} token`, id, 0);
  const { maxLength, vocabSize } = model.config;
  if (prompt.length > maxLength) {
    throw new ConfigError(
      'generate',
      name,
      `at most maxLength=${maxLength} tokens`,
      `${prompt.length} tokens`,
    );
  }
  const bad = prompt.find((id) => id >= vocabSize);
  if (bad !== undefined)
    throw new ConfigError('generate', `${name} token`, `an id < ${vocabSize}`, String(bad));
}
