import * as tf from '@tensorflow/tfjs-core';
import {
  ShapeError,
  checkDtype,
  checkInt,
  checkOneOf,
  formatShape,
  withCustomGradient,
} from '@attnkit/core';
import { scanKernel } from './kernel';
import { chunkRecurrence, sequentialRecurrence, type RecurrenceForm } from './recurrence-forms';

const BLOCK = 'linearRecurrence';

export interface LinearRecurrenceOptions {
  /**
   * 'sequential' (one step per token, any real a) or 'chunk' (closed form within chunks of
   * `chunkSize` steps, a >= 0: a = 0 is read as 1e-38, negative a gives NaN). Default 'chunk'.
   */
  form?: 'sequential' | 'chunk';
  /** Steps per chunk in the chunk form (default 16); need not divide the length. */
  chunkSize?: number;
  /** h_0 [batch, ...features] (b's shape without time); zeros when absent. */
  initialState?: tf.Tensor;
}

export interface LinearRecurrenceResult {
  /** h [batch, time, ...features]: every h_t. */
  output: tf.Tensor;
  /** h_T [batch, ...features]: the initialState of the next call. */
  state: tf.Tensor;
}

/**
 * The first-order linear recurrence h_t = a_t ⊙ h_{t-1} + b_t along axis 1 (time), the scan
 * behind SSMs (Mamba's selective scan, Gu & Dao 2023, sec. 3.3, Alg. 2), EMA (Mega) and gated
 * linear RNNs. It is a prefix sum over the associative pairs (a, b) (Blelloch 1990, "Prefix sums
 * and their applications", sec. 1.4); Martin & Cundy 2018 ("Parallelizing linear recurrent
 * neural nets over sequence length") parallelise it, as the chunk form does within chunks.
 *
 * b [batch, time, ...features]; a has b's rank and broadcasts to it on every axis (size 1 or
 * equal), e.g. [batch, time, 1] for a scalar per step, [1, 1, ...features] for a fixed decay.
 * Both forms share one gradient, itself a linear recurrence run backwards (Martin & Cundy
 * 2018): with δ_t = ∂L/∂h_t accumulated as δ_t = g_t + a_{t+1} ⊙ δ_{t+1},
 * ∂L/∂b_t = δ_t, ∂L/∂a_t = δ_t ⊙ h_{t-1}, ∂L/∂h_0 = a_1 ⊙ δ_1; it keeps a, h_0 and h, so
 * training memory is O(time·features) instead of a tape of `time` small ops. The 'chunk' form
 * runs the backend's LINEAR_SCAN kernel when it has one (exact for any real a there).
 */
export function linearRecurrence(
  a: tf.Tensor,
  b: tf.Tensor,
  options: LinearRecurrenceOptions = {},
): LinearRecurrenceResult {
  const { form = 'chunk', chunkSize = 16, initialState } = options;
  checkOneOf(BLOCK, 'form', form, ['sequential', 'chunk'] as const);
  checkInt(BLOCK, 'chunkSize', chunkSize);
  checkDtype(BLOCK, 'a', a, ['float32']);
  checkDtype(BLOCK, 'b', b, ['float32']);
  if (b.rank < 2 || b.shape[1] === 0) {
    throw new ShapeError(BLOCK, 'b', 'shape [batch, time >= 1, ...features]', shapeOf(b));
  }
  const fits = a.rank === b.rank && a.shape.every((d, i) => d === 1 || d === b.shape[i]);
  if (!fits) {
    throw new ShapeError(
      BLOCK,
      'a',
      `b's rank and a shape that broadcasts to ${formatShape(b.shape)}`,
      shapeOf(a),
    );
  }
  const stateShape = [b.shape[0]!, ...b.shape.slice(2)];
  if (initialState) {
    checkDtype(BLOCK, 'initialState', initialState, ['float32']);
    const same =
      initialState.rank === stateShape.length &&
      initialState.shape.every((d, i) => d === stateShape[i]);
    if (!same) {
      throw new ShapeError(
        BLOCK,
        'initialState',
        `shape ${formatShape(stateShape)}`,
        shapeOf(initialState),
      );
    }
  }
  const run = form === 'chunk' ? chunkRecurrence(chunkSize) : sequentialRecurrence;
  return tf.tidy(() => {
    const time = b.shape[1]!;
    // A time-constant a is repeated along time here (by an add: broadcastTo's gradient stops
    // at rank 4); autodiff sums its gradient back.
    const aFull =
      a.shape[1] === time ? a : tf.add(a, tf.zeros([a.shape[0]!, time, ...a.shape.slice(2)]));
    const h0 = initialState ?? tf.zeros(stateShape);
    const fused = form === 'chunk' ? scanKernel(aFull, b, h0) : undefined;
    if (fused) return fused;
    const output = recurrence(run)(aFull, b, h0);
    const state = tf.squeeze(tf.slice(output, [0, time - 1], [-1, 1]), [1]);
    return { output, state };
  });
}

/** The op with its gradient for one form. */
function recurrence(run: RecurrenceForm) {
  return withCustomGradient<[tf.Tensor, tf.Tensor, tf.Tensor]>((a, b, h0, save) => {
    const h = run(a, b, h0);
    save([a, h0, h]);
    return {
      value: h,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [aIn, h0In, hOut] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
          const time = hOut.shape[1]!;
          // δ_t = a_{t+1} δ_{t+1} + g_t: the same recurrence run backwards, with a shifted by
          // one step (its last entry multiplies δ_{T+1} = 0, so 1 is fine).
          const ones = tf.onesLike(tf.slice(aIn, [0, 0], [-1, 1]));
          const aNext =
            time > 1 ? tf.concat([tf.slice(aIn, [0, 1], [-1, time - 1]), ones], 1) : ones;
          const delta = run(aNext, dy, tf.zerosLike(h0In), true);
          const h0Step = tf.expandDims(h0In, 1);
          const hPrev =
            time > 1 ? tf.concat([h0Step, tf.slice(hOut, [0, 0], [-1, time - 1])], 1) : h0Step;
          const dA = sumTo(tf.mul(delta, hPrev), aIn.shape);
          const first = (x: tf.Tensor) => tf.squeeze(tf.slice(x, [0, 0], [-1, 1]), [1]);
          const dH0 = sumTo(tf.mul(first(aIn), first(delta)), h0In.shape);
          return [dA, delta, dH0];
        }),
    };
  });
}

/** Sums `x` over the axes where `shape` has size 1 (keeping them): undoes a broadcast. */
function sumTo(x: tf.Tensor, shape: readonly number[]): tf.Tensor {
  const axes = shape.flatMap((d, i) => (d === 1 && x.shape[i] !== 1 ? [i] : []));
  return axes.length ? tf.sum(x, axes, true) : x;
}

function shapeOf(x: tf.Tensor): string {
  return `shape ${formatShape(x.shape)}`;
}
