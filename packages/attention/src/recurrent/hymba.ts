import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  Linear,
  State,
  estimateOf,
  initTensor,
  parseConfig,
  register,
  rmsNorm,
  type KeyValuePrefix,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { KVCache } from '../cache/kv-cache';
import { scaledDotProductAttention } from '../ops/sdpa';
import { mergeHeads, mixerInput, splitHeads } from '../softmax/heads';
import { ProjectedAttention, headLayout, projectedParameters } from '../softmax/projected';
import { sharedKeysValues } from '../softmax/shared-kv';
import { dtRange, silu, ssmFields } from './common';
import { SelectiveSsm, selectiveSsm, selectiveSsmParameters, type SsmSizes } from './selective-ssm';
import { RecurrentState } from './state';

const positive = z.number().int().positive();

/** 'hymba': attention heads and SSM heads in parallel in one layer (Dong et al. 2024, sec. 2). */
export const hymbaSchema = z
  .strictObject({
    type: z.literal('hymba'),
    ...ssmFields,
    /** Attention heads; each is expand·dModel / numHeads wide, as the SSM's inner width. */
    numHeads: positive,
    numKvHeads: positive.optional(),
    /** Sliding window of the attention heads (tokens seen, the current one included); global when absent. */
    window: positive.optional(),
    /** Learnable meta tokens (sec. 2.2; the paper uses 128); default 0. */
    metaTokens: z.number().int().min(0).optional(),
    /** The SSM's state size N (default 16), Δ's rank and training form, as Mamba's. */
    dState: positive.optional(),
    dtRank: positive.optional(),
    form: z.enum(['chunk', 'sequential']).optional(),
  })
  .refine((c) => ((c.expand ?? 2) * c.dModel) % c.numHeads === 0, {
    path: ['numHeads'],
    message: 'a divisor of expand·dModel (default expand 2)',
  })
  .refine(...dtRange);
export type HymbaConfig = z.input<typeof hymbaSchema>;

/** The SSM heads' part of the state: conv tail and h. */
export class HymbaSsmState extends RecurrentState {}

/** Decoding state: the attention heads' KV cache (bounded by `window`) and the SSM's state. */
export class HymbaState extends State {
  readonly attention: KVCache;
  readonly ssm: HymbaSsmState;

  constructor(window: number | undefined) {
    super();
    this.attention = this.addChild('attention', new KVCache({ window }));
    this.ssm = this.addChild('ssm', new HymbaSsmState());
  }
}

type Parsed = z.output<typeof hymbaSchema>;

/** The attention heads' layout: headDim = expand·dModel / numHeads. */
function hymbaHeads(c: Parsed) {
  const headDim = ((c.expand ?? 2) * c.dModel) / c.numHeads;
  return { ...c, headDim };
}

/** The SSM heads' sizes, as Mamba's: inner E = expand·dModel, state N, conv kernel, Δ's rank. */
function ssmSizes(c: Parsed): SsmSizes {
  const { dModel, expand = 2, dState = 16, dConv = 4, dtRank } = c;
  return {
    inner: expand * dModel,
    state: dState,
    kernel: dConv,
    rank: dtRank ?? Math.ceil(dModel / 16),
  };
}

/** The SSM's carry between calls: the conv's last inputs and h. */
interface SsmCarry {
  conv?: tf.Tensor3D;
  ssm?: tf.Tensor;
}

/**
 * Hymba (Dong et al. 2024, "Hymba: A Hybrid-head Architecture for Small Language Models"),
 * sec. 2.1 eq. 2: attention heads and SSM (Mamba) heads read the same input in parallel, and
 * Y = W_out(β1·norm(M_attn X̃) + β2·norm(M_ssm X̃)), norm the RMS norm, β1, β2 learned per channel
 * (0.5 at the start: the official code averages two unit-gain norms). The attention heads are
 * `ProjectedAttention`'s q/k/v (their o is W_out) on `scaledDotProductAttention`, optionally a
 * sliding window; the SSM heads are Mamba's: [x, z] = ssmIn(X), y = S6(x) ⊙ SiLU(z) (`selectiveSsm`).
 *
 * Meta tokens (sec. 2.2): the paper prepends m learned tokens R to the input, X̃ = [R, X]. Per
 * layer, as a mixer, that is what each head sees of R: the attention heads get R's keys and values
 * as a prefix every query attends (unmasked, outside the window, unpositioned: the paper's meta
 * tokens stay visible to sliding-window heads), and the SSM starts from the state it reaches after
 * reading R (conv tail and h), so the outputs at X equal those of a run over [R, X]. Each layer
 * learns its own R (the paper's flow R through the stack; here a layer's R is its own parameter).
 * Decoding: a KV cache (at most `window` tokens) and the SSM state; the meta state is recomputed
 * from R at the first call. Honours cross-layer KV sharing (sec. 2.3) through `sharedKeyValues`.
 */
export class Hymba extends ProjectedAttention<Parsed> implements TokenMixer {
  readonly ssmIn: Linear;
  readonly ssm: SelectiveSsm;
  readonly betaAttention: tf.Variable;
  readonly betaSsm: tf.Variable;
  readonly meta: tf.Variable | null;

  constructor(config: HymbaConfig, options: ModuleOptions = {}) {
    const parsed = parseConfig('hymba', hymbaSchema, config);
    super(parsed, options, headLayout({ ...hymbaHeads(parsed), type: 'hymba' }));
    const { dModel, metaTokens = 0, bias = false } = parsed;
    const { inner } = this.sizes;
    const ssmIn = new Linear(
      { inFeatures: dModel, outFeatures: 2 * inner, bias },
      { rng: this.rng },
    );
    this.ssmIn = this.addModule('ssmIn', ssmIn);
    this.ssm = this.addModule('ssm', new SelectiveSsm(this.sizes, parsed, this.rng));
    this.betaAttention = this.addParameter('betaAttention', tf.fill([inner], 0.5));
    this.betaSsm = this.addParameter('betaSsm', tf.fill([inner], 0.5));
    this.meta =
      metaTokens > 0
        ? this.addParameter(
            'meta',
            initTensor({ name: 'normal', std: 1 }, [metaTokens, dModel], this.rng),
          )
        : null;
  }

  get sizes(): SsmSizes {
    return ssmSizes(this.config);
  }

  /** Causal only; rotary turns the attention heads; no masks, weights map, head control, prefix. */
  override get capabilities(): MixerCapabilities {
    return {
      ...super.capabilities,
      causal: 'only',
      positional: ['rotate'],
      masks: false,
      segmentIds: false,
      attentionWeights: 'none',
      headControl: false,
      keyValuePrefix: false,
      sharedKeyValues: true,
    };
  }

  initState(_batch: number): HymbaState {
    return new HymbaState(this.config.window);
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const caps = this.capabilities;
    const input = mixerInput('hymba', x, this.config.dModel, context, HymbaState, false, caps);
    const { state, queryPositions, time, batch } = input;
    const positional = context.positional;
    const [output, conv, ssm] = tf.tidy(() => {
      const q = this.projectQueries(x, queryPositions, positional);
      // Under KV sharing a consumer attends its group's keys and meta tokens (one cache per group).
      const kv = sharedKeysValues('hymba', context, () => ({
        ...this.projectKeysValues(x, queryPositions, positional, state?.attention),
        prefix: this.metaPrefix(),
      }));
      const attention = scaledDotProductAttention(q, kv.keys, kv.values, {
        scale: (positional?.logitScale ?? 1) / Math.sqrt(this.headDim),
        causal: true,
        window: this.config.window,
        queryPositions,
        keyPositions: kv.positions,
        prefix: kv.prefix,
      }).output;
      state?.attention.evict();
      const carry: SsmCarry = state?.ssm.read('ssm')
        ? { conv: state.ssm.read<tf.Tensor3D>('conv'), ssm: state.ssm.read('ssm') }
        : this.metaCarry(batch);
      const s = this.scanSsm(x, carry);
      const mixed = tf.add(
        tf.mul(rmsNorm(mergeHeads(attention), 1e-6), this.betaAttention),
        tf.mul(rmsNorm(s.y, 1e-6), this.betaSsm),
      );
      return [this.o.forward(mixed) as tf.Tensor3D, s.conv, s.ssm];
    });
    if (state) {
      state.ssm.update({ conv, ssm }, time);
      state.advance(time);
    } else tf.dispose([conv, ssm]);
    return output;
  }

  /** The meta tokens' keys and values [1, kvHeads, m, headDim] (unpositioned), if any. */
  private metaPrefix(): KeyValuePrefix | undefined {
    if (!this.meta) return undefined;
    const r = tf.expandDims(this.meta, 0) as tf.Tensor3D;
    const { keyHeads, valueHeads, valueDim } = this.layout;
    let keys = splitHeads(this.k.forward(r), keyHeads, this.headDim);
    if (this.kNorm) keys = this.kNorm.forward(keys) as tf.Tensor4D;
    return { keys, values: splitHeads(this.v.forward(r), valueHeads, valueDim) };
  }

  /** The SSM heads on x [b, t, dModel] from `carry`: the gated y [b, t, E] and the state after. */
  private scanSsm(x: tf.Tensor3D, carry: SsmCarry) {
    const [xIn, z] = tf.split(this.ssmIn.forward(x), 2, 2) as [tf.Tensor3D, tf.Tensor3D];
    const form = x.shape[1] === 1 || this.config.form === 'sequential' ? 'sequential' : 'chunk';
    const chunkSize = this.config.chunkSize ?? 16;
    const r = selectiveSsm(this.ssm, xIn, this.sizes, { form, chunkSize, ...carry });
    return { y: tf.mul(r.y, silu(z)) as tf.Tensor3D, conv: r.conv, ssm: r.ssm };
  }

  /** The SSM's state after reading the meta tokens, tiled to the batch (zeros without them). */
  private metaCarry(batch: number): SsmCarry {
    if (!this.meta) return {};
    const s = this.scanSsm(tf.expandDims(this.meta, 0) as tf.Tensor3D, {});
    const tile = <T extends tf.Tensor>(t: T) =>
      tf.tile(t, [batch, ...t.shape.slice(1).map(() => 1)]) as T;
    return { conv: tile(s.conv), ssm: tile(s.ssm) };
  }
}

/** Parameters Hymba allocates: q/k/v/o, the selective SSM, β1, β2 and the meta tokens. */
function estimateHymba(c: Parsed) {
  const sizes = ssmSizes(c);
  const ssmIn = c.dModel * 2 * sizes.inner + (c.bias ? 2 * sizes.inner : 0);
  return estimateOf(
    projectedParameters({ ...hymbaHeads(c), type: 'hymba' }) +
      ssmIn +
      selectiveSsmParameters(sizes, c.convBias ?? true) +
      2 * sizes.inner + // β1, β2
      (c.metaTokens ?? 0) * c.dModel,
  );
}

register('hymba', (c, o) => new Hymba(c as HymbaConfig, o), hymbaSchema, {
  category: 'mixer',
  estimate: estimateHymba,
  info: {
    paper: 'Dong et al. 2024, Hymba: A Hybrid-head Architecture for Small Language Models',
    equation:
      'sec. 2.1 eq. 2: Y = W_out(β1·norm(attn(X̃)) + β2·norm(ssm(X̃))), X̃ = [R, X] with meta tokens R (sec. 2.2)',
    summary:
      'attention heads (optionally sliding-window) and Mamba heads in parallel on the same input, normalised and mixed by learned scales; meta tokens as attention prefix and SSM start state',
    example: {
      type: 'hymba',
      dModel: 8,
      numHeads: 2,
      expand: 2,
      dState: 4,
      window: 3,
      metaTokens: 2,
      chunkSize: 4,
    },
  },
});
