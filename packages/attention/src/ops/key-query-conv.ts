import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, checkRank, formatShape, withCustomGradient } from '@attnkit/core';

const BLOCK = 'keyQueryConv';

/**
 * Multi-Token Attention's key-query convolution (Golovneva et al. 2025, sec. 3.1, eq. 3):
 * a per-head 2-D convolution over an attention map [batch, heads, tq, tk] with kernel
 * θ [heads, cq, ck], looking back over the current and cq-1 previous queries and over
 * (ck-1)/2 keys either side, zero-padded:
 *
 *   out[i, j] = Σ_{a<cq, c<ck} θ[a, c] · map[i + a - (cq-1), j + c - (ck-1)/2]
 *
 * θ[cq-1, (ck-1)/2] is the identity tap. The caller zeroes masked entries first (the paper's
 * Mask_0), which with a causal mask keeps every future key out of the sum. Built from slices
 * (every backend has them) with its own gradient, so the tape keeps one padded map instead of
 * one product per tap.
 */
export function keyQueryConv(map: tf.Tensor4D, kernel: tf.Tensor3D): tf.Tensor4D {
  checkRank(BLOCK, 'map', map, 4);
  checkRank(BLOCK, 'kernel', kernel, 3);
  const [, heads, tq, tk] = map.shape;
  const [kh, cq, ck] = kernel.shape;
  if (kh !== heads) {
    throw new ShapeError(
      BLOCK,
      'kernel',
      `shape [${heads},cq,ck] (one kernel per head)`,
      `shape ${formatShape(kernel.shape)}`,
    );
  }
  if (ck % 2 !== 1) {
    throw new ShapeError(
      BLOCK,
      'kernel',
      'an odd key width ck (centred on the key)',
      `shape ${formatShape(kernel.shape)}`,
    );
  }
  const half = (ck - 1) / 2;
  /** Σ_taps tap(a, c) · slice(padded, offset(a, c)), accumulated so one map is live at a time. */
  const correlate = (
    padded: tf.Tensor,
    taps: tf.Tensor,
    offset: (a: number, c: number) => [number, number],
  ): tf.Tensor => {
    let acc: tf.Tensor = tf.zeros([padded.shape[0]!, heads, tq, tk]);
    for (let a = 0; a < cq; a++) {
      for (let c = 0; c < ck; c++) {
        const [r, s] = offset(a, c);
        const next = tf.tidy(() => {
          const tap = tf.reshape(tf.slice(taps, [0, a, c], [-1, 1, 1]), [1, heads, 1, 1]);
          return tf.add(acc, tf.mul(tf.slice(padded, [0, 0, r, s], [-1, -1, tq, tk]), tap));
        });
        acc.dispose();
        acc = next;
      }
    }
    return acc;
  };

  const op = withCustomGradient<[tf.Tensor, tf.Tensor]>((mapIn, kernelIn, save) => {
    const padded = tf.pad(mapIn, [
      [0, 0],
      [0, 0],
      [cq - 1, 0],
      [half, half],
    ]);
    save([padded, kernelIn]);
    return {
      value: correlate(padded, kernelIn, (a, c) => [a, c]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [paddedIn, taps] = saved as [tf.Tensor, tf.Tensor];
        return tf.tidy(() => {
          // dMap: the same sum with the kernel flipped, over dy padded on the other sides.
          const dyPadded = tf.pad(dy, [
            [0, 0],
            [0, 0],
            [0, cq - 1],
            [half, half],
          ]);
          const dMap = correlate(dyPadded, taps, (a, c) => [cq - 1 - a, ck - 1 - c]);
          // dθ[h, a, c] = Σ_{b,i,j} dy · the tap's window of the padded map.
          const rows: tf.Tensor[] = [];
          for (let a = 0; a < cq; a++) {
            for (let c = 0; c < ck; c++) {
              rows.push(
                tf.tidy(() =>
                  tf.sum(tf.mul(dy, tf.slice(paddedIn, [0, 0, a, c], [-1, -1, tq, tk])), [0, 2, 3]),
                ),
              );
            }
          }
          const dKernel = tf.reshape(tf.transpose(tf.stack(rows), [1, 0]), [heads, cq, ck]);
          return [dMap, dKernel];
        });
      },
    };
  });
  return op(map, kernel) as tf.Tensor4D;
}
