import * as tf from '@tensorflow/tfjs-core';
import { keyQueryConv } from '@attnkit/attention';
import { expectClose, expectNoLeaks, finiteDifferenceCheck } from '@attnkit/core/testing';

/** out[i, j] = Σ θ[a, c] · map[i + a - (cq-1), j + c - (ck-1)/2], zero outside: loops. */
function direct(map: number[][][][], kernel: number[][][]): number[][][][] {
  const cq = kernel[0]!.length;
  const ck = kernel[0]![0]!.length;
  return map.map((batch) =>
    batch.map((rows, h) =>
      rows.map((row, i) =>
        row.map((_, j) => {
          let s = 0;
          for (let a = 0; a < cq; a++) {
            for (let c = 0; c < ck; c++) {
              const r = i + a - (cq - 1);
              const k = j + c - (ck - 1) / 2;
              if (r >= 0 && r < rows.length && k >= 0 && k < row.length)
                s += kernel[h]![a]![c]! * rows[r]![k]!;
            }
          }
          return s;
        }),
      ),
    ),
  );
}

describe('keyQueryConv (MTA key-query convolution)', () => {
  const map = tf.randomNormal([2, 3, 5, 6], 0, 1, 'float32', 1) as tf.Tensor4D;
  const kernel = tf.randomNormal([3, 2, 3], 0, 1, 'float32', 2) as tf.Tensor3D;

  it('equals the convolution written as loops', () => {
    expectClose(keyQueryConv(map, kernel), direct(map.arraySync(), kernel.arraySync()), {
      atol: 1e-5,
    });
  });

  it('is the identity with a single centre tap at the current query', () => {
    const identity = tf.tensor3d(
      Array.from({ length: 3 * 3 * 5 }, (_, i) => (i % 15 === 2 * 5 + 2 ? 1 : 0)),
      [3, 3, 5],
    );
    expectClose(keyQueryConv(map, identity), map, { atol: 0 });
  });

  it('its own gradient matches finite differences for the map and the kernel', () => {
    const small = tf.randomNormal([1, 2, 4, 5], 0, 1, 'float32', 3);
    const k = tf.randomNormal([2, 3, 3], 0, 1, 'float32', 4);
    finiteDifferenceCheck((m, w) => keyQueryConv(m as tf.Tensor4D, w as tf.Tensor3D), [small, k], {
      epsilon: 1e-2,
      atol: 2e-3,
      rtol: 1e-2,
    });
  });

  it('leaks nothing in forward and backward', async () => {
    await expectNoLeaks(() => {
      const grads = tf.grads((m: tf.Tensor, w: tf.Tensor) =>
        tf.sum(tf.square(keyQueryConv(m as tf.Tensor4D, w as tf.Tensor3D))),
      )([map, kernel]);
      tf.dispose(grads);
      keyQueryConv(map, kernel).dispose();
    });
  });

  it('rejects an even key width, a kernel per wrong head count and wrong ranks', () => {
    expect(() => keyQueryConv(map, tf.zeros([3, 2, 4]) as tf.Tensor3D)).toThrow(
      'keyQueryConv: kernel expected an odd key width ck (centred on the key), got shape [3,2,4]',
    );
    expect(() => keyQueryConv(map, tf.zeros([2, 2, 3]) as tf.Tensor3D)).toThrow(
      'keyQueryConv: kernel expected shape [3,cq,ck] (one kernel per head), got shape [2,2,3]',
    );
    expect(() => keyQueryConv(tf.zeros([3, 5, 6]) as unknown as tf.Tensor4D, kernel)).toThrow(
      'keyQueryConv: map expected rank 4, got rank 3 [3,5,6]',
    );
  });
});
