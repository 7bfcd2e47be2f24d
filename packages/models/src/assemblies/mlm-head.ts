import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { Estimate, ModuleOptions } from '@attnkit/core';
import {
  Module,
  activationNameSchema,
  build,
  estimateChild,
  estimateOf,
  getActivation,
  sumEstimates,
} from '@attnkit/core';
import { fillWidths } from '../blocks/fill';
import { nestedSchema } from './fields';
import type { Layer } from './stack';
import type { TokenEmbedding } from './tokens';

/** The `mlmHead` field of an encoder config. */
export const mlmHeadSchema = z.strictObject({
  /** Activation after the dense transform (BERT: exact GELU). */
  activation: activationNameSchema.default('gelu'),
  /** Norm after the activation (BERT: LayerNorm, eps 1e-12). */
  norm: nestedSchema.default({ type: 'layer-norm' }),
});

export type MlmHeadOptions = z.input<typeof mlmHeadSchema>;

interface MlmHeadConfig extends z.output<typeof mlmHeadSchema> {
  dModel: number;
  vocabSize: number;
}

function parts(c: MlmHeadConfig) {
  return {
    dense: { type: 'linear', inFeatures: c.dModel, outFeatures: c.dModel },
    norm: fillWidths(c.norm, { dim: c.dModel }),
  };
}

/**
 * BERT's masked-LM head (Devlin et al. 2019, sec. 3.1, task #1; HF BertLMPredictionHead):
 * `logits = norm(act(h W + b)) Eᵀ + c`, the output matrix tied to the token embedding `E`, with a
 * vocabulary bias `c` of its own.
 */
export class MaskedLmHead extends Module<MlmHeadConfig> {
  readonly dense: Layer;
  readonly norm: Layer;
  readonly bias: tf.Variable;

  constructor(config: MlmHeadConfig, options: ModuleOptions = {}) {
    super(config, options);
    const o = { rng: this.rng };
    const p = parts(config);
    this.dense = this.addModule('dense', build<Layer>(p.dense, { ...o, category: 'layer' }));
    this.norm = this.addModule(
      'norm',
      build<Layer>(p.norm, { ...o, path: '$.mlmHead.norm', category: 'norm' }),
    );
    this.bias = this.addParameter('bias', tf.zeros([config.vocabSize]));
  }

  /** `[batch, time, dModel]` -> logits `[batch, time, vocabSize]` through the tied `embedding`. */
  forward(h: tf.Tensor3D, embedding: TokenEmbedding): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, t, d] = h.shape;
      const x = getActivation(this.config.activation)(
        this.dense.forward(tf.reshape(h, [b * t, d])),
      );
      const logits = tf.add(embedding.attend(this.norm.forward(x)), this.bias);
      return tf.reshape(logits, [b, t, this.config.vocabSize]) as tf.Tensor3D;
    });
  }
}

/** What the head allocates: the dense transform, its norm and the vocabulary bias. */
export function estimateMlmHead(c: MlmHeadConfig): Estimate {
  const p = parts(c);
  return sumEstimates(
    estimateChild(p.dense, '$.mlmHead', 'layer'),
    estimateChild(p.norm, '$.mlmHead.norm', 'norm'),
    estimateOf(c.vocabSize),
  );
}
