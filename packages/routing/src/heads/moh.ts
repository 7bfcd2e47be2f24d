import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  type MixerContext,
  StateDictError,
  type ModuleOptions,
  estimateOf,
  parseConfig,
} from '@attnkit/core';
import { type MultiHeadAttention, attentionFields, projectedParameters } from '@attnkit/attention';
import { type HeadControl, MoHGating, checkMoHHeads, mohGatingParameters } from '../moh-gating';
import { checkControl } from '../routers/router';
import { WeightedHeadsAttention } from './weighted-heads';
import { reportStats } from '../probe';
import { registerWithDefaults } from '../config';

const positive = z.number().int().positive();

export const mohSchema = z.strictObject({
  type: z.literal('moh'),
  ...attentionFields,
  numKvHeads: positive.optional(),
  window: positive.optional(),
  /** Heads every token uses (h_s in the paper). */
  numSharedHeads: z.number().int().min(0),
  /** Routed heads each token picks among numHeads - numSharedHeads. */
  topK: z.number().int().min(0),
  /** β of the load-balance loss added to context.aux as 'moh.load_balance' (paper: 0.01). */
  loadBalanceWeight: z.number().min(0).default(0.01),
  /** Every head with weight 1 (plain MHA): the start from a trained `mha`; no routing, no loss. */
  allHeads: z.boolean().default(false),
});

export type MoHConfig = z.input<typeof mohSchema>;
type Parsed = z.output<typeof mohSchema>;

/** Per-head statistics of the latest forward. */
export interface MoHStats {
  /** Tokens in the forward (batch · time). */
  tokens: number;
  /** Tokens each head was active for (weight not forced to 0). */
  headLoad: number[];
  /** Mean fraction of heads active per token. */
  activeFraction: number;
}

/**
 * Mixture-of-Head attention (Jin et al. 2024, "MoH: Multi-Head Attention as Mixture-of-Head
 * Attention"): y_t = Σ_i g_i H^i W_O^i (eq. 3), g from two-stage routing (eqs. 4-5): shared
 * heads always on, weighted α1·softmax(W_s x_t); the token's top-k routed heads weighted
 * α2·softmax(W_r x_t). The load-balance loss (eq. 6) goes to context.aux. Works with GQA,
 * positional encodings from the context, masks, segment ids and the KV cache (routing is per
 * token, so cached decoding routes exactly as the full forward).
 */
export class MoHAttention extends WeightedHeadsAttention<Parsed> {
  readonly gating: MoHGating;
  /** Head statistics of the latest forward (null before the first). @deprecated Read them from `context.probe`, which also names the layer. */
  lastStats: MoHStats | null = null;
  private control: HeadControl | null = null;

  constructor(config: MoHConfig, options: ModuleOptions = {}) {
    checkMoHHeads('moh', config);
    const c = parseConfig('moh', mohSchema, config);
    super(c, options);
    this.gating = this.addModule(
      'gating',
      new MoHGating(
        { dModel: c.dModel, numHeads: c.numHeads, numSharedHeads: c.numSharedHeads, topK: c.topK },
        { rng: this.rng },
      ),
    );
  }

  /** Disables, forces, reweights heads or runs all of them (`allHeads`) at run time; null clears. */
  setHeadControl(control: HeadControl | null): void {
    this.control = control ? this.checkedControl(control) : null;
  }

  private checkedControl(control: HeadControl): HeadControl {
    const { numHeads, numSharedHeads, topK } = this.config;
    {
      checkControl('moh', control, numHeads);
      const routed = (list?: number[]) => (list ?? []).filter((h) => h >= numSharedHeads);
      const forced = routed(control.forced);
      if (forced.length > topK) {
        throw new ConfigError(
          'moh',
          'control.forced',
          `at most topK=${topK} routed heads`,
          `[${forced.join(',')}]`,
        );
      }
      const left = numHeads - numSharedHeads - routed(control.disabled).length;
      if (!control.allHeads && !this.config.allHeads && left < topK) {
        throw new ConfigError(
          'moh',
          'control.disabled',
          `at least topK=${topK} routed heads left enabled`,
          `${left}`,
        );
      }
    }
    return control;
  }

  /** Routed heads leave most weights at 0 unless every head runs (`allHeads`). */
  protected override get sparseHeads(): boolean {
    return !this.config.allHeads;
  }

  get headControl(): HeadControl | null {
    return this.control;
  }

  protected headWeights(x: tf.Tensor3D, context: MixerContext): tf.Tensor3D {
    // A call's context.heads overrides the module's setHeadControl for that call.
    const own = context.heads
      ? this.checkedControl({ ...this.control, ...context.heads })
      : this.control;
    const control: HeadControl | null = this.config.allHeads ? { ...own, allHeads: true } : own;
    const { gates, loss, headLoad } = this.gating.forward(x, control);
    const tokens = x.shape[0] * x.shape[1];
    const active = headLoad.reduce((a, b) => a + b, 0);
    this.lastStats = { tokens, headLoad, activeFraction: active / (tokens * this.config.numHeads) };
    reportStats('moh', context, this.lastStats);
    if (loss && context.aux && this.config.loadBalanceWeight > 0) {
      context.aux.add('moh.load_balance', tf.keep(loss), this.config.loadBalanceWeight);
    }
    return gates;
  }

  /**
   * Copies the q/k/v/o (and QK-norm, sink) weights of a trained `mha`/`gqa`/`mqa` of the same
   * shape. With `allHeads` this module then computes exactly what `mha` does.
   */
  loadAttentionWeights(mha: MultiHeadAttention): void {
    const source = mha.stateDict();
    const names = this.attentionParameterNames();
    const missing = names.filter((n) => !(n in source));
    const unexpected = Object.keys(source).filter((n) => !names.includes(n));
    if (missing.length || unexpected.length) {
      throw new StateDictError(
        'moh',
        'mha',
        `the attention parameters ${names.join(', ')}`,
        [
          missing.length ? `missing: ${missing.join(', ')}` : '',
          unexpected.length ? `unexpected: ${unexpected.join(', ')}` : '',
        ]
          .filter(Boolean)
          .join('; '),
      );
    }
    // not strict: the gating keeps its own weights; shapes are still checked
    this.loadStateDict(source, { strict: false });
  }
}

/** What `mohFromMHA` takes besides the trained attention. */
export interface MoHFromMHAOptions {
  numSharedHeads: number;
  topK: number;
  /** Default true: start as plain MHA (every head, weight 1). */
  allHeads?: boolean;
  loadBalanceWeight?: number;
}

/**
 * A `moh` with the shape and weights of a trained multi-head attention (`mha`, `gqa`, `mqa`,
 * `sliding-window`). With `allHeads` (the default) it equals the MHA; train it with
 * `allHeads: false` to continue-tune into routed heads (MoH, sec. 3.3).
 */
export function mohFromMHA(
  mha: MultiHeadAttention,
  options: MoHFromMHAOptions,
  moduleOptions: ModuleOptions = {},
): MoHAttention {
  const c = mha.config;
  if (c.type === 'cross-attention' || c.numSinkTokens !== undefined) {
    throw new ConfigError(
      'moh',
      'mha',
      'a self-attention mixer without sink tokens (mha, gqa, mqa, sliding-window)',
      `'${c.type}'`,
    );
  }
  const defined = Object.fromEntries(
    Object.entries({
      dModel: c.dModel,
      numHeads: c.numHeads,
      numKvHeads: mha.numKvHeads,
      headDim: mha.headDim,
      bias: c.bias,
      causal: c.causal,
      qkNorm: c.qkNorm,
      logitSoftcap: c.logitSoftcap,
      window: c.window,
      sinkLogit: c.sinkLogit,
      dropout: c.dropout,
      chunkSize: c.chunkSize,
    }).filter(([, v]) => v !== undefined),
  );
  const moh = new MoHAttention(
    {
      type: 'moh',
      ...defined,
      numSharedHeads: options.numSharedHeads,
      topK: options.topK,
      allHeads: options.allHeads ?? true,
      ...(options.loadBalanceWeight === undefined
        ? {}
        : { loadBalanceWeight: options.loadBalanceWeight }),
    } as MoHConfig,
    moduleOptions,
  );
  moh.loadAttentionWeights(mha);
  return moh;
}

registerWithDefaults('moh', (c, o) => new MoHAttention(c, o), mohSchema, {
  category: 'mixer',
  // mha's parameters (projections, QK norms, sinks) and the gating's.
  estimate: (c) => {
    checkMoHHeads('moh', c);
    return estimateOf(
      projectedParameters(c) + (c.sinkLogit ? c.numHeads : 0) + mohGatingParameters(c),
    );
  },
  info: {
    paper: 'Jin et al. 2024, MoH: Multi-Head Attention as Mixture-of-Head Attention',
    equation: 'eqs. 3-6',
    summary: "Shared heads always on plus each token's top-k routed heads, weighted.",
    example: { type: 'moh', dModel: 8, numHeads: 4, numSharedHeads: 2, topK: 1 },
  },
});
