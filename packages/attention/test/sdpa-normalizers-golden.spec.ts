import * as tf from '@tensorflow/tfjs-core';
import { scaledDotProductAttention, type AttentionOptions } from '@attnkit/attention';
import { expectClose } from '@attnkit/core/testing';

// Fixture: tools/reference/attention/normalizer_reference.py (PyTorch, autograd gradients).
interface Case {
  name: string;
  normalizer: string;
  qShape: number[];
  kShape: number[];
  vShape: number[];
  causal: boolean;
  mask?: number[];
  [key: string]: unknown;
}
const cases: Case[] = require('./fixtures/sdpa-normalizers.json');
const tol = { atol: 3e-5, rtol: 1e-4 };

describe('scaledDotProductAttention with sparsemax / entmax15 against PyTorch', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s: output and gradients', (_, c) => {
    const t = (key: string, shape: number[]) => tf.tensor(c[key] as number[], shape);
    const [q, k, v] = [t('q', c.qShape), t('k', c.kShape), t('v', c.vShape)] as tf.Tensor4D[];
    const tq = c.qShape[2]!;
    const options: AttentionOptions = { causal: c.causal, normalizer: c.normalizer };
    if (c.mask) options.mask = tf.tensor(c.mask, [tq, c.kShape[2]!], 'bool');
    const probe = t('probe', [c.qShape[0]!, c.qShape[1]!, tq, c.vShape[3]!]);
    const run = (qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor) =>
      scaledDotProductAttention(qq as tf.Tensor4D, kk as tf.Tensor4D, vv as tf.Tensor4D, options);
    const { output, weights } = scaledDotProductAttention(q!, k!, v!, {
      ...options,
      returnWeights: true,
    });
    expectClose(output, t('output', probe.shape), tol);
    // masked keys get exactly 0, and some visible keys too (sparse for real)
    const tk = c.kShape[2]!;
    const w = weights!.arraySync()[0]!;
    let visibleZeros = 0;
    for (const head of w) {
      head.forEach((row, i) =>
        row.forEach((x, j) => {
          const visible = c.causal ? j <= tk - tq + i : c.mask![i * tk + j] === 1;
          if (!visible) expect(x).toBe(0);
          else if (x === 0) visibleZeros++;
        }),
      );
    }
    expect(visibleZeros).toBeGreaterThan(0);
    const grads = tf.grads((...xs: tf.Tensor[]) =>
      tf.sum(tf.mul(run(xs[0]!, xs[1]!, xs[2]!).output, probe)),
    )([q!, k!, v!]);
    expectClose(grads[0]!, t('grad_q', c.qShape), tol);
    expectClose(grads[1]!, t('grad_k', c.kShape), tol);
    expectClose(grads[2]!, t('grad_v', c.vShape), tol);
  });
});
