import * as tf from '@tensorflow/tfjs-core';
import { checkNumber } from '@attnkit/core';
import { adamwKernelStep } from './adamw-kernel';

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  weightDecay?: number;
  /** Which parameters decay; default `decaysByDefault` (matrices yes, norms and biases no). */
  decays?: (path: string, variable: tf.Variable) => boolean;
}

/** Matrices and embeddings decay; vectors (biases, norm gains) and anything under a norm do not. */
export function decaysByDefault(path: string, variable: tf.Variable): boolean {
  return variable.rank >= 2 && !/(^|\.)(norm|ln)[^.]*\./i.test(path);
}

/**
 * AdamW (Loshchilov & Hutter 2019, Algorithm 2): Adam's bias-corrected step plus a weight decay
 * applied to the weights directly, `p -= lr * (m̂ / (sqrt(v̂) + eps) + wd * p)`, not through the
 * gradient. Moments are keyed by parameter path so they save and load with the model.
 */
export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  private readonly decayed = new Set<string>();
  /** Number of updates applied so far. */
  stepCount = 0;

  constructor(
    private readonly params: Map<string, tf.Variable>,
    options: AdamWOptions = {},
  ) {
    this.beta1 = checkNumber('AdamW', 'beta1', options.beta1 ?? 0.9, { min: 0, max: 1 });
    this.beta2 = checkNumber('AdamW', 'beta2', options.beta2 ?? 0.95, { min: 0, max: 1 });
    this.epsilon = checkNumber('AdamW', 'epsilon', options.epsilon ?? 1e-8, { min: 0 });
    this.weightDecay = checkNumber('AdamW', 'weightDecay', options.weightDecay ?? 0.1, { min: 0 });
    const decays = options.decays ?? decaysByDefault;
    for (const [path, p] of params) {
      if (!p.trainable) continue;
      this.m.set(path, zerosVariable(p));
      this.v.set(path, zerosVariable(p));
      if (decays(path, p)) this.decayed.add(path);
    }
  }

  /** Paths of the parameters that get weight decay. */
  decayedPaths(): string[] {
    return [...this.decayed];
  }

  /**
   * Applies one update with learning rate `lr`; `grads` are keyed by parameter path. `gradScale`
   * multiplies every gradient first (a global-norm clip without scaled copies; default 1).
   */
  step(grads: Map<string, tf.Tensor>, lr: number, options: { gradScale?: number } = {}): void {
    const gradScale = options.gradScale ?? 1;
    checkNumber('AdamW', 'gradScale', gradScale, { min: 0 });
    this.stepCount++;
    const t = this.stepCount;
    const c1 = 1 - this.beta1 ** t;
    const c2 = 1 - this.beta2 ** t;
    tf.tidy(() => {
      for (const [path, grad] of grads) {
        const p = this.params.get(path);
        const m = this.m.get(path);
        const v = this.v.get(path);
        if (!p || !m || !v) continue;
        // A backend with the fused kernel does the whole update in one call (same values).
        const decay = this.decayed.has(path) ? this.weightDecay : 0;
        const hyper = { beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon };
        const attrs = { lr, ...hyper, weightDecay: decay, step: t, gradScale };
        if (adamwKernelStep(p, m, v, grad, attrs)) continue;
        const g = gradScale === 1 ? grad : tf.mul(grad, gradScale);
        const m1 = tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1));
        const v1 = tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        m.assign(m1);
        v.assign(v1);
        let update = tf.div(tf.div(m1, c1), tf.add(tf.sqrt(tf.div(v1, c2)), this.epsilon));
        if (this.decayed.has(path) && this.weightDecay > 0) {
          update = tf.add(update, tf.mul(p, this.weightDecay));
        }
        p.assign(tf.sub(p, tf.mul(update, lr)));
      }
    });
  }

  /** Moments as `m.<path>` / `v.<path>` tensors (the optimizer's own variables: do not dispose). */
  stateTensors(): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    for (const [path, m] of this.m) out[`m.${path}`] = m;
    for (const [path, v] of this.v) out[`v.${path}`] = v;
    return out;
  }

  /** Restores moments written by `stateTensors`; every entry must be present with its shape. */
  loadStateTensors(state: Record<string, tf.Tensor>, stepCount: number): void {
    const tables = [
      ['m', this.m],
      ['v', this.v],
    ] as const;
    // Check everything first, so a bad state changes nothing.
    for (const [kind, table] of tables) {
      for (const [path, variable] of table) {
        const t = state[`${kind}.${path}`];
        if (!t || !tf.util.arraysEqual(t.shape, variable.shape) || t.dtype !== variable.dtype) {
          throw new Error(
            `AdamW: optimizer state '${kind}.${path}' expected ${variable.dtype} [${variable.shape}], got ${t ? `${t.dtype} [${t.shape}]` : 'nothing'}`,
          );
        }
      }
    }
    for (const [kind, table] of tables) {
      for (const [path, variable] of table) variable.assign(state[`${kind}.${path}`]!);
    }
    this.stepCount = stepCount;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}

function zerosVariable(like: tf.Tensor): tf.Variable {
  const zeros = tf.zerosLike(like);
  const variable = tf.variable(zeros, false);
  zeros.dispose();
  return variable;
}
