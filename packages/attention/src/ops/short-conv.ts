import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  ShapeError,
  activations,
  checkDtype,
  checkRank,
  describe,
  formatShape,
} from '@attnkit/core';

const BLOCK = 'causalConv1d';

export interface CausalConv1dOptions {
  /** [channels], added before the activation. */
  bias?: tf.Tensor1D;
  /** The kernel-1 inputs before this call [batch, kernel-1, channels]; zeros when absent. */
  initialState?: tf.Tensor3D;
  /** A registered activation name (core's `activations`, e.g. 'silu'); none when absent. */
  activation?: string;
}

export interface CausalConv1dResult {
  /** [batch, time, channels]. */
  output: tf.Tensor3D;
  /** The last kernel-1 inputs [batch, kernel-1, channels] (from initialState when time is short). */
  state: tf.Tensor3D;
}

/**
 * The short causal depthwise convolution of H3 (Fu et al. 2023, sec. 3.1, the shift SSM) and
 * Mamba (Gu & Dao 2023, sec. 3.4, the Conv1d before the SSM): per channel c, over time,
 *
 *   y[t, c] = act(bias[c] + Σ_{j<K} w[c, j] · x[t - (K-1) + j, c]),
 *
 * x [batch, time, channels], weight [channels, kernel] (PyTorch's depthwise Conv1d weight
 * [C, 1, K] without its middle axis, so w[c, K-1] taps the current token). Inputs before the
 * first come from `initialState` (zeros when absent). Built as K shifted multiply-adds on the
 * left-padded input: kernels are short (2 to 4), and slices, products and sums differentiate
 * on every backend (the depthwise-conv gradient kernels are missing on some).
 */
export function causalConv1d(
  x: tf.Tensor3D,
  weight: tf.Tensor2D,
  options: CausalConv1dOptions = {},
): CausalConv1dResult {
  const { bias, initialState, activation } = options;
  checkRank(BLOCK, 'x', x, 3);
  checkDtype(BLOCK, 'x', x, ['float32']);
  const [batch, time, channels] = x.shape;
  if (weight.rank !== 2 || weight.shape[0] !== channels || weight.shape[1] === 0) {
    throw new ShapeError(BLOCK, 'weight', `shape [${channels},kernel >= 1]`, shapeOf(weight));
  }
  const kernel = weight.shape[1];
  if (bias && (bias.rank !== 1 || bias.shape[0] !== channels)) {
    throw new ShapeError(BLOCK, 'bias', `shape [${channels}]`, shapeOf(bias));
  }
  const stateShape: [number, number, number] = [batch, kernel - 1, channels];
  if (
    initialState &&
    (initialState.rank !== 3 || !stateShape.every((d, i) => initialState.shape[i] === d))
  ) {
    throw new ShapeError(
      BLOCK,
      'initialState',
      `shape ${formatShape(stateShape)}`,
      shapeOf(initialState),
    );
  }
  if (activation !== undefined && !activations.has(activation)) {
    throw new ConfigError(
      BLOCK,
      'activation',
      `a registered activation (${activations.names().join(', ')})`,
      describe(activation),
    );
  }
  return tf.tidy(() => {
    const past = initialState ?? tf.zeros(stateShape);
    const padded = kernel > 1 ? tf.concat([past, x], 1) : x;
    let y: tf.Tensor = bias ?? tf.zeros([channels]);
    for (let j = 0; j < kernel; j++) {
      const tap = tf.reshape(tf.slice(weight, [0, j], [-1, 1]), [channels]);
      y = tf.add(y, tf.mul(tf.slice(padded, [0, j, 0], [-1, time, -1]), tap));
    }
    if (activation !== undefined) y = activations.get(activation)(y);
    const state = tf.slice(padded, [0, padded.shape[1]! - (kernel - 1), 0], [-1, kernel - 1, -1]);
    return { output: y as tf.Tensor3D, state: state as tf.Tensor3D };
  });
}

function shapeOf(x: tf.Tensor): string {
  return `shape ${formatShape(x.shape)}`;
}
