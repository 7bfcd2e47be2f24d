import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, Dropout, Rng, build } from '@attnkit/core';
import { expectNoLeaks } from '@attnkit/core/testing';

describe('Dropout', () => {
  it('zeroes about `rate` of the values and rescales the rest in training', () => {
    const m = new Dropout({ rate: 0.25 }, { rng: new Rng(1) });
    const y = m.forward(tf.ones([100, 100])).dataSync();
    const zeros = y.filter((v) => v === 0).length / y.length;
    expect(Math.abs(zeros - 0.25)).toBeLessThan(0.02);
    expect(y.every((v) => v === 0 || Math.abs(v - 4 / 3) < 1e-6)).toBe(true);
  });

  it('is the identity in eval mode and at rate 0', () => {
    const m = new Dropout({ rate: 0.5 }).eval();
    expect(Array.from(m.forward(tf.ones([5])).dataSync())).toEqual([1, 1, 1, 1, 1]);
    expect(Array.from(new Dropout({ rate: 0 }).forward(tf.ones([3])).dataSync())).toEqual([
      1, 1, 1,
    ]);
  });

  it('repeats with the same seed', () => {
    const a = new Dropout({ rate: 0.5 }, { rng: new Rng(9) }).forward(tf.ones([50])).dataSync();
    const b = new Dropout({ rate: 0.5 }, { rng: new Rng(9) }).forward(tf.ones([50])).dataSync();
    expect(Array.from(a)).toEqual(Array.from(b));
  });

  it('rejects rates outside [0, 1)', () => {
    expect(() => new Dropout({ rate: 1 })).toThrow(ConfigError);
    expect(() => new Dropout({ rate: NaN })).toThrow(/dropout: rate/);
    expect(() => build({ type: 'dropout', rate: -0.1 })).toThrow(/\$\.rate/);
  });

  it('leaks nothing', async () => {
    await expectNoLeaks(() => {
      const x = tf.ones([4]);
      new Dropout({ rate: 0.5 }).forward(x).dispose();
      x.dispose();
    });
  });
});
