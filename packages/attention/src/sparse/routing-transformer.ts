// Routing Transformer (Roy et al. 2021, "Efficient Content-Based Sparse Attention with Routing
// Transformers", sec. 4.1, routing attention): shared query/key vectors are routed to clusters by
// online mini-batch k-means (centroid EMA update); each query attends to the keys of its cluster,
// X'_i = Σ_{j ∈ μ(Q_i), j ≤ i} A_ij V_j. Balanced routing as in the paper's implementation: each
// cluster takes the t / numClusters tokens nearest its centroid (fixed cluster size), so a token
// may sit in several clusters (their outputs are averaged) or in none (output 0).
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  Linear,
  Module,
  SOFTMAX_CAPABILITIES,
  State,
  estimateOf,
  parseConfig,
  register,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { clusterAttention, kmeansStep, routeBalanced, unitNormalize } from '../ops/routing';
import { checkMixerInput, mergeHeads, splitHeads } from '../softmax/heads';
import { reportSelection } from './probe';

const positive = z.number().int().positive();

export const routingTransformerSchema = z
  .strictObject({
    type: z.literal('routing-transformer'),
    dModel: positive,
    numHeads: positive,
    /** Clusters per head; every input length must be a multiple (fixed cluster size t / numClusters). */
    numClusters: positive,
    /** EMA decay λ of the centroids in training (0.999 in the paper). */
    decay: z.number().min(0).lt(1).optional(),
    bias: z.boolean().optional(),
    /** Causal within each cluster (default true). */
    causal: z.boolean().optional(),
    /** 'gather' (default) gathers each cluster; 'dense' masks full attention (reference). */
    form: z.enum(['gather', 'dense']).optional(),
  })
  .refine((c) => c.dModel % c.numHeads === 0, {
    path: ['numHeads'],
    message: 'a divisor of dModel',
  });
export type RoutingTransformerConfig = z.infer<typeof routingTransformerSchema>;

/** What a routing-transformer allocates: shared q/k, v, o and the centroids buffer. */
function routingParameters(c: RoutingTransformerConfig): number {
  const linear = (n: number) => c.dModel * n + (c.bias ? n : 0);
  return 3 * linear(c.dModel) + c.numClusters * c.dModel;
}

/**
 * Routing attention over shared q = k heads. The centroids [heads, clusters, headDim] are a
 * non-trainable parameter (saved with the weights), moved by k-means only in training.
 */
export class RoutingTransformer extends Module<RoutingTransformerConfig> implements TokenMixer {
  readonly qk: Linear;
  readonly v: Linear;
  readonly o: Linear;
  readonly centroids: tf.Variable;

  constructor(config: RoutingTransformerConfig, options: ModuleOptions = {}) {
    super(parseConfig('routing-transformer', routingTransformerSchema, config), options);
    const { dModel: d, numHeads: h, numClusters: c, bias = false } = this.config;
    const sub = { rng: this.rng };
    const linear = (name: string) =>
      this.addModule(name, new Linear({ inFeatures: d, outFeatures: d, bias }, sub));
    this.qk = linear('qk');
    this.v = linear('v');
    this.o = linear('o');
    const init = tf.tidy(() =>
      unitNormalize(tf.randomNormal([h, c, d / h], 0, 1, 'float32', this.rng.nextUint32())),
    );
    this.centroids = this.addParameter('centroids', init, false);
    init.dispose();
  }

  /**
   * Not strictly causal: balanced routing ranks all tokens of the input, so a later token can
   * take an earlier one's place in a cluster; hence no incremental decoding either.
   */
  get capabilities(): MixerCapabilities {
    const { causal } = this.config;
    return {
      ...SOFTMAX_CAPABILITIES,
      decoding: false,
      causal: causal === undefined ? 'either' : causal ? 'only' : 'never',
      strictlyCausal: false,
      positional: [],
      masks: false,
      segmentIds: false,
      attentionWeights: 'none',
      stateGrowth: 'none',
      headControl: false,
      keyValuePrefix: false,
    };
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const { type: block, dModel: d, numHeads: h, numClusters: c } = this.config;
    checkMixerInput(block, x, d, context, State, this.capabilities);
    const t = x.shape[1];
    if (t % c !== 0) {
      throw new ConfigError(
        block,
        'x',
        `a length that numClusters=${c} divides (fixed cluster size t / numClusters)`,
        `length ${t}`,
      );
    }
    const causal = (this.config.causal ?? true) && (context.causal ?? true);
    const training = context.training ?? this.training;
    const output = tf.tidy(() => {
      const qk = splitHeads(this.qk.forward(x), h, d / h);
      const v = splitHeads(this.v.forward(x), h, d / h);
      const routes = unitNormalize(qk);
      const members = routeBalanced(routes, this.centroids as tf.Tensor3D, t / c);
      reportSelection(block, context, 'clusterMembers', members);
      const heads = clusterAttention(qk, qk, v, members, { causal, form: this.config.form });
      if (training) {
        this.centroids.assign(
          kmeansStep(routes, this.centroids as tf.Tensor3D, this.config.decay ?? 0.999),
        );
      }
      return this.o.forward(mergeHeads(heads)) as tf.Tensor3D;
    });
    return output;
  }
}

register(
  'routing-transformer',
  (c: RoutingTransformerConfig, o: ModuleOptions) => new RoutingTransformer(c, o),
  routingTransformerSchema,
  {
    category: 'mixer',
    estimate: (c: RoutingTransformerConfig) => estimateOf(routingParameters(c)),
    info: {
      paper: 'Roy et al. 2021, Efficient Content-Based Sparse Attention with Routing Transformers',
      equation: "sec. 4.1 (routing attention: X'_i over the keys of μ(Q_i), centroid EMA update)",
      summary:
        'Shared q/k routed to clusters by online k-means (balanced: t / numClusters tokens each); attention inside each cluster.',
      example: { type: 'routing-transformer', dModel: 8, numHeads: 2, numClusters: 2 },
    },
  },
);
