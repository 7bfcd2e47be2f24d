// MoBA: Mixture of Block Attention (Lu et al. 2025, "MoBA: Mixture of Block Attention for
// Long-Context LLMs", sec. 2.2, eq. 2-5): keys in blocks of B, gate s_i = ⟨q, mean_pool(K[I_i])⟩,
// each query attends to its own block (causal inside) and the topK - 1 best earlier blocks.
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  SOFTMAX_CAPABILITIES,
  estimateOf,
  parseConfig,
  register,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { KVCache } from '../cache/kv-cache';
import { blockKeyMeans, mobaAttention } from '../ops/moba';
import { checkMixerInput, inputPositions } from '../softmax/heads';
import { reportSelection } from './probe';
import { ProjectedAttention, projectedParameters } from '../softmax/projected';

const positive = z.number().int().positive();

export const mobaSchema = z.strictObject({
  type: z.literal('moba'),
  dModel: positive,
  numHeads: positive,
  numKvHeads: positive.optional(),
  headDim: positive.optional(),
  bias: z.boolean().optional(),
  /** Tokens per key block (B). */
  blockSize: positive,
  /** Blocks each query attends to, its own included (k). */
  topK: positive,
  /** 'gather' (default) gathers the selected blocks; 'dense' masks full attention (reference). */
  form: z.enum(['gather', 'dense']).optional(),
});
export type MobaConfig = z.infer<typeof mobaSchema>;

/** The KV cache plus the mean key of every full block (the gate's inputs, eq. 4). */
export class MobaState extends KVCache {
  get keyMeans(): tf.Tensor4D | null {
    return this.tensor<tf.Tensor4D>('keyMeans') ?? null;
  }

  /** Appends the means of the blocks `keys` [b, kvh, tk, d] completed since the last call. */
  updateMeans(keys: tf.Tensor4D, blockSize: number): tf.Tensor4D | null {
    const old = this.keyMeans;
    const have = old ? old.shape[2] : 0;
    const full = Math.floor(keys.shape[2] / blockSize);
    if (full > have) {
      const fresh = tf.tidy(() => {
        const tail = tf.slice(
          keys,
          [0, 0, have * blockSize, 0],
          [-1, -1, (full - have) * blockSize, -1],
        );
        const means = blockKeyMeans(tail as tf.Tensor4D, blockSize)!;
        return old ? tf.concat([old, means], 2) : means;
      });
      this.setTensor('keyMeans', fresh);
    }
    return this.keyMeans;
  }
}

/** MoBA over projected heads (GQA when numKvHeads < numHeads); causal only. */
export class Moba
  extends ProjectedAttention<MobaConfig & { causal?: boolean }>
  implements TokenMixer
{
  constructor(config: MobaConfig, options: ModuleOptions = {}) {
    super(parseConfig('moba', mobaSchema, config), options);
  }

  /** Causal only; rotary on q and k; no masks, segment ids, weights map, head control or prefix. */
  override get capabilities(): MixerCapabilities {
    return {
      ...SOFTMAX_CAPABILITIES,
      causal: 'only',
      positional: ['rotate'],
      masks: false,
      segmentIds: false,
      attentionWeights: 'none',
      headControl: false,
      keyValuePrefix: false,
    };
  }

  initState(): MobaState {
    return new MobaState();
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const { type: block, dModel, blockSize, topK, form } = this.config;
    const state = checkMixerInput(block, x, dModel, context, MobaState, this.capabilities);
    const positions = inputPositions(block, context, x.shape[1], state ? state.length : 0);
    return tf.tidy(() => {
      const { q, keys, values } = this.projectSelf(x, positions, context.positional, state);
      const keyMeans = state?.updateMeans(keys, blockSize) ?? undefined;
      const { output, selected } = mobaAttention(q, keys, values, {
        blockSize,
        topK,
        keyMeans,
        form,
      });
      reportSelection(block, context, 'selectedBlocks', selected);
      return this.mergeAndProject(output);
    });
  }
}

register('moba', (c: MobaConfig, o: ModuleOptions) => new Moba(c, o), mobaSchema, {
  category: 'mixer',
  estimate: (c: MobaConfig) => estimateOf(projectedParameters(c)),
  info: {
    paper: 'Lu et al. 2025, MoBA: Mixture of Block Attention for Long-Context LLMs',
    equation: 'sec. 2.2, eq. 2-5',
    summary:
      'Causal block attention: each query takes its own block and the topK - 1 earlier key blocks with the highest q · mean key.',
    example: { type: 'moba', dModel: 8, numHeads: 2, blockSize: 2, topK: 2 },
  },
});
