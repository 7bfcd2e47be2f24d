import * as tf from '@tensorflow/tfjs-core';
import {
  withCustomGradient,
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
 * The short causal depthwise convolution of H3 (Fu et al. 2023, the shift SSM) and
 * Mamba (Gu & Dao 2023, sec. 3.4, the Conv1d before the SSM): per channel c, over time,
 *
 *   y[t, c] = act(bias[c] + Σ_{j<K} w[c, j] · x[t - (K-1) + j, c]),
 *
 * x [batch, time, channels], weight [channels, kernel] (PyTorch's depthwise Conv1d weight
 * [C, 1, K] without its middle axis, so w[c, K-1] taps the current token). Inputs before the
 * first come from `initialState` (zeros when absent). The forward pass is tfjs' depthwise
 * convolution over the left-padded input; its gradient (the same convolution of the padded
 * output gradient with the kernel reversed, and K products for the weight) is written here,
 * since wasm has no depthwise-convolution gradient kernels.
 */
export function causalConv1d(
  x: tf.Tensor3D,
  weight: tf.Tensor2D,
  options: CausalConv1dOptions = {},
): CausalConv1dResult {
  const { bias, initialState, activation } = options;
  checkRank(BLOCK, 'x', x, 3);
  checkDtype(BLOCK, 'x', x, ['float32']);
  checkDtype(BLOCK, 'weight', weight, ['float32']);
  const [batch, , channels] = x.shape;
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
    let y = depthwiseCausal(padded, weight);
    if (bias) y = tf.add(y, bias);
    if (activation !== undefined) y = activations.get(activation)(y);
    const state = tf.slice(padded, [0, padded.shape[1]! - (kernel - 1), 0], [-1, kernel - 1, -1]);
    return { output: y as tf.Tensor3D, state: state as tf.Tensor3D };
  });
}

/** y[t] = Σ_j w[:, j] ⊙ padded[t + j], padded [B, T+K-1, C], weight [C, K] -> [B, T, C]. */
const depthwiseCausal = withCustomGradient<[tf.Tensor, tf.Tensor]>((padded, weight, save) => {
  save([padded, weight]);
  return {
    value: correlate(padded, weight),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
      tf.tidy(() => {
        const [input, w] = saved as [tf.Tensor3D, tf.Tensor2D];
        const [batch, span, channels] = input.shape as [number, number, number];
        const kernel = w.shape[1]!;
        const time = span - (kernel - 1);
        // d padded[u] = Σ_j w[:, j] dy[u - j]: dy zero-padded by K-1 on both sides, kernel
        // reversed (concat, not pad: the cpu backend pads element by element).
        const edge = tf.zeros([batch, kernel - 1, channels]);
        const dInput = correlate(tf.concat([edge, dy, edge], 1), tf.reverse(w, 1));
        // d w[:, j] = Σ_{batch, t} dy[t] ⊙ padded[t + j], the sum over rows as a matmul (the
        // cpu backend's sum over leading axes transposes first).
        const rows = tf.ones([1, batch * time]);
        const taps = Array.from({ length: kernel }, (_, j) => {
          const product = tf.mul(dy, tf.slice(input, [0, j, 0], [-1, time, -1]));
          return tf.matMul(rows, tf.reshape(product, [batch * time, channels]));
        });
        return [dInput, tf.transpose(tf.concat(taps, 0))];
      }),
  };
});

/** Valid depthwise correlation over time through tfjs' depthwiseConv2d (time as width). */
function correlate(input: tf.Tensor, weight: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const [batch, span, channels] = input.shape as [number, number, number];
    const kernel = weight.shape[1]!;
    const image = tf.reshape(input, [batch, 1, span, channels]) as tf.Tensor4D;
    const filter = tf.reshape(tf.transpose(weight), [1, kernel, channels, 1]) as tf.Tensor4D;
    const out = tf.depthwiseConv2d(image, filter, 1, 'valid');
    return tf.reshape(out, [batch, span - kernel + 1, channels]);
  });
}

function shapeOf(x: tf.Tensor): string {
  return `shape ${formatShape(x.shape)}`;
}
