import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, alongLastAxis, resolveAxis } from '@attnkit/core';
import { expectNoLeaks } from '@attnkit/core/testing';

describe('axis helpers', () => {
  it('resolves negative axes and rejects out-of-range or fractional ones', () => {
    const x = tf.zeros([2, 3, 4]);
    expect(resolveAxis('op', x, -1)).toBe(2);
    expect(resolveAxis('op', x, 0)).toBe(0);
    expect(() => resolveAxis('op', x, 3)).toThrow(ShapeError);
    expect(() => resolveAxis('op', x, -4)).toThrow(
      'op: axis expected an axis of a rank-3 tensor, got -4 for shape [2,3,4]',
    );
    expect(() => resolveAxis('op', x, 1.5)).toThrow(ShapeError);
  });

  it('runs a last-axis function on another axis and restores the layout', () => {
    const x = tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [2, 3, 2]);
    // cumsum along axis 1 via a last-axis cumsum
    const y = alongLastAxis(x, 1, (t) => tf.cumsum(t, t.rank - 1));
    expect(y.shape).toEqual([2, 3, 2]);
    expect(Array.from(y.dataSync())).toEqual(Array.from(tf.cumsum(x, 1).dataSync()));
  });

  it('leaks nothing', async () => {
    const x = tf.ones([2, 3]);
    await expectNoLeaks(() => alongLastAxis(x, 0, (t) => tf.neg(t)).dispose());
    x.dispose();
  });
});
