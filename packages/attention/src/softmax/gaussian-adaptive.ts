import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  Module,
  estimateOf,
  register,
  type IncrementalState,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
  parseConfig,
} from '@attnkit/core';
import { StepCounter } from '../cache/step-counter';
import { gaussianAdaptiveAttention } from '../ops/gaussian';
import { attentionFields } from './config';
import { mergeHeads, mixerInput, splitHeads } from './heads';

const { dModel, numHeads } = attentionFields;
const positive = z.number().int().positive();

export const gaamSchema = z.strictObject({
  type: z.literal('gaam'),
  dModel,
  numHeads,
  /** Gaussians per head (default 1). */
  numGaussians: positive.optional(),
  /** Statistics over each token's channels of a head (default), or over the sequence. */
  axis: z.enum(['feature', 'time']).optional(),
  /** Multiply the Gaussians (default, the paper) or sum them with learned softmax weights. */
  mixture: z.enum(['product', 'sum']).optional(),
  /** Initial scale c of every Gaussian (default 2). */
  initialScale: z.number().positive().optional(),
  eps: z.number().positive().optional(),
});

export type GaamConfig = z.infer<typeof gaamSchema>;

/**
 * Multi-head Gaussian adaptive attention (GAAM; Ioannides et al. 2024, sec. 3, Alg. 1): the
 * channels split into heads; per head the input's own mean and variance (along `axis`) with
 * learned mean offsets δ and scales c give Gaussian weights, normalised to sum to one along
 * the axis, that rescale the input (x ⊙ weights). The only parameters are δ, c (and the
 * mixture logits for 'sum'). axis 'feature' (the statistics of each token's head channels)
 * is per token, hence causal, and decodes with nothing to remember; axis 'time' (the
 * statistics of each channel over the sequence) mixes the whole sequence, bidirectionally,
 * and cannot decode. The reference code cuts the normalisation axis itself into head chunks;
 * for 'time' heads are channel groups instead, so sequences of any length work.
 */
export class GaussianAdaptiveAttention extends Module<GaamConfig> implements TokenMixer {
  /** δ [heads, G] */
  readonly meanOffset: tf.Variable;
  /** c [heads, G] */
  readonly scale: tf.Variable;
  /** [heads, G], only for mixture 'sum' */
  readonly mixLogits: tf.Variable | null;
  readonly headDim: number;

  constructor(config: GaamConfig, options: ModuleOptions = {}) {
    config = parseConfig('gaam', gaamSchema, config);
    super(config, options);
    const block = config.type;
    const { dModel, numHeads } = config;
    if (dModel % numHeads !== 0) {
      throw new ConfigError(block, 'numHeads', `a divisor of dModel=${dModel}`, String(numHeads));
    }
    this.headDim = dModel / numHeads;
    if ((config.axis ?? 'feature') === 'feature' && this.headDim < 2) {
      throw new ConfigError(
        block,
        'numHeads',
        `at most dModel/2=${dModel / 2} (axis 'feature' needs 2 channels per head for a variance)`,
        String(numHeads),
      );
    }
    const g = config.numGaussians ?? 1;
    this.meanOffset = this.addParameter('meanOffset', tf.zeros([numHeads, g]));
    this.scale = this.addParameter('scale', tf.fill([numHeads, g], config.initialScale ?? 2));
    this.mixLogits =
      config.mixture === 'sum' ? this.addParameter('mixLogits', tf.ones([numHeads, g])) : null;
  }

  /**
   * Per-token ('feature') or over the whole sequence ('time'): no positions, masks or weights
   * map either way; positional encodings pass through unused, as before.
   */
  get capabilities(): MixerCapabilities {
    const overTime = this.config.axis === 'time';
    return {
      decoding: !overTime,
      causal: overTime ? 'never' : 'either',
      strictlyCausal: true,
      positional: ['rotate', 'bias'],
      masks: !overTime,
      segmentIds: !overTime,
      attentionWeights: 'none',
      stateGrowth: overTime ? 'none' : 'constant',
      headControl: false,
      keyValuePrefix: false,
    };
  }

  initState(_batch: number): IncrementalState {
    if (this.config.axis === 'time') {
      throw new ConfigError(
        this.config.type,
        'axis',
        "'feature' to decode (axis 'time' reads the whole sequence)",
        "'time'",
      );
    }
    return new StepCounter();
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const block = this.config.type;
    const caps = this.capabilities;
    const input = mixerInput(
      block,
      x,
      this.config.dModel,
      context,
      StepCounter,
      this.training,
      caps,
    );
    const overTime = this.config.axis === 'time';
    const out = tf.tidy(() => {
      const heads = splitHeads(x, this.config.numHeads, this.headDim);
      const { output } = gaussianAdaptiveAttention(heads, overTime ? 2 : 3, {
        meanOffset: this.meanOffset as tf.Tensor2D,
        scale: this.scale as tf.Tensor2D,
        mixLogits: (this.mixLogits ?? undefined) as tf.Tensor2D | undefined,
        eps: this.config.eps,
      });
      return mergeHeads(output);
    });
    input.state?.advance(input.time);
    return out;
  }
}

register(
  'gaam',
  (c: GaamConfig, o: ModuleOptions) => new GaussianAdaptiveAttention(c, o),
  gaamSchema,
  {
    category: 'mixer',
    // δ and c [heads, G], and the mixture logits for 'sum'.
    estimate: (c) => estimateOf(c.numHeads * (c.numGaussians ?? 1) * (c.mixture === 'sum' ? 3 : 2)),
    info: {
      paper: 'Ioannides et al. 2024, Gaussian Adaptive Attention',
      equation: 'sec. 3, Alg. 1',
      summary:
        "Per-head Gaussian weights from the input's own mean and variance with learned offsets and scales.",
      example: { type: 'gaam', dModel: 8, numHeads: 2 },
    },
  },
);
