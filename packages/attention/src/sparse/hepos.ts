import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  ShapeError,
  checkRank,
  estimateOf,
  formatShape,
  parseConfig,
  register,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { KVCache } from '../cache/kv-cache';
import { headPattern } from '../ops/head-pattern';
import { attentionFields } from '../softmax/config';
import { checkMixerInput } from '../softmax/heads';
import { projectedParameters } from '../softmax/projected';
import { HeadPatternAttention, patternForm } from './head-pattern-base';

const { dModel, numHeads, headDim, bias, qkNorm } = attentionFields;

export const heposSchema = z
  .strictObject({
    type: z.literal('hepos'),
    dModel,
    numHeads,
    headDim,
    bias,
    qkNorm,
    /** Stride s: head h reads the memory positions j ≡ h (mod s). */
    stride: z.number().int().positive(),
    form: patternForm,
  })
  .refine((c) => c.stride <= c.numHeads, {
    path: ['stride'],
    message: 'at most numHeads, so that the heads together cover the memory',
  });

export type HeposConfig = z.infer<typeof heposSchema>;

/** Memory positions head `head` reads: j ≡ head (mod s), s = min(stride, memory length). */
export function* heposKeys(head: number, stride: number, memoryLength: number): Generator<number> {
  const s = Math.min(stride, memoryLength);
  for (let j = head % s; j < memoryLength; j += s) yield j;
}

/**
 * Hepos, head-wise positional strides (Huang et al. 2021, "Efficient Attentions for Long
 * Document Summarization", sec. 3): encoder-decoder cross-attention where head h attends only to
 * the memory positions j ≡ h (mod s), softmax(q_i K[S_h]ᵀ/√d) V[S_h]; each head reads 1/s of the
 * encoder states, and s ≤ numHeads heads together read all of them. A memory shorter than s
 * shrinks the stride to its length, so every head has a key. Queries from x, keys and values
 * from context.memory; never causal, no state (the memory is fixed while decoding).
 */
export class Hepos extends HeadPatternAttention<HeposConfig> implements TokenMixer {
  constructor(config: HeposConfig, options: ModuleOptions = {}) {
    super(parseConfig('hepos', heposSchema, config), options);
  }

  /** Cross-attention: never causal, no decoding state, no positions, masks or weights map. */
  override get capabilities(): MixerCapabilities {
    return {
      ...super.capabilities,
      causal: 'never',
      decoding: false,
      stateGrowth: 'none',
      positional: [],
    };
  }

  protected keysOf(head: number, i: number): Iterable<number> {
    return heposKeys(head, this.config.stride, i);
  }

  override forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const block = 'hepos';
    const d = this.config.dModel;
    checkMixerInput(block, x, d, context, KVCache, this.capabilities);
    const memory = context.memory;
    if (!memory) {
      throw new ConfigError(block, 'context.memory', 'a [batch, time, dModel] tensor', 'undefined');
    }
    checkRank(block, 'context.memory', memory, 3);
    if (memory.shape[2] !== d || memory.shape[0] !== x.shape[0]) {
      throw new ShapeError(
        block,
        'context.memory',
        `shape [${x.shape[0]},time,${d}]`,
        `shape ${formatShape(memory.shape)}`,
      );
    }
    const tk = memory.shape[1];
    return tf.tidy(() => {
      const q = this.projectQueries(x, [], undefined);
      const { keys, values } = this.projectKeysValues(memory, [], undefined);
      // Every query of head h reads the same positions: keysOf's second argument is tk here.
      const pattern = headPattern(block, this.config.numHeads, x.shape[1], tk, (h) =>
        this.keysOf(h, tk),
      );
      return this.mergeAndProject(this.attend(q, keys, values, pattern), context.heads);
    });
  }
}

register('hepos', (c: HeposConfig, o: ModuleOptions) => new Hepos(c, o), heposSchema, {
  category: 'mixer',
  estimate: (c: HeposConfig) => estimateOf(projectedParameters(c)),
  info: {
    paper: 'Huang et al. 2021, Efficient Attentions for Long Document Summarization (Hepos)',
    equation: 'head-wise positional strides: head h reads memory positions j ≡ h (mod s)',
    summary:
      'Encoder-decoder cross-attention where each head reads every s-th memory position from its own offset; the heads together cover the memory.',
    example: { type: 'hepos', dModel: 8, numHeads: 2, stride: 2 },
  },
});
