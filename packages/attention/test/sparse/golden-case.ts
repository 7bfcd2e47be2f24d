import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { build, type Module, type TokenMixer } from '@attnkit/core';
import { expectClose } from '@attnkit/core/testing';

/** Fixture plumbing shared by the sparse mixers' specs whose PyTorch scripts write this shape. */
export type Mixer = Module & TokenMixer;

export interface GoldenCase {
  name: string;
  config: Record<string, unknown>;
  weights: Record<string, { shape: number[]; values: number[] }>;
  x: number[];
  probe: number[];
  y: number[];
  gradX: number[];
  shape: [number, number, number];
}

/** The cases of test/fixtures/<file>. */
export function loadGolden(file: string): GoldenCase[] {
  const text = fs.readFileSync(path.join(__dirname, '../fixtures', file), 'utf8');
  return (JSON.parse(text) as { cases: GoldenCase[] }).cases;
}

/** Output and the gradients of sum(y · probe) for x and every parameter. */
export function outputAndGradients(m: Mixer, x: tf.Tensor3D, probe: tf.Tensor) {
  const params = [...m.namedParameters()];
  const { grads } = tf.variableGrads(() => tf.sum(tf.mul(m.forward(x), probe)) as tf.Scalar);
  const dx = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(m.forward(input as tf.Tensor3D), probe)))(
    x,
  );
  return { y: m.forward(x), dx, grads: params.map(([name, v]) => [name, grads[v.name]!] as const) };
}

/** Builds the case's mixer with its weights; output and input gradient match the reference. */
export function checkGolden(c: GoldenCase, atol: number): void {
  const m = build<Mixer>(c.config);
  m.loadStateDict(
    Object.fromEntries(
      Object.entries(c.weights).map(([n, w]) => [n, tf.tensor(w.values, w.shape)]),
    ),
  );
  const x = tf.tensor3d(c.x, c.shape);
  const probe = tf.tensor3d(c.probe, c.shape);
  expectClose(m.forward(x), tf.tensor3d(c.y, c.shape), { atol, rtol: 1e-4 });
  const g = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(m.forward(input as tf.Tensor3D), probe)))(
    x,
  );
  expectClose(g, tf.tensor3d(c.gradX, c.shape), { atol, rtol: 1e-4 });
  m.dispose();
}
