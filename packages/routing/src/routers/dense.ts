import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { Linear, type ModuleOptions, estimateOf, register, parseConfig } from '@attnkit/core';
import {
  type RouteOptions,
  type RouterOutput,
  Router,
  checkControl,
  checkRouterConfig,
  countEmpty,
} from './router';

export const denseRouterSchema = z.strictObject({
  type: z.literal('dense-router'),
  dim: z.number().int().positive(),
  numExperts: z.number().int().positive(),
  /** 'uniform': every gate 1/E, no parameters; 'softmax': gates softmax(x W_g) (soft MoE). */
  weighting: z.enum(['uniform', 'softmax']).optional(),
});

export type DenseRouterConfig = z.input<typeof denseRouterSchema>;

/**
 * Dense (null) router: every token goes to every expert (Jacobs et al. 1991 mixture of experts
 * when weighting is 'softmax'). For tests and baselines; no capacity, nothing dropped.
 */
export class DenseRouter extends Router<DenseRouterConfig> {
  readonly gate: Linear | null;

  constructor(
    config: Omit<DenseRouterConfig, 'type'> & { type?: 'dense-router' },
    options: ModuleOptions = {},
  ) {
    checkRouterConfig('dense-router', config);
    super(
      parseConfig('dense-router', denseRouterSchema, { ...config, type: 'dense-router' }),
      options,
    );
    this.gate =
      (config.weighting ?? 'uniform') === 'softmax'
        ? this.addModule(
            'gate',
            new Linear(
              { inFeatures: config.dim, outFeatures: config.numExperts, bias: false },
              { rng: this.rng },
            ),
          )
        : null;
  }

  get slots(): number {
    return this.config.numExperts;
  }

  route(x: tf.Tensor2D, options: RouteOptions = {}): RouterOutput {
    this.checkInput(x);
    const E = this.config.numExperts;
    const control = options.control;
    if (control) checkControl(this.blockName, control, E);
    const tokens = x.shape[0];
    const enabled = Float32Array.from({ length: E }, (_, e) =>
      control?.disabled?.includes(e) ? 0 : 1,
    );
    const mask = new Float32Array(tokens * E);
    for (let i = 0; i < mask.length; i++) mask[i] = enabled[i % E]!;
    const out = tf.tidy(() => {
      const logits = this.gate ? (this.gate.forward(x) as tf.Tensor2D) : null;
      const probs = logits
        ? (tf.softmax(logits) as tf.Tensor2D)
        : (tf.fill([tokens, E], 1 / E) as tf.Tensor2D);
      const maskTensor = tf.tensor2d(mask, [tokens, E]);
      let gates: tf.Tensor = tf.mul(probs, maskTensor);
      if (control?.weights) gates = tf.mul(gates, tf.tensor1d(control.weights));
      const ids = Int32Array.from({ length: tokens * E }, (_, i) => i % E);
      return {
        indices: tf.tensor2d(ids, [tokens, E], 'int32'),
        gates: gates as tf.Tensor2D,
        mask: maskTensor,
        logits: logits ?? (tf.zeros([0, 0]) as tf.Tensor2D),
        probs,
      };
    });
    if (!this.gate) out.logits.dispose();
    const load = Array.from(enabled, (on) => on * tokens);
    return {
      ...out,
      logits: this.gate ? out.logits : null,
      stats: {
        tokens,
        load,
        demand: [...load],
        droppedAssignments: 0,
        droppedTokens: countEmpty(mask, tokens, E),
        capacity: null,
      },
    };
  }
}

register('dense-router', (c: DenseRouterConfig, o) => new DenseRouter(c, o), denseRouterSchema, {
  category: 'router',
  // A gate [dim, numExperts] for softmax weights only.
  estimate: (c) => estimateOf(c.weighting === 'softmax' ? c.dim * c.numExperts : 0),
  info: {
    paper: 'Jacobs et al. 1991, Adaptive Mixtures of Local Experts',
    summary: 'Every token to every expert (softmax or uniform weights); for tests and baselines.',
    example: { type: 'dense-router', dim: 8, numExperts: 4 },
  },
});
