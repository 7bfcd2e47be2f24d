import * as tf from '@tensorflow/tfjs-core';
import { build } from '@attnkit/core';
import '@attnkit/attention'; // registers the mixers
import { expectClose } from '@attnkit/core/testing';
import type { Mixer } from './helpers';

// Fixture: tools/reference/attention/mixers_reference.py (PyTorch, float64).
interface Stored {
  shape: number[];
  values: number[];
}
interface Case {
  name: string;
  config: Record<string, unknown>;
  params: Record<string, Stored>;
  x: Stored;
  probe: number[];
  output: number[];
  grads: Record<string, number[]>;
}
const cases: Case[] = require('./fixtures/mixers.json');
const tol = { atol: 1e-4, rtol: 1e-3 };

describe('mixers against PyTorch', () => {
  for (const c of cases) {
    it(c.name, () => {
      const m = build<Mixer>(c.config);
      const params = Object.fromEntries(
        Object.entries(c.params).map(([k, p]) => [k, tf.tensor(p.values, p.shape)]),
      );
      m.loadStateDict(params);
      const x = tf.tensor3d(c.x.values, c.x.shape as [number, number, number]);
      const y = m.forward(x);
      const probe = tf.tensor(c.probe, y.shape);
      expectClose(y, tf.tensor(c.output, y.shape), tol);
      const objective = (input: tf.Tensor) =>
        tf.sum(tf.mul(m.forward(input as tf.Tensor3D), probe)) as tf.Scalar;
      expectClose(tf.grad(objective)(x), tf.tensor(c.grads.x!, x.shape), tol);
      const { grads } = tf.variableGrads(() => objective(x));
      for (const [name, v] of m.namedParameters()) {
        expect([name, grads[v.name] !== undefined]).toEqual([name, true]);
        expectClose(grads[v.name]!, tf.tensor(c.grads[name]!, v.shape), tol);
      }
      expect(Object.keys(c.params).sort()).toEqual([...m.namedParameters().keys()].sort());
      tf.dispose([x, y, probe, ...Object.values(params), ...Object.values(grads)]);
      m.dispose();
    });
  }
});
