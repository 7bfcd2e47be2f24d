import * as tf from '@tensorflow/tfjs-core';
import '@attnkit/core'; // registers tfjs' gradient functions
import {
  expectClose,
  expectNoLeaks,
  finiteDifferenceCheck,
  maxAbsDiff,
} from '@attnkit/core/testing';

describe('testing helpers', () => {
  it('expectNoLeaks passes clean code and names the number of leaked tensors', async () => {
    await expect(expectNoLeaks(() => tf.tidy(() => tf.add(1, 2)).dispose())).resolves.toBe(
      undefined,
    );
    let leaked: tf.Tensor | undefined;
    await expect(
      expectNoLeaks(() => {
        leaked = tf.ones([2]);
      }),
    ).rejects.toThrow(/\(\+1\)/);
    leaked!.dispose();
    await expect(
      expectNoLeaks(async () => {
        await Promise.resolve();
      }),
    ).resolves.toBe(undefined);
  });

  it('expectClose follows allclose and names the worst element', () => {
    expect(() => expectClose([1, 2, 3], [1, 2, 3 + 1e-7])).not.toThrow();
    expect(() => expectClose([1, 2, 3], [1, 2.5, 3])).toThrow(/element 1 expected 2.5/);
    expect(() => expectClose([1, 100], [1, 101], { rtol: 0.02 })).not.toThrow();
    expect(() => expectClose([[1, 2]], [1, 2])).toThrow(/expected shape \[2\], got \[1,2\]/);
    expect(() => expectClose([Number.NaN], [Number.NaN])).not.toThrow();
    expect(() => expectClose([Number.NaN], [1])).toThrow(/element 0/);
    expect(() => expectClose([Infinity], [Infinity])).not.toThrow();
    const t = tf.tensor2d([
      [1, 2],
      [3, 4],
    ]);
    expect(() =>
      expectClose(t, [
        [1, 2],
        [3, 4],
      ]),
    ).not.toThrow();
    t.dispose();
  });

  it('maxAbsDiff measures the largest gap', () => {
    expect(maxAbsDiff([1, 2, 3], [1, 2.5, 2])).toBe(1);
    expect(() => maxAbsDiff([1], [1, 2])).toThrow(/sizes differ/);
  });

  it('finiteDifferenceCheck accepts a right gradient and catches a wrong one', async () => {
    const x = tf.tensor1d([0.3, -0.7, 1.1]);
    await expectNoLeaks(() => {
      expect(finiteDifferenceCheck((a) => tf.mul(a, tf.square(a)), [x])).toBeLessThan(2e-3);
    });
    // Same forward, gradient reported twice too large.
    const wrong = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const a = args[0] as tf.Tensor;
      return { value: tf.square(a), gradFunc: (dy: tf.Tensor) => tf.mul(dy, tf.mul(a, 4)) };
    });
    expect(() => finiteDifferenceCheck((a) => wrong(a) as tf.Tensor, [x])).toThrow(
      /input 0 element 0: numeric gradient/,
    );
    x.dispose();
  });
});
