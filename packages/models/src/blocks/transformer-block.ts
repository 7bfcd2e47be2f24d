import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type {
  Estimate,
  FusedDecoderAttention,
  FusedDecoderFeedForward,
  FusedDecoderLayer,
  FusedDecoderMoE,
  FusedDecoderNorm,
  FusedDecodingContext,
  IncrementalState,
  MixerContext,
  ModuleOptions,
  TokenMixer,
} from '@attnkit/core';
import {
  Module,
  build,
  checkRank,
  estimateChild,
  fusedDecodingOf,
  isResidualNorm,
  parseConfig,
  register,
  slotSchema,
  sumEstimates,
  timesEstimate,
} from '@attnkit/core';
import { seededDropout } from './dropout';
import { fillWidths } from './fill';

/** A sublayer's config: checked by its own schema when built, typed as core's `SlotConfig`. */
const subConfig = slotSchema();

export const transformerBlockSchema = z.strictObject({
  type: z.literal('transformer-block'),
  dModel: z.number().int().positive(),
  /** Any token mixer config (mha, gqa, linear attention, memory, MoH, ...). */
  mixer: subConfig,
  /** Any position-wise feed-forward config (mlp, swiglu, geglu, moe, ...). */
  feedForward: subConfig,
  /** Norm config; its width is filled in. */
  norm: subConfig.default({ type: 'rms-norm' }),
  placement: z.enum(['pre', 'post', 'sandwich']).default('pre'),
  /** GPT-J style: mixer and feed-forward read the same normed input and are summed. */
  parallel: z.boolean().default(false),
  dropout: z.number().min(0).max(1).default(0),
  /** Optional cross-attention sublayer (encoder-decoder); reads `context.memory`. */
  crossAttention: subConfig.optional(),
});

export type TransformerBlockConfig = z.input<typeof transformerBlockSchema>;
type Parsed = z.output<typeof transformerBlockSchema>;

/** A block's context: a mixer's, plus the encoder padding mask its cross-attention reads. */
export interface BlockContext extends MixerContext {
  /** Mask over `memory` positions (boolean, true = attend), broadcastable to `[batch, heads, tq, tk]`. */
  memoryMask?: tf.Tensor;
}

type Sublayer = Module & { forward(x: tf.Tensor, context?: MixerContext): tf.Tensor };
type Mixer = Module & TokenMixer;

/**
 * Transformer block (Vaswani et al. 2017, sec. 3.1): residual mixer sublayer then residual
 * feed-forward sublayer. `pre`: x + f(norm(x)) (Xiong et al. 2020); `post`: norm(x + f(x));
 * `sandwich`: x + norm'(f(norm(x))) (Ding et al. 2021, CogView); `parallel`: x + mix(n(x)) + ff(n(x))
 * (Wang & Komatsuzaki 2021, GPT-J).
 */
export class TransformerBlock extends Module<Parsed> {
  readonly mixer: Mixer;
  readonly feedForward: Sublayer;
  readonly crossAttention?: Mixer;
  private readonly norms: Record<string, Sublayer> = {};

  constructor(config: TransformerBlockConfig, options: ModuleOptions = {}) {
    const c = parseConfig('transformer-block', transformerBlockSchema, config);
    super(c, options);
    // A bad sublayer config throws half way (`new` bypasses build's cleanup): free what was built.
    try {
      const d = c.dModel;
      const width = { dModel: d, dim: d };
      const sub = { rng: this.rng };
      this.mixer = this.addModule(
        'mixer',
        build<Mixer>(fillWidths(c.mixer, width), { ...sub, path: '$.mixer', category: 'mixer' }),
      );
      if (c.crossAttention) {
        const cross = build<Mixer>(fillWidths(c.crossAttention, width), {
          ...sub,
          path: '$.crossAttention',
          category: 'mixer',
        });
        this.crossAttention = this.addModule('cross', cross);
      }
      this.feedForward = this.addModule(
        'ff',
        build<Sublayer>(fillWidths(c.feedForward, width), {
          ...sub,
          path: '$.feedForward',
          category: 'feedforward',
        }),
      );
      const norm = fillWidths(c.norm, { dim: d });
      const names = ['norm1', 'norm2'];
      if (c.crossAttention) names.push('normCross');
      if (c.placement === 'sandwich') names.push(...names.map((n) => `${n}Out`));
      for (const name of names) {
        this.norms[name] = this.addModule(
          name,
          build<Sublayer>(norm, { ...sub, path: '$.norm', category: 'norm' }),
        );
      }
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /** Fresh decoding state of the mixer. */
  initState(batch: number): IncrementalState | undefined {
    return this.mixer.initState?.(batch);
  }

  forward(x: tf.Tensor3D, context: BlockContext = {}): tf.Tensor3D {
    checkRank('transformer-block', 'x', x, 3);
    const { placement, parallel, dropout } = this.config;
    const training = context.training ?? this.training;
    const drop = (t: tf.Tensor3D) => seededDropout(t, dropout, this.rng, training);
    const norm = (name: string, t: tf.Tensor3D) => this.norms[name]!.forward(t) as tf.Tensor3D;
    const { memoryMask, ...blockContext } = context;
    const at = (part: string) => (context.path === undefined ? part : `${context.path}.${part}`);
    const mixerContext = { ...blockContext, path: at('mixer') };
    const mix = (t: tf.Tensor3D) => this.mixer.forward(t, mixerContext);
    const ffContext = { ...blockContext, path: at('feedForward') };
    const ff = (t: tf.Tensor3D) => this.feedForward.forward(t, ffContext) as tf.Tensor3D;
    const cross = (t: tf.Tensor3D) =>
      this.crossAttention!.forward(t, {
        memory: context.memory,
        mask: memoryMask,
        training,
        aux: context.aux,
        attentionHook: context.attentionHook,
        probe: context.probe,
        path: at('crossAttention'),
      });
    return tf.tidy(() => {
      // One post- or sandwich-norm residual sublayer (pre-norm: preNormSteps).
      const residual = (h: tf.Tensor3D, f: (t: tf.Tensor3D) => tf.Tensor3D, n: string) => {
        if (placement === 'post') return norm(n, tf.add(h, drop(f(h))));
        return tf.add<tf.Tensor3D>(h, drop(norm(`${n}Out`, f(norm(n, h)))));
      };
      if (parallel) {
        const inner = placement === 'post' ? x : norm('norm1', x);
        let a = mix(inner);
        let b = ff(inner);
        if (placement === 'sandwich') {
          a = norm('norm1Out', a);
          b = norm('norm2Out', b);
        }
        const sum = tf.add(x, tf.add(drop(a), drop(b))) as tf.Tensor3D;
        return placement === 'post' ? norm('norm1', sum) : sum;
      }
      const steps: [(t: tf.Tensor3D) => tf.Tensor3D, string][] = [[mix, 'norm1']];
      if (this.crossAttention) steps.push([cross, 'normCross']);
      steps.push([ff, 'norm2']);
      if (placement === 'pre') return this.preNormSteps(x, steps, drop);
      let h = x;
      for (const [f, n] of steps) h = residual(h, f, n);
      return h;
    });
  }

  /**
   * Pre-norm residual sublayers, each add done together with the norm that reads its sum (one
   * kernel each way where the norm and backend have it: `ResidualNorm`).
   */
  private preNormSteps(
    x: tf.Tensor3D,
    steps: [(t: tf.Tensor3D) => tf.Tensor3D, string][],
    drop: (t: tf.Tensor3D) => tf.Tensor3D,
  ): tf.Tensor3D {
    let h = x;
    let normed = this.norms[steps[0]![1]]!.forward(x) as tf.Tensor3D;
    for (let i = 0; ; i++) {
      const delta = drop(steps[i]![0](normed));
      const next = steps[i + 1];
      if (!next) return tf.add(h, delta);
      const n = this.norms[next[1]]!;
      if (isResidualNorm(n)) [h, normed] = n.addAndNorm(h, delta) as [tf.Tensor3D, tf.Tensor3D];
      else {
        h = tf.add(h, delta);
        normed = n.forward(h) as tf.Tensor3D;
      }
    }
  }

  /**
   * Its part of a fused decoder's spec (contract 7), each sublayer describing its own; refused
   * for parallel, sandwich-norm or cross-attention blocks and sublayers the decoder cannot run.
   */
  fusedDecoding(context: FusedDecodingContext): FusedDecoderLayer | string {
    const { path } = context;
    const c = this.config;
    if (c.parallel) return `${path} is a parallel block`;
    if (c.crossAttention) return `${path} has cross-attention`;
    if (c.placement === 'sandwich') return `${path} is sandwich-norm`;
    const at = (name: string) => ({ ...context, path: `${path}.${name}` });
    const attention = fusedDecodingOf<FusedDecoderAttention>(
      this.mixer,
      at('mixer'),
      `${path}.mixer '${this.mixer.blockName}' is not mha, gqa, mqa, sliding-window or streaming`,
    );
    if (typeof attention === 'string') return attention;
    const norm = (name: string) =>
      fusedDecodingOf<FusedDecoderNorm>(
        this.norms[name],
        at(name),
        `${path}.${name} '${this.norms[name]?.blockName}' is not rms-norm or layer-norm`,
      );
    const norm1 = norm('norm1');
    if (typeof norm1 === 'string') return norm1;
    const norm2 = norm('norm2');
    if (typeof norm2 === 'string') return norm2;
    const feedForward = fusedDecodingOf<FusedDecoderFeedForward | FusedDecoderMoE>(
      this.feedForward,
      at('feedForward'),
      `${path}.feedForward '${this.feedForward.blockName}' is not an mlp, a gated (glu) feed-forward or a moe`,
    );
    if (typeof feedForward === 'string') return feedForward;
    return { placement: c.placement, norm1, norm2, attention, feedForward };
  }
}

/** The sublayers' estimates, in build order: mixer, cross-attention, feed-forward, 2 to 6 norms. */
function estimateBlock(c: Parsed): Estimate {
  const d = c.dModel;
  const width = { dModel: d, dim: d };
  const parts = [estimateChild(fillWidths(c.mixer, width), '$.mixer', 'mixer')];
  if (c.crossAttention) {
    parts.push(estimateChild(fillWidths(c.crossAttention, width), '$.crossAttention', 'mixer'));
  }
  parts.push(estimateChild(fillWidths(c.feedForward, width), '$.feedForward', 'feedforward'));
  const norms = (c.crossAttention ? 3 : 2) * (c.placement === 'sandwich' ? 2 : 1);
  const norm = estimateChild(fillWidths(c.norm, { dim: d }), '$.norm', 'norm');
  return sumEstimates(...parts, timesEstimate(norms, norm));
}

register('transformer-block', (c, o) => new TransformerBlock(c, o), transformerBlockSchema, {
  category: 'block',
  estimate: estimateBlock,
  info: {
    paper: 'Vaswani et al. 2017, Attention Is All You Need; Xiong et al. 2020 (pre-norm)',
    equation: 'sec. 3.1',
    summary:
      'Residual mixer and feed-forward sublayers, pre-, post- or sandwich-norm, optionally parallel.',
    example: {
      type: 'transformer-block',
      dModel: 8,
      mixer: { type: 'mha', numHeads: 2 },
      feedForward: { type: 'mlp', hiddenDim: 16 },
    },
  },
});
