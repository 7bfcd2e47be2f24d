import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  type MixerContext,
  type ModuleOptions,
  checkInt,
  describe,
  estimateOf,
  parseConfig,
} from '@attnkit/core';
import { attentionFields, projectedParameters } from '@attnkit/attention';
import { loadBalanceLoss, routerZLoss } from '../ops/losses';
import { type ExpertControl, type RouterStats, checkControl } from '../routers/router';
import { TopKRouter } from '../routers/topk';
import { WeightedHeadsAttention } from './weighted-heads';
import { reportStats } from '../probe';
import { registerWithDefaults } from '../config';

const positive = z.number().int().positive();

/**
 * Registered name of Zhang et al. 2022's Mixture of Attention Heads. The short `moa` is a
 * deprecated alias (it also names Fu et al. 2024's Mixture of Sparse Attention); a module keeps
 * the type it was built with, so a saved `moa` config reloads as `moa`.
 */
export const MIXTURE_OF_ATTENTION_HEADS = 'mixture-of-attention-heads';

export const mixtureOfAttentionHeadsSchema = z.strictObject({
  type: z.literal(MIXTURE_OF_ATTENTION_HEADS),
  ...attentionFields,
  /** Key/value heads shared by the attention experts (the paper shares one: 1). */
  numKvHeads: positive.default(1),
  window: positive.optional(),
  /** Attention experts (heads) each token picks. */
  topK: positive,
  /** Weight of the Switch load-balance loss, 'moa.load_balance' (paper: 0.01). */
  loadBalanceWeight: z.number().min(0).default(0.01),
  /** Weight of the router z-loss, 'moa.z_loss' (paper: 0.001). */
  zLossWeight: z.number().min(0).default(0.001),
});

/** The deprecated `moa` alias: the same fields. */
export const moaSchema = mixtureOfAttentionHeadsSchema.extend({ type: z.literal('moa') });

export type MoAConfig = z.input<typeof mixtureOfAttentionHeadsSchema> | z.input<typeof moaSchema>;
type Parsed = z.output<typeof mixtureOfAttentionHeadsSchema> | z.output<typeof moaSchema>;

/** mha's parameters (projections with numKvHeads shared heads, QK norms, sinks) and the router [dModel, numHeads]. */
function estimateMoA(c: Parsed) {
  return estimateOf(
    projectedParameters(c) + (c.sinkLogit ? c.numHeads : 0) + c.dModel * c.numHeads,
  );
}

/**
 * Mixture of Attention heads (Zhang et al. 2022, "Mixture of Attention Heads: Selecting
 * Attention Heads Per Token", sec. 3): numHeads attention experts, each with its own query and
 * output projection, sharing the key and value projections; each token's router picks the
 * top-k experts, y_t = Σ_{i∈G(x_t)} w_i E_i(x_t) with w the softmax over the chosen router
 * logits. The auxiliary losses the paper trains with, a Switch-style load balance and the router
 * z-loss, go to context.aux. Routing is per token, so cached decoding equals the full forward.
 */
export class MoAAttention extends WeightedHeadsAttention<Parsed> {
  readonly router: TopKRouter;
  /** Routing statistics of the latest forward (load per head), null before the first. @deprecated Read them from `context.probe`, which also names the layer. */
  lastStats: RouterStats | null = null;
  private control: ExpertControl | null = null;

  constructor(config: MoAConfig, options: ModuleOptions = {}) {
    const block = config.type;
    checkInt(block, 'numHeads', config.numHeads);
    checkInt(block, 'topK', config.topK);
    if (config.topK > config.numHeads) {
      throw new ConfigError(
        block,
        'topK',
        `an integer <= numHeads (${config.numHeads})`,
        describe(config.topK),
      );
    }
    const c =
      config.type === 'moa'
        ? parseConfig(block, moaSchema, config)
        : parseConfig(block, mixtureOfAttentionHeadsSchema, config);
    super(c, options);
    this.router = this.addModule(
      'router',
      new TopKRouter(
        { dim: c.dModel, numExperts: c.numHeads, topK: c.topK, normalize: true },
        { rng: this.rng },
      ),
    );
  }

  /** Disables, forces or reweights attention experts at run time (null clears). */
  setHeadControl(control: ExpertControl | null): void {
    if (control) {
      checkControl(this.blockName, control, this.config.numHeads);
      const left = this.config.numHeads - (control.disabled?.length ?? 0);
      if (left < this.config.topK) {
        throw new ConfigError(
          this.blockName,
          'control.disabled',
          `at least topK=${this.config.topK} heads left enabled`,
          `${left}`,
        );
      }
    }
    this.control = control;
  }

  /** Each token weights only its top-k heads; the rest are 0 (and skipped where a kernel can). */
  protected override get sparseHeads(): boolean {
    return true;
  }

  protected headWeights(x: tf.Tensor3D, context: MixerContext): tf.Tensor3D {
    const { dModel, numHeads, topK, loadBalanceWeight, zLossWeight } = this.config;
    const [batch, time] = x.shape;
    const tokens = batch * time;
    const r = this.router.route(tf.reshape(x, [tokens, dModel]) as tf.Tensor2D, {
      control: context.heads ? { ...this.control, ...context.heads } : this.control,
    });
    this.lastStats = r.stats;
    reportStats('moa', context, { ...r.stats });
    if (context.aux && loadBalanceWeight > 0) {
      context.aux.add(
        'moa.load_balance',
        tf.keep(loadBalanceLoss(r.probs, r.stats.demand)),
        loadBalanceWeight,
      );
    }
    if (context.aux && zLossWeight > 0 && r.logits) {
      context.aux.add('moa.z_loss', tf.keep(routerZLoss(r.logits)), zLossWeight);
    }
    // [tokens, k] gates onto their heads: [tokens, numHeads]
    const indices = r.indices.dataSync();
    const hot = new Float32Array(tokens * topK * numHeads);
    for (let i = 0; i < tokens * topK; i++) hot[i * numHeads + indices[i]!] = 1;
    const spread = tf.mul(tf.expandDims(r.gates, 2), tf.tensor3d(hot, [tokens, topK, numHeads]));
    return tf.reshape(tf.sum(spread, 1), [batch, time, numHeads]) as tf.Tensor3D;
  }
}

registerWithDefaults(
  MIXTURE_OF_ATTENTION_HEADS,
  (c, o) => new MoAAttention(c, o),
  mixtureOfAttentionHeadsSchema,
  {
    category: 'mixer',
    estimate: estimateMoA,
    info: {
      paper: 'Zhang et al. 2022, Mixture of Attention Heads: Selecting Attention Heads Per Token',
      equation: 'sec. 3',
      summary:
        'Attention-head experts sharing key/value projections; each token routes to its top-k.',
      example: { type: MIXTURE_OF_ATTENTION_HEADS, dModel: 8, numHeads: 4, topK: 2 },
    },
  },
);
registerWithDefaults('moa', (c, o) => new MoAAttention(c, o), moaSchema, {
  category: 'mixer',
  estimate: estimateMoA,
  deprecated: `use '${MIXTURE_OF_ATTENTION_HEADS}' (Zhang et al. 2022); 'moa' is ambiguous`,
  info: {
    summary: `Deprecated alias of '${MIXTURE_OF_ATTENTION_HEADS}'.`,
    example: { type: 'moa', dModel: 8, numHeads: 4, topK: 2 },
  },
});
