import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { build, type Module, type TokenMixer } from '@attnkit/core';
import '@attnkit/attention';
import { expectClose } from '@attnkit/core/testing';

// Fixture: tools/reference/attention/head_patterns_reference.py (PyTorch, float64, elementwise).
interface Case {
  name: string;
  config: Record<string, unknown>;
  weights: Record<string, number[]>;
  x: number[];
  probe: number[];
  y: number[];
  gradX: number[];
  shape: [number, number, number];
  /** hepos (cross-attention) only. */
  memory?: number[];
  memoryShape?: [number, number, number];
  gradMemory?: number[];
}
const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../fixtures/head-patterns.json'), 'utf8'),
) as { cases: Case[] };
const tol = { atol: 1e-4, rtol: 1e-3 };

describe('head-pattern mixers against PyTorch', () => {
  it.each(
    fixture.cases.flatMap((c) => ['gather', 'dense'].map((form) => [c.name, form, c] as const)),
  )('%s (%s form): output and input (and memory) gradients', (_name, form, c) => {
    const m = build<Module & TokenMixer>({ ...c.config, form });
    const d = c.shape[2];
    m.loadStateDict(
      Object.fromEntries(Object.entries(c.weights).map(([n, w]) => [n, tf.tensor2d(w, [d, d])])),
    );
    const x = tf.tensor3d(c.x, c.shape);
    const probe = tf.tensor3d(c.probe, c.shape);
    // hepos reads its keys from a memory; the self-attention mixers from x.
    const memory = c.memory ? tf.tensor3d(c.memory, c.memoryShape!) : undefined;
    const run = (input: tf.Tensor, mem?: tf.Tensor) =>
      m.forward(input as tf.Tensor3D, mem ? { memory: mem as tf.Tensor3D } : {});
    expectClose(run(x, memory), tf.tensor3d(c.y, c.shape), tol);
    if (memory) {
      const [gx, gm] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(run(a, b), probe)))([
        x,
        memory,
      ]);
      expectClose(gx!, tf.tensor3d(c.gradX, c.shape), tol);
      expectClose(gm!, tf.tensor3d(c.gradMemory!, c.memoryShape!), tol);
    } else {
      const g = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(run(input), probe)))(x);
      expectClose(g, tf.tensor3d(c.gradX, c.shape), tol);
    }
    m.dispose();
  });
});
