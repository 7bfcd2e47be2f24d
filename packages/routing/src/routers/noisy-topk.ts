import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  Linear,
  type ModuleOptions,
  checkShape,
  estimateOf,
  register,
  parseConfig,
} from '@attnkit/core';
import { checkRouterConfig, type RouteOptions } from './router';
import { TokenChoiceRouter, type TokenScores } from './token-choice';

export const noisyTopKRouterSchema = z.strictObject({
  type: z.literal('noisy-topk-router'),
  dim: z.number().int().positive(),
  numExperts: z.number().int().positive(),
  topK: z.number().int().positive().optional(),
  capacityFactor: z.number().positive().optional(),
});

export type NoisyTopKRouterConfig = z.input<typeof noisyTopKRouterSchema>;

/**
 * Noisy top-k gating (Shazeer et al. 2017, eqs. 3-5): H = x W_g + ε·softplus(x W_noise),
 * ε ~ N(0, 1) in training only (seeded from the module's Rng), G = softmax(KeepTopK(H, k)).
 * W_noise starts at zero as in the paper.
 */
export class NoisyTopKRouter extends TokenChoiceRouter<NoisyTopKRouterConfig> {
  readonly gate: Linear;
  readonly noiseGate: Linear;

  constructor(
    config: Omit<NoisyTopKRouterConfig, 'type'> & { type?: 'noisy-topk-router' },
    options: ModuleOptions = {},
  ) {
    checkRouterConfig('noisy-topk-router', config);
    super(
      parseConfig('noisy-topk-router', noisyTopKRouterSchema, {
        ...config,
        type: 'noisy-topk-router',
      }),
      options,
    );
    const { dim, numExperts } = config;
    const sub = { rng: this.rng };
    this.gate = this.addModule(
      'gate',
      new Linear({ inFeatures: dim, outFeatures: numExperts, bias: false }, sub),
    );
    this.noiseGate = this.addModule(
      'noise',
      new Linear({ inFeatures: dim, outFeatures: numExperts, bias: false, init: 'zeros' }, sub),
    );
  }

  protected get normalize(): boolean {
    return true;
  }

  protected scores(x: tf.Tensor2D, options: RouteOptions): TokenScores {
    const logits = this.gate.forward(x) as tf.Tensor2D;
    let h = logits;
    if (options.training ?? this.training) {
      const shape: [number, number] = [x.shape[0], this.config.numExperts];
      let eps = options.noise;
      if (eps) checkShape(this.blockName, 'noise', eps, shape);
      else
        eps = tf.tensor2d(
          Float32Array.from({ length: shape[0] * shape[1] }, () => this.rng.normal()),
          shape,
        );
      h = tf.add(logits, tf.mul(eps, tf.softplus(this.noiseGate.forward(x)))) as tf.Tensor2D;
    }
    const probs = tf.softmax(h) as tf.Tensor2D;
    return { logits, probs, select: h, gateSource: probs };
  }
}

register(
  'noisy-topk-router',
  (c: NoisyTopKRouterConfig, o) => new NoisyTopKRouter(c, o),
  noisyTopKRouterSchema,
  {
    category: 'router',
    estimate: (c) => estimateOf(2 * c.dim * c.numExperts), // W_g and W_noise
    info: {
      paper: 'Shazeer et al. 2017, Outrageously Large Neural Networks',
      equation: 'eqs. 3-5',
      summary: 'Top-k gating with learned softplus noise in training.',
      example: { type: 'noisy-topk-router', dim: 8, numExperts: 4 },
    },
  },
);
