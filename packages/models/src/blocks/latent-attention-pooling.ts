import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { Estimate, ModuleOptions } from '@attnkit/core';
import {
  Module,
  ShapeError,
  checkRank,
  estimateChild,
  estimateOf,
  formatShape,
  initTensor,
  register,
  parseConfig,
  slotSchema,
  sumEstimates,
} from '@attnkit/core';
import { maskedMean } from '../assemblies/pooling';
import { TransformerBlock, type TransformerBlockConfig } from './transformer-block';

export const latentAttentionPoolingSchema = z.strictObject({
  type: z.literal('latent-attention-pooling'),
  dModel: z.number().int().positive(),
  /** r, the size of the trainable latent dictionary (512 in the paper). */
  numLatents: z.number().int().positive().default(16),
  numHeads: z.number().int().positive().default(4),
  /** Width of the MLP after the cross-attention; default 4 * dModel. */
  hiddenDim: z.number().int().positive().optional(),
  norm: slotSchema().default({ type: 'layer-norm' }),
});

export type LatentAttentionPoolingConfig = z.input<typeof latentAttentionPoolingSchema>;
type Parsed = z.output<typeof latentAttentionPoolingSchema>;

/** The pre-norm block with a cross-attention mixer reading the latents, and its GELU MLP. */
function blockConfig(c: Parsed): TransformerBlockConfig {
  return {
    type: 'transformer-block',
    dModel: c.dModel,
    mixer: { type: 'cross-attention', numHeads: c.numHeads },
    feedForward: { type: 'mlp', hiddenDim: c.hiddenDim ?? 4 * c.dModel, activation: 'gelu' },
    norm: c.norm,
  };
}

/** The latents [numLatents, dModel] and the block's estimate. */
function estimateLatentPooling(c: Parsed): Estimate {
  return sumEstimates(
    estimateOf(c.numLatents * c.dModel),
    estimateChild(blockConfig(c), '$', 'block'),
  );
}

/**
 * NV-Embed latent-attention pooling (Lee et al. 2024, sec. 3.2, eq. 1): the hidden states are
 * the queries of a multi-head cross-attention whose keys and values are a trainable latent array
 * `K = V` `[numLatents, dModel]`, `O = softmax(Q Kᵀ) V`; a GELU MLP follows and the result is
 * mean-pooled over the real tokens. Both sublayers are pre-norm residual, as in the released
 * model, so this is a transformer block with a cross-attention mixer reading the latents.
 */
export class LatentAttentionPooling extends Module<Parsed> {
  readonly latents: tf.Variable;
  readonly block: TransformerBlock;

  constructor(config: LatentAttentionPoolingConfig, options: ModuleOptions = {}) {
    const c = parseConfig('latent-attention-pooling', latentAttentionPoolingSchema, config);
    super(c, options);
    const d = c.dModel;
    this.latents = this.addParameter(
      'latents',
      initTensor({ name: 'normal', std: 0.02 }, [c.numLatents, d], this.rng),
    );
    this.block = this.addModule('block', new TransformerBlock(blockConfig(c), { rng: this.rng }));
  }

  /** `h` `[batch, time, dModel]`, `weights` `[batch, time]` (1 = token) -> `[batch, dModel]`. */
  forward(h: tf.Tensor3D, weights?: tf.Tensor2D, training?: boolean): tf.Tensor2D {
    checkRank('latent-attention-pooling', 'h', h, 3);
    const [b, , d] = h.shape;
    if (d !== this.config.dModel) {
      throw new ShapeError(
        'latent-attention-pooling',
        'h',
        `last axis dModel=${this.config.dModel}`,
        `shape ${formatShape(h.shape)}`,
      );
    }
    return tf.tidy(() => {
      const memory = tf.tile(tf.expandDims(this.latents, 0), [b, 1, 1]) as tf.Tensor3D;
      const out = this.block.forward(h, { memory, training: training ?? this.training });
      return maskedMean(out, weights);
    });
  }
}

register(
  'latent-attention-pooling',
  (c, o) => new LatentAttentionPooling(c, o),
  latentAttentionPoolingSchema,
  {
    category: 'layer',
    estimate: estimateLatentPooling,
    info: {
      paper: 'Lee et al. 2024, NV-Embed',
      equation: 'sec. 3.2, eq. 1',
      summary:
        'Cross-attention from the hidden states to a trainable latent array, an MLP, then mean pooling.',
      example: { type: 'latent-attention-pooling', dModel: 8 },
    },
  },
);
