import * as tf from '@tensorflow/tfjs-core';
import { GLU, Rng, ShapeError, build, gelu } from '@attnkit/core';
import type { Module } from '@attnkit/core';
import { expectClose, expectNoLeaks, finiteDifferenceCheck } from '@attnkit/core/testing';

describe('GLU family', () => {
  const x = tf.tensor2d([0.3, -1.2, 0.8, 2], [2, 2]);

  it('swiglu, geglu and reglu fix the gate activation: down(act(x Wg) ⊙ x Wu)', () => {
    for (const [type, act] of [
      ['swiglu', (t: tf.Tensor) => tf.mul(t, tf.sigmoid(t))],
      ['geglu', gelu],
      ['reglu', (t: tf.Tensor) => tf.relu(t)],
    ] as const) {
      const m = build<GLU>({ type, dim: 2, hiddenDim: 3 }, { rng: new Rng(1) });
      const manual = tf.matMul(
        tf.mul(act(tf.matMul(x, m.gate.weight)), tf.matMul(x, m.up.weight)),
        m.down.weight,
      );
      expectClose(m.forward(x), manual, { atol: 1e-6 });
      expect([...m.namedParameters().keys()]).toEqual(['gate.weight', 'up.weight', 'down.weight']);
      m.dispose();
    }
  });

  it('names its resolved activation', () => {
    const cases = [
      [{ type: 'swiglu' }, 'silu'],
      [{ type: 'geglu' }, 'gelu'],
      [{ type: 'reglu' }, 'relu'],
      [{ type: 'glu' }, 'silu'],
      [{ type: 'glu', activation: 'tanh' }, 'tanh'],
    ] as const;
    for (const [config, name] of cases) {
      const m = build<GLU>({ ...config, dim: 2, hiddenDim: 3 });
      expect(m.activation).toBe(name);
      m.dispose();
    }
  });

  it("the generic 'glu' with silu equals swiglu for the same seed", () => {
    const a = build<GLU>({ type: 'glu', dim: 2, hiddenDim: 3 }, { rng: new Rng(4) });
    const b = build<GLU>({ type: 'swiglu', dim: 2, hiddenDim: 3 }, { rng: new Rng(4) });
    expectClose(a.forward(x), b.forward(x), { atol: 0 });
    const c = build<GLU>({ type: 'glu', dim: 2, hiddenDim: 3, activation: 'sigmoid', bias: true });
    expect(c.numParams()).toBe(6 + 6 + 6 + 3 + 3 + 2);
    for (const m of [a, b, c]) m.dispose();
  });

  it('has input gradients matching finite differences', () => {
    const m = new GLU({ type: 'geglu', dim: 2, hiddenDim: 3 }, { rng: new Rng(2) });
    finiteDifferenceCheck((t) => m.forward(t), [x]);
    m.dispose();
  });

  it('refuses bad config with the JSON path, and a wrong width', () => {
    expect(() =>
      build<Module>({ type: 'swiglu', dim: 2, hiddenDim: 3, activation: 'relu' }),
    ).toThrow(
      /swiglu: \$\.activation expected only known options, got unknown option 'activation'/,
    );
    expect(() => build({ type: 'glu', dim: 2, hiddenDim: 3, activation: 'swish' })).toThrow(
      /\$\.activation expected a registered activation/,
    );
    expect(() => build({ type: 'geglu', dim: 2, hiddenDim: 0 })).toThrow(/\$\.hiddenDim/);
    expect(() => build({ type: 'reglu', dim: NaN, hiddenDim: 3 })).toThrow(/\$\.dim/);
    expect(() => build({ type: 'swiglu', dim: 2, hiddenDim: 3, dropout: -0.5 })).toThrow(
      /\$\.dropout/,
    );
    expect(() => new GLU({ type: 'reglu', dim: -1, hiddenDim: 3 })).toThrow(/reglu: \$\.dim/);
    const m = new GLU({ type: 'swiglu', dim: 2, hiddenDim: 3 });
    expect(() => m.forward(tf.zeros([2, 3]))).toThrow(ShapeError);
    m.dispose();
  });

  it('leaks nothing over forward, backward and dispose', async () => {
    await expectNoLeaks(() => {
      const m = new GLU({ type: 'swiglu', dim: 3, hiddenDim: 4, dropout: 0.2 });
      const input = tf.ones([1, 2, 3]);
      const { value, grads } = tf.variableGrads(() => tf.sum(m.forward(input)) as tf.Scalar);
      tf.dispose([input, value, ...Object.values(grads)]);
      m.dispose();
    });
  });
});
