import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { Module, type ModuleOptions } from '../module';
import { parseConfig, register } from '../registry';
import { estimateOf } from '../limits';
import { initSpecSchema, initTensor } from '../init';
import { checkDtype, checkLastAxis } from '../checks';
import { ShapeError } from '../errors';
import { gatherRows } from '../ops/gather-rows';
import type { FusedDecoderSpec } from '../fused-decoder';
import { fusedValues } from './fused-values';

export const embeddingSchema = z.strictObject({
  type: z.literal('embedding'),
  numEmbeddings: z.number().int().positive(),
  dim: z.number().int().positive(),
  init: initSpecSchema.optional(),
});

export type EmbeddingConfig = z.input<typeof embeddingSchema>;

/** Token embedding table [numEmbeddings, dim]; `attend` gives tied output logits. */
export class Embedding extends Module<EmbeddingConfig> {
  readonly weight: tf.Variable;

  constructor(
    config: Omit<EmbeddingConfig, 'type'> & { type?: 'embedding' },
    options: ModuleOptions = {},
  ) {
    super(parseConfig('embedding', embeddingSchema, { ...config, type: 'embedding' }), options);
    this.weight = this.addParameter(
      'weight',
      initTensor(
        config.init ?? { name: 'normal', std: 0.02 },
        [config.numEmbeddings, config.dim],
        this.rng,
      ),
    );
  }

  /** ids: int32 of any shape -> [...ids.shape, dim]. Ids outside [0, numEmbeddings) are an error. */
  forward(ids: tf.Tensor): tf.Tensor {
    checkDtype('embedding', 'ids', ids, ['int32']);
    const values = ids.dataSync();
    for (let i = 0; i < values.length; i++) {
      const id = values[i]!;
      if (id < 0 || id >= this.config.numEmbeddings) {
        throw new ShapeError(
          'embedding',
          'ids',
          `values in [0, ${this.config.numEmbeddings})`,
          `${id} at index ${i}`,
        );
      }
    }
    return tf.tidy(() => {
      const rows = gatherRows(
        this.weight as tf.Variable<tf.Rank.R2>,
        tf.reshape(ids, [-1]) as tf.Tensor1D,
      );
      return tf.reshape(rows, [...ids.shape, this.config.dim]);
    });
  }

  /** x [..., dim] -> logits [..., numEmbeddings] = x Wᵀ (weight tying, Press & Wolf 2017). */
  attend(x: tf.Tensor): tf.Tensor {
    const dim = this.config.dim;
    checkLastAxis('embedding', 'x', x, dim);
    return tf.tidy(() => {
      const flat = tf.reshape(x, [-1, dim]);
      const logits = tf.matMul(flat, this.weight, false, true);
      return tf.reshape(logits, [...x.shape.slice(0, -1), this.config.numEmbeddings]);
    });
  }

  /** Its part of a fused decoder's spec (contract 7): the table, read in place. */
  fusedDecoding(): Pick<FusedDecoderSpec, 'embedding'> {
    return { embedding: fusedValues(this.weight) };
  }
}

register('embedding', (c: EmbeddingConfig, o) => new Embedding(c, o), embeddingSchema, {
  estimate: (c) => estimateOf(c.numEmbeddings * c.dim),
  category: 'layer',
  info: {
    summary:
      'Lookup table from token ids to vectors; attend() is its transpose (tied output head).',
    example: { type: 'embedding', numEmbeddings: 8, dim: 4 },
  },
});
