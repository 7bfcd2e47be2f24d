import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, checkDtype, checkOneOf, formatShape } from '@attnkit/core';
import {
  SELECTIVE_SCAN,
  SELECTIVE_SCAN_GRAD,
  type SelectiveScanInputs,
  type SelectiveScanOutputs,
} from '@attnkit/kernels';
import { linearRecurrence } from './linear-recurrence';

const BLOCK = 'selectiveScan';

export interface SelectiveScanOptions {
  /** linearRecurrence's form for the composite; default 'chunk' (the form the kernel replaces). */
  form?: 'sequential' | 'chunk';
  /** Steps per chunk of the composite's chunk form (default 16). */
  chunkSize?: number;
  /** h_0 [batch, E, N]; zeros when absent. */
  initialState?: tf.Tensor;
}

export interface SelectiveScanResult {
  /** y [batch, time, E]. */
  output: tf.Tensor3D;
  /** h_T [batch, E, N]: the initialState of the next call. */
  state: tf.Tensor3D;
}

/**
 * Mamba's selective scan (Gu & Dao 2023, Alg. 2, S6; eq. 4: zero-order hold Ā = exp(ΔA), and
 * B̄x ≈ ΔBx as the reference code): with u, Δ [b, t, E], A [E, N], B, C [b, t, N], D [E],
 *
 *   h_t = exp(Δ_t A) ⊙ h_{t-1} + (Δ_t u_t) B_t,    y_t = C_t h_t + D ⊙ u_t.
 *
 * The composite builds the [b, t, E, N] decays and inputs and runs linearRecurrence on them; in
 * the 'chunk' form a backend that registers SELECTIVE_SCAN (@attnkit/backend-native) runs the
 * whole scan as one kernel instead, which never materialises [b, t, E, N].
 */
export function selectiveScan(
  u: tf.Tensor3D,
  delta: tf.Tensor3D,
  a: tf.Tensor2D,
  b: tf.Tensor3D,
  c: tf.Tensor3D,
  d: tf.Tensor1D,
  options: SelectiveScanOptions = {},
): SelectiveScanResult {
  const { form = 'chunk', chunkSize = 16, initialState } = options;
  checkOneOf(BLOCK, 'form', form, ['sequential', 'chunk'] as const);
  const [batch, time, e] = u.shape;
  const n = a.shape[1];
  const want: Array<[string, tf.Tensor, (number | undefined)[]]> = [
    ['u', u, [batch, time, e]],
    ['delta', delta, [batch, time, e]],
    ['a', a, [e, n]],
    ['b', b, [batch, time, n]],
    ['c', c, [batch, time, n]],
    ['d', d, [e]],
  ];
  if (initialState) want.push(['initialState', initialState, [batch, e, n]]);
  for (const [name, x, shape] of want) {
    if (!(x instanceof tf.Tensor)) throw new ShapeError(BLOCK, name, 'a tf.Tensor', typeof x);
    checkDtype(BLOCK, name, x, ['float32']);
    if (x.rank !== shape.length || x.shape.some((s, i) => s !== shape[i])) {
      throw new ShapeError(
        BLOCK,
        name,
        `shape [${shape.join(',')}]`,
        `shape ${formatShape(x.shape)}`,
      );
    }
  }
  return tf.tidy(() => {
    const h0 = initialState ?? tf.zeros([batch, e, n]);
    if (form === 'chunk') {
      const fused = kernel({ u, delta, a, b, c, d, h0 });
      if (fused) return fused;
    }
    const dt = tf.expandDims(delta, 3); // [b, t, E, 1]
    const decay = tf.exp(tf.mul(dt, a)); // Ā [b, t, E, N]
    const drive = tf.mul(tf.mul(dt, tf.expandDims(b, 2)), tf.expandDims(u, 3)); // ΔBx
    const scan = linearRecurrence(decay, drive, { form, chunkSize, initialState: h0 });
    const y = tf.add(tf.sum(tf.mul(scan.output, tf.expandDims(c, 2)), 3), tf.mul(u, d));
    return { output: y as tf.Tensor3D, state: scan.state as tf.Tensor3D };
  });
}

/** The backend's kernel (with its gradient kernel), or undefined when it has none. */
function kernel(
  inputs: SelectiveScanInputs<tf.Tensor>,
): { output: tf.Tensor3D; state: tf.Tensor3D } | undefined {
  const backend = tf.getBackend();
  if (
    tf.getKernel(SELECTIVE_SCAN, backend) === undefined ||
    tf.getKernel(SELECTIVE_SCAN_GRAD, backend) === undefined
  ) {
    return undefined;
  }
  const [y, last] = tf
    .engine()
    .runKernel(SELECTIVE_SCAN, inputs) as SelectiveScanOutputs<tf.Tensor>;
  return { output: y as tf.Tensor3D, state: last as tf.Tensor3D };
}
