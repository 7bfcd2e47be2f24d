import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  type FusedDecoderMoE,
  type FusedDecodingContext,
  Linear,
  type ModuleOptions,
  estimateOf,
  register,
  parseConfig,
} from '@attnkit/core';
import { checkRouterConfig, type RouteOptions } from './router';
import { TokenChoiceRouter, type TokenScores } from './token-choice';

export const topKRouterSchema = z.strictObject({
  type: z.literal('topk-router'),
  dim: z.number().int().positive(),
  numExperts: z.number().int().positive(),
  topK: z.number().int().positive().optional(),
  /** 'softmax' (Shazeer et al. 2017) or 'sigmoid' (DeepSeek-V3, Liu et al. 2024, eqs. 13-16). */
  scoring: z.enum(['softmax', 'sigmoid']).optional(),
  /** Renormalise the k gates to sum to 1 (default: topK > 1 for softmax, always for sigmoid). */
  normalize: z.boolean().optional(),
  capacityFactor: z.number().positive().optional(),
  /**
   * DeepSeek-V3 auxiliary-loss-free balancing (eq. 16): a non-trainable per-expert bias added
   * to the scores for selection only; update it with `updateBalanceBias(load)`.
   */
  balanceBias: z.boolean().optional(),
});

export type TopKRouterConfig = z.input<typeof topKRouterSchema>;

/**
 * Token-choice top-k router. Softmax: g = TopK(softmax(x W_g)) (Shazeer et al. 2017, eq. 3
 * without noise; Switch, Fedus et al. 2021, eq. 1). Sigmoid: s = σ(x W_g), g = s_i / Σ_topk s
 * (DeepSeek-V3, eqs. 13-16, without the balancing bias).
 */
export class TopKRouter extends TokenChoiceRouter<TopKRouterConfig> {
  readonly gate: Linear;
  readonly balanceBias: tf.Variable | null;

  constructor(
    config: Omit<TopKRouterConfig, 'type'> & { type?: 'topk-router' },
    options: ModuleOptions = {},
  ) {
    checkRouterConfig('topk-router', config);
    super(
      parseConfig('topk-router', topKRouterSchema, { ...config, type: 'topk-router' }),
      options,
    );
    this.gate = this.addModule(
      'gate',
      new Linear(
        { inFeatures: config.dim, outFeatures: config.numExperts, bias: false },
        { rng: this.rng },
      ),
    );
    this.balanceBias = config.balanceBias
      ? this.addParameter('balanceBias', tf.zeros([config.numExperts]), false)
      : null;
  }

  /**
   * DeepSeek-V3 bias update: b_i += rate·sign(mean load − load_i), so overloaded experts are
   * picked less often. Pass `lastStats.demand` (or load) of the latest forward.
   */
  updateBalanceBias(load: readonly number[], rate = 0.001): void {
    if (!this.balanceBias) {
      throw new ConfigError(this.blockName, 'balanceBias', 'true to update the bias', 'false');
    }
    if (load.length !== this.config.numExperts) {
      throw new ConfigError(
        this.blockName,
        'load',
        `${this.config.numExperts} counts`,
        `${load.length}`,
      );
    }
    const mean = load.reduce((a, b) => a + b, 0) / load.length;
    tf.tidy(() => {
      const step = tf.tensor1d(load.map((l) => rate * Math.sign(mean - l)));
      this.balanceBias!.assign(tf.add(this.balanceBias!, step));
    });
  }

  /**
   * Its part of a fused decoder's mixture of experts (contract 7): the gate's weights and the
   * balancing bias, read in place; refused with a capacity limit (a token's experts would
   * depend on the other tokens routed with it).
   */
  fusedDecoding(
    context: FusedDecodingContext,
  ): Pick<FusedDecoderMoE, 'router' | 'scoring' | 'topK' | 'normalize' | 'selectionBias'> | string {
    if (this.config.capacityFactor !== undefined)
      return `${context.path} has a capacityFactor (routing depends on the other tokens)`;
    const bias = this.balanceBias?.dataSync();
    return {
      router: this.gate.fusedDecoding(),
      scoring: this.config.scoring ?? 'softmax',
      topK: this.slots,
      normalize: this.normalize,
      selectionBias:
        bias === undefined
          ? undefined
          : bias instanceof Float32Array
            ? bias
            : Float32Array.from(bias),
    };
  }

  protected get normalize(): boolean {
    const scoring = this.config.scoring ?? 'softmax';
    return this.config.normalize ?? (scoring === 'sigmoid' || this.slots > 1);
  }

  protected scores(x: tf.Tensor2D, _options: RouteOptions): TokenScores {
    const logits = this.gate.forward(x) as tf.Tensor2D;
    if ((this.config.scoring ?? 'softmax') === 'sigmoid') {
      const s = tf.sigmoid(logits) as tf.Tensor2D;
      const probs = tf.div(s, tf.sum(s, 1, true)) as tf.Tensor2D;
      const select = this.balanceBias ? (tf.add(s, this.balanceBias) as tf.Tensor2D) : s;
      return { logits, probs, select, gateSource: s };
    }
    const probs = tf.softmax(logits) as tf.Tensor2D;
    const select = this.balanceBias ? (tf.add(probs, this.balanceBias) as tf.Tensor2D) : probs;
    return { logits, probs, select, gateSource: probs };
  }
}

register('topk-router', (c: TopKRouterConfig, o) => new TopKRouter(c, o), topKRouterSchema, {
  category: 'router',
  // The gate, and the balance bias [numExperts] (non-trainable) when asked for.
  estimate: (c) => estimateOf(c.dim * c.numExperts + (c.balanceBias ? c.numExperts : 0)),
  info: {
    paper: 'Shazeer et al. 2017; Fedus et al. 2021, Switch Transformers',
    equation: 'eq. 3; eq. 1',
    summary: 'Token-choice top-k router (softmax or sigmoid gates).',
    example: { type: 'topk-router', dim: 8, numExperts: 4 },
  },
});
