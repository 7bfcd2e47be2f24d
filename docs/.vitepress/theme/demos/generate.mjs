// The generate demo's computation, run in the page's worker and by tools/demos/precompute.mjs
// in Node: a character model continues a prompt, streamed piece by piece.
import * as tf from '@tensorflow/tfjs-core';
import { generateStream } from '@attnkit/models';

/** Yields the continuation of `prompt` as it is sampled (temperature 0 = greedy). */
export async function* continueText(model, tokenizer, options) {
  const { prompt, maxTokens, temperature, topK, seed } = options;
  yield* generateStream(model, prompt, { tokenizer, maxTokens, temperature, topK, seed });
}

/** The next-token logits after `prompt` (what the first sampled character is drawn from). */
export function promptLogits(model, tokenizer, prompt) {
  const ids = tokenizer.encode(prompt);
  model.eval();
  return tf.tidy(() =>
    Array.from(
      tf
        .slice(
          model.forward(tf.tensor2d(ids, [1, ids.length], 'int32')),
          [0, ids.length - 1, 0],
          [1, 1, -1],
        )
        .dataSync(),
    ),
  );
}
