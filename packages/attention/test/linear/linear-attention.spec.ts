import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, build, type Module, type TokenMixer } from '@attnkit/core';
import '@attnkit/attention';
import { expectClose } from '@attnkit/core/testing';

interface Case {
  name: string;
  config: Record<string, unknown>;
  weights: Record<string, number[]>;
  x: number[];
  probe: number[];
  y: number[];
  gradX: number[];
  shape: [number, number, number];
}
const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../fixtures/linear-mixers.json'), 'utf8'),
) as { cases: Case[] };

describe('linear-attention (Katharopoulos et al. 2020)', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))(
    '%s: output and input gradient match the PyTorch quadratic form',
    (_name, c) => {
      const m = build<Module & TokenMixer>(c.config);
      const d = c.shape[2];
      m.loadStateDict(
        Object.fromEntries(Object.entries(c.weights).map(([n, w]) => [n, tf.tensor2d(w, [d, d])])),
      );
      const x = tf.tensor3d(c.x, c.shape);
      const probe = tf.tensor3d(c.probe, c.shape);
      expectClose(m.forward(x), tf.tensor3d(c.y, c.shape), { atol: 3e-5, rtol: 1e-4 });
      const g = tf.grad((input: tf.Tensor) =>
        tf.sum(tf.mul(m.forward(input as tf.Tensor3D), probe)),
      )(x);
      expectClose(g, tf.tensor3d(c.gradX, c.shape), { atol: 3e-5, rtol: 1e-4 });
      m.dispose();
    },
  );

  it('the parallel and chunked forms agree, and ReLU is a choice of map', () => {
    const x = tf.randomNormal([2, 9, 8], 0, 1, 'float32', 2) as tf.Tensor3D;
    const make = (extra: object) =>
      build<Module & TokenMixer>({ type: 'linear-attention', dModel: 8, numHeads: 2, ...extra });
    const chunk = make({ chunkSize: 4 });
    const parallel = make({ form: 'parallel' });
    parallel.loadStateDict(chunk.stateDict());
    expectClose(chunk.forward(x), parallel.forward(x), { atol: 1e-5 });
    const relu = make({ featureMap: 'relu', normalize: false });
    expect(relu.forward(x).shape).toEqual([2, 9, 8]);
    expect(() => make({ featureMap: 'nope' })).toThrow(/featureMap/);
    expect(() => make({ window: 4 })).toThrow(ConfigError);
    [chunk, parallel, relu].forEach((m) => m.dispose());
  });
});
