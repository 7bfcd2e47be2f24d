import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { ModuleOptions } from '@attnkit/core';
import { Module, build } from '@attnkit/core';
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
  /** Adds a linear classifier on the pooled vector. */
  numClasses: sizeSchema.optional(),
};

export interface ReadoutConfig {
  dModel: number;
  pooling: Pooling;
  latent?: Record<string, unknown>;
  numClasses?: number;
}

/**
 * What an encoder does after its last block: pool to one vector per sequence, then, when
 * `numClasses` is set, a linear classifier (Devlin et al. 2019, sec. 4.1; Dosovitskiy et al.
 * 2021, eq. 4).
 */
export class Readout extends Module<ReadoutConfig> {
  readonly latent?: LatentAttentionPooling;
  readonly classifier?: Layer;

  constructor(config: ReadoutConfig, options: ModuleOptions = {}) {
    super(config, options);
    const o = { rng: this.rng };
    if (config.pooling === 'latent') {
      const latent = { ...config.latent, type: 'latent-attention-pooling', dModel: config.dModel };
      this.latent = this.addModule(
        'latent',
        build<LatentAttentionPooling>(latent, { ...o, path: '$.latent', category: 'layer' }),
      );
    }
    if (config.numClasses !== undefined) {
      const head = { type: 'linear', inFeatures: config.dModel, outFeatures: config.numClasses };
      this.classifier = this.addModule(
        'classifier',
        build<Layer>(head, { ...o, path: '$.numClasses', category: 'layer' }),
      );
    }
  }

  /** `[batch, time, dModel]` -> pooled `[batch, dModel]`; `weights` marks real tokens. */
  pool(h: tf.Tensor3D, weights?: tf.Tensor2D, training?: boolean): tf.Tensor2D {
    const kind = this.config.pooling;
    if (kind === 'latent') return this.latent!.forward(h, weights, training);
    return poolHidden(h, kind, weights);
  }

  /** Class logits `[batch, numClasses]`, or the pooled vector when there is no classifier. */
  forward(h: tf.Tensor3D, weights?: tf.Tensor2D, training?: boolean): tf.Tensor2D {
    return tf.tidy(() => {
      const pooled = this.pool(h, weights, training);
      return this.classifier ? (this.classifier.forward(pooled) as tf.Tensor2D) : pooled;
    });
  }
}

/** The readout a model config describes (its `dModel`, `pooling`, `latent` and `numClasses`). */
export function buildReadout(model: ReadoutConfig, options: ModuleOptions): Readout {
  const { dModel, pooling, latent, numClasses } = model;
  return new Readout({ dModel, pooling, latent, numClasses }, options);
}
