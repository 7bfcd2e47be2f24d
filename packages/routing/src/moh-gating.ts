import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  Linear,
  Module,
  type ModuleOptions,
  checkInt,
  checkLastAxis,
  describe,
  parseConfig,
} from '@attnkit/core';
import { type ExpertControl, checkControl } from './routers/router';
import { TopKRouter } from './routers/topk';

export const mohGatingSchema = z.strictObject({
  dModel: z.number().int().positive(),
  numHeads: z.number().int().positive(),
  numSharedHeads: z.number().int().min(0),
  /** Routed heads activated per token (0 only when every head is shared). */
  topK: z.number().int().min(0),
});

export type MoHGatingConfig = z.input<typeof mohGatingSchema>;

/** Head control: ExpertControl over head numbers, plus `allHeads` (every head, weight 1). */
export interface HeadControl extends ExpertControl {
  /** Every head active with weight 1 before `weights`/`disabled`: plain multi-head attention. */
  allHeads?: boolean;
}

export interface MoHGates {
  /** [batch, time, numHeads] weight of each head's output per token. */
  gates: tf.Tensor3D;
  /** Load-balance loss over routed heads (MoH eq. 6), null without routed heads. */
  loss: tf.Scalar | null;
  /** Tokens each head was active for (shared heads: all of them). */
  headLoad: number[];
}

/** Throws the errors users hit first: shared heads > heads, topK > routed heads. */
export function checkMoHHeads(block: string, c: MoHGatingConfig): void {
  checkInt(block, 'numHeads', c.numHeads);
  checkInt(block, 'numSharedHeads', c.numSharedHeads, 0);
  checkInt(block, 'topK', c.topK, 0);
  if (c.numSharedHeads > c.numHeads) {
    throw new ConfigError(
      block,
      'numSharedHeads',
      `an integer <= numHeads (${c.numHeads})`,
      describe(c.numSharedHeads),
    );
  }
  const routed = c.numHeads - c.numSharedHeads;
  if (c.topK > routed || (routed > 0 && c.topK < 1)) {
    throw new ConfigError(
      block,
      'topK',
      `an integer in [${Math.min(1, routed)}, ${routed}] (numHeads - numSharedHeads)`,
      describe(c.topK),
    );
  }
}

/** Parameters of MoHGating: W_s [dModel, h_s], the routed heads' top-k gate, W_h [dModel, 2] with both. */
export function mohGatingParameters(c: MoHGatingConfig): number {
  const routed = c.numHeads - c.numSharedHeads;
  const mix = c.numSharedHeads > 0 && routed > 0 ? 2 : 0;
  return c.dModel * (c.numSharedHeads + routed + mix);
}

/**
 * Two-stage head weights of Mixture-of-Head attention (Jin et al. 2024, eqs. 4-6):
 * g_i = α1 · softmax(W_s x)_i for the h_s shared heads; α2 · softmax(W_r x)_i for a routed head
 * in the token's top-k, else 0; [α1, α2] = softmax(W_h x). L_b = Σ_routed f_i P_i with f_i the
 * fraction of tokens that chose head i and P_i its mean routed probability.
 */
export class MoHGating extends Module<MoHGatingConfig> {
  readonly shared: Linear | null;
  readonly routed: TopKRouter | null;
  readonly mix: Linear | null;

  constructor(config: MoHGatingConfig, options: ModuleOptions = {}) {
    checkMoHHeads('moh', config);
    super(parseConfig('moh', mohGatingSchema, config), options);
    const { dModel, numHeads, numSharedHeads, topK } = config;
    const routedHeads = numHeads - numSharedHeads;
    const sub = { rng: this.rng };
    const linear = (out: number) =>
      new Linear({ inFeatures: dModel, outFeatures: out, bias: false }, sub);
    this.shared = numSharedHeads > 0 ? this.addModule('shared', linear(numSharedHeads)) : null;
    this.routed =
      routedHeads > 0
        ? this.addModule(
            'routed',
            new TopKRouter({ dim: dModel, numExperts: routedHeads, topK, normalize: false }, sub),
          )
        : null;
    this.mix = this.shared && this.routed ? this.addModule('mix', linear(2)) : null;
  }

  forward(x: tf.Tensor3D, control: HeadControl | null = null): MoHGates {
    const { dModel, numHeads, numSharedHeads } = this.config;
    checkLastAxis('moh', 'x', x, dModel);
    if (control) checkControl('moh', control, numHeads);
    const [batch, time] = x.shape;
    const tokens = batch * time;
    const headLoad = new Array<number>(numHeads).fill(0);
    let hasLoss = false;
    const out = tf.tidy(() => {
      const flat = tf.reshape(x, [tokens, dModel]) as tf.Tensor2D;
      const parts: tf.Tensor2D[] = [];
      let loss: tf.Scalar = tf.scalar(0);
      if (control?.allHeads) {
        parts.push(tf.ones([tokens, numHeads]));
        headLoad.fill(tokens);
      } else {
        const alpha = this.mix ? tf.softmax(this.mix.forward(flat) as tf.Tensor2D) : null;
        const part = (t: tf.Tensor2D, which: number) =>
          alpha ? (tf.mul(t, tf.slice(alpha, [0, which], [tokens, 1])) as tf.Tensor2D) : t;
        if (this.shared) {
          parts.push(part(tf.softmax(this.shared.forward(flat) as tf.Tensor2D), 0));
          headLoad.fill(tokens, 0, numSharedHeads);
        }
        if (this.routed) {
          const routedControl = control ? shiftControl(control, numSharedHeads) : null;
          const r = this.routed.route(flat, { control: routedControl });
          const hot = routedDense(r.indices.dataSync(), tokens, this.routed.config.numExperts);
          // eq. 4: the routed softmax at the chosen heads (not renormalised), times α2
          parts.push(part(tf.mul(r.probs, hot) as tf.Tensor2D, 1));
          r.stats.load.forEach((l, i) => (headLoad[numSharedHeads + i] = l));
          const f = tf.tensor1d(r.stats.demand.map((d) => d / tokens));
          loss = tf.sum(tf.mul(f, tf.mean(r.probs, 0))) as tf.Scalar;
          hasLoss = true;
        }
      }
      let gates: tf.Tensor = parts.length === 1 ? parts[0]! : tf.concat(parts, 1);
      const scale = headScale(control, numHeads);
      if (scale) gates = tf.mul(gates, tf.tensor1d(scale));
      return { gates: tf.reshape(gates, [batch, time, numHeads]) as tf.Tensor3D, loss };
    });
    if (!hasLoss) out.loss.dispose();
    for (const h of control?.disabled ?? []) headLoad[h] = 0;
    return { gates: out.gates, loss: hasLoss ? out.loss : null, headLoad };
  }
}

/** The control of routed heads, renumbered from 0. */
function shiftControl(control: HeadControl, shared: number): ExpertControl {
  const routed = (list?: number[]) =>
    (list ?? []).filter((h) => h >= shared).map((h) => h - shared);
  return { disabled: routed(control.disabled), forced: routed(control.forced) };
}

/** Multipliers per head: control weights, zero for disabled heads (null when neither). */
function headScale(control: HeadControl | null, numHeads: number): number[] | null {
  if (!control?.weights && !control?.disabled?.length) return null;
  const scale = control.weights ? [...control.weights] : new Array<number>(numHeads).fill(1);
  for (const h of control.disabled ?? []) scale[h] = 0;
  return scale;
}

/** [tokens, experts] constant with 1 at each selected expert. */
function routedDense(indices: ArrayLike<number>, tokens: number, experts: number): tf.Tensor2D {
  const k = indices.length / tokens;
  const hot = new Float32Array(tokens * experts);
  for (let i = 0; i < indices.length; i++) hot[Math.floor(i / k) * experts + indices[i]!] = 1;
  return tf.tensor2d(hot, [tokens, experts]);
}
