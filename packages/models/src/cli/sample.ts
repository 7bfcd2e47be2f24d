import { Rng } from '@attnkit/core';
import type { DecoderLM } from '../assemblies/decoder-lm';
import { generate } from '../generation/generate';
import type { SyntheticTask } from '../tasks';
import type { Tokenizer } from '../tokenizers';

/**
 * What `attnkit train` shows at the end: for a task, a fresh example's prompt with the model's
 * greedy answers to each query next to the expected ones; for text, a short continuation.
 */
export async function sampleText(
  model: DecoderLM,
  tokenizer: Tokenizer,
  task: SyntheticTask | undefined,
  seed: number,
): Promise<string> {
  if (task) {
    const { tokens, answers } = task.sample(new Rng(seed + 77));
    const got: number[] = [];
    for (const at of answers) {
      const [id] = await generate(model, tokens.slice(0, at), { maxTokens: 1, temperature: 0 });
      got.push(id!);
    }
    const want = answers.map((at) => tokens[at]!);
    const prompt = tokens.slice(0, answers[0]!).join(' ');
    return `[${prompt} ...] answers ${got.join(' ')} (expected ${want.join(' ')})`;
  }
  const out = await generate(model, [0], {
    maxTokens: Math.min(80, model.config.maxLength - 1),
    temperature: 0.8,
    seed,
  });
  return JSON.stringify(tokenizer.decode([0, ...out]));
}
