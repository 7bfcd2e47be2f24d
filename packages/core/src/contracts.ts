import type * as tf from '@tensorflow/tfjs-core';
import type { IncrementalState } from './state';

/**
 * The contracts that make blocks composable (see docs/architecture.md).
 * They live in core so that every package can implement or consume them
 * without depending on the others.
 */

/** Receives auxiliary losses (MoE/MoH load balance, z-loss) during a forward. */
export interface AuxLossCollector {
  add(name: string, loss: tf.Scalar, weight?: number): void;
}

/** What an attention hook is handed. Its tensors are freed right after the call: copy what you keep. */
export interface AttentionWeightsInfo {
  /** The mixer's registered type, e.g. 'gqa'. */
  block: string;
  /** Where the mixer sits in the model, e.g. 'layers.3.mixer' (from `context.path`; '' alone). */
  path: string;
  /** [batch, heads, tq, tk]; for a mixer that attends a selection, [batch, heads, tq, selected]. */
  weights: tf.Tensor4D;
  /** For sparse mixers: the key positions each weight column belongs to, int32 like `weights`. */
  selected?: tf.Tensor4D;
}

export type AttentionHook = (info: AttentionWeightsInfo) => void;

/**
 * A positional encoding acts in one of three ways; a mixer asks it, never hard-codes one.
 * - `embed`: added to token embeddings `[batch, time, dim]`;
 * - `rotate`: applied to queries and keys `[batch, heads, time, headDim]`;
 * - `bias`: an additive logit bias, broadcastable to `[batch, heads, tq, tk]`.
 */
export interface PositionalEncoding {
  readonly kind: 'embed' | 'rotate' | 'bias' | 'none';
  embed?(x: tf.Tensor3D, positions: tf.Tensor1D): tf.Tensor3D;
  rotate?(x: tf.Tensor4D, positions: tf.Tensor1D): tf.Tensor4D;
  /** `queries` `[batch, heads, tq, headDim]` is passed for query-dependent biases (Shaw et al.). */
  bias?(
    queryPositions: tf.Tensor1D,
    keyPositions: tf.Tensor1D,
    numHeads: number,
    queries?: tf.Tensor4D,
  ): tf.Tensor;
  /** Multiplier on attention logits (e.g. YaRN's temperature); 1 when absent. */
  readonly logitScale?: number;
  /**
   * A `rotate` encoding that is a plain rotary embedding says so here, so that mixers may fold
   * the rotation into splitting their heads (`splitHeadsKernel`); `rotate` must equal it.
   */
  readonly rotary?: RotaryParameters;
  dispose?(): void;
}

/** A rotary embedding's angles: pair i of the first 2·θ.length channels turns by m·θ_i. */
export interface RotaryParameters {
  /** The head size it applies to (a mixer with other heads gets `rotate`'s error). */
  readonly headDim: number;
  readonly inverseFrequencies: readonly number[];
  /** 'half' pairs channel i with i + rotaryDim/2, 'interleaved' 2i with 2i+1. */
  readonly layout: 'half' | 'interleaved';
}

/** Everything a token mixer may need besides its input. All fields are optional. */
export interface MixerContext {
  /** Boolean (true = attend) or additive mask broadcastable to `[batch, heads, tq, tk]`. */
  mask?: tf.Tensor;
  /** Causal masking for self-attention. */
  causal?: boolean;
  /** `[batch, time]` segment ids: tokens attend only within their segment. */
  segmentIds?: tf.Tensor2D;
  /**
   * Block-Attention (Sun et al. 2024, sec. 2.1): `segmentIds` mark blocks and the row's last
   * block (the segment of its last token) attends to all blocks; with a cache, the new tokens
   * continue the last block. Needs the mixer's `blockAttention` capability.
   */
  blockAttention?: boolean;
  /** `[time]` absolute positions of the input tokens (default `0..time-1`, or the state's offset). */
  positions?: tf.Tensor1D;
  positional?: PositionalEncoding;
  /** `[batch, time, dim]` encoder output for cross-attention. */
  memory?: tf.Tensor3D;
  /** Incremental-decoding state; the mixer reads and advances it. */
  state?: IncrementalState;
  training?: boolean;
  aux?: AuxLossCollector;
  attentionHook?: AttentionHook;
  /**
   * Absolute position of the first input token when positions are consecutive (a stack passes
   * its offset here, so no layer reads positions back from the backend). `positions` wins.
   */
  offset?: number;
  /** Where the module sits in the model ('layers.3.mixer'), for hooks and probes. */
  path?: string;
  /** Receives named statistics from inside a forward (routing load, selection coverage, ...). */
  probe?: Probe;
  /** Per-head control of a multi-head mixer (head-importance analysis, ablations). */
  heads?: HeadControl;
  /** Keys/values every query sees besides the regular ones (memory tokens, persistent memory). */
  prefix?: KeyValuePrefix;
  /** Cross-layer KV sharing: this layer produces or consumes its group's keys/values. */
  sharedKeyValues?: SharedKeyValues;
}

/**
 * Cross-layer attention (Brandon et al. 2024; Hymba, Dong et al. 2024, sec. 2.3): the layers of a
 * group attend the keys/values of its first layer. The stack hands every layer of a group the same
 * `slot`; the producer puts its keys/values (all cached ones while decoding) there, kept, and the
 * consumers attend them instead of projecting their own. Whoever makes the slot disposes them
 * (`slotTensors`). A consumer's own cache stays empty, so it takes its positions from
 * `context.offset` (the stack passes it).
 */
export interface SharedKeyValues {
  role: 'produce' | 'consume';
  slot: SharedKeyValuesSlot;
}

/** What a producer leaves for its group: its keys/values with their positions, and its prefix. */
export interface SharedKeyValuesSlot {
  keys?: tf.Tensor4D;
  values?: tf.Tensor4D;
  positions?: number[];
  /** The producer's own key/value prefix (Hymba's meta tokens), which the consumers attend too. */
  prefix?: KeyValuePrefix;
}

/** The tensors a slot holds, for its owner to dispose after the pass. */
export function slotTensors(slot: SharedKeyValuesSlot): tf.Tensor[] {
  const { keys, values, prefix } = slot;
  return [keys, values, prefix?.keys, prefix?.values].filter((t): t is tf.Tensor4D => !!t);
}

/**
 * Extra keys and values in a mixer's head space, [batch or 1, kvHeads, p, headDim]: seen by every
 * query, unmasked and unpositioned, in the same softmax as the regular keys.
 */
export interface KeyValuePrefix {
  keys: tf.Tensor4D;
  values: tf.Tensor4D;
}

/** A statistic a module reports during a forward: plain numbers, no tensors to free. */
export interface ProbeEvent {
  /** Registered type of the reporting module. */
  block: string;
  /** `context.path` of the module ('' when alone). */
  path: string;
  /** e.g. 'headLoad', 'activeFraction', 'coverage'. */
  name: string;
  value: number | number[] | Record<string, number | number[]>;
}

export type Probe = (event: ProbeEvent) => void;

/**
 * Per-head control of one call (head-importance analysis, ablations), by head index:
 * `disabled` heads contribute nothing, `weights[h]` multiplies head h's output (length = heads),
 * `forced` heads are always active (routed heads, MoH/MoA; every head of a dense mixer already is).
 */
export interface HeadControl {
  disabled?: number[];
  forced?: number[];
  weights?: number[];
}

/**
 * What a mixer supports; blocks and models check it when they are built, so a mismatch fails
 * with the mixer, the field and the reason instead of inside a forward.
 */
export interface MixerCapabilities {
  /** Has `initState` and decodes incrementally (cached == full). */
  decoding: boolean;
  /** 'only': defined causally; 'never': sees the whole input (encoders, cross-attention). */
  causal: 'only' | 'either' | 'never';
  /**
   * False when a causal run still lets later tokens change earlier outputs, through a choice
   * made over the whole sequence (expert-choice routing: MoSA). Such a mixer trains causally
   * masked but is not autoregressive-safe.
   */
  strictlyCausal: boolean;
  /** Positional kinds it honours ('embed' and 'none' act outside it and always pass). */
  positional: readonly ('rotate' | 'bias')[];
  /** Takes `context.mask` / `context.segmentIds`. */
  masks: boolean;
  segmentIds: boolean;
  /** Honours `context.blockAttention` (the last segment sees all); absent means no. */
  blockAttention?: boolean;
  /** What the attention hook receives: the full map, the selected entries, or nothing. */
  attentionWeights: 'full' | 'selected' | 'none';
  /** Decoding state size: constant, grows with the tokens seen, or none. */
  stateGrowth: 'constant' | 'linear' | 'none';
  /** Honours `context.heads` (per-head scale / force). */
  headControl: boolean;
  /** Honours `context.prefix` (extra keys/values in its head space: its `numKvHeads`, `headDim`). */
  keyValuePrefix: boolean;
  /** Honours `context.sharedKeyValues` (cross-layer KV sharing); absent means no. */
  sharedKeyValues?: boolean;
}

/** `[batch, time, dModel] -> [batch, time, dModel]`. */
export interface TokenMixer {
  forward(x: tf.Tensor3D, context?: MixerContext): tf.Tensor3D;
  /** What it supports (see MixerCapabilities); every registered mixer declares it. */
  readonly capabilities?: MixerCapabilities;
  /** Fresh decoding state for `batch` sequences; absent for mixers that cannot decode. */
  initState?(batch: number): IncrementalState;
}

/** `[..., dModel] -> [..., dModel]` position-wise (MLP, GLU, MoE); blocks pass `[batch, time, dModel]`. */
export interface FeedForward {
  forward(x: tf.Tensor, context?: MixerContext): tf.Tensor;
}
