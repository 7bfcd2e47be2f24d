import * as tf from '@tensorflow/tfjs-core';
import { GLU, LayerNorm, RMSNorm, gelu, geluTanh } from '@attnkit/core';
import { expectClose } from '@attnkit/core/testing';

// Fixtures: tools/reference/core/layers_reference.py (PyTorch).
type Fixture = Record<string, number[]> & { shape: number[]; outShape: number[] };
const load = (name: string): Fixture => require(`../fixtures/layers-${name}.json`);
const tol = { atol: 2e-5, rtol: 1e-4 };

/** Output and gradients of sum(f(...) * probe) for the given variables. */
function check(fx: Fixture, f: (x: tf.Tensor) => tf.Tensor, params: [string, tf.Variable][]): void {
  const x = tf.tensor(fx.x!, fx.shape);
  const probe = tf.tensor(fx.probe!, fx.outShape);
  const out = f(x);
  expectClose(out, tf.tensor(fx.output!, fx.outShape), tol);
  const loss = (xIn: tf.Tensor) => tf.sum(tf.mul(f(xIn), probe)) as tf.Scalar;
  const gx = tf.grad(loss)(x);
  expectClose(gx, tf.tensor(fx.grad_x!, fx.shape), tol);
  if (params.length) {
    const { grads } = tf.variableGrads(
      () => loss(x),
      params.map(([, v]) => v),
    );
    for (const [name, v] of params)
      expectClose(tf.reshape(grads[v.name]!, [-1]), fx[`grad_${name}`]!, tol);
    tf.dispose(grads);
  }
  tf.dispose([x, probe, out, gx]);
}

describe('layers against PyTorch', () => {
  it('LayerNorm', () => {
    const fx = load('layer-norm');
    const m = new LayerNorm({ dim: 8 });
    m.weight!.assign(tf.tensor1d(fx.weight!));
    m.bias!.assign(tf.tensor1d(fx.bias!));
    check(fx, (x) => m.forward(x), [
      ['weight', m.weight!],
      ['bias', m.bias!],
    ]);
    m.dispose();
  });

  it('RMSNorm', () => {
    const fx = load('rms-norm');
    const m = new RMSNorm({ dim: 8 });
    m.weight!.assign(tf.tensor1d(fx.weight!));
    check(fx, (x) => m.forward(x), [['weight', m.weight!]]);
    m.dispose();
  });

  it('GELU exact and tanh', () => {
    check(load('gelu'), gelu, []);
    check(load('gelu-tanh'), geluTanh, []);
  });

  it('SwiGLU', () => {
    const fx = load('swiglu');
    const m = new GLU({ type: 'swiglu', dim: 8, hiddenDim: 12 });
    m.gate.weight.assign(tf.tensor2d(fx.gate!, [8, 12]));
    m.up.weight.assign(tf.tensor2d(fx.up!, [8, 12]));
    m.down.weight.assign(tf.tensor2d(fx.down!, [12, 8]));
    check(fx, (x) => m.forward(x), [
      ['gate', m.gate.weight],
      ['up', m.up.weight],
      ['down', m.down.weight],
    ]);
    m.dispose();
  });
});
