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

export const expertChoiceRouterSchema = z.strictObject({
  type: z.literal('expert-choice-router'),
  dim: z.number().int().positive(),
  numExperts: z.number().int().positive(),
  /** Default for capacityFactor: each token is processed by topK experts on average. */
  topK: z.number().int().positive().optional(),
  /** c in k = n·c/e: average experts per token (default topK, else 1). */
  capacityFactor: z.number().positive().optional(),
});

export type ExpertChoiceRouterConfig = z.input<typeof expertChoiceRouterSchema>;

/** Tokens each expert takes: ceil(n·c/e), at least 1 and at most n. */
export function expertChoiceCapacity(tokens: number, numExperts: number, factor: number): number {
  return Math.min(tokens, Math.max(1, Math.ceil((tokens * factor) / numExperts)));
}

/**
 * Expert-choice routing (Zhou et al. 2022, eq. 1): S = softmax(X W_g), each expert takes its
 * top-C tokens, G, I = TopK(Sᵀ, C), C = n·c/e. Output slots are the E experts; a slot is active
 * when that expert chose the token, with gate S[t, e]. Balanced by construction, no aux loss.
 */
export class ExpertChoiceRouter extends Router<ExpertChoiceRouterConfig> {
  readonly gate: Linear;

  constructor(
    config: Omit<ExpertChoiceRouterConfig, 'type'> & { type?: 'expert-choice-router' },
    options: ModuleOptions = {},
  ) {
    checkRouterConfig('expert-choice-router', config);
    super(
      parseConfig('expert-choice-router', expertChoiceRouterSchema, {
        ...config,
        type: 'expert-choice-router',
      }),
      options,
    );
    this.gate = this.addModule(
      'gate',
      new Linear(
        { inFeatures: config.dim, outFeatures: config.numExperts, bias: false },
        { rng: this.rng },
      ),
    );
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
    const capacity = expertChoiceCapacity(
      tokens,
      E,
      this.config.capacityFactor ?? this.config.topK ?? 1,
    );
    const disabled = new Set(control?.disabled ?? []);
    const forced = new Set(control?.forced ?? []);
    const load = new Array<number>(E).fill(0);
    const mask = new Float32Array(tokens * E);
    const out = tf.tidy(() => {
      const logits = this.gate.forward(x) as tf.Tensor2D;
      const probs = tf.softmax(logits) as tf.Tensor2D;
      const p = probs.dataSync();
      const order = Array.from({ length: tokens }, (_, t) => t);
      for (let e = 0; e < E; e++) {
        if (disabled.has(e)) continue;
        const chosen = forced.has(e)
          ? order
          : [...order].sort((a, b) => p[b * E + e]! - p[a * E + e]! || a - b).slice(0, capacity);
        for (const t of chosen) mask[t * E + e] = 1;
        load[e] = chosen.length;
      }
      const maskTensor = tf.tensor2d(mask, [tokens, E]);
      let gates: tf.Tensor = tf.mul(probs, maskTensor);
      if (control?.weights) gates = tf.mul(gates, tf.tensor1d(control.weights));
      const ids = Int32Array.from({ length: tokens * E }, (_, i) => i % E);
      return {
        indices: tf.tensor2d(ids, [tokens, E], 'int32'),
        gates: gates as tf.Tensor2D,
        mask: maskTensor,
        logits,
        probs,
      };
    });
    const stats = {
      tokens,
      load,
      demand: [...load],
      droppedAssignments: 0,
      droppedTokens: countEmpty(mask, tokens, E),
      capacity,
    };
    return { ...out, stats };
  }
}

register(
  'expert-choice-router',
  (c: ExpertChoiceRouterConfig, o) => new ExpertChoiceRouter(c, o),
  expertChoiceRouterSchema,
  {
    category: 'router',
    estimate: (c) => estimateOf(c.dim * c.numExperts), // the gate
    info: {
      paper: 'Zhou et al. 2022, Mixture-of-Experts with Expert Choice Routing',
      equation: 'eq. 1',
      summary: 'Each expert takes its top-C tokens; balanced by construction.',
      example: { type: 'expert-choice-router', dim: 8, numExperts: 4 },
    },
  },
);
