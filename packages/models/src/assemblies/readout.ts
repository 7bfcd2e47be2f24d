import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { Estimate, ModuleOptions } from '@attnkit/core';
import {
  Module,
  activationNameSchema,
  build,
  estimateChild,
  getActivation,
  sumEstimates,
} from '@attnkit/core';
import type { LatentAttentionPooling } from '../blocks/latent-attention-pooling';
import '../blocks/latent-attention-pooling'; // registers 'latent-attention-pooling'
import { sizeSchema } from './fields';
import type { Pooling } from './pooling';
import { poolHidden } from './pooling';
import type { Layer } from './stack';

/** Options of NV-Embed pooling inside a model config (`dModel` is the model's). */
export const latentOptionsSchema = z.looseObject({});

/** The readout's fields of a model config, after its `pooling` (whose choices differ by model). */
export const readoutFields = {
  /** Options of `latent-attention-pooling` (numLatents, numHeads, hiddenDim, norm). */
  latent: latentOptionsSchema.optional(),
  /**
   * A dense layer [dModel, dModel] and this activation on the pooled vector, before the
   * classifier: BERT's pooler (Devlin et al. 2019, sec. 3; HF's ViTModel reuses it) is
   * `'tanh'`. Default none.
   */
  poolerActivation: activationNameSchema.optional(),
  /** Adds a linear classifier on the pooled vector. */
  numClasses: sizeSchema.optional(),
};

export interface ReadoutConfig {
  dModel: number;
  pooling: Pooling;
  latent?: Record<string, unknown>;
  poolerActivation?: string;
  numClasses?: number;
}

/**
 * What an encoder does after its last block: pool to one vector per sequence, optionally a dense
 * pooler with an activation (BERT's tanh pooler), then, when `numClasses` is set, a linear
 * classifier (Devlin et al. 2019, sec. 4.1; Dosovitskiy et al. 2021, eq. 4).
 */
export class Readout extends Module<ReadoutConfig> {
  readonly latent?: LatentAttentionPooling;
  readonly pooler?: Layer;
  readonly classifier?: Layer;

  constructor(config: ReadoutConfig, options: ModuleOptions = {}) {
    super(config, options);
    const o = { rng: this.rng };
    const { latent, pooler, classifier } = readoutParts(config);
    if (latent) {
      this.latent = this.addModule(
        'latent',
        build<LatentAttentionPooling>(latent, { ...o, path: '$.latent', category: 'layer' }),
      );
    }
    if (pooler) {
      this.pooler = this.addModule(
        'pooler',
        build<Layer>(pooler, { ...o, path: '$.poolerActivation', category: 'layer' }),
      );
    }
    if (classifier) {
      this.classifier = this.addModule(
        'classifier',
        build<Layer>(classifier, { ...o, path: '$.numClasses', category: 'layer' }),
      );
    }
  }

  /** `[batch, time, dModel]` -> pooled `[batch, dModel]`; `weights` marks real tokens. */
  pool(h: tf.Tensor3D, weights?: tf.Tensor2D, training?: boolean): tf.Tensor2D {
    return tf.tidy(() => {
      const kind = this.config.pooling;
      const pooled =
        kind === 'latent'
          ? this.latent!.forward(h, weights, training)
          : poolHidden(h, kind, weights);
      if (!this.pooler) return pooled;
      return getActivation(this.config.poolerActivation!)(
        this.pooler.forward(pooled),
      ) as tf.Tensor2D;
    });
  }

  /** Class logits `[batch, numClasses]`, or the pooled vector when there is no classifier. */
  forward(h: tf.Tensor3D, weights?: tf.Tensor2D, training?: boolean): tf.Tensor2D {
    return tf.tidy(() => {
      const pooled = this.pool(h, weights, training);
      return this.classifier ? (this.classifier.forward(pooled) as tf.Tensor2D) : pooled;
    });
  }
}

/** The configs of the readout's parts: latent pooling, pooler and classifier, when asked for. */
function readoutParts(config: ReadoutConfig): {
  latent?: object;
  pooler?: object;
  classifier?: object;
} {
  const { dModel, pooling, numClasses, poolerActivation } = config;
  return {
    ...(pooling === 'latent'
      ? { latent: { ...config.latent, type: 'latent-attention-pooling', dModel } }
      : {}),
    ...(poolerActivation === undefined
      ? {}
      : { pooler: { type: 'linear', inFeatures: dModel, outFeatures: dModel } }),
    ...(numClasses === undefined
      ? {}
      : { classifier: { type: 'linear', inFeatures: dModel, outFeatures: numClasses } }),
  };
}

/** What `buildReadout` will allocate for a model config, without building. */
export function estimateReadout(model: ReadoutConfig): Estimate {
  const { latent, pooler, classifier } = readoutParts(model);
  return sumEstimates(
    ...(latent ? [estimateChild(latent, '$.latent', 'layer')] : []),
    ...(pooler ? [estimateChild(pooler, '$.poolerActivation', 'layer')] : []),
    ...(classifier ? [estimateChild(classifier, '$.numClasses', 'layer')] : []),
  );
}

/** The readout a model config describes (its `dModel`, `pooling`, `latent`, pooler, classes). */
export function buildReadout(model: ReadoutConfig, options: ModuleOptions): Readout {
  const { dModel, pooling, latent, poolerActivation, numClasses } = model;
  return new Readout({ dModel, pooling, latent, poolerActivation, numClasses }, options);
}
