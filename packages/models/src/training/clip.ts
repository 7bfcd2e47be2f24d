import * as tf from '@tensorflow/tfjs-core';
import { SUM_OF_SQUARES, type SumOfSquaresOutputs } from '@attnkit/kernels';

/**
 * ||g|| over every gradient together (the global norm of Pascanu et al. 2013, Algorithm 1), read
 * back as a number: one `AttnkitSumOfSquares` kernel where the backend has it (in double on
 * native), else a square and a sum per tensor.
 */
export function globalNorm(grads: Iterable<tf.Tensor>): number {
  const list = [...grads];
  if (list.length === 0) return 0;
  const fused =
    tf.getKernel(SUM_OF_SQUARES, tf.getBackend()) !== undefined &&
    list.every((g) => g.dtype === 'float32');
  return tf.tidy(() => {
    const squared = fused
      ? (
          tf
            .engine()
            .runKernel(
              SUM_OF_SQUARES,
              list as unknown as tf.NamedTensorMap,
            ) as unknown as SumOfSquaresOutputs<tf.Tensor>
        )[0]
      : tf.addN(list.map((g) => tf.sum(tf.square(g))));
    return Math.sqrt(squared.dataSync()[0]!);
  });
}

/** The factor a global-norm clip multiplies every gradient by: min(1, maxNorm / norm). */
export function clipScale(norm: number, maxNorm: number): number {
  return Number.isFinite(maxNorm) && norm > maxNorm ? maxNorm / (norm + 1e-6) : 1;
}

/**
 * Scales every gradient by `min(1, maxNorm / ||g||)` with `||g||` the norm over all of them
 * (Pascanu et al. 2013, Algorithm 1). Returns new tensors (the caller frees the old ones) and the
 * norm before clipping. The trainer passes `clipScale` to AdamW instead (no scaled copies).
 */
export function clipByGlobalNorm(
  grads: Map<string, tf.Tensor>,
  maxNorm: number,
): { grads: Map<string, tf.Tensor>; norm: number } {
  const norm = globalNorm(grads.values());
  const scale = clipScale(norm, maxNorm);
  const out = new Map<string, tf.Tensor>();
  for (const [path, g] of grads) out.set(path, scale === 1 ? tf.clone(g) : tf.mul(g, scale));
  return { grads: out, norm };
}
