import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError } from '@attnkit/core';
import { scaledDotProductAttention } from '@attnkit/attention';
import { expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import { makeMixer, randomInput } from '../helpers';

const rand = (shape: [number, number, number, number], seed: number) =>
  tf.randomNormal(shape, 0, 1, 'float32', seed) as tf.Tensor4D;

describe('a key/value prefix (memory tokens)', () => {
  // Reference: the prefix as extra keys in front, visible to every query (mask built by hand).
  function reference(
    q: tf.Tensor4D,
    k: tf.Tensor4D,
    v: tf.Tensor4D,
    pk: tf.Tensor4D,
    pv: tf.Tensor4D,
  ) {
    const [b, , tq] = q.shape;
    const tk = k.shape[2];
    const p = pk.shape[2];
    const tile = (t: tf.Tensor4D) => (t.shape[0] === b ? t : tf.tile(t, [b, 1, 1, 1]));
    const keys = tf.concat([tile(pk), k], 2) as tf.Tensor4D;
    const values = tf.concat([tile(pv), v], 2) as tf.Tensor4D;
    const causal = tf.linalg.bandPart(tf.ones([tq, tk]), -1, tk - tq);
    const mask = tf.reshape(tf.concat([tf.ones([tq, p]), causal], 1), [1, 1, tq, p + tk]);
    return scaledDotProductAttention(q, keys, values, {
      mask: tf.cast(mask, 'bool'),
      sinkLogit: 0.5,
      returnWeights: true,
      returnLogSumExp: true,
    });
  }

  it('equals one softmax over [prefix | keys]: outputs, weights, lse and gradients (GQA, sink, causal)', () => {
    const q = rand([2, 4, 5, 8], 1);
    const k = rand([2, 2, 5, 8], 2);
    const v = rand([2, 2, 5, 8], 3);
    const pk = rand([1, 2, 3, 8], 4);
    const pv = rand([1, 2, 3, 8], 5);
    const f = (fq: tf.Tensor, fk: tf.Tensor, fpk: tf.Tensor) =>
      scaledDotProductAttention(fq as tf.Tensor4D, fk as tf.Tensor4D, v, {
        causal: true,
        sinkLogit: 0.5,
        prefix: { keys: fpk as tf.Tensor4D, values: pv },
        returnWeights: true,
        returnLogSumExp: true,
      });
    const got = f(q, k, pk);
    const want = reference(q, k, v, pk, pv);
    expect(maxAbsDiff(got.output, want.output)).toBeLessThan(1e-5);
    expect(maxAbsDiff(got.weights!, want.weights!)).toBeLessThan(1e-5);
    expect(maxAbsDiff(got.logSumExp!, want.logSumExp!)).toBeLessThan(1e-5);
    const loss = (out: tf.Tensor) =>
      tf.sum(tf.mul(out, tf.sin(tf.reshape(tf.range(0, out.size), out.shape))));
    const g1 = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => loss(f(a, b, c).output))([
      q,
      k,
      pk,
    ]);
    const g2 = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
      loss(reference(a as tf.Tensor4D, b as tf.Tensor4D, v, c as tf.Tensor4D, pv).output),
    )([q, k, pk]);
    g1.forEach((g, i) => expect(maxAbsDiff(g, g2[i]!)).toBeLessThan(1e-4));
  });

  it('reaches the mixer through context.prefix; decoding with it equals the full forward', () => {
    const m = makeMixer({ type: 'gqa', numKvHeads: 2 });
    const x = randomInput(5);
    const prefix = { keys: rand([1, 2, 2, 4], 6), values: rand([1, 2, 2, 4], 7) };
    const full = m.forward(x, { prefix });
    expect(maxAbsDiff(full, m.forward(x))).toBeGreaterThan(1e-3);
    const state = m.initState!(2);
    const steps = [0, 1, 2, 3, 4].map((i) =>
      m.forward(tf.slice(x, [0, i, 0], [-1, 1, -1]) as tf.Tensor3D, { state, prefix }),
    );
    expect(maxAbsDiff(tf.concat(steps, 1), full)).toBeLessThan(1e-4);
    state.dispose();
    const talking = makeMixer({ type: 'talking-heads' });
    expect(() => talking.forward(x, { prefix })).toThrow(
      /context.prefix expected no key\/value prefix/,
    );
    m.dispose();
    talking.dispose();
  });

  it('refuses a prefix of the wrong shape or with dropout, and leaks nothing', async () => {
    const q = rand([1, 2, 3, 4], 1);
    const k = rand([1, 2, 3, 4], 2);
    const bad = { keys: rand([1, 2, 2, 5], 3), values: rand([1, 2, 2, 5], 4) };
    expect(() => scaledDotProductAttention(q, k, k, { prefix: bad })).toThrow(ShapeError);
    const good = { keys: rand([1, 2, 2, 4], 3), values: rand([1, 2, 2, 4], 4) };
    expect(() =>
      scaledDotProductAttention(q, k, k, { prefix: good, dropout: 0.1, seed: 1 }),
    ).toThrow(ConfigError);
    await expectNoLeaks(() => {
      const r = scaledDotProductAttention(q, k, k, {
        prefix: good,
        returnWeights: true,
      });
      tf.dispose([r.output, r.weights!]);
    });
  });
});
