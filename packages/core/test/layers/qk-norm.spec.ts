import * as tf from '@tensorflow/tfjs-core';
import { QKNorm, build } from '@attnkit/core';
import type { Module } from '@attnkit/core';
import { expectClose, expectNoLeaks, finiteDifferenceCheck } from '@attnkit/core/testing';

describe('QKNorm', () => {
  const q = tf.tensor4d([3, 4, 1, 1], [1, 1, 2, 2]);

  it('l2 makes unit vectors and has no parameters', () => {
    const m = new QKNorm({ headDim: 2, norm: 'l2' });
    expect(m.numParams()).toBe(0);
    expectClose(
      m.forward(q),
      [
        [
          [
            [0.6, 0.8],
            [Math.SQRT1_2, Math.SQRT1_2],
          ],
        ],
      ],
      { atol: 1e-6 },
    );
  });

  it('rms and layer variants carry a per-dimension gain', () => {
    const rms = new QKNorm({ headDim: 2 });
    expectClose(
      rms.forward(q),
      [
        [
          [
            [3 / Math.sqrt(12.5), 4 / Math.sqrt(12.5)],
            [1, 1],
          ],
        ],
      ],
      { atol: 1e-5 },
    );
    expect(build<QKNorm>({ type: 'qk-norm', headDim: 2, norm: 'layer' }).numParams()).toBe(2);
  });

  it('has gradients matching finite differences for each kind', () => {
    const x = tf.randomNormal([1, 2, 3, 4], 0, 1, 'float32', 3);
    for (const norm of ['rms', 'layer', 'l2'] as const) {
      const m = new QKNorm({ headDim: 4, norm });
      if (m.weight) m.weight.assign(tf.tensor1d([1.5, 0.5, -1, 2]));
      finiteDifferenceCheck((t) => m.forward(t), [x]);
      m.dispose();
    }
    x.dispose();
  });

  it('rejects an unknown norm, bad values and a wrong head size', () => {
    expect(() => build<Module>({ type: 'qk-norm', headDim: 2, norm: 'batch' })).toThrow(
      /qk-norm: \$\.norm expected one of 'rms', 'layer', 'l2', got 'batch'/,
    );
    expect(() => build({ type: 'qk-norm', headDim: -2 })).toThrow(/\$\.headDim/);
    expect(() => build({ type: 'qk-norm', headDim: 2, eps: NaN })).toThrow(/\$\.eps/);
    expect(() => new QKNorm({ headDim: 3 }).forward(q)).toThrow(/qk-norm: x expected last axis 3/);
  });

  it('leaks nothing', async () => {
    await expectNoLeaks(() => {
      const m = new QKNorm({ headDim: 2, norm: 'layer' });
      const { value, grads } = tf.variableGrads(() => tf.sum(m.forward(q)) as tf.Scalar);
      tf.dispose([value, ...Object.values(grads)]);
      m.dispose();
    });
  });
});
