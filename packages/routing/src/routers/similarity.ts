import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  Linear,
  type ModuleOptions,
  checkNumber,
  estimateOf,
  register,
  parseConfig,
} from '@attnkit/core';
import { checkRouterConfig, type RouteOptions } from './router';
import { TokenChoiceRouter, type TokenScores } from './token-choice';

export const similarityRouterSchema = z.strictObject({
  type: z.literal('similarity-router'),
  dim: z.number().int().positive(),
  numExperts: z.number().int().positive(),
  topK: z.number().int().positive().optional(),
  /** τ of the token-similarity softmax (default 1). */
  temperature: z.number().positive().optional(),
  normalize: z.boolean().optional(),
  capacityFactor: z.number().positive().optional(),
});

export type SimilarityRouterConfig = z.input<typeof similarityRouterSchema>;

/**
 * Similarity-aware routing over a graph of tokens (Nguyen et al. 2025, "Improving Routing in
 * Sparse Mixture of Experts with Graph of Tokens", Similarity-Aware SMoE, sec. 2): token i's
 * expert distribution mixes its neighbours' softmax gates, p̃_i = Σ_j S_ij softmax(x_j W_g), with
 * S_ij = softmax_j(x_iᵀ W_s x_j / τ) over the tokens of the same sequence (earlier ones only when
 * causal); the top-k is then taken on p̃. W_s starts as the identity.
 */
export class SimilarityRouter extends TokenChoiceRouter<SimilarityRouterConfig> {
  readonly gate: Linear;
  readonly similarity: Linear;

  constructor(
    config: Omit<SimilarityRouterConfig, 'type'> & { type?: 'similarity-router' },
    options: ModuleOptions = {},
  ) {
    checkRouterConfig('similarity-router', config);
    if (config.temperature !== undefined) {
      checkNumber('similarity-router', 'temperature', config.temperature, {
        min: 0,
        minExclusive: true,
      });
    }
    super(
      parseConfig('similarity-router', similarityRouterSchema, {
        ...config,
        type: 'similarity-router',
      }),
      options,
    );
    const { dim, numExperts } = config;
    const sub = { rng: this.rng };
    this.gate = this.addModule(
      'gate',
      new Linear({ inFeatures: dim, outFeatures: numExperts, bias: false }, sub),
    );
    this.similarity = this.addModule(
      'similarity',
      new Linear({ inFeatures: dim, outFeatures: dim, bias: false, init: 'zeros' }, sub),
    );
    const eye = tf.eye(dim);
    this.similarity.weight.assign(eye);
    eye.dispose();
  }

  protected get normalize(): boolean {
    return this.config.normalize ?? this.slots > 1;
  }

  protected scores(x: tf.Tensor2D, options: RouteOptions): TokenScores {
    const groups = options.groups ?? 1;
    const [tokens, dim] = x.shape;
    if (!Number.isInteger(groups) || groups < 1 || tokens % groups !== 0) {
      throw new ConfigError(
        this.blockName,
        'groups',
        `a divisor of the token count ${tokens}`,
        String(groups),
      );
    }
    const time = tokens / groups;
    const E = this.config.numExperts;
    const logits = this.gate.forward(x) as tf.Tensor2D;
    const probs = tf.softmax(logits);
    const xs = tf.reshape(x, [groups, time, dim]);
    const projected = tf.reshape(this.similarity.forward(x), [groups, time, dim]);
    let sim = tf.div(tf.matMul(projected, xs, false, true), this.config.temperature ?? 1);
    if (options.causal) {
      const allowed = tf.linalg.bandPart(tf.ones([time, time]), -1, 0);
      sim = tf.add(sim, tf.mul(tf.sub(1, allowed), -1e9));
    }
    const weights = tf.softmax(sim);
    const mixed = tf.reshape(tf.matMul(weights, tf.reshape(probs, [groups, time, E])), [
      tokens,
      E,
    ]) as tf.Tensor2D;
    return { logits, probs: mixed, select: mixed, gateSource: mixed };
  }
}

register(
  'similarity-router',
  (c: SimilarityRouterConfig, o) => new SimilarityRouter(c, o),
  similarityRouterSchema,
  {
    category: 'router',
    // W_g [dim, numExperts] and W_s [dim, dim], whose identity start is a [dim, dim] table too.
    estimate: (c) => estimateOf(c.dim * c.numExperts + c.dim * c.dim, 4 * c.dim * c.dim),
    info: {
      paper:
        'Nguyen et al. 2025, Improving Routing in Sparse Mixture of Experts with Graph of Tokens',
      equation: 'sec. 2',
      summary: 'Top-k on gates mixed over similar tokens of the same sequence.',
      example: { type: 'similarity-router', dim: 8, numExperts: 4 },
    },
  },
);
