import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  type FeedForward,
  type FusedDecoderFeedForward,
  type FusedDecoderMoE,
  type FusedDecodingContext,
  type MixerContext,
  Module,
  type ModuleOptions,
  build,
  checkInt,
  checkLastAxis,
  checkNumber,
  describe,
  type Estimate,
  fusedDecodingOf,
  estimateChild,
  sumEstimates,
  timesEstimate,
  validateConfig,
  parseConfig,
  slotSchema,
  typedInput,
  type SlotInput,
} from '@attnkit/core';
import { ModuleList } from './module-list';
import { denseDispatch, sparseDispatch } from './ops/dispatch';
import { loadBalanceLoss, routerZLoss } from './ops/losses';
import { type ExpertControl, type Router, type RouterStats, checkControl } from './routers/router';
import { TokenChoiceRouter } from './routers/token-choice';
import type { TopKRouter } from './routers/topk';
import { registerWithDefaults } from './config';
import { reportStats } from './probe';

const expertTypes = ['mlp', 'glu', 'swiglu', 'geglu', 'reglu'] as const;
type ExpertType = (typeof expertTypes)[number];

export const moeSchema = z.strictObject({
  type: z.literal('moe'),
  dim: z.number().int().positive(),
  numExperts: z.number().int().positive(),
  topK: z.number().int().positive().default(2),
  /** A feed-forward config without `dim`: {type: 'mlp'|'glu'|'swiglu'|..., hiddenDim, ...}. */
  expert: typedInput<SlotInput<ExpertType> & { type: ExpertType; hiddenDim: number }>()(
    z.looseObject({ type: z.enum(expertTypes), hiddenDim: z.number().int().positive() }),
  ),
  /** Always-active experts (DeepSeekMoE); same config as `expert` unless `sharedHiddenDim`. */
  numSharedExperts: z.number().int().min(0).default(0),
  sharedHiddenDim: z.number().int().positive().optional(),
  /** A router config without dim/numExperts/topK (filled in); default top-k softmax. */
  router: slotSchema().default({ type: 'topk-router' }),
  capacityFactor: z.number().positive().optional(),
  loadBalanceWeight: z.number().min(0).default(0.01),
  zLossWeight: z.number().min(0).default(0.001),
  /** 'sparse' runs each expert on its tokens only; 'dense' runs all experts on all tokens. */
  dispatch: z.enum(['sparse', 'dense']).default('sparse'),
});

export type MoEConfig = z.input<typeof moeSchema>;
type Parsed = z.output<typeof moeSchema>;

/**
 * Mixture-of-experts feed-forward: y = Σ_shared FFN_s(x) + Σ_{i∈TopK} g_i FFN_i(x)
 * (Shazeer et al. 2017, eq. 1; shared + fine-grained routed experts of DeepSeekMoE,
 * Dai et al. 2024, eq. 9). Adds the Switch load-balance loss and the ST-MoE z-loss to
 * `context.aux` ('moe.load_balance', 'moe.z_loss'); routing statistics go to `context.probe` (and, as before, `lastStats`).
 */
export class MoE extends Module<Parsed> implements FeedForward {
  readonly router: Router;
  readonly experts: ModuleList<Module & FeedForward>;
  readonly shared: ModuleList<Module & FeedForward> | null;
  /** Routing statistics of the latest forward (null before the first). @deprecated Read them from `context.probe`, which also names the layer. */
  lastStats: RouterStats | null = null;
  private control: ExpertControl | null = null;

  constructor(config: MoEConfig, options: ModuleOptions = {}) {
    checkMoEConfig(config);
    const c = parseConfig('moe', moeSchema, config);
    super(c, options);
    // A bad expert or router config throws half way: free the experts built before it.
    try {
      const sub = { rng: this.rng };
      const expertConfig = { ...c.expert, dim: c.dim };
      const experts = Array.from({ length: c.numExperts }, () =>
        build<Module & FeedForward>(expertConfig, {
          ...sub,
          path: '$.expert',
          category: 'feedforward',
        }),
      );
      this.experts = this.addModule('experts', new ModuleList(experts));
      const sharedConfig = { ...expertConfig, hiddenDim: c.sharedHiddenDim ?? c.expert.hiddenDim };
      this.shared =
        c.numSharedExperts > 0
          ? this.addModule(
              'shared',
              new ModuleList(
                Array.from({ length: c.numSharedExperts }, () =>
                  build<Module & FeedForward>(sharedConfig, {
                    ...sub,
                    path: '$.expert',
                    category: 'feedforward',
                  }),
                ),
              ),
            )
          : null;
      this.router = this.addModule(
        'router',
        build<Router>(routerConfigOf(c), { ...sub, path: '$.router', category: 'router' }),
      );
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /** Disables, forces or reweights routed experts at run time (null clears). */
  setExpertControl(control: ExpertControl | null): void {
    if (control) checkControl('moe', control, this.config.numExperts);
    this.control = control;
  }

  forward(x: tf.Tensor, context: MixerContext = {}): tf.Tensor {
    const { dim } = this.config;
    checkLastAxis('moe', 'x', x, dim);
    const training = context.training ?? this.training;
    return tf.tidy(() => {
      const flat = tf.reshape(x, [-1, dim]) as tf.Tensor2D;
      const routed = this.router.route(flat, {
        training,
        groups: x.rank === 3 ? x.shape[0] : 1,
        causal: context.causal,
        control: this.control,
      });
      this.lastStats = routed.stats;
      reportStats('moe', context, routed.stats);
      if (context.aux) this.addAuxLosses(context, routed.probs, routed.logits, routed.stats);
      const experts = this.experts.items.map(
        (m) => (t: tf.Tensor2D) => m.forward(t, context) as tf.Tensor2D,
      );
      const indices = routed.indices.dataSync();
      let out: tf.Tensor =
        this.config.dispatch === 'sparse'
          ? sparseDispatch(flat, indices, routed.mask.dataSync(), routed.gates, experts)
          : denseDispatch(flat, indices, routed.gates, experts);
      for (const s of this.shared?.items ?? []) out = tf.add(out, s.forward(flat, context));
      return tf.reshape(out, x.shape);
    });
  }

  /**
   * Its part of a fused decoder's spec (contract 7): the router's and each expert's weights,
   * read in place. Refused with a capacity limit (a token's experts would depend on the other
   * tokens of its forward), with an expert control set, or with a router other than
   * topk-router; an expert control set later is not seen by a running fused decode.
   */
  fusedDecoding(context: FusedDecodingContext): FusedDecoderMoE | string {
    const { path } = context;
    if (this.config.capacityFactor !== undefined)
      return `${path} has a capacityFactor (routing depends on the other tokens)`;
    if (this.control) return `${path} has an expert control set (setExpertControl)`;
    const routing = fusedDecodingOf<Exclude<ReturnType<TopKRouter['fusedDecoding']>, string>>(
      this.router,
      { ...context, path: `${path}.router` },
      `${path}.router '${this.router.blockName}' is not topk-router`,
    );
    if (typeof routing === 'string') return routing;
    const parts = (list: ModuleList<Module & FeedForward> | null, name: string) =>
      (list?.items ?? []).map((m, i) =>
        fusedDecodingOf<FusedDecoderFeedForward>(
          m,
          { ...context, path: `${path}.${name}[${i}]` },
          `${path}.${name}[${i}] '${m.blockName}' is not an mlp or a gated (glu) feed-forward`,
        ),
      );
    const experts = parts(this.experts, 'experts');
    const shared = parts(this.shared, 'shared');
    const refused = [...experts, ...shared].find((p) => typeof p === 'string');
    if (typeof refused === 'string') return refused;
    return {
      kind: 'moe',
      ...routing,
      experts: experts as FusedDecoderFeedForward[],
      shared: shared as FusedDecoderFeedForward[],
    };
  }

  private addAuxLosses(
    context: MixerContext,
    probs: tf.Tensor2D,
    logits: tf.Tensor2D | null,
    stats: RouterStats,
  ): void {
    const { loadBalanceWeight, zLossWeight } = this.config;
    if (this.router instanceof TokenChoiceRouter && loadBalanceWeight > 0) {
      context.aux!.add(
        'moe.load_balance',
        tf.keep(loadBalanceLoss(probs, stats.demand)),
        loadBalanceWeight,
      );
    }
    if (logits && zLossWeight > 0) {
      context.aux!.add('moe.z_loss', tf.keep(routerZLoss(logits)), zLossWeight);
    }
  }
}

/** Clear errors for the numbers a user is most likely to get wrong. */
function checkMoEConfig(c: MoEConfig): void {
  checkInt('moe', 'numExperts', c.numExperts);
  const topK = c.topK ?? 2;
  checkInt('moe', 'topK', topK);
  if (topK > c.numExperts) {
    throw new ConfigError(
      'moe',
      'topK',
      `an integer <= numExperts (${c.numExperts})`,
      describe(topK),
    );
  }
  if (c.numSharedExperts !== undefined) checkInt('moe', 'numSharedExperts', c.numSharedExperts, 0);
  if (c.capacityFactor !== undefined) {
    checkNumber('moe', 'capacityFactor', c.capacityFactor, { min: 0, minExclusive: true });
  }
}

/** The router's config with the sizes the MoE fills in. */
function routerConfigOf(c: Parsed): object {
  return fillRouter(c.router, {
    dim: c.dim,
    numExperts: c.numExperts,
    topK: c.topK,
    ...(c.capacityFactor === undefined ? {} : { capacityFactor: c.capacityFactor }),
  });
}

/** The routed and shared experts' and the router's estimates, before building any of them. */
function estimateMoE(c: Parsed): Estimate {
  checkMoEConfig(c);
  const expert = { ...c.expert, dim: c.dim };
  const parts = [timesEstimate(c.numExperts, estimateChild(expert, '$.expert', 'feedforward'))];
  if (c.numSharedExperts > 0) {
    const shared = { ...expert, hiddenDim: c.sharedHiddenDim ?? c.expert.hiddenDim };
    parts.push(timesEstimate(c.numSharedExperts, estimateChild(shared, '$.expert', 'feedforward')));
  }
  parts.push(estimateChild(routerConfigOf(c), '$.router', 'router'));
  return sumEstimates(...parts);
}

/** Adds each value the router's schema accepts and the config lacks. */
function fillRouter(router: { type: string }, values: Record<string, number>): object {
  let out: Record<string, unknown> = { ...router };
  for (const [key, value] of Object.entries(values)) {
    if (key in out) continue;
    const attempt = { ...out, [key]: value };
    try {
      validateConfig(attempt, '$.router');
      out = attempt;
    } catch (e) {
      const unknown =
        e instanceof Error && /unknown option/.test(e.message) && e.message.includes(`'${key}'`);
      if (!unknown) out = attempt;
    }
  }
  return out;
}

registerWithDefaults('moe', (c, o) => new MoE(c, o), moeSchema, {
  category: 'feedforward',
  estimate: estimateMoE,
  info: {
    paper: 'Shazeer et al. 2017, Outrageously Large Neural Networks; Dai et al. 2024, DeepSeekMoE',
    equation: 'eq. 1; eq. 9',
    summary:
      'Mixture-of-experts feed-forward: shared plus top-k routed experts, load-balance and z-loss to context.aux.',
    example: { type: 'moe', dim: 8, numExperts: 4, expert: { type: 'mlp', hiddenDim: 8 } },
  },
});
