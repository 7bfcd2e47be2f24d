import type * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { estimateOf, parseConfig, register, type ModuleOptions } from '@attnkit/core';
import { lowBitBlockSelect } from '../ops/lowbit-select';
import { gatheredAttention } from '../ops/topk-select';
import { reportWeights } from '../softmax/heads';
import { projectedParameters } from '../softmax/projected';
import { ScoreSelectionAttention, selectionFields, type SelectionCall } from './selection-base';

const positive = z.number().int().positive();

export const lowBitBlockSchema = z
  .strictObject({
    type: z.literal('lowbit-block-topk'),
    ...selectionFields,
    /** Keys per block. */
    blockSize: positive,
    /** Key blocks each query attends to (fewer when there are fewer blocks). */
    topBlocks: positive,
    /** Bits of the quantised q and k of the estimate (default 4, at least 2). */
    bits: z.number().int().min(2).max(16).optional(),
  })
  // The estimate runs block by block: no separate chunk size.
  .omit({ chunkSize: true });

export type LowBitBlockConfig = z.infer<typeof lowBitBlockSchema>;

/**
 * Low-bit block selection, SALE-style (the idea of SALE, 2025: estimate attention from low-bit
 * q and k to choose key blocks, then attend exactly to them; that paper's selection rule and
 * kernels are not reproduced, and its equations were not accessible to us): per query,
 * I = the `topBlocks` key blocks of largest max_{j∈block} q̃·k̃_j with q̃, k̃ quantised to `bits`
 * bits; o = softmax(q K[I]ᵀ/√d) V[I] at full precision over the gathered keys. Per query, so
 * causal decoding with a KV cache equals the full forward.
 */
export class LowBitBlockAttention extends ScoreSelectionAttention<LowBitBlockConfig> {
  protected readonly weightsKind = 'selected';

  constructor(config: LowBitBlockConfig, options: ModuleOptions = {}) {
    super(parseConfig('lowbit-block-topk', lowBitBlockSchema, config), options);
  }

  protected attend(
    q: tf.Tensor4D,
    keys: tf.Tensor4D,
    values: tf.Tensor4D,
    call: SelectionCall,
  ): tf.Tensor4D {
    const { blockSize, topBlocks, bits } = this.config;
    const blocks = Math.min(topBlocks, Math.ceil(keys.shape[2] / blockSize));
    const indices = lowBitBlockSelect(q, keys, { blockSize, blocks, bits, causal: call.causal });
    const { output, weights } = gatheredAttention(q, keys, values, indices, { scale: call.scale });
    if (call.context.attentionHook) reportWeights(this.config.type, call.context, weights, indices);
    return output;
  }
}

register(
  'lowbit-block-topk',
  (c: LowBitBlockConfig, o: ModuleOptions) => new LowBitBlockAttention(c, o),
  lowBitBlockSchema,
  {
    category: 'mixer',
    estimate: (c: LowBitBlockConfig) => estimateOf(projectedParameters(c)),
    info: {
      paper: 'SALE-style low-bit estimation (SALE, 2025); selection rule our own',
      equation:
        'I_i = top-n blocks by max_{j∈block} q̃_i·k̃_j (q̃, k̃ at `bits` bits), o_i = softmax(q_i K[I_i]ᵀ/√d) V[I_i]',
      summary:
        'Chooses each query’s key blocks from 4-bit q·k estimates, then attends exactly to those keys (gathered).',
      example: { type: 'lowbit-block-topk', dModel: 8, numHeads: 2, blockSize: 2, topBlocks: 2 },
    },
  },
);
