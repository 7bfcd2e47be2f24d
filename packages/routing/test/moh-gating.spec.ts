import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, Rng } from '@attnkit/core';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';
import { MoHGating, type MoHGatingConfig } from '@attnkit/routing';
import { fixture, randn } from './helpers';

interface GatingFixture {
  config: MoHGatingConfig;
  x: number[][][];
  params: Record<string, number[][]>;
  gates: number[][][];
  loss: number;
  headLoad: number[];
  objectiveWeights: number[][][];
  grads: Record<string, number[][]>;
}

const golden = fixture<GatingFixture>('moh-gating.json');

describe('MoHGating', () => {
  it('matches the PyTorch reference (gates, load-balance loss, gradients)', () => {
    const gating = new MoHGating(golden.config);
    const state = Object.fromEntries(
      Object.entries(golden.params).map(([k, v]) => [k, tf.tensor2d(v)]),
    );
    gating.loadStateDict(state);
    const x = tf.tensor3d(golden.x);
    const r = tf.tensor3d(golden.objectiveWeights);
    const out = gating.forward(x);
    expectClose(out.gates, golden.gates, { atol: 1e-5 });
    expectClose(out.loss!, golden.loss, { atol: 1e-5 });
    expect(out.headLoad).toEqual(golden.headLoad);
    const params = gating.namedParameters();
    const { value, grads } = tf.variableGrads(() => {
      const o = gating.forward(x);
      return tf.add(tf.sum(tf.mul(o.gates, r)), o.loss!) as tf.Scalar;
    });
    for (const [name, expected] of Object.entries(golden.grads)) {
      expectClose(grads[params.get(name)!.name]!, expected, { atol: 1e-4, rtol: 1e-4 });
    }
    tf.dispose([x, r, out.gates, out.loss!, value, ...Object.values(state)]);
    tf.dispose(grads);
    gating.dispose();
  });

  it('gives every head weight 1 under allHeads, and applies disable/weights', () => {
    const gating = new MoHGating({ dModel: 4, numHeads: 4, numSharedHeads: 1, topK: 1 });
    const x = randn([1, 3, 4], 2) as tf.Tensor3D;
    const all = gating.forward(x, { allHeads: true });
    expect(Array.from(all.gates.dataSync())).toEqual(new Array(12).fill(1));
    expect(all.headLoad).toEqual([3, 3, 3, 3]);
    const some = gating.forward(x, { allHeads: true, disabled: [2], weights: [1, 2, 1, 0.5] });
    expect(Array.from(some.gates.dataSync()).slice(0, 4)).toEqual([1, 2, 0, 0.5]);
    expect(some.headLoad).toEqual([3, 3, 0, 3]);
    const forced = gating.forward(x, { forced: [3] });
    expect(forced.headLoad).toEqual([3, 0, 0, 3]);
    tf.dispose([x, all.gates, some.gates, forced.gates, forced.loss!]);
    gating.dispose();
  });

  it('handles only shared or only routed heads', () => {
    const x = randn([2, 2, 4], 3) as tf.Tensor3D;
    const shared = new MoHGating({ dModel: 4, numHeads: 3, numSharedHeads: 3, topK: 0 });
    const s = shared.forward(x);
    expect(s.loss).toBeNull();
    expectClose(
      tf.tidy(() => tf.sum(s.gates, -1)),
      [
        [1, 1],
        [1, 1],
      ],
    );
    const routed = new MoHGating({ dModel: 4, numHeads: 3, numSharedHeads: 0, topK: 3 });
    const r = routed.forward(x);
    expectClose(
      tf.tidy(() => tf.sum(r.gates, -1)),
      [
        [1, 1],
        [1, 1],
      ],
      { atol: 1e-6 },
    );
    tf.dispose([x, s.gates, r.gates, r.loss!]);
    shared.dispose();
    routed.dispose();
  });

  it('rejects shared heads > heads and topK > routed heads', () => {
    expect(() => new MoHGating({ dModel: 4, numHeads: 4, numSharedHeads: 5, topK: 1 })).toThrow(
      'moh: numSharedHeads expected an integer <= numHeads (4), got 5',
    );
    expect(() => new MoHGating({ dModel: 4, numHeads: 4, numSharedHeads: 2, topK: 3 })).toThrow(
      'moh: topK expected an integer in [1, 2] (numHeads - numSharedHeads), got 3',
    );
    expect(() => new MoHGating({ dModel: 4, numHeads: 4, numSharedHeads: 1, topK: 0 })).toThrow(
      ConfigError,
    );
  });

  it('leaks no tensors', async () => {
    await expectNoLeaks(() => {
      const gating = new MoHGating(
        { dModel: 4, numHeads: 4, numSharedHeads: 2, topK: 1 },
        { rng: new Rng(1) },
      );
      const x = randn([1, 3, 4], 2) as tf.Tensor3D;
      const { value, grads } = tf.variableGrads(() => {
        const o = gating.forward(x, { disabled: [1] });
        return tf.add(tf.sum(o.gates), o.loss!) as tf.Scalar;
      });
      tf.dispose([x, value]);
      tf.dispose(grads);
      gating.dispose();
    });
  });
});
