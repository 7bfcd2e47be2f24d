import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  Module,
  State,
  initTensor,
  type IncrementalState,
  type KeyValuePrefix,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import {
  MultiHeadAttention,
  RECURRENT_CAPABILITIES,
  checkMixerInput,
  projectedParameters,
} from '@attnkit/attention';
import { NeuralMemory, memoryFields, memoryParameters, type MemoryOptions } from './neural-memory';
import { NeuralMemoryState } from './state';

/** Options of the Titans architectures besides the memory's: the attention's window and P. */
export const titansFields = {
  ...memoryFields,
  /** Sliding window of the attention (MAG, MAL), tokens seen including the current one. */
  window: z.number().int().positive(),
  /** Learned persistent memory tokens (Titans eqs. 19-20), attended by every query; default 4. */
  persistentTokens: z.number().int().min(0).optional(),
};

export type TitansOptions = MemoryOptions & { window: number; persistentTokens?: number };

/** Decoding state of MAG and MAL: the window's KV cache and the memory's weights. */
export class TitansWindowState extends State {
  readonly attention: IncrementalState;
  readonly memory: NeuralMemoryState;

  constructor(attention: IncrementalState) {
    super();
    this.attention = this.addChild('attention', attention);
    this.memory = this.addChild('memory', new NeuralMemoryState());
  }
}

/** Parameters of the sliding-window attention, the memory and the persistent tokens. */
export function windowedParameters(c: TitansOptions): number {
  const attention = projectedParameters({
    type: 'sliding-window',
    dModel: c.dModel,
    numHeads: c.numHeads,
  });
  return attention + memoryParameters(c) + (c.persistentTokens ?? 4) * c.dModel;
}

/**
 * What MAG and MAL share (Behrouz et al. 2024, sec. 4.2-4.3): a neural memory, sliding-window
 * attention (attention's `sliding-window` mixer) and persistent tokens P (eqs. 19-20), learned in
 * the input space and handed to the attention as a key/value prefix projected by its own W_k, W_v:
 * every query sees them, unmasked and unpositioned, whatever the window (x̃ = [P, x] of eq. 26).
 * The memory does not read P: its learned initial weights M_0 stand for what it would hold.
 */
export abstract class WindowedTitans<C extends TitansOptions>
  extends Module<C>
  implements TokenMixer
{
  readonly memory: NeuralMemory<C>;
  readonly attention: MultiHeadAttention;
  readonly persistent: tf.Variable | null;

  protected constructor(config: C, options: ModuleOptions) {
    super(config, options);
    const { dModel, numHeads, window, persistentTokens = 4 } = this.config;
    this.memory = this.addModule(
      'memory',
      new NeuralMemory<C>(this.config, { rng: this.rng }, true),
    );
    const attention = { type: 'sliding-window', dModel, numHeads, window };
    this.attention = this.addModule(
      'attention',
      new MultiHeadAttention(attention, { rng: this.rng }),
    );
    this.persistent =
      persistentTokens > 0
        ? this.addParameter(
            'persistent',
            initTensor({ name: 'normal', std: 1 }, [persistentTokens, dModel], this.rng),
          )
        : null;
  }

  /** Causal only; rotary turns the attention's q and k; the state is bounded by the window. */
  get capabilities(): MixerCapabilities {
    return { ...RECURRENT_CAPABILITIES, positional: ['rotate'] };
  }

  initState(batch: number): TitansWindowState {
    return new TitansWindowState(this.attention.initState(batch));
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const block = this.config.type;
    const caps = this.capabilities;
    const state = checkMixerInput(block, x, this.config.dModel, context, TitansWindowState, caps);
    const output = tf.tidy(() => this.mix(x, context, state));
    state?.advance(x.shape[1]);
    return output;
  }

  /** The architecture: memory and attention combined. */
  protected abstract mix(
    x: tf.Tensor3D,
    context: MixerContext,
    state: TitansWindowState | undefined,
  ): tf.Tensor3D;

  /** The memory branch on x (advancing the memory's state). */
  protected remember(x: tf.Tensor3D, state: TitansWindowState | undefined): tf.Tensor3D {
    return this.memory.run(x, state?.memory, 'updated');
  }

  /** Sliding-window attention over x with P as prefix (advancing the KV cache). */
  protected attend(
    x: tf.Tensor3D,
    context: MixerContext,
    state: TitansWindowState | undefined,
  ): tf.Tensor3D {
    const { positional, positions, offset } = context;
    return this.attention.forward(x, {
      causal: true,
      positional,
      positions,
      offset,
      state: state?.attention,
      prefix: this.prefix(),
    });
  }

  /** P's keys and values [1, kvHeads, p, headDim] through the attention's projections. */
  private prefix(): KeyValuePrefix | undefined {
    if (!this.persistent) return undefined;
    const { numKvHeads: h, headDim: d } = this.attention;
    const p = this.persistent.shape[0];
    const heads = (y: tf.Tensor) =>
      tf.transpose(tf.reshape(y, [1, p, h, d]), [0, 2, 1, 3]) as tf.Tensor4D;
    const r = tf.expandDims(this.persistent, 0);
    return { keys: heads(this.attention.k.forward(r)), values: heads(this.attention.v.forward(r)) };
  }
}
