import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { build } from '@attnkit/core';
import { expectClose } from '@attnkit/core/testing';
import type { LandmarkAttention } from '@attnkit/memory';
import '@attnkit/memory'; // registers landmark-attention

interface MixerCase {
  name: string;
  config: Record<string, unknown>;
  training: boolean;
  weights: Record<string, { shape: number[]; values: number[] }>;
  shape: [number, number, number];
  x: number[];
  probe: number[];
  y: number[];
  gradX: number[];
}

const { mixers } = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../fixtures/landmark.json'), 'utf8'),
) as { mixers: MixerCase[] };

describe('landmark-attention against tools/reference/memory/landmark_reference.py', () => {
  it.each(mixers.map((c) => [c.name, c] as const))(
    '%s: output and input gradient equal the PyTorch mixer',
    (_, c) => {
      const m = build<LandmarkAttention>(c.config);
      tf.tidy(() => {
        m.loadStateDict(
          Object.fromEntries(
            Object.entries(c.weights).map(([n, w]) => [n, tf.tensor(w.values, w.shape)]),
          ),
        );
        const x = tf.tensor3d(c.x, c.shape);
        const probe = tf.tensor3d(c.probe, c.shape);
        const context = { training: c.training };
        const tol = { atol: 1e-4, rtol: 1e-4 };
        expectClose(m.forward(x, context), tf.tensor3d(c.y, c.shape), tol);
        const f = (input: tf.Tensor) =>
          tf.sum(tf.mul(m.forward(input as tf.Tensor3D, context), probe));
        expectClose(tf.grad(f)(x), tf.tensor3d(c.gradX, c.shape), tol);
      });
      m.dispose();
    },
  );
});
