// Titans' memory, its Miras choices and the MAC / MAG / MAL mixers against an independent PyTorch
// script (tools/reference/memory/titans_reference.py: token-by-token updates, inner gradients by
// torch.autograd).
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { build, type Module, type TokenMixer } from '@attnkit/core';
import { expectClose } from '@attnkit/core/testing';
import { memoryModel, neuralMemory, type MirasChoice } from '../../src';

interface UpdateCase {
  name: string;
  kind: 'mlp';
  shape: [number, number, number, number];
  hidden: number;
  chunkSize: number;
  gradientClip: number;
  choice: MirasChoice;
  q: number[];
  k: number[];
  v: number[];
  lr: number[];
  logMomentum: number[];
  logRetain: number[];
  weights: number[][];
  momentum: number[][];
  output: number[];
  finalWeights: number[][];
  finalMomentum: number[][];
}

interface MixerCase {
  name: string;
  config: { type: string } & Record<string, unknown>;
  x: number[];
  shape: [number, number, number];
  probe: number[];
  weights: Record<string, { shape: number[]; values: number[] }>;
  output: number[];
  inputGrad: number[];
}

const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../fixtures/titans.json'), 'utf8'),
) as { updates: UpdateCase[]; mixers: MixerCase[] };

describe('Titans against the PyTorch reference', () => {
  it.each(fixture.updates.map((c) => [c.name, c] as const))(
    'one chunked update of the memory (%s): output, final weights and surprise',
    (_name, c) => {
      tf.tidy(() => {
        const [b, h, t, d] = c.shape;
        const model = memoryModel(c.kind, d, c.hidden, 2);
        const seq = (x: number[]) => tf.tensor(x, [b, h, t, d]) as tf.Tensor4D;
        const gate = (x: number[]) => tf.tensor(x, [b, h, t]) as tf.Tensor3D;
        const mats = (xs: number[][]) =>
          xs.map((x, i) => tf.tensor(x, [b, h, ...model.shapes[i]!]));
        const weights = mats(c.weights);
        for (const form of ['chunk', 'recurrent'] as const) {
          const r = neuralMemory(
            {
              q: seq(c.q),
              k: seq(c.k),
              v: seq(c.v),
              lr: gate(c.lr),
              logMomentum: gate(c.logMomentum),
              logRetain: gate(c.logRetain),
            },
            { weights, momentum: mats(c.momentum), base: weights },
            { model, miras: c.choice, chunkSize: c.chunkSize, gradientClip: c.gradientClip, form },
          );
          expectClose(r.output, tf.tensor(c.output, r.output.shape), { atol: 1e-4 });
          r.state.weights.forEach((w, i) =>
            expectClose(w, tf.tensor(c.finalWeights[i]!, w.shape), { atol: 1e-4 }),
          );
          r.state.momentum.forEach((s, i) =>
            expectClose(s, tf.tensor(c.finalMomentum[i]!, s.shape), { atol: 1e-4 }),
          );
        }
      });
    },
  );

  it.each(fixture.mixers.map((c) => [c.name, c] as const))(
    '%s: one forward and its input gradient',
    (_name, c) => {
      const m = build<Module & TokenMixer>(c.config);
      try {
        m.loadStateDict(
          Object.fromEntries(
            Object.entries(c.weights).map(([n, w]) => [n, tf.tensor(w.values, w.shape)]),
          ),
        );
        tf.tidy(() => {
          const x = tf.tensor(c.x, c.shape) as tf.Tensor3D;
          const probe = tf.tensor(c.probe, c.shape);
          expectClose(m.forward(x), tf.tensor(c.output, c.shape), { atol: 1e-4 });
          const g = tf.grad((input: tf.Tensor) =>
            tf.sum(tf.mul(m.forward(input as tf.Tensor3D), probe)),
          )(x);
          expectClose(g, tf.tensor(c.inputGrad, c.shape), { atol: 1e-4 });
        });
      } finally {
        m.dispose();
      }
    },
  );
});
