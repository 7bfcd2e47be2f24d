// TopK on the addon (sorted, float32, finite values): the k best of each row, ties to the lower
// index as tfjs orders them. Unsorted requests, other dtypes, NaN or infinite values (which the
// cpu kernel orders by subtraction) and a binary without the entry run the cpu kernel.
import * as tf from '@tensorflow/tfjs-core';
import type { KernelArgs, KernelContext, NativeKernel } from './util';
import { allocF32, f32 } from './util';

export function makeTopK({ addon, cpu }: KernelContext): NativeKernel {
  const fallback = cpu(tf.TopK);
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { k, sorted } = args.attrs as unknown as tf.TopKAttrs;
    const n = x.shape[x.shape.length - 1] ?? 0;
    if (
      typeof addon.topK !== 'function' ||
      x.dtype !== 'float32' ||
      x.shape.length === 0 ||
      !sorted ||
      !(Number.isInteger(k) && k >= 1 && k <= n)
    ) {
      return fallback(args);
    }
    const rows = tf.util.sizeFromShape(x.shape) / n;
    const values = allocF32(rows * k);
    const indices = new Int32Array(rows * k);
    if (!addon.topK(f32(args.backend, x), values, indices, rows, n, k)) return fallback(args);
    const shape = [...x.shape.slice(0, -1), k];
    return [
      args.backend.makeTensorInfo(shape, 'float32', values),
      args.backend.makeTensorInfo(shape.slice(), 'int32', indices),
    ];
  };
}
