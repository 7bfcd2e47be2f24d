import * as tf from '@tensorflow/tfjs-core';
import type { Estimate, Module, ModuleOptions } from '@attnkit/core';
import { build, estimateOf } from '@attnkit/core';
import type { Layer } from './stack';

/** The token embedding of a model over ids; `attend` is its transpose, the tied output head. */
export type TokenEmbedding = Module & {
  forward(ids: tf.Tensor): tf.Tensor3D;
  attend(x: tf.Tensor): tf.Tensor;
};

/** Builds a model's token embedding (`embed` in its parameter names). */
export function buildTokenEmbedding(
  vocabSize: number,
  dModel: number,
  options: ModuleOptions,
  init?: unknown,
): TokenEmbedding {
  const config = { type: 'embedding', numEmbeddings: vocabSize, dim: dModel, init };
  return build<TokenEmbedding>(config, { ...options, path: '$.embed', category: 'layer' });
}

/** An output head of its own, for `tieEmbeddings: false` (no bias, as the tied head has none). */
export function buildVocabHead(dModel: number, vocabSize: number, options: ModuleOptions): Layer {
  const config = { type: 'linear', inFeatures: dModel, outFeatures: vocabSize, bias: false };
  return build<Layer>(config, { ...options, category: 'layer' });
}

/** The token embedding [vocabSize, dModel], and the untied head [dModel, vocabSize] when there is one. */
export function estimateTokens(vocabSize: number, dModel: number, tied: boolean): Estimate {
  return estimateOf((tied ? 1 : 2) * vocabSize * dModel);
}

/**
 * Next-token logits `[batch, time, vocabSize]` of hidden states `h` `[batch, time, dModel]`:
 * through `head` when the model has one, else the embedding transposed (Press & Wolf 2017).
 */
export function vocabLogits(
  h: tf.Tensor3D,
  embedding: TokenEmbedding,
  head: Layer | undefined,
  vocabSize: number,
): tf.Tensor3D {
  return tf.tidy(() => {
    const [batch, time, dModel] = h.shape;
    const flat = tf.reshape(h, [batch * time, dModel]);
    const logits = head ? head.forward(flat) : embedding.attend(flat);
    return tf.reshape(logits, [batch, time, vocabSize]) as tf.Tensor3D;
  });
}
