import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { build, type Module, type TokenMixer } from '@attnkit/core';
import '@attnkit/attention';
import { expectClose } from '@attnkit/core/testing';

/** One case of tools/reference/attention/linear_batch_a_reference.py. */
export interface BatchACase {
  name: string;
  config: Record<string, unknown>;
  weights: Record<string, { shape: number[]; values: number[] }>;
  x: number[];
  probe: number[];
  y: number[];
  gradX: number[];
  shape: [number, number, number];
}

const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../fixtures/linear-batch-a.json'), 'utf8'),
) as { cases: BatchACase[] };

/** The fixture's cases whose config has this type, as [name, case] rows for it.each. */
export function casesOf(type: string): (readonly [string, BatchACase])[] {
  return fixture.cases.filter((c) => c.config.type === type).map((c) => [c.name, c] as const);
}

/** Builds the case's mixer with its weights; output and input gradient match PyTorch's. */
export function checkGolden(c: BatchACase): void {
  const m = build<Module & TokenMixer>(c.config);
  m.eval();
  m.loadStateDict(
    Object.fromEntries(
      Object.entries(c.weights).map(([n, w]) => [n, tf.tensor(w.values, w.shape)]),
    ),
  );
  const x = tf.tensor3d(c.x, c.shape);
  const probe = tf.tensor3d(c.probe, c.shape);
  expectClose(m.forward(x), tf.tensor3d(c.y, c.shape), { atol: 3e-5, rtol: 1e-4 });
  const g = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(m.forward(input as tf.Tensor3D), probe)))(
    x,
  );
  expectClose(g, tf.tensor3d(c.gradX, c.shape), { atol: 3e-5, rtol: 1e-4 });
  m.dispose();
}

/** Output and the gradients of x and of every trainable parameter, for a sum against a probe. */
export function outputAndGrads(
  m: Module & TokenMixer,
  x: tf.Tensor3D,
): { y: tf.Tensor; grads: tf.Tensor[] } {
  const probe = tf.randomNormal(x.shape, 0, 1, 'float32', 11);
  const loss = (input: tf.Tensor) => tf.sum(tf.mul(m.forward(input as tf.Tensor3D), probe));
  const { value, grads } = tf.variableGrads(() => loss(x) as tf.Scalar);
  value.dispose();
  const gx = tf.grad(loss)(x);
  return { y: m.forward(x), grads: [gx, ...m.trainableParameters().map((p) => grads[p.name]!)] };
}
