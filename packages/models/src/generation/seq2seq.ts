import * as tf from '@tensorflow/tfjs-core';
import { checkInt } from '@attnkit/core';
import type { EncoderDecoder } from '../assemblies/encoder-decoder';

export interface Seq2SeqGenerateOptions {
  /** Target tokens at most (default and cap: the model's maxLength). */
  maxTokens?: number;
  /** The id the decoder reads first (the task's BOS). */
  bos: number;
  /** Stop after any of these ids. */
  stopTokens?: number[];
}

/**
 * Greedy decoding of an encoder-decoder (Vaswani et al. 2017, sec. 3): encode the source once,
 * then feed BOS and each argmax back through the decoder with its self-attention cache.
 */
export function generateSeq2Seq(
  model: EncoderDecoder,
  source: readonly number[],
  options: Seq2SeqGenerateOptions,
): number[] {
  const limit = model.config.maxLength;
  // The decoder's positions end at maxLength: more tokens are not decodable.
  const max = Math.min(
    checkInt('generateSeq2Seq', 'maxTokens', options.maxTokens ?? limit, 1),
    limit,
  );
  const stops = new Set(options.stopTokens ?? []);
  const restore = model.training;
  model.eval();
  const memory = tf.tidy(() =>
    model.encode(tf.tensor2d([[...source]], [1, source.length], 'int32')),
  );
  const state = model.initState(1);
  const out: number[] = [];
  try {
    let next = options.bos;
    while (out.length < max) {
      next = tf.tidy(() => {
        const logits = model.decode(tf.tensor2d([[next]], [1, 1], 'int32'), memory, { state });
        return tf.argMax(tf.reshape(logits, [-1]), 0).dataSync()[0]!;
      });
      out.push(next);
      if (stops.has(next)) break;
    }
  } finally {
    memory.dispose();
    state.dispose();
    model.train(restore);
  }
  return out;
}
