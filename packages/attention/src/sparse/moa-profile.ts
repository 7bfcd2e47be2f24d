import type * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, checkNumber, checkRank, formatShape } from '@attnkit/core';
import { moaKeys, type ElasticRule } from './mixture-of-sparse-attention';

const BLOCK = 'profileElasticRules';

export interface ElasticProfileOptions {
  /** Largest mean density allowed: kept causal entries / all causal entries, over the heads. */
  budget: number;
  /** Sink tokens every rule keeps (as the mixer's numSinkTokens). */
  numSinkTokens?: number;
}

export interface ElasticProfile {
  /** One rule per head, ready for mixture-of-sparse-attention's `rules`. */
  rules: ElasticRule[];
  /** Mean density of the chosen rules. */
  density: number;
  /** Influence the chosen rules drop, summed over heads. */
  loss: number;
}

/**
 * MoA's rule search, reduced to one length and a greedy choice (Fu et al. 2024 profile each
 * head's attention influence, then pick per-head elastic rules under a density budget by a
 * multi-objective optimisation over several lengths). `influence` [heads, N, N] holds how much
 * each causal entry matters (attention weights averaged over calibration data, or the paper's
 * gradient-weighted |A ⊙ ∂L/∂A|). For head h and a candidate rule, loss = the influence its mask
 * drops, density = the fraction of causal entries it keeps. Each head starts at its sparsest
 * candidate; then the upgrade with the largest loss drop per density added is taken while the
 * mean density stays within the budget.
 */
export function profileElasticRules(
  influence: tf.Tensor3D,
  candidates: readonly ElasticRule[],
  options: ElasticProfileOptions,
): ElasticProfile {
  checkRank(BLOCK, 'influence', influence, 3);
  const [heads, n, m] = influence.shape;
  if (n !== m || n < 1) {
    throw new ShapeError(BLOCK, 'influence', '[heads, N, N]', formatShape(influence.shape));
  }
  if (!Array.isArray(candidates) || candidates.length === 0) {
    throw new ConfigError(BLOCK, 'candidates', 'a non-empty list of { alpha, beta }', '[]');
  }
  checkNumber(BLOCK, 'options.budget', options?.budget, { min: 0, max: 1, minExclusive: true });
  const sinks = options.numSinkTokens ?? 0;
  const values = influence.dataSync();
  const causal = (n * (n + 1)) / 2;

  // cost[h][c] = { loss, density } of candidate c on head h.
  const cost = Array.from({ length: heads }, (_, h) =>
    candidates.map((rule) => {
      let kept = 0;
      let keptInfluence = 0;
      let total = 0;
      for (let i = 0; i < n; i++) {
        for (let j = 0; j <= i; j++) total += values[(h * n + i) * n + j]!;
        for (const j of moaKeys(rule, i, sinks)) {
          kept += 1;
          keptInfluence += values[(h * n + i) * n + j]!;
        }
      }
      return { loss: total - keptInfluence, density: kept / causal };
    }),
  );
  const sparsest = cost[0]!.reduce(
    (best, c, i, all) => (c.density < all[best]!.density ? i : best),
    0,
  );
  const choice = new Array<number>(heads).fill(sparsest);
  const mean = () => choice.reduce((s, c, h) => s + cost[h]![c]!.density, 0) / heads;
  if (mean() > options.budget + 1e-12) {
    throw new ConfigError(
      BLOCK,
      'options.budget',
      `at least the sparsest candidate's density ${mean().toFixed(4)}`,
      String(options.budget),
    );
  }
  for (;;) {
    let best: { h: number; c: number; gain: number } | null = null;
    for (let h = 0; h < heads; h++) {
      const now = cost[h]![choice[h]!]!;
      cost[h]!.forEach((next, c) => {
        const added = next.density - now.density;
        const drop = now.loss - next.loss;
        if (added <= 0 || drop <= 0) return;
        if (mean() + added / heads > options.budget + 1e-12) return;
        const gain = drop / added;
        if (!best || gain > best.gain) best = { h, c, gain };
      });
    }
    if (!best) break;
    const { h, c } = best as { h: number; c: number };
    choice[h] = c;
  }
  return {
    rules: choice.map((c) => ({ ...candidates[c]! })),
    density: mean(),
    loss: choice.reduce((s, c, h) => s + cost[h]![c]!.loss, 0),
  };
}
