import * as tf from '@tensorflow/tfjs-core';
import { causalMask } from '@attnkit/core';
import { scaledDotProductAttention, type AttentionOptions } from '@attnkit/attention';
import { expectClose, expectNoLeaks, finiteDifferenceCheck } from '@attnkit/core/testing';

const rand = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);

/** Output, logSumExp and the gradients of a loss that uses both (so the lse gradient counts). */
function run(options: AttentionOptions, q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D) {
  const [b, h, tq] = q.shape;
  const probeOut = rand([b, h, tq, v.shape[3]], 98);
  const probeLse = rand([b, h, tq], 97);
  const f = (qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor) => {
    const r = scaledDotProductAttention(qq as tf.Tensor4D, kk as tf.Tensor4D, vv as tf.Tensor4D, {
      ...options,
      returnLogSumExp: true,
    });
    return tf.add(tf.sum(tf.mul(r.output, probeOut)), tf.sum(tf.mul(r.logSumExp!, probeLse)));
  };
  const r = scaledDotProductAttention(q, k, v, { ...options, returnLogSumExp: true });
  const grads = tf.grads(f)([q, k, v]);
  tf.dispose([probeOut, probeLse]);
  return { ...r, grads };
}

/** log Σ_j exp(l_ij) over the keys `visible` allows, from explicit logits (the definition). */
function directLse(logits: number[][], visible: (i: number, j: number) => boolean, sink?: number) {
  return logits.map((row, i) => {
    const terms = row.filter((_, j) => visible(i, j));
    if (sink !== undefined) terms.push(sink);
    if (terms.length === 0) return -Infinity;
    const m = Math.max(...terms);
    return m + Math.log(terms.reduce((s, x) => s + Math.exp(x - m), 0));
  });
}

describe('scaledDotProductAttention: logSumExp', () => {
  const cases: [string, AttentionOptions, number, number, number][] = [
    ['plain', {}, 2, 2, 9],
    ['causal', { causal: true }, 2, 2, 9],
    ['causal, decoding offset', { causal: true }, 2, 2, 4],
    ['window with sink tokens', { window: 3, sinkTokens: 2 }, 2, 2, 9],
    ['softcap', { logitSoftcap: 2, causal: true }, 2, 2, 9],
    ['sink logit', { sinkLogit: 0.5, causal: true }, 2, 2, 9],
    ['GQA', { causal: true, scale: 0.7 }, 4, 2, 9],
  ];
  for (const [name, options, heads, kvHeads, tq] of cases) {
    it(`the naive and chunked forms agree (${name}): outputs, lse and gradients`, () => {
      const q = rand([2, heads, tq, 4], 1) as tf.Tensor4D;
      const k = rand([2, kvHeads, 9, 4], 2) as tf.Tensor4D;
      const v = rand([2, kvHeads, 9, 3], 3) as tf.Tensor4D;
      const naive = run(options, q, k, v);
      const chunked = run({ ...options, chunkSize: 4 }, q, k, v);
      expectClose(chunked.output, naive.output, { atol: 1e-5 });
      expectClose(chunked.logSumExp!, naive.logSumExp!, { atol: 1e-5 });
      expect(naive.logSumExp!.shape).toEqual([2, heads, tq]);
      chunked.grads.forEach((g, i) => expectClose(g, naive.grads[i]!, { atol: 1e-4, rtol: 0 }));
    });
  }

  it('with a bias, a per-head sink tensor, a boolean and an additive mask', () => {
    const q = rand([1, 2, 7, 4], 4) as tf.Tensor4D;
    const k = rand([1, 2, 7, 4], 5) as tf.Tensor4D;
    const v = rand([1, 2, 7, 4], 6) as tf.Tensor4D;
    const bias = rand([1, 2, 7, 7], 7);
    const sinkLogit = tf.tensor1d([0.2, -0.3]);
    for (const mask of [causalMask(7, 7), tf.mul(rand([1, 1, 7, 7], 8), 0.5)]) {
      const naive = run({ mask, bias, sinkLogit }, q, k, v);
      const chunked = run({ mask, bias, sinkLogit, chunkSize: 3 }, q, k, v);
      expectClose(chunked.logSumExp!, naive.logSumExp!, { atol: 1e-5 });
      chunked.grads.forEach((g, i) => expectClose(g, naive.grads[i]!, { atol: 1e-4, rtol: 0 }));
    }
  });

  it('is log Σ exp of the visible logits (after scale and softcap), with the sink logit', () => {
    const q = rand([1, 1, 5, 4], 11) as tf.Tensor4D;
    const k = rand([1, 1, 5, 4], 12) as tf.Tensor4D;
    const v = rand([1, 1, 5, 2], 13) as tf.Tensor4D;
    const scale = 0.8;
    const cap = 1.5;
    const raw = (tf.matMul(q, k, false, true) as tf.Tensor4D).arraySync()[0]![0]!;
    const logits = raw.map((row) => row.map((x) => cap * Math.tanh((x * scale) / cap)));
    const visible = (i: number, j: number) => j <= i;
    for (const sink of [undefined, 0.3]) {
      const expected = directLse(logits, visible, sink);
      for (const chunkSize of [undefined, 2]) {
        const { logSumExp } = scaledDotProductAttention(q, k, v, {
          causal: true,
          scale,
          logitSoftcap: cap,
          returnLogSumExp: true,
          ...(sink === undefined ? {} : { sinkLogit: sink }),
          ...(chunkSize === undefined ? {} : { chunkSize }),
        });
        expectClose(tf.reshape(logSumExp!, [5]), expected, { atol: 1e-5 });
      }
    }
  });

  it('a row with no visible key has lse -Infinity and the same output as before', () => {
    const q = rand([1, 1, 3, 4], 21) as tf.Tensor4D;
    const k = rand([1, 1, 4, 4], 22) as tf.Tensor4D;
    const v = rand([1, 1, 4, 2], 23) as tf.Tensor4D;
    // Row 1 sees nothing.
    const mask = tf.tensor4d(
      [true, false, true, false, false, false, false, false, true, true, true, true],
      [1, 1, 3, 4],
      'bool',
    );
    for (const chunkSize of [undefined, 2]) {
      const options: AttentionOptions = chunkSize === undefined ? { mask } : { mask, chunkSize };
      const before = scaledDotProductAttention(q, k, v, options);
      const after = scaledDotProductAttention(q, k, v, { ...options, returnLogSumExp: true });
      expect(before.logSumExp).toBeUndefined();
      expectClose(after.output, before.output, { atol: 0, rtol: 0 });
      const lse = after.logSumExp!.dataSync();
      expect(lse[1]).toBe(-Infinity);
      expect(Number.isFinite(lse[0]!) && Number.isFinite(lse[2]!)).toBe(true);
      const { grads } = run(options, q, k, v);
      for (const g of grads) expect(g.dataSync().every(Number.isFinite)).toBe(true);
    }
  });

  it("the chunked form's custom gradient of the lse matches finite differences", () => {
    const q = rand([1, 2, 5, 3], 41) as tf.Tensor4D;
    const k = rand([1, 1, 5, 3], 42) as tf.Tensor4D;
    const v = rand([1, 1, 5, 2], 43) as tf.Tensor4D;
    const sinkLogit = tf.tensor1d([0.4, -0.2]);
    finiteDifferenceCheck(
      (qq, kk, vv, ss) =>
        scaledDotProductAttention(qq as tf.Tensor4D, kk as tf.Tensor4D, vv as tf.Tensor4D, {
          causal: true,
          chunkSize: 2,
          sinkLogit: ss,
          returnLogSumExp: true,
        }).logSumExp!,
      [q, k, v, sinkLogit],
    );
  });

  it('leaks nothing over forward and backward, in both forms', async () => {
    const q = rand([1, 2, 5, 4], 31) as tf.Tensor4D;
    const k = rand([1, 2, 5, 4], 32) as tf.Tensor4D;
    const v = rand([1, 2, 5, 4], 33) as tf.Tensor4D;
    for (const chunkSize of [undefined, 2]) {
      await expectNoLeaks(() => {
        const options: AttentionOptions = { causal: true, ...(chunkSize ? { chunkSize } : {}) };
        const r = run(options, q, k, v);
        tf.dispose([r.output, r.logSumExp!, ...r.grads]);
      });
    }
  });
});
