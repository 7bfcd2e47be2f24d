import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  type Estimate,
  estimateOf,
  parseConfig,
  register,
  type MixerContext,
  type ModuleOptions,
} from '@attnkit/core';
import {
  checkOrthogonalWork,
  defaultFeatures,
  makeFeatureMap,
  type FeatureMap,
} from '../ops/feature-maps';
import { headLayout } from '../softmax/projected';
import { LinearMixer, linearMixerParameters, type LinearInputs } from './base';
import { linearFields } from './config';

/** 'performer': FAVOR+ with positive orthogonal random features (Choromanski et al. 2021). */
export const performerSchema = z.strictObject({
  type: z.literal('performer'),
  ...linearFields,
  /** Random features m per head; default d·ln d (at least d). */
  numFeatures: z.number().int().positive().optional(),
  /** Training forwards between redraws of the projection; 0 or absent: never (sec. 4.1). */
  redrawInterval: z.number().int().nonnegative().optional(),
});
export type PerformerConfig = z.input<typeof performerSchema>;

/**
 * Performer, "Rethinking Attention with Performers" (Choromanski et al. 2021): FAVOR+ estimates
 * softmax attention with φ(x) = exp(ωᵀx' - |x'|²/2)/√m, x' = x/d^¼, ω orthogonal Gaussian
 * (Lemma 1, sec. 2.4), so out = D⁻¹ φ(Q)(φ(K)ᵀ V), D = diag(φ(Q) φ(K)ᵀ 1) (eqs. 5-6; the causal
 * prefix-sum form of sec. 2.6). The projection ω [headDim, m] is a non-trainable parameter, so
 * stateDict and saveModule carry it; in training it is redrawn every `redrawInterval` forwards
 * from the module's seeded rng, never in eval mode nor while decoding (a state mixes features).
 */
export class Performer extends LinearMixer<PerformerConfig> {
  /** ω [headDim, numFeatures], shared by the heads; the map reads a copy synced from it. */
  readonly projection: tf.Variable;
  private readonly phi: FeatureMap;
  /** The projection data the map holds a copy of (a new dataId after assign or loadStateDict). */
  private syncedData: object;
  private forwardsSinceRedraw = 0;

  constructor(config: PerformerConfig, options: ModuleOptions = {}) {
    super(parseConfig('performer', performerSchema, config), options);
    this.phi = makeFeatureMap('softmax-kernel', {
      headDim: this.headDim,
      numFeatures: this.config.numFeatures,
      rng: this.rng,
    });
    const drawn = this.phi.buffers().projection!;
    this.projection = this.addParameter('projection', tf.clone(drawn), false);
    this.syncedData = this.projection.dataId;
  }

  /** Random features per head (the map's output size). */
  get numFeatures(): number {
    return this.phi.outDim;
  }

  override forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const training = context.training ?? this.training;
    const interval = this.config.redrawInterval ?? 0;
    if (training && interval > 0 && context.state === undefined) {
      if (this.forwardsSinceRedraw >= interval) this.redraw();
      this.forwardsSinceRedraw++;
    }
    this.syncMap();
    return super.forward(x, context);
  }

  /** Draws a new orthogonal projection from the module's rng (what the schedule calls). */
  redraw(): void {
    this.phi.redraw!(this.rng);
    const drawn = tf.keep(this.phi.buffers().projection!);
    this.projection.assign(drawn);
    this.syncedData = this.projection.dataId;
    this.forwardsSinceRedraw = 0;
  }

  /** Hands the map the parameter's current value when it changed (loadStateDict, an optimizer). */
  private syncMap(): void {
    if (this.projection.dataId === this.syncedData) return;
    this.phi.loadBuffers!({ projection: this.projection });
    tf.keep(this.phi.buffers().projection!); // a forward inside a tidy must not free the map's copy
    this.syncedData = this.projection.dataId;
  }

  protected inputs(
    q: tf.Tensor4D,
    k: tf.Tensor4D,
    v: tf.Tensor4D,
    _x: tf.Tensor3D,
    _c: MixerContext,
  ): LinearInputs {
    return {
      q: this.phi.apply(q, 'query') as tf.Tensor4D,
      k: this.phi.apply(k, 'key') as tf.Tensor4D,
      v,
      options: { normalize: true },
    };
  }

  override dispose(): void {
    this.phi.dispose();
    super.dispose();
  }
}

/**
 * Projections and ω [d, m] (a non-trainable parameter, so counted as one); buffers: the feature
 * map's own copy of ω and the d×d float64 rows Gram-Schmidt draws each block of ω from.
 */
function estimatePerformer(c: PerformerConfig): Estimate {
  const d = headLayout(c).headDim;
  const m = c.numFeatures ?? defaultFeatures(d);
  checkOrthogonalWork('performer', d, m, '$.');
  return estimateOf(linearMixerParameters(c) + d * m, 4 * d * m + 8 * d * d);
}

register('performer', (c, o) => new Performer(c, o), performerSchema, {
  category: 'mixer',
  estimate: estimatePerformer,
  info: {
    paper: 'Choromanski et al. 2021, Rethinking Attention with Performers (FAVOR+)',
    equation:
      'Lemma 1 (positive random features), sec. 2.4 (orthogonal ω), eqs. 5-6 and sec. 2.6 (causal prefix sums)',
    summary:
      'unbiased positive-random-feature estimate of softmax attention: O(T) training, constant-state decoding',
    example: { type: 'performer', dModel: 16, numHeads: 2, numFeatures: 12 },
  },
});
