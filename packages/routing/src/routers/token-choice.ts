import * as tf from '@tensorflow/tfjs-core';
import {
  type RouteOptions,
  type RouterBaseConfig,
  type RouterOutput,
  type RouterStats,
  Router,
  applyCapacity,
  checkControl,
  expertCapacity,
  pickColumns,
  selectTopK,
  slotWeights,
} from './router';

/** What a token-choice router scores before selection. All [tokens, experts]. */
export interface TokenScores {
  /** Raw logits for the z-loss (null when there are none). */
  logits: tf.Tensor2D | null;
  /** Probabilities for the load-balance loss. */
  probs: tf.Tensor2D;
  /** Scores the top-k is taken over (read on the host, not differentiated). */
  select: tf.Tensor2D;
  /** Differentiable scores the gates are read from. */
  gateSource: tf.Tensor2D;
}

export interface TokenChoiceConfig extends RouterBaseConfig {
  topK?: number;
  capacityFactor?: number;
}

/**
 * Token-choice routing: each token picks its top-k experts by `select`, gates are `gateSource`
 * at those experts (renormalised over the k when `normalize`), then Switch capacity drops.
 */
export abstract class TokenChoiceRouter<C extends TokenChoiceConfig> extends Router<C> {
  protected abstract scores(x: tf.Tensor2D, options: RouteOptions): TokenScores;

  /** Whether gates are renormalised to sum to one over the selected experts. */
  protected abstract get normalize(): boolean;

  get slots(): number {
    return this.config.topK ?? 1;
  }

  route(x: tf.Tensor2D, options: RouteOptions = {}): RouterOutput {
    this.checkInput(x);
    const { numExperts } = this.config;
    const k = this.slots;
    const control = options.control;
    if (control) checkControl(this.blockName, control, numExperts);
    const tokens = x.shape[0];
    let stats!: RouterStats;
    let hasLogits = false;
    const out = tf.tidy(() => {
      const s = this.scores(x, options);
      const indices = selectTopK(s.select.dataSync(), tokens, numExperts, k, control);
      const capacity =
        this.config.capacityFactor === undefined
          ? null
          : expertCapacity(tokens, numExperts, k, this.config.capacityFactor);
      const dropped = applyCapacity(indices, tokens, k, numExperts, capacity);
      stats = dropped.stats;
      let gates = pickColumns(s.gateSource, indices, k);
      if (this.normalize) gates = tf.div(gates, tf.add(tf.sum(gates, 1, true), 1e-20));
      const weights = slotWeights(indices, control);
      if (weights) gates = tf.mul(gates, tf.tensor2d(weights, [tokens, k]));
      const mask = tf.tensor2d(dropped.mask, [tokens, k]);
      hasLogits = s.logits !== null;
      return {
        indices: tf.tensor2d(indices, [tokens, k], 'int32'),
        gates: tf.mul(gates, mask) as tf.Tensor2D,
        mask,
        logits: s.logits ?? (tf.zeros([0, 0]) as tf.Tensor2D),
        probs: s.probs,
      };
    });
    if (!hasLogits) out.logits.dispose();
    return { ...out, logits: hasLogits ? out.logits : null, stats };
  }
}
