import * as tf from '@tensorflow/tfjs-core';
import { Rng, build, type Module, type TokenMixer } from '@attnkit/core';
import { maxAbsDiff } from '@attnkit/core/testing';
import '@attnkit/routing';
import { randn } from '../helpers';

type Mixer = Module & TokenMixer;

function decodeStepwise(m: Mixer, x: tf.Tensor3D): tf.Tensor {
  const state = m.initState!(x.shape[0]);
  const steps: tf.Tensor[] = [];
  for (let i = 0; i < x.shape[1]; i++) {
    const token = tf.slice(x, [0, i, 0], [-1, 1, -1]) as tf.Tensor3D;
    steps.push(m.forward(token, { state }));
    token.dispose();
  }
  state.dispose();
  const out = tf.concat(steps, 1);
  tf.dispose(steps);
  return out;
}

const configs = [
  { type: 'moh', numHeads: 4, numSharedHeads: 2, topK: 1, normalizer: 'sparsemax' },
  { type: 'mixture-of-attention-heads', numHeads: 4, topK: 2, normalizer: 'entmax15' },
];

describe('head-routed mixers take the normaliser by name', () => {
  it.each(configs)(
    '$type with $normalizer: cached decoding equals the full forward, every parameter trains',
    (config) => {
      const m = build<Mixer>({ dModel: 8, ...config }, { rng: new Rng(2) });
      const x = randn([2, 5, 8], 3) as tf.Tensor3D;
      const soft = build<Mixer>(
        { dModel: 8, ...config, normalizer: 'softmax' },
        { rng: new Rng(2) },
      );
      tf.tidy(() => {
        expect(maxAbsDiff(decodeStepwise(m, x), m.forward(x))).toBeLessThan(1e-4);
        expect(maxAbsDiff(soft.forward(x), m.forward(x))).toBeGreaterThan(1e-4);
        const { value, grads } = tf.variableGrads(
          () => tf.sum(tf.square(m.forward(x))) as tf.Scalar,
        );
        for (const [name, v] of m.namedParameters()) {
          const g = grads[v.name];
          expect([name, g !== undefined && tf.max(tf.abs(g)).dataSync()[0]! > 0]).toEqual([
            name,
            true,
          ]);
        }
        tf.dispose([value, ...Object.values(grads)]);
      });
      tf.dispose(x);
      m.dispose();
      soft.dispose();
    },
  );

  it('refuses the chunked form with another normaliser', () => {
    expect(() => build({ dModel: 8, ...configs[0], chunkSize: 2 })).toThrow(
      "moh: chunkSize expected unset with normalizer 'sparsemax' (only softmax has it), got 2",
    );
  });
});
