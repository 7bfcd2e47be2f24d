import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { ModuleOptions, PositionalEncoding } from '@attnkit/core';
import { Module, register, parseConfig, estimateOf } from '@attnkit/core';
import { alibiSlopes } from './alibi';
import { checkNumHeads, relativePositions, toPositions } from './util';

export const bamSchema = z.strictObject({
  type: z.literal('bam').default('bam'),
  numHeads: z.number().int().positive(),
  /** Initial shape beta: 0 starts as NoPE (a flat prior), 1 as ALiBi-like (Laplace), 2 Gaussian. */
  shapeInit: z.number().default(0),
  /** Initial scale exp(theta_alpha): a number for every head, or 'alibi' for ALiBi's slopes. */
  scaleInit: z.union([z.number().positive(), z.literal('alibi')]).default(1),
  /** Initial theta_mu (location mu = 2 sinh(theta_mu)); 0 centres the prior on the query. */
  locationInit: z.number().default(0),
  trainShape: z.boolean().default(true),
  trainScale: z.boolean().default(true),
  trainLocation: z.boolean().default(false),
  /** Keeps |j - i - mu|^beta differentiable in beta at distance 0. */
  eps: z.number().positive().default(1e-5),
});
export type BamConfig = z.input<typeof bamSchema>;

/**
 * Bayesian Attention Mechanism, GGD-BAM prior (Bianchessi et al. 2025, "Bayesian Attention
 * Mechanism: A Probabilistic Framework for Positional Encoding and Context Length
 * Extrapolation", Theorem 1 and sec. 2.3). With an additive score f_cont(q_i, k_j) + g_pos(i, j),
 * softmax attention is a posterior and g_pos = log p(pos) is a positional log-prior. GGD-BAM uses
 * a generalized Gaussian over the distance, per head h:
 *   log p(j | i) = -exp(theta_alpha_h) * (|j - i - mu_h| + eps)^beta_h   (up to a constant)
 * with mu_h = exp(theta_mu_h) - exp(-theta_mu_h), i.e. the density exp(-(|x - mu| / alpha)^beta)
 * with exp(theta_alpha) = alpha^-beta; parameterised as in the authors' code. beta = 0 is a flat
 * prior (NoPE), beta = 1 with mu = 0 is ALiBi with slope exp(theta_alpha) (Lemma 2).
 */
export class BamBias extends Module<z.output<typeof bamSchema>> implements PositionalEncoding {
  readonly kind = 'bias' as const;
  /** `[numHeads]` shape beta (used as is). */
  readonly shape: tf.Variable;
  /** `[numHeads]` theta_alpha: the scale is its exp. */
  readonly logScale: tf.Variable;
  /** `[numHeads]` theta_mu: the location is 2 sinh(theta_mu). */
  readonly location: tf.Variable;

  constructor(config: BamConfig, options: ModuleOptions = {}) {
    super(parseConfig('bam', bamSchema, config), options);
    const c = this.config;
    const h = c.numHeads;
    const scales =
      c.scaleInit === 'alibi' ? alibiSlopes(h) : new Array<number>(h).fill(c.scaleInit);
    this.shape = this.addParameter('shape', tf.fill([h], c.shapeInit), c.trainShape);
    this.logScale = this.addParameter('logScale', tf.tensor1d(scales.map(Math.log)), c.trainScale);
    this.location = this.addParameter('location', tf.fill([h], c.locationInit), c.trainLocation);
  }

  /** `[1, heads, tq, tk]` log-prior. */
  bias(queryPositions: tf.Tensor1D, keyPositions: tf.Tensor1D, numHeads: number): tf.Tensor4D {
    checkNumHeads('bam', this.config.numHeads, numHeads);
    return tf.tidy(() => {
      const q = toPositions('bam', 'queryPositions', queryPositions);
      const k = toPositions('bam', 'keyPositions', keyPositions);
      const perHead = (v: tf.Tensor) => tf.reshape(v, [1, numHeads, 1, 1]);
      const mu = perHead(tf.sub(tf.exp(this.location), tf.exp(tf.neg(this.location))));
      const rel = tf.expandDims(tf.expandDims(relativePositions(q, k), 0), 0); // [1,1,tq,tk]
      const distance = tf.add(tf.abs(tf.sub(rel, mu)), this.config.eps);
      const energy = tf.pow(distance, perHead(this.shape));
      return tf.neg(tf.mul(tf.exp(perHead(this.logScale)), energy)) as tf.Tensor4D;
    });
  }
}

register('bam', (c, o) => new BamBias(c, o), bamSchema, {
  category: 'positional',
  estimate: (c) => estimateOf(3 * c.numHeads, c.numHeads * 8),
  info: {
    paper: 'Bianchessi et al. 2025, Bayesian Attention Mechanism',
    equation: 'Theorem 1, sec. 2.3',
    summary:
      'GGD-BAM: a learned generalized-Gaussian positional log-prior per head added to the logits.',
    example: { type: 'bam', numHeads: 2 },
  },
});
