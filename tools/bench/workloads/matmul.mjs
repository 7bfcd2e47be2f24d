// Square float32 matrix multiply C = A·B; 2·n³ FLOP per product.
import * as tf from '@tensorflow/tfjs-core';
import { settle } from '../lib/measure.mjs';

export default {
  name: 'matmul',
  title: 'matmul (n×n · n×n), GFLOP/s',
  async load() {
    return { api: {} };
  },
  cases({ quick }) {
    const sizes = quick ? [256, 512] : [256, 512, 1024, 2048];
    return sizes.map((n) => ({
      id: `matmul-${n}`,
      label: `n=${n}`,
      series: 'matmul',
      x: n,
      flops: 2 * n ** 3,
      torch: { kind: 'matmul', n },
    }));
  },
  async prepare(_ctx, _api, c) {
    const n = c.x;
    const a = tf.randomNormal([n, n], 0, 1, 'float32', 1);
    const b = tf.randomNormal([n, n], 0, 1, 'float32', 2);
    return {
      step: () => settle(tf.matMul(a, b)),
      dispose: () => tf.dispose([a, b]),
    };
  },
};
