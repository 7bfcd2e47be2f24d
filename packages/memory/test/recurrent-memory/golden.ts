import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { build, type Module, type TokenMixer } from '@attnkit/core';
import { expectClose } from '@attnkit/core/testing';

/** One case of tools/reference/memory/rmt_reference.py (weights keyed by parameter name). */
export interface GoldenCase {
  name: string;
  config: Record<string, unknown>;
  weights: Record<string, { shape: number[]; data: number[] }>;
  x: number[];
  probe: number[];
  y: number[];
  gradX: number[];
  shape: [number, number, number];
}

const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../fixtures/recurrent-memory.json'), 'utf8'),
) as { cases: GoldenCase[] };

/** The fixture's cases whose name starts with `prefix`, as [name, case] rows for it.each. */
export function goldenCases(prefix: string): [string, GoldenCase][] {
  return fixture.cases.filter((c) => c.name.startsWith(prefix)).map((c) => [c.name, c]);
}

/** Builds the case's mixer with its weights; causal forward and d sum(y·probe)/dx match PyTorch. */
export function checkGolden(c: GoldenCase): void {
  const m = build<Module & TokenMixer>(c.config);
  try {
    const weights = Object.fromEntries(
      Object.entries(c.weights).map(([n, w]) => [n, tf.tensor(w.data, w.shape)]),
    );
    m.loadStateDict(weights);
    tf.dispose(Object.values(weights));
    tf.tidy(() => {
      const x = tf.tensor3d(c.x, c.shape);
      const probe = tf.tensor3d(c.probe, c.shape);
      const run = (input: tf.Tensor) => m.forward(input as tf.Tensor3D, { causal: true });
      expectClose(run(x), tf.tensor3d(c.y, c.shape), { atol: 1e-5, rtol: 1e-4 });
      const g = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(run(input), probe)))(x);
      expectClose(g, tf.tensor3d(c.gradX, c.shape), { atol: 1e-5, rtol: 1e-4 });
    });
  } finally {
    m.dispose();
  }
}
