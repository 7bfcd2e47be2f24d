import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, Dropout, Rng, build } from '@attnkit/core';
import type { Module } from '@attnkit/core';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';

describe('Dropout', () => {
  it('zeroes about `rate` of the values and rescales the rest in training', () => {
    const m = new Dropout({ rate: 0.25 }, { rng: new Rng(1) });
    const x = tf.ones([100, 100]);
    const y = m.forward(x).dataSync();
    const zeros = y.filter((v) => v === 0).length / y.length;
    expect(Math.abs(zeros - 0.25)).toBeLessThan(0.02);
    expect(y.every((v) => v === 0 || Math.abs(v - 4 / 3) < 1e-6)).toBe(true);
    x.dispose();
  });

  it('is the identity in eval mode and at rate 0; the training argument overrides the mode', () => {
    const x = tf.tensor1d([1, -2, 3, -4, 5]);
    const m = new Dropout({ rate: 0.5 }, { rng: new Rng(0) }).eval();
    expectClose(m.forward(x), [1, -2, 3, -4, 5]);
    const many = tf.ones([64]);
    expect(Array.from(m.forward(many, true).dataSync()).some((v) => v === 0)).toBe(true);
    many.dispose();
    m.train();
    expectClose(m.forward(x, false), [1, -2, 3, -4, 5]);
    expectClose(new Dropout({ rate: 0 }).forward(x), [1, -2, 3, -4, 5]);
    x.dispose();
  });

  it('repeats with the same seed and differs with another', () => {
    const x = tf.ones([64]);
    const run = (seed: number) =>
      Array.from(new Dropout({ rate: 0.5 }, { rng: new Rng(seed) }).forward(x).dataSync());
    expect(run(9)).toEqual(run(9));
    expect(run(9)).not.toEqual(run(10));
    x.dispose();
  });

  it('passes the gradient through the kept units only, scaled by 1/(1-rate)', () => {
    const m = new Dropout({ rate: 0.5 }, { rng: new Rng(4) });
    const x = tf.tensor1d([1, 2, 3, 4, 5, 6, 7, 8]);
    const y = m.forward(x).dataSync();
    const again = new Dropout({ rate: 0.5 }, { rng: new Rng(4) }); // draws the same mask seed
    const g = tf
      .grad((t) => tf.sum(again.forward(t)))(x)
      .dataSync();
    y.forEach((v, i) => expect(g[i]).toBeCloseTo(v === 0 ? 0 : 2, 6));
    x.dispose();
  });

  it('rejects rates outside [0, 1) with the JSON path', () => {
    expect(() => new Dropout({ rate: 1 })).toThrow(ConfigError);
    expect(() => new Dropout({ rate: NaN })).toThrow(/dropout: \$\.rate/);
    expect(() => build({ type: 'dropout', rate: -0.1 })).toThrow(
      'dropout: $.rate expected a value >= 0, got -0.1',
    );
    expect(() => build<Module>({ type: 'dropout' })).toThrow(
      /\$\.rate expected number, got nothing/,
    );
  });

  it('leaks nothing over forward, backward and dispose', async () => {
    await expectNoLeaks(() => {
      const m = new Dropout({ rate: 0.5 });
      const x = tf.ones([4]);
      const g = tf.grad((t) => tf.sum(m.forward(t)))(x);
      tf.dispose([x, g]);
      m.dispose();
    });
  });
});
