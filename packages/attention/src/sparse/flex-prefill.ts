import type * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  estimateOf,
  parseConfig,
  register,
  type MixerCapabilities,
  type ModuleOptions,
} from '@attnkit/core';
import { blockSparseAttention } from '../ops/block-sparse';
import { flexPrefillSelect } from '../ops/flex-prefill';
import { projectedParameters } from '../softmax/projected';
import { ScoreSelectionAttention, selectionFields, type SelectionCall } from './selection-base';

export const flexPrefillSchema = z
  .strictObject({
    type: z.literal('flexprefill'),
    ...selectionFields,
    /** Tokens per query and key block; the input length must be a multiple. */
    blockSize: z.number().int().positive(),
    /** Cumulative attention the chosen blocks or lines cover, in (0, 1] (default 0.9). */
    gamma: z.number().gt(0).max(1).optional(),
    /** Jensen-Shannon distance below which a head is query-aware (default 0.1). */
    tau: z.number().min(0).optional(),
  })
  // Causal prefill only; blocks, not chunks.
  .omit({ causal: true, chunkSize: true });

export type FlexPrefillConfig = z.infer<typeof flexPrefillSchema>;

/**
 * FlexPrefill (Lai et al. 2025, "FlexPrefill: A Context-Aware Sparse Attention Mechanism for
 * Efficient Long-Sequence Inference"): per head and input, a query-aware block pattern or a
 * vertical-slash pattern, chosen by the Jensen-Shannon distance between the last query block's
 * pooled attention and its block estimate, each sized to cover γ of the attention
 * (flexPrefillSelect), then block-sparse attention over the chosen blocks. A prefill method:
 * the pattern depends on the last block of the input, so no incremental decoding, and later
 * tokens may change earlier outputs (not strictly causal). The probe gets 'queryAwareHeads'.
 * (The paper's equation numbers were not accessible to us, so none are cited.)
 */
export class FlexPrefillAttention extends ScoreSelectionAttention<FlexPrefillConfig> {
  protected readonly weightsKind = 'none';

  constructor(config: FlexPrefillConfig, options: ModuleOptions = {}) {
    super(parseConfig('flexprefill', flexPrefillSchema, config), options);
  }

  override get capabilities(): MixerCapabilities {
    return {
      ...super.capabilities,
      causal: 'only',
      strictlyCausal: false,
      decoding: false,
      stateGrowth: 'none',
    };
  }

  protected attend(
    q: tf.Tensor4D,
    keys: tf.Tensor4D,
    values: tf.Tensor4D,
    call: SelectionCall,
  ): tf.Tensor4D {
    const blockSize = this.config.blockSize;
    const { selected, queryAware } = flexPrefillSelect(q, keys, {
      blockSize,
      gamma: this.config.gamma ?? 0.9,
      tau: this.config.tau ?? 0.1,
    });
    const { context } = call;
    context.probe?.({
      block: this.config.type,
      path: context.path ?? '',
      name: 'queryAwareHeads',
      value: queryAware,
    });
    return blockSparseAttention(q, keys, values, {
      blockSize,
      selected,
      causal: true,
      scale: call.scale,
    }).output;
  }
}

register(
  'flexprefill',
  (c: FlexPrefillConfig, o: ModuleOptions) => new FlexPrefillAttention(c, o),
  flexPrefillSchema,
  {
    category: 'mixer',
    estimate: (c: FlexPrefillConfig) => estimateOf(projectedParameters(c)),
    info: {
      paper:
        'Lai et al. 2025, FlexPrefill: A Context-Aware Sparse Attention Mechanism for Efficient Long-Sequence Inference',
      equation:
        'per head: query-aware blocks if √JSD(ā, â) < τ else vertical-slash lines, each covering γ of the attention; block-sparse softmax over them',
      summary:
        'Per head and input, a query-aware or a vertical-slash block pattern by Jensen-Shannon distance, sized by a cumulative-attention budget γ (prefill).',
      example: { type: 'flexprefill', dModel: 8, numHeads: 2, blockSize: 2, gamma: 0.8 },
    },
  },
);
