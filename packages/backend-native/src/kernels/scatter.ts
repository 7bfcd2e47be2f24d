// ScatterNd on the addon for float32 updates (sums of repeated indices in update order, the cpu
// kernel's float32 results exactly): the gradient of gatherRows (embeddings, the sparse mixers'
// gathers). An index outside the output runs the cpu kernel, which throws its own error.
import * as tf from '@tensorflow/tfjs-core';
import type { KernelArgs, KernelContext, NativeKernel } from './util';
import { allocF32, f32, values } from './util';

export function makeScatterNd({ addon, cpu }: KernelContext): NativeKernel {
  const fallback = cpu(tf.ScatterNd);
  return (args: KernelArgs) => {
    const { indices, updates } = args.inputs as { indices: tf.TensorInfo; updates: tf.TensorInfo };
    const { shape } = args.attrs as unknown as tf.ScatterNdAttrs;
    const iv = values(args.backend, indices);
    if (
      typeof addon.scatterAdd !== 'function' ||
      updates.dtype !== 'float32' ||
      !(iv instanceof Int32Array)
    ) {
      return fallback(args);
    }
    const { sliceRank, numUpdates, sliceSize, strides, outputSize } =
      tf.backend_util.calculateShapes(updates, indices, shape);
    if (outputSize === 0 || sliceRank < 1 || sliceRank > 64) return fallback(args);
    const out = allocF32(outputSize);
    const bad = addon.scatterAdd(
      iv,
      f32(args.backend, updates),
      out,
      numUpdates,
      sliceRank,
      sliceSize,
      Int32Array.from(strides),
      outputSize / sliceSize,
    );
    if (bad >= 0) return fallback(args);
    return args.backend.makeTensorInfo(shape.slice(), 'float32', out);
  };
}
