import * as tf from '@tensorflow/tfjs-core';
import { causalMask } from '@attnkit/core';
import { scaledDotProductAttention, type AttentionOptions } from '@attnkit/attention';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';

const rand = (shape: [number, number, number, number], seed: number) =>
  tf.randomNormal(shape, 0, 1, 'float32', seed) as tf.Tensor4D;

function forwardAndGrads(
  options: AttentionOptions,
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  extra: tf.Tensor[] = [],
) {
  const probe = rand([q.shape[0], q.shape[1], q.shape[2], v.shape[3]], 99);
  const f = (qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor, ...rest: tf.Tensor[]) => {
    const opts = { ...options };
    if (rest[0]) opts.bias = rest[0];
    if (rest[1]) opts.sinkLogit = rest[1];
    return tf.sum(
      tf.mul(
        scaledDotProductAttention(qq as tf.Tensor4D, kk as tf.Tensor4D, vv as tf.Tensor4D, opts)
          .output,
        probe,
      ),
    );
  };
  const out = scaledDotProductAttention(q, k, v, options).output;
  const grads = tf.grads(f)([q, k, v, ...extra]);
  probe.dispose();
  return { out, grads };
}

describe('chunked == naive', () => {
  const cases: [string, AttentionOptions, number, number][] = [
    ['plain', {}, 4, 4],
    ['causal', { causal: true }, 4, 4],
    ['causal, decoding offset', { causal: true }, 4, 4],
    ['window', { window: 3 }, 4, 4],
    ['window with sink tokens', { window: 3, sinkTokens: 2 }, 4, 4],
    ['softcap', { logitSoftcap: 2, causal: true }, 4, 4],
    ['sink', { sinkLogit: 0.5, causal: true }, 4, 4],
    ['GQA', { causal: true }, 4, 2],
    ['odd chunks', { causal: true, window: 5 }, 4, 1],
  ];
  for (const [name, options, heads, kvHeads] of cases) {
    it(name, () => {
      const tq = name.includes('offset') ? 5 : 11;
      const q = rand([2, heads, tq, 8], 1);
      const k = rand([2, kvHeads, 11, 8], 2);
      const v = rand([2, kvHeads, 11, 6], 3);
      const naive = forwardAndGrads(options, q, k, v);
      const chunked = forwardAndGrads({ ...options, chunkSize: 4 }, q, k, v);
      expect(maxAbsDiff(chunked.out, naive.out)).toBeLessThan(1e-5);
      chunked.grads.forEach((g, i) => expect(maxAbsDiff(g, naive.grads[i]!)).toBeLessThan(1e-4));
    });
  }

  it('with a learned bias, a per-head sink tensor, a boolean and an additive mask', () => {
    const q = rand([1, 2, 7, 4], 4);
    const k = rand([1, 2, 7, 4], 5);
    const v = rand([1, 2, 7, 4], 6);
    const bias = rand([1, 2, 7, 7], 7);
    const sink = tf.tensor1d([0.2, -0.3]);
    for (const mask of [causalMask(7, 7), tf.mul(rand([1, 1, 7, 7], 8), 0.5)]) {
      const naive = forwardAndGrads({ mask }, q, k, v, [bias, sink]);
      const chunked = forwardAndGrads({ mask, chunkSize: 3 }, q, k, v, [bias, sink]);
      expectClose(chunked.out, naive.out, { atol: 1e-5 });
      chunked.grads.forEach((g, i) => expectClose(g, naive.grads[i]!, { atol: 1e-4, rtol: 1e-3 }));
    }
  });

  it('skips the blocks the positions mask (causal, window) with the same outputs and gradients', () => {
    // 10 queries at decode offset 4 over 14 keys, chunks of 3: future and stale blocks skipped.
    const q = rand([1, 2, 10, 4], 9);
    const k = rand([1, 2, 14, 4], 10);
    const v = rand([1, 2, 14, 4], 11);
    const bias = rand([1, 2, 10, 14], 12);
    const sink = tf.tensor1d([0.1, -0.2]);
    for (const options of [{ causal: true }, { window: 4 }, { window: 4, sinkTokens: 1 }]) {
      const naive = forwardAndGrads(options, q, k, v, [bias, sink]);
      const chunked = forwardAndGrads({ ...options, chunkSize: 3 }, q, k, v, [bias, sink]);
      expectClose(chunked.out, naive.out, { atol: 1e-5 });
      chunked.grads.forEach((g, i) => expectClose(g, naive.grads[i]!, { atol: 1e-4, rtol: 1e-3 }));
    }
  });

  it('leaks nothing in forward and backward', async () => {
    const q = rand([1, 2, 5, 4], 1);
    const k = rand([1, 1, 5, 4], 2);
    const v = rand([1, 1, 5, 4], 3);
    await expectNoLeaks(() => {
      const r = forwardAndGrads({ causal: true, chunkSize: 2, sinkLogit: 0 }, q, k, v);
      tf.dispose([r.out, ...r.grads]);
      const bias = rand([1, 2, 5, 5], 4);
      const w = forwardAndGrads({ window: 2, chunkSize: 2 }, q, k, v, [bias]);
      tf.dispose([w.out, ...w.grads, bias]);
    });
  });
});
