import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  ShapeError,
  checkMixerContext,
  checkRank,
  formatShape,
  mergeHeadsKernel,
  splitHeadsKernel,
  type IncrementalState,
  type MixerCapabilities,
  type MixerContext,
  type PositionalEncoding,
} from '@attnkit/core';

/** [b, t, heads·d] -> [b, heads, t, d]; one kernel each way where the backend has it. */
export function splitHeads(x: tf.Tensor, heads: number, dim: number): tf.Tensor4D {
  const [b, t, width] = x.shape;
  const fused = x.rank === 3 && width === heads * dim && splitHeadsKernel(x as tf.Tensor3D, heads);
  if (fused) return fused;
  return tf.transpose(tf.reshape(x, [b!, t!, heads, dim]), [0, 2, 1, 3]) as tf.Tensor4D;
}

/** [b, heads, t, d] -> [b, t, heads·d]; one kernel each way where the backend has it. */
export function mergeHeads(x: tf.Tensor4D): tf.Tensor3D {
  const fused = mergeHeadsKernel(x);
  if (fused) return fused;
  const [b, h, t, d] = x.shape;
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [b, t, h * d]) as tf.Tensor3D;
}

export interface MixerInput<S> {
  batch: number;
  time: number;
  /** Absolute positions of the input tokens (after what the state has consumed). */
  queryPositions: number[];
  state?: S;
  training: boolean;
}

/**
 * The checks every self-attention mixer makes on x and its context: rank and width of x,
 * a state of the mixer's own kind, positions (default: continuing after the state).
 */
export function mixerInput<S extends IncrementalState>(
  block: string,
  x: tf.Tensor3D,
  dModel: number,
  context: MixerContext,
  stateKind: abstract new (...args: never[]) => S,
  training: boolean,
  capabilities?: MixerCapabilities,
): MixerInput<S> {
  const state = checkMixerInput(block, x, dModel, context, stateKind, capabilities);
  const [batch, time] = x.shape;
  return {
    batch,
    time,
    queryPositions: inputPositions(block, context, time, state ? state.length : 0),
    state,
    training: context.training ?? training,
  };
}

/**
 * Rank and width of x, the context against the mixer's capabilities (when given), and a state of
 * the mixer's own kind (returned).
 */
export function checkMixerInput<S extends IncrementalState>(
  block: string,
  x: tf.Tensor3D,
  dModel: number,
  context: MixerContext,
  stateKind: abstract new (...args: never[]) => S,
  capabilities?: MixerCapabilities,
): S | undefined {
  checkRank(block, 'x', x, 3);
  if (x.shape[2] !== dModel) {
    throw new ShapeError(block, 'x', `last axis dModel=${dModel}`, `shape ${formatShape(x.shape)}`);
  }
  if (capabilities) checkMixerContext(block, capabilities, context);
  const state = context.state;
  if (state && !(state instanceof stateKind)) {
    throw new ConfigError(
      block,
      'context.state',
      `a ${stateKind.name} from initState()`,
      (state as object).constructor.name,
    );
  }
  return state as S | undefined;
}

/**
 * Absolute positions of `time` input tokens: context.positions, else consecutive from
 * context.offset (what a stack passes), else from `offset` (the state's count).
 */
export function inputPositions(
  block: string,
  context: MixerContext,
  time: number,
  offset: number,
): number[] {
  const start = context.offset ?? offset;
  const positions = context.positions
    ? Array.from(context.positions.dataSync())
    : Array.from({ length: time }, (_, i) => start + i);
  if (positions.length !== time) {
    throw new ShapeError(block, 'context.positions', `${time} positions`, `${positions.length}`);
  }
  return positions;
}

/** Throws on segment ids while decoding: the cache keeps no segment ids for its keys. */
export function refuseSegmentsWhileDecoding(
  block: string,
  state: IncrementalState | undefined,
  context: MixerContext,
): void {
  if (state && context.segmentIds) {
    throw new ConfigError(
      block,
      'context.segmentIds',
      'no segment ids while decoding with a cache',
      'segment ids',
    );
  }
}

/** Rotates q and k when the encoding rotates (RoPE); identity otherwise. */
export function rotate(
  positional: PositionalEncoding | undefined,
  x: tf.Tensor4D,
  positions: number[],
): tf.Tensor4D {
  if (!positional?.rotate) return x;
  return tf.tidy(() => positional.rotate!(x, tf.tensor1d(positions, 'int32')));
}

/** The encoding's logit bias for these positions and heads, if it adds one (ALiBi, T5, ...). */
export function positionalBias(
  positional: PositionalEncoding | undefined,
  queryPositions: number[],
  keyPositions: number[],
  heads: number,
  q: tf.Tensor4D,
): tf.Tensor | undefined {
  if (!positional?.bias) return undefined;
  return tf.tidy(() =>
    positional.bias!(
      tf.tensor1d(queryPositions, 'int32'),
      tf.tensor1d(keyPositions, 'int32'),
      heads,
      q,
    ),
  );
}

/** Hands attention weights to the context's hook, with the mixer's type and layer path. */
export function reportWeights(
  block: string,
  context: MixerContext,
  weights: tf.Tensor4D,
  selected?: tf.Tensor4D,
): void {
  context.attentionHook?.({ block, path: context.path ?? '', weights, selected });
}
