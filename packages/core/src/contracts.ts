import type * as tf from '@tensorflow/tfjs-core';

/**
 * The contracts that make blocks composable (see docs/architecture.md).
 * They live in core so that every package can implement or consume them
 * without depending on the others.
 */

/** Receives auxiliary losses (MoE/MoH load balance, z-loss) during a forward. */
export interface AuxLossCollector {
  add(name: string, loss: tf.Scalar, weight?: number): void;
}

/** What an attention hook is handed. `weights` is freed right after the call: copy what you keep. */
export interface AttentionWeightsInfo {
  block: string;
  /** [batch, heads, tq, tk] */
  weights: tf.Tensor4D;
}

export type AttentionHook = (info: AttentionWeightsInfo) => void;

/**
 * Incremental-decoding state (KV cache, recurrent state, memory weights).
 * The state owns its tensors: it keeps them out of `tf.tidy` and frees them in `dispose()`.
 */
export interface IncrementalState {
  /** Number of tokens consumed so far. */
  readonly length: number;
  dispose(): void;
}

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
  dispose?(): void;
}

/** Everything a token mixer may need besides its input. All fields are optional. */
export interface MixerContext {
  /** Boolean (true = attend) or additive mask broadcastable to `[batch, heads, tq, tk]`. */
  mask?: tf.Tensor;
  /** Causal masking for self-attention. */
  causal?: boolean;
  /** `[batch, time]` segment ids: tokens attend only within their segment. */
  segmentIds?: tf.Tensor2D;
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
}

/** `[batch, time, dModel] -> [batch, time, dModel]`. */
export interface TokenMixer {
  forward(x: tf.Tensor3D, context?: MixerContext): tf.Tensor3D;
  /** Fresh decoding state for `batch` sequences; absent for mixers that cannot decode. */
  initState?(batch: number): IncrementalState;
}

/** `[..., dModel] -> [..., dModel]` position-wise (MLP, GLU, MoE); blocks pass `[batch, time, dModel]`. */
export interface FeedForward {
  forward(x: tf.Tensor, context?: MixerContext): tf.Tensor;
}
