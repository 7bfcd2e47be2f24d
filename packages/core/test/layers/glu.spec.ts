import * as tf from '@tensorflow/tfjs-core';
import { GLU, build } from '@attnkit/core';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';

describe('GLU family', () => {
  it('swiglu, geglu and reglu fix the gate activation', () => {
    const x = tf.tensor2d([0.3, -1.2, 0.8, 2], [2, 2]);
    for (const [type, act] of [
      ['swiglu', (t: tf.Tensor) => tf.mul(t, tf.sigmoid(t))],
      ['reglu', (t: tf.Tensor) => tf.relu(t)],
    ] as const) {
      const m = build<GLU>({ type, dim: 2, hiddenDim: 3 });
      const manual = tf.matMul(
        tf.mul(act(tf.matMul(x, m.gate.weight)), tf.matMul(x, m.up.weight)),
        m.down.weight,
      );
      expectClose(m.forward(x), manual, { atol: 1e-6 });
      m.dispose();
    }
    expect(build<GLU>({ type: 'geglu', dim: 2, hiddenDim: 3 }).numParams()).toBe(18);
  });

  it("the generic 'glu' takes any activation; the variants refuse one", () => {
    expect(build({ type: 'glu', dim: 2, hiddenDim: 3, activation: 'sigmoid' })).toBeInstanceOf(GLU);
    expect(() => build({ type: 'swiglu', dim: 2, hiddenDim: 3, activation: 'relu' })).toThrow(
      /unknown option 'activation'/,
    );
  });

  it('leaks nothing over forward, backward and dispose', async () => {
    await expectNoLeaks(() => {
      const m = new GLU({ type: 'swiglu', dim: 3, hiddenDim: 4 });
      const x = tf.ones([1, 2, 3]);
      const { value, grads } = tf.variableGrads(() => tf.sum(m.forward(x)) as tf.Scalar);
      tf.dispose([x, value, ...Object.values(grads)]);
      m.dispose();
    });
  });
});
