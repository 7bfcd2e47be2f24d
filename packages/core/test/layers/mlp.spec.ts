import * as tf from '@tensorflow/tfjs-core';
import { MLP, Rng, ShapeError, build, gelu } from '@attnkit/core';
import {
  expectClose,
  expectNoLeaks,
  finiteDifferenceCheck,
  maxAbsDiff,
} from '@attnkit/core/testing';

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

  it('names its resolved activation (default gelu)', () => {
    const a = build<MLP>({ type: 'mlp', dim: 2, hiddenDim: 3 });
    const b = build<MLP>({ type: 'mlp', dim: 2, hiddenDim: 3, activation: 'relu2' });
    expect([a.activation, b.activation]).toEqual(['gelu', 'relu2']);
    a.dispose();
    b.dispose();
  });

  it('has input and parameter gradients matching finite differences', () => {
    const m = new MLP({ dim: 3, hiddenDim: 4, activation: 'silu' }, { rng: new Rng(5) });
    const x = tf.tensor2d([0.3, -1.2, 0.8, 2, 1, 0.1], [2, 3]);
    finiteDifferenceCheck((t) => m.forward(t), [x]);
    // Parameter gradients against central differences on a few coordinates of up.weight.
    const loss = () => tf.tidy(() => tf.sum(tf.square(m.forward(x))).dataSync()[0]!);
    const w = m.up.weight;
    const { value: l, grads: g } = tf.variableGrads(
      () => tf.sum(tf.square(m.forward(x))) as tf.Scalar,
      [w],
    );
    const analytic = g[w.name]!.dataSync();
    for (const i of [0, 5, 11]) {
      const base = w.dataSync().slice();
      const at = (delta: number) => {
        const v = base.slice();
        v[i] = v[i]! + delta;
        tf.tidy(() => w.assign(tf.tensor(v, w.shape)));
        return loss();
      };
      const numeric = (at(1e-2) - at(-1e-2)) / 2e-2;
      tf.tidy(() => w.assign(tf.tensor(base, w.shape)));
      expect(Math.abs(numeric - analytic[i]!)).toBeLessThan(2e-3 + 2e-2 * Math.abs(numeric));
    }
    tf.dispose([l, g[w.name]!]);
    const { value, grads } = tf.variableGrads(() => tf.sum(m.forward(x)) as tf.Scalar);
    expect(Object.keys(grads)).toHaveLength(4);
    tf.dispose([x, value, ...Object.values(grads)]);
    m.dispose();
  });

  it('drops hidden units in training only', () => {
    const m = new MLP({ dim: 4, hiddenDim: 64, dropout: 0.5 }, { rng: new Rng(1) });
    const x = tf.randomNormal([3, 4], 0, 1, 'float32', 2);
    const evalOut = m.eval().forward(x);
    expectClose(m.forward(x), evalOut); // deterministic in eval
    const trainOut = m.train().forward(x);
    expect(maxAbsDiff(trainOut, evalOut)).toBeGreaterThan(1e-3);
    tf.dispose([x, evalOut, trainOut]);
    m.dispose();
  });

  it('is built from config and refuses unknown activations, bad widths and rates', () => {
    const m = build<MLP>({ type: 'mlp', dim: 4, hiddenDim: 8, activation: 'relu2', bias: false });
    expect(m.numParams()).toBe(64);
    m.dispose();
    expect(() => build({ type: 'mlp', dim: 4, hiddenDim: 8, activation: 'swish' })).toThrow(
      /mlp: \$\.activation expected a registered activation \(gelu, gelu-tanh, silu.*got 'swish'/,
    );
    expect(() => new MLP({ dim: 4, hiddenDim: 8, activation: 'swish' })).toThrow(/\$\.activation/);
    expect(() => build({ type: 'mlp', dim: 4, hiddenDim: -8 })).toThrow(/\$\.hiddenDim/);
    expect(() => build({ type: 'mlp', dim: NaN, hiddenDim: 8 })).toThrow(/\$\.dim/);
    expect(() => build({ type: 'mlp', dim: 4, hiddenDim: 8, dropout: 1 })).toThrow(
      /\$\.dropout expected a value < 1/,
    );
    expect(() => new MLP({ dim: 4, hiddenDim: 8 }).forward(tf.zeros([2, 5]))).toThrow(ShapeError);
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
