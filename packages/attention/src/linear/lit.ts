import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  State,
  estimateOf,
  parseConfig,
  register,
  type Estimate,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { linearAttention } from '../ops/linear';
import { causalConv1d } from '../ops/short-conv';
import { uniform } from '../recurrent/common';
import { mergeHeads, mixerInput, splitHeads } from '../softmax/heads';
import { ProjectedAttention, headLayout, projectedParameters } from '../softmax/projected';
import { linearFields } from './config';
import { LinearState } from './state';

const DEFAULT_KERNEL = 5;
/** Added to ReLU(q), ReLU(k), as the authors' code does, so no normaliser is exactly 0. */
const FEATURE_EPS = 1e-6;

/** 'lit': LiT's simplified linear attention (Wang et al. 2025). */
export const litSchema = z.strictObject({
  type: z.literal('lit'),
  dModel: linearFields.dModel,
  numHeads: linearFields.numHeads,
  headDim: linearFields.headDim,
  bias: linearFields.bias,
  /** Causal or not; unset, the context decides (the paper's diffusion block is bidirectional). */
  causal: linearFields.causal,
  form: linearFields.form,
  chunkSize: linearFields.chunkSize,
  /** Taps of the depthwise convolution on the values (odd; default 5, the paper's 5×5 read in 1-D). */
  convKernel: z.number().int().positive().optional(),
});
export type LitConfig = z.input<typeof litSchema>;

/** Decoding state: the linear branch's S, z and the convolution's last kernel-1 values. */
export class LitState extends State {
  readonly linear: LinearState;

  constructor() {
    super();
    this.linear = this.addChild('linear', new LinearState());
  }

  /** [batch, kernel-1, heads·headDim], or undefined before the first token. */
  get convTail(): tf.Tensor3D | undefined {
    return this.tensor<tf.Tensor3D>('conv');
  }

  setConvTail(tail: tf.Tensor3D): void {
    this.setTensor('conv', tail);
  }
}

/**
 * LiT, "Delving into a Simplified Linear Diffusion Transformer for Image Generation" (Wang et al.
 * 2025, guidelines 1-2: simplified linear attention, few heads): ReLU linear attention plus a
 * depthwise convolution on the values added to its output, before the output projection:
 *
 *   out = (φ(Q) (φ(K)ᵀ V) / φ(Q) Σ φ(K)ᵀ + DWC(V)) W_O,   φ(x) = ReLU(x) + 1e-6,
 *
 * (Katharopoulos et al. eq. 6 with φ = ReLU; the DWC branch as in the authors' code, one kernel
 * shared by all heads, with bias). The paper's block is bidirectional over an image grid with a
 * 5×5 kernel; a mixer sees a 1-D sequence, so here the convolution runs over time: centred
 * ('same' padding) when bidirectional, causal (taps t-K+1 … t) when causal, where the linear
 * branch is causal too and decoding carries S, z and the last K-1 values (constant size).
 * The paper's text was not accessible to us: guideline 1 ("depth-wise convolution within simple
 * linear attention") is from its abstract and project page; that the DWC takes V, one kernel for
 * all heads and φ's ε are from a public reference implementation of this block (FLatten-style).
 */
export class Lit extends ProjectedAttention<LitConfig> implements TokenMixer {
  /** The depthwise kernel [headDim, K] and bias [headDim], shared by the heads. */
  readonly convWeight: tf.Variable;
  readonly convBias: tf.Variable;

  constructor(config: LitConfig, options: ModuleOptions = {}) {
    const parsed = parseConfig('lit', litSchema, config);
    const kernel = parsed.convKernel ?? DEFAULT_KERNEL;
    if (kernel % 2 !== 1) {
      throw new ConfigError('lit', '$.convKernel', 'an odd kernel size', String(kernel));
    }
    super(parsed, options);
    const dv = this.layout.valueDim;
    const bound = 1 / Math.sqrt(kernel); // PyTorch's depthwise Conv default (fan-in = K)
    this.convWeight = this.addParameter('convWeight', uniform(this.rng, [dv, kernel], bound));
    this.convBias = this.addParameter('convBias', uniform(this.rng, [dv], bound));
  }

  private get kernel(): number {
    return this.config.convKernel ?? DEFAULT_KERNEL;
  }

  /** Either direction (config, then context); decodes when causal; rotary before the ReLU map. */
  override get capabilities(): MixerCapabilities {
    return {
      ...super.capabilities,
      decoding: this.config.causal !== false,
      positional: ['rotate'],
      masks: false,
      segmentIds: false,
      attentionWeights: 'none',
      stateGrowth: 'constant',
      keyValuePrefix: false,
    };
  }

  initState(_batch: number): LitState {
    return new LitState();
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const caps = this.capabilities;
    const input = mixerInput('lit', x, this.config.dModel, context, LitState, false, caps);
    const { state, queryPositions, time } = input;
    const causal = this.isCausal(context);
    if (state && !causal) {
      throw new ConfigError('lit', 'context.causal', 'true or unset with a state', 'false');
    }
    const [output, ...next] = tf.tidy(() => {
      const { q, keys, values } = this.projectSelf(x, queryPositions, context.positional);
      const phi = (t: tf.Tensor4D) => tf.add(tf.relu(t), FEATURE_EPS) as tf.Tensor4D;
      const form = state && time === 1 ? 'recurrent' : (this.config.form ?? 'chunk');
      const r = linearAttention(phi(q), phi(keys), values, {
        normalize: true,
        causal,
        form,
        chunkSize: this.config.chunkSize,
        initialState: causal ? state?.linear.sums : undefined,
      });
      const conv = this.convolve(mergeHeads(values), causal, state?.convTail);
      const local = splitHeads(conv.output, this.layout.outputHeads, this.layout.valueDim);
      const out = this.mergeAndProject(tf.add(r.output, local) as tf.Tensor4D, context.heads);
      return [out, r.state.kv, r.state.kSum!, ...(conv.tail ? [conv.tail] : [])];
    });
    const [kv, kSum, tail] = next as tf.Tensor[];
    if (state) {
      state.linear.update({ kv: kv as tf.Tensor4D, kSum: kSum as tf.Tensor3D }, time);
      if (tail) state.setConvTail(tail as tf.Tensor3D);
      state.advance(time);
    } else tf.dispose(next);
    return output as tf.Tensor3D;
  }

  /**
   * DWC(V) over time on v [b, t, heads·dv], the head-shared kernel tiled over the heads: causal
   * (with the tail of earlier values), or centred by K/2 zeros on each side. PyTorch's Conv
   * cross-correlation: w[j] taps offset j - (K-1) (causal) or j - K/2 (centred).
   */
  private convolve(
    v: tf.Tensor3D,
    causal: boolean,
    tail: tf.Tensor3D | undefined,
  ): { output: tf.Tensor3D; tail?: tf.Tensor3D } {
    const heads = this.layout.outputHeads;
    const weight = tf.tile(this.convWeight, [heads, 1]) as tf.Tensor2D;
    const bias = tf.tile(this.convBias, [heads]) as tf.Tensor1D;
    const k = this.kernel;
    if (causal) {
      const r = causalConv1d(v, weight, { bias, initialState: tail });
      return k > 1 ? { output: r.output, tail: r.state } : { output: r.output };
    }
    const [b, t, c] = v.shape;
    const half = (k - 1) / 2;
    const padded = half > 0 ? (tf.concat([v, tf.zeros([b, half, c])], 1) as tf.Tensor3D) : v;
    const r = causalConv1d(padded, weight, { bias });
    return { output: tf.slice(r.output, [0, half, 0], [b, t, c]) };
  }
}

/** The q/k/v/o projections and the head-shared kernel with its bias. */
function estimateLit(c: LitConfig): Estimate {
  const { valueDim } = headLayout(c);
  return estimateOf(projectedParameters(c) + valueDim * ((c.convKernel ?? DEFAULT_KERNEL) + 1));
}

register('lit', (c, o) => new Lit(c, o), litSchema, {
  category: 'mixer',
  estimate: estimateLit,
  info: {
    paper:
      'Wang et al. 2025, LiT: Delving into a Simplified Linear Diffusion Transformer for Image Generation',
    equation:
      'guidelines 1-2: out = (φ(Q)(φ(K)ᵀV) / φ(Q)Σφ(K)ᵀ + DWC(V)) W_O, φ = ReLU, few heads; DWC over time here (5×5 over the image in the paper)',
    summary:
      'ReLU linear attention with few heads plus a depthwise convolution on the values; bidirectional (the paper) or causal with constant-size decoding',
    example: { type: 'lit', dModel: 8, numHeads: 2, convKernel: 3 },
  },
});
