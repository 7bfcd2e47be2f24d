import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '@attnkit/core';

/**
 * Miras (Behrouz, Razaviyayn, Zhong & Mirrokni 2025, "It's All Connected: A Journey Through
 * Test-Time Memorization, Attentional Bias, Retention, and Online Optimization"): a memory is a
 * choice of attentional bias (its inner loss, sec. 3-4), retention gate (sec. 4) and learning rule.
 * Here the rule is Titans' (gradient with momentum, sec. 3.1); the bias and the retention are
 * chosen by name and each named Miras model is a preset of both (sec. 5).
 */
export type AttentionalBias = 'l2' | 'lp' | 'huber';
/**
 * 'l2': W = A, forgetting is the decay (Titans eq. 13); 'lq': W = A / ‖A‖_q^{q−2} (Moneta's ℓ_q
 * retention); 'kl': W = softmax(A) over each matrix's input axis (Memora's KL retention, A the
 * log-weights).
 */
export type Retention = 'l2' | 'lq' | 'kl';

export interface MirasChoice {
  attentionalBias: AttentionalBias;
  retention: Retention;
  /** p of the ℓ_p bias (Moneta), >= 2. */
  p: number;
  /** q of the ℓ_q retention (Moneta), >= 2. */
  q: number;
  /** δ of the Huber bias (Yaad). */
  huberDelta: number;
}

/** The named Miras models (sec. 5) and Titans' LMM as choices of bias and retention. */
export const MIRAS_PRESETS: Record<'titans' | 'moneta' | 'yaad' | 'memora', MirasChoice> = {
  titans: { attentionalBias: 'l2', retention: 'l2', p: 2, q: 2, huberDelta: 1 },
  moneta: { attentionalBias: 'lp', retention: 'lq', p: 3, q: 4, huberDelta: 1 },
  yaad: { attentionalBias: 'huber', retention: 'l2', p: 2, q: 2, huberDelta: 1 },
  memora: { attentionalBias: 'l2', retention: 'kl', p: 2, q: 2, huberDelta: 1 },
};

/** ε inside the smoothed |e| of the ℓ_p bias and inside ‖A‖_q, so both stay differentiable at 0. */
const EPS = 1e-6;

/**
 * ∂ℓ/∂M(k) of the bias at the error e = M(k) − v: ℓ2 ‖e‖² → 2e; ℓ_p Σ|e|^p → p e |e|^{p−2}
 * (|e| smoothed as √(e² + ε)); Huber (e² inside ±δ, linear outside) → 2 clip(e, −δ, δ).
 */
export function biasGradient(choice: MirasChoice): (error: tf.Tensor) => tf.Tensor {
  const { attentionalBias, p, huberDelta: delta } = choice;
  if (attentionalBias === 'l2' || (attentionalBias === 'lp' && p === 2)) {
    return (e) => tf.mul(e, 2);
  }
  if (attentionalBias === 'lp') {
    return (e) => tf.mul(tf.mul(e, p), tf.pow(tf.add(tf.square(e), EPS), (p - 2) / 2));
  }
  return (e) => tf.mul(tf.clipByValue(e, -delta, delta), 2);
}

/** The weights W = R(A) the memory computes with, from its accumulator A [..., in, out]. */
export function retain(choice: MirasChoice, a: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    if (choice.retention === 'l2' || (choice.retention === 'lq' && choice.q === 2)) {
      return a.clone();
    }
    if (choice.retention === 'lq') {
      const { q } = choice;
      const norm = tf.sum(tf.pow(tf.add(tf.abs(a), EPS), q), [-2, -1], true);
      return tf.div(a, tf.pow(norm, (q - 2) / q));
    }
    return tf.exp(tf.sub(a, tf.logSumExp(a, -2, true)));
  });
}

/** Checks the numbers of a choice; one typed error naming the field. */
export function checkMiras(block: string, choice: MirasChoice): MirasChoice {
  if (!(choice.p >= 2)) throw new ConfigError(block, 'p', 'a number >= 2', String(choice.p));
  if (!(choice.q >= 2)) throw new ConfigError(block, 'q', 'a number >= 2', String(choice.q));
  if (!(choice.huberDelta > 0)) {
    throw new ConfigError(block, 'huberDelta', 'a number > 0', String(choice.huberDelta));
  }
  return choice;
}
