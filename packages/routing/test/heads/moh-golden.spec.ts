import * as tf from '@tensorflow/tfjs-core';
import { AuxLosses, build } from '@attnkit/core';
import { expectClose } from '@attnkit/core/testing';
import '@attnkit/routing'; // registers 'moh'
import type { MoHAttention, MoHConfig } from '@attnkit/routing';
import { fixture, testRope } from '../helpers';

interface MoHFixture {
  config: MoHConfig;
  x: number[][][];
  keyMask: number[][];
  params: Record<string, number[][]>;
  y: number[][][];
  loss: number;
  headLoad: number[];
  objectiveWeights: number[][][];
  gradX: number[][][];
  grads: Record<string, number[][]>;
}

const golden = fixture<MoHFixture>('moh.json');

describe('moh golden (PyTorch reference: GQA, RoPE, key mask, causal)', () => {
  it('matches outputs, load-balance loss, head load and gradients', () => {
    const moh = build<MoHAttention>(golden.config);
    const state = Object.fromEntries(
      Object.entries(golden.params).map(([k, v]) => [k, tf.tensor2d(v)]),
    );
    moh.loadStateDict(state);
    const x = tf.tensor3d(golden.x);
    const [b, t] = x.shape;
    const mask = tf.cast(tf.reshape(tf.tensor2d(golden.keyMask), [b, 1, 1, t]), 'bool');
    const r = tf.tensor3d(golden.objectiveWeights);
    const context = { positional: testRope, mask };

    const aux = new AuxLosses();
    const y = moh.forward(x, { ...context, aux });
    expectClose(y, golden.y, { atol: 1e-5 });
    expectClose(aux.values()['moh.load_balance']!, golden.loss * 0.01, { atol: 1e-7 });
    expect(moh.lastStats!.headLoad).toEqual(golden.headLoad);

    const objective = (input: tf.Tensor3D) => {
      const collector = new AuxLosses();
      const out = moh.forward(input, { ...context, aux: collector });
      // the raw loss (the collector holds it times loadBalanceWeight = 0.01)
      return tf.add(tf.sum(tf.mul(out, r)), tf.div(collector.total(), 0.01)) as tf.Scalar;
    };
    const gradX = tf.grad((input: tf.Tensor) => objective(input as tf.Tensor3D))(x);
    expectClose(gradX, golden.gradX, { atol: 1e-4, rtol: 1e-4 });
    const params = moh.namedParameters();
    const { value, grads } = tf.variableGrads(() => objective(x));
    for (const [name, expected] of Object.entries(golden.grads)) {
      expectClose(grads[params.get(name)!.name]!, expected, { atol: 1e-4, rtol: 1e-4 });
    }
    tf.dispose([gradX, value, grads]);
    tf.dispose([x, mask, r, y, ...Object.values(state)]);
    aux.dispose();
    moh.dispose();
  });
});
