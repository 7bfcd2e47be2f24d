import { ConfigError, Rng, checkInt, describe } from '@attnkit/core';
import type { DecoderLM } from '../assemblies/decoder-lm';
import { openBatchDecoding } from './batch-decoding';
import { enterEval } from './eval-mode';
import type { GenerateOptions } from './generate';
import { checkLive, checkPrompt } from './generate-checks';
import { applyRepetitionPenalty, checkSamplingOptions, sampleToken } from './sampling';

/**
 * Batched generation: the new token ids of each prompt (prompts of any lengths), decoded side
 * by side. On a backend with a fused decoder that runs the model (backend-native), each step
 * is one native call for the whole batch; otherwise the sequences are decoded one after the
 * other (see openBatchDecoding). Each sequence stops on its own (a stop token, `maxTokens`, the
 * model's maxLength), as `generate` would stop it. Greedy decoding (temperature 0) gives each
 * prompt the tokens `generate` gives it; sampling draws from one Rng, sequence by sequence at
 * each step, so a batch of one draws what `generate` draws.
 */
export async function generateBatch(
  model: DecoderLM,
  prompts: readonly (readonly number[])[],
  options: GenerateOptions,
): Promise<number[][]> {
  checkLive(model);
  if (!Array.isArray(prompts) || prompts.length === 0 || !prompts.every(Array.isArray)) {
    throw new ConfigError(
      'generate',
      'prompts',
      'a non-empty array of prompts (arrays of token ids)',
      describe(prompts),
    );
  }
  checkInt('generate', 'maxTokens', options.maxTokens, 0);
  checkSamplingOptions(options);
  prompts.forEach((prompt, b) => checkPrompt(model, prompt, `prompts[${b}]`));
  const { maxLength } = model.config;
  const rng = options.rng ?? new Rng(options.seed ?? 0);
  const stops = new Set(options.stopTokens ?? []);
  const penalty = options.repetitionPenalty ?? 1;
  const tokens = prompts.map((p) => [...p]);
  const out: number[][] = prompts.map(() => []);
  const done = prompts.map(() => options.maxTokens === 0);
  let pending = prompts.map((p) => [...p]);
  const leave = enterEval(model);
  let decoding: ReturnType<typeof openBatchDecoding> | undefined;
  try {
    decoding = openBatchDecoding(model, prompts.length, options);
    const full = decoding.mode === 'full';
    while (done.some((d) => !d)) {
      checkLive(model);
      const inputs = pending.map((p, b) => (done[b] ? [] : full ? tokens[b]! : p));
      const logits = await decoding.next(inputs);
      pending = logits.map((values, b) => {
        if (!values) return [];
        const next = sampleToken(applyRepetitionPenalty(values, tokens[b]!, penalty), options, rng);
        tokens[b]!.push(next);
        out[b]!.push(next);
        const length = tokens[b]!.length;
        if (stops.has(next) || out[b]!.length >= options.maxTokens || length > maxLength)
          done[b] = true;
        return [next];
      });
    }
  } finally {
    decoding?.dispose();
    leave();
  }
  return out;
}
