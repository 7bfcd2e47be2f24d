import * as tf from '@tensorflow/tfjs-core';
import { MLP, Rng, build, gelu } from '@attnkit/core';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';

describe('MLP', () => {
  it('computes down(act(up(x)))', () => {
    const m = new MLP({ dim: 3, hiddenDim: 5 }, { rng: new Rng(2) });
    const x = tf.randomNormal([2, 4, 3], 0, 1, 'float32', 1);
    const manual = tf.add(
      tf.matMul(
        gelu(tf.add(tf.matMul(tf.reshape(x, [8, 3]), m.up.weight), m.up.bias!)),
        m.down.weight,
      ),
      m.down.bias!,
    );
    expectClose(m.forward(x), tf.reshape(manual, [2, 4, 3]), { atol: 1e-5 });
    expect([...m.namedParameters().keys()]).toEqual([
      'up.weight',
      'up.bias',
      'down.weight',
      'down.bias',
    ]);
    m.dispose();
  });

  it('is built from config and refuses unknown activations and widths', () => {
    const m = build<MLP>({ type: 'mlp', dim: 4, hiddenDim: 8, activation: 'relu2', bias: false });
    expect(m.numParams()).toBe(64);
    m.dispose();
    expect(() => build({ type: 'mlp', dim: 4, hiddenDim: 8, activation: 'swish' })).toThrow(
      /\$\.activation/,
    );
    expect(() => build({ type: 'mlp', dim: 4, hiddenDim: -8 })).toThrow(/\$\.hiddenDim/);
  });

  it('leaks nothing over forward, backward and dispose', async () => {
    await expectNoLeaks(() => {
      const m = new MLP({ dim: 3, hiddenDim: 6, dropout: 0.1 });
      const x = tf.ones([2, 2, 3]);
      const { value, grads } = tf.variableGrads(() => tf.sum(m.forward(x)) as tf.Scalar);
      tf.dispose([x, value, ...Object.values(grads)]);
      m.dispose();
    });
  });
});
